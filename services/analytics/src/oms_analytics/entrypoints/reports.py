"""The reports over HTTP on faust's web server, as JSON or CSV.

CSV when ``?format=csv``, or when ``format`` is absent and the ``Accept`` header names
``text/csv``; JSON otherwise. In CSV a per-currency figure becomes one column per currency in
the report (``revenue_minor_EUR``), units by return reason one per reason
(``returned_units_by_reason_damaged``); a missing amount is 0, a figure without a value (a
rate of nothing) an empty cell; an empty report is an empty body. Bad parameters get a 400
problem naming them.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from http import HTTPStatus
from typing import Any

import faust
from faust.web import Request, Response, View

from oms_analytics.domain.kpis import WindowFigures
from oms_analytics.domain.locations import LocationFigures
from oms_analytics.domain.stuck import FlowStatus
from oms_analytics.domain.windows import Granularity
from oms_analytics.entrypoints.history import History
from oms_analytics.service_layer.expired_days import HistoryUnavailable
from oms_analytics.service_layer.expiry import Expiry
from oms_analytics.service_layer.funds import Funds, reconciliation_report, stored_reconciliation
from oms_analytics.service_layer.stock import Stock, StockWindow
from oms_analytics.service_layer.stuck import StuckOrders
from oms_analytics.service_layer.tracking import Analytics, daily_report, stored_daily
from oms_runtime import PROBLEM_MEDIA_TYPE

__all__ = ["register_views", "to_csv"]

CSV_MEDIA_TYPE = "text/csv"  # aiohttp adds the charset (utf-8) itself
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def register_views(
    app: faust.App,
    analytics: Analytics,
    funds: Funds,
    stuck: StuckOrders,
    stock: Stock,
    history: History,
    expiry: Expiry,
) -> None:
    """``/v1/kpis`` and ``/v1/reports/...`` on the app's web server."""

    class Kpis(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            granularity = _granularity(request)
            location = _location(request)
            if location is not None:
                return self.json(analytics.location_kpis(granularity, location))
            return self.json(analytics.kpis(granularity, _channel(request)))

    class RollingKpis(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            report = analytics.rolling(
                _channel(request), since=_moment(request, "from"), latest=_flag(request, "latest")
            )
            return _answer(self, request, report, report["hops"])

    class RollingLocationKpis(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            report = analytics.location_rolling(
                request.query.get("location") or None,
                since=_moment(request, "from"),
                latest=_flag(request, "latest"),
            )
            return _answer(self, request, report, report["hops"])

    class LocationKpis(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            return self.json(analytics.location_kpis(_granularity(request), _location(request)))

    class Daily(_Report):
        locations = False

        async def answer(self, request: Request, **params: str) -> Response:
            first, last = _days(request)
            location = _location(request)
            by_location = location is not None or self.locations
            figures = LocationFigures if by_location else WindowFigures
            name = location if by_location else _channel(request)
            report = await daily_report(
                analytics, history.pool, expiry.expired_through(), first, last, name, figures
            )
            return _answer(self, request, report, report["days"])

    class LocationDaily(Daily):
        locations = True

    class StockReport(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            raw = request.query.get("window", "day")
            try:
                window = StockWindow(raw)
            except ValueError:
                raise BadParameter("window", f"window is hour or day, not {raw[:40]!r}") from None
            report = stock.report(window, *_days(request), *_stock_filters(request))
            return _answer(self, request, report, report["windows"])

    class Turnover(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            report = stock.turnover(*_days(request), *_stock_filters(request))
            return _answer(self, request, report, report["items"])

    class OutOfStockNow(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            report = stock.out_of_stock(*_stock_filters(request))
            return _answer(self, request, report, report["out_of_stock"])

    async def reconciliation(request: Request, money: bool = True) -> dict[str, Any]:
        first, last = _days(request)
        expired = expiry.expired_through()
        return await reconciliation_report(
            funds, history.pool, expired, first, last, _channel(request), money
        )

    class Reconciliation(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            report = await reconciliation(request)
            return _answer(self, request, report, report["days"])

    class Exceptions(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            report = await reconciliation(request, money=False)  # its days are not shown
            listed = {key: report[key] for key in ("from", "to", "channel", "exceptions")}
            return _answer(self, request, listed, report["exceptions"])

    class HistoryReconciliation(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            first, last = _days(request)
            channel = _channel(request)
            if history.pool is None:
                return _problem(self, 503, "unavailable", "the history database is not ready")
            report = await stored_reconciliation(history.pool, first, last, channel)
            return _answer(self, request, report, report["days"])

    class HistoryDaily(_Report):
        locations = False

        async def answer(self, request: Request, **params: str) -> Response:
            first, last = _days(request)
            location = _location(request)
            if history.pool is None:
                return _problem(self, 503, "unavailable", "the history database is not ready")
            if location is not None or self.locations:
                report = await stored_daily(history.pool, first, last, location, LocationFigures)
            else:
                report = await stored_daily(history.pool, first, last, _channel(request))
            return _answer(self, request, report, report["days"])

    class LocationHistoryDaily(HistoryDaily):
        locations = True

    class OrderFunds(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            order_id = params["order_id"]
            report = funds.order(order_id)
            if report is None:
                return _problem(self, 404, "not_found", f"no event of order {order_id!r} was read")
            return _answer(self, request, report, report["movements"])

    class Bottlenecks(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            report = stuck.bottlenecks(*_stuck_filters(request))
            return _answer(self, request, report, report["statuses"])

    class StuckList(_Report):
        async def answer(self, request: Request, **params: str) -> Response:
            report = stuck.stuck_orders(*_stuck_filters(request))
            rows = [{**row, "locations": " ".join(row["locations"])} for row in report["orders"]]
            return _answer(self, request, report, rows)

    app.page("/v1/kpis")(Kpis)
    app.page("/v1/kpis/rolling")(RollingKpis)
    app.page("/v1/kpis/rolling/locations")(RollingLocationKpis)
    app.page("/v1/kpis/locations")(LocationKpis)
    app.page("/v1/reports/daily")(Daily)
    app.page("/v1/reports/daily/locations")(LocationDaily)
    app.page("/v1/reports/daily/history")(HistoryDaily)
    app.page("/v1/reports/daily/locations/history")(LocationHistoryDaily)
    app.page("/v1/reports/stock")(StockReport)
    app.page("/v1/reports/stock/out")(OutOfStockNow)
    app.page("/v1/reports/stock/turnover")(Turnover)
    app.page("/v1/reports/reconciliation")(Reconciliation)
    app.page("/v1/reports/reconciliation/exceptions")(Exceptions)
    app.page("/v1/reports/reconciliation/history")(HistoryReconciliation)
    app.page("/v1/reports/reconciliation/orders/{order_id}")(OrderFunds)
    app.page("/v1/reports/stuck")(Bottlenecks)
    app.page("/v1/reports/stuck/orders")(StuckList)


class _Report(View):
    """A report's view: a bad parameter anywhere in ``answer`` becomes a 400 problem, expired
    days asked for before the history database is connected a 503 problem."""

    async def get(self, request: Request, **params: str) -> Response:
        try:
            return await self.answer(request, **params)
        except BadParameter as exc:
            errors = [{"field": exc.name, "message": str(exc)}]
            return _problem(self, 400, "bad_request", str(exc), errors=errors)
        except HistoryUnavailable:
            detail = "the report reaches expired days and the history database is not ready"
            return _problem(self, 503, "unavailable", detail)

    async def answer(self, request: Request, **params: str) -> Response:
        raise NotImplementedError


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as CSV with a header. A mapping spreads over one column per key found in that
    field in any row; amounts (``*_minor``) over every currency found in any amount, so all
    amounts have the same columns."""
    if not rows:
        return ""
    spread = {
        name: sorted({key for row in rows for key in row[name]})
        for name, value in rows[0].items()
        if isinstance(value, Mapping)
    }
    currencies = sorted(
        {c for name, keys in spread.items() if name.endswith("_minor") for c in keys}
    )
    spread |= {name: currencies for name in spread if name.endswith("_minor")}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([column for name in rows[0] for column in _columns(name, spread)])
    for row in rows:
        writer.writerow(
            [
                cell
                for name, value in row.items()
                for cell in (
                    [value.get(key, 0) for key in spread[name]]
                    if name in spread
                    else ["" if value is None else value]
                )
            ]
        )
    return out.getvalue()


def _columns(name: str, spread: Mapping[str, list[str]]) -> list[str]:
    return [f"{name}_{key}" for key in spread[name]] if name in spread else [name]


def _answer(
    view: View, request: Request, report: Any, rows: Sequence[Mapping[str, Any]]
) -> Response:
    """``report`` as JSON, or its ``rows`` as CSV."""
    if _wants_csv(request):
        return view.text(to_csv(rows), content_type=CSV_MEDIA_TYPE)
    return view.json(report)


def _wants_csv(request: Request) -> bool:
    chosen = request.query.get("format")
    if chosen is None:
        return "text/csv" in request.headers.get("Accept", "")
    if chosen not in ("json", "csv"):
        raise BadParameter("format", f"format is json or csv, not {chosen!r}")
    return chosen == "csv"


def _days(request: Request) -> tuple[date | None, date | None]:
    """``from`` and ``to``: days (``2026-11-24``, UTC), inclusive, each optional."""
    first, last = _day(request, "from"), _day(request, "to")
    if first and last and last < first:
        raise BadParameter("to", f"to ({last}) is before from ({first})")
    return first, last


def _day(request: Request, name: str) -> date | None:
    raw = request.query.get(name) or None
    if raw is None:
        return None
    try:
        if _DAY.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise BadParameter(name, f"{name} is a day, YYYY-MM-DD, not {raw[:40]!r}")


def _moment(request: Request, name: str) -> datetime | None:
    """A time with its offset (``2026-11-24T09:40:00Z``), or None when not given."""
    raw = request.query.get(name) or None
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise BadParameter(
            name, f"{name} is a time with its offset, 2026-11-24T09:40:00Z, not {raw[:40]!r}"
        )
    return moment


def _flag(request: Request, name: str) -> bool:
    raw = request.query.get(name, "false")
    if raw not in ("true", "false"):
        raise BadParameter(name, f"{name} is true or false, not {raw[:40]!r}")
    return raw == "true"


def _channel(request: Request) -> str | None:
    return request.query.get("channel") or None


def _granularity(request: Request) -> Granularity:
    raw = request.query.get("window", "hour")
    try:
        return Granularity(raw)
    except ValueError:
        raise BadParameter("window", f"window is minute or hour, not {raw[:40]!r}") from None


def _location(request: Request) -> str | None:
    """``location``: the location figures are not per channel, so not with ``channel``."""
    location = request.query.get("location") or None
    if location is not None and _channel(request) is not None:
        raise BadParameter("location", "location and channel are separate views: give one")
    return location


def _stock_filters(request: Request) -> tuple[str | None, str | None]:
    return request.query.get("sku") or None, request.query.get("location") or None


def _stuck_filters(request: Request) -> tuple[FlowStatus | None, str | None, str | None]:
    """``status`` (one of the statuses analytics follows), ``channel``, ``location``: each
    optional, empty meaning any."""
    raw = request.query.get("status") or ""
    try:
        status = FlowStatus(raw) if raw else None
    except ValueError:
        known = ", ".join(FlowStatus)
        raise BadParameter("status", f"status is one of {known}, not {raw[:40]!r}") from None
    return status, _channel(request), request.query.get("location") or None


def _problem(view: View, status: int, code: str, detail: str, **extensions: Any) -> Response:
    """An RFC 9457 problem, shaped as the other services' (``oms_runtime.ProblemDetails``)."""
    body = {
        "type": f"urn:oms:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": f"urn:uuid:{uuid.uuid4()}",
        **extensions,
    }
    return view.json(body, status=status, content_type=PROBLEM_MEDIA_TYPE)
