"""The dashboard: one page of live charts over the service's own reports, served by faust's
web server with its script and Chart.js (vendored, see ``dashboard/vendor/README.md``), so a
browser needs nothing but the service."""

from __future__ import annotations

from importlib.resources import files

import faust
from faust.web import Request, Response, View

__all__ = ["register_dashboard"]

# Served name -> file under dashboard/ and its media type.
_ASSETS = {
    "dashboard.js": ("dashboard.js", "application/javascript"),
    "dashboard.css": ("dashboard.css", "text/css"),
    "chart.umd.min.js": ("vendor/chart.umd.min.js", "application/javascript"),
}


def register_dashboard(app: faust.App) -> None:
    """``/dashboard`` and its assets, read once at start."""
    folder = files("oms_analytics.entrypoints").joinpath("dashboard")
    page = folder.joinpath("index.html").read_text(encoding="utf-8")
    assets = {name: folder.joinpath(path).read_bytes() for name, (path, _) in _ASSETS.items()}

    class Page(View):
        async def get(self, request: Request) -> Response:
            return self.html(page, headers={"Cache-Control": "no-cache"})

    class Asset(View):
        async def get(self, request: Request, name: str) -> Response:
            if name not in assets:
                return self.error(404, f"no asset {name!r}")
            return self.bytes(
                assets[name],
                content_type=_ASSETS[name][1],
                headers={"Cache-Control": "public, max-age=3600"},
            )

    app.page("/dashboard")(Page)
    app.page("/dashboard/{name}")(Asset)
