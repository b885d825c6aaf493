"""The worker's HTTP server: a FastAPI app served by uvicorn inside the worker's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from oms_runtime._http import install_problem_handlers
from oms_runtime._openapi import problem_media_types

__all__ = ["WebServer", "new_app"]


def new_app(service: str) -> FastAPI:
    """The app every service's routes go on: its OpenAPI document at ``/openapi.json``, Swagger
    UI at ``/docs`` and ReDoc at ``/redoc``; errors as problem details.

    A JSON body sent without a Content-Type is read as JSON, as the APIs always did
    (``strict_content_type=False``).
    """
    app = FastAPI(
        title=f"OMS {service} service",
        version="1.0.0",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
        strict_content_type=False,
    )
    install_problem_handlers(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_media_types(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class _EmbeddedServer(uvicorn.Server):
    """The worker owns the signals: it stops the server itself, after its consumers."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        # uvicorn wakes ten times a second to see whether to stop; once a second is enough
        # for the Date header (its resolution is a second), ``exit`` stops it at once, and an
        # idle worker sleeps.
        counter = 0
        while not await self.on_tick(counter):
            counter += 10  # a multiple of ten: every tick refreshes the Date header
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit.wait(), 1.0)


class WebServer:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # the worker's JSON logging
            access_log=False,
            lifespan="off",
            log_level=logging.WARNING,
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # a port in use: raise it at start-up
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        self._server.exit.set()
        if self._task is not None:
            await self._task
