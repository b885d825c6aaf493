"""The worker entry point every service's ``__main__`` calls."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from oms_runtime._openapi import render_openapi

if TYPE_CHECKING:
    from oms_runtime._service import ServiceRuntime

__all__ = ["invalid_configuration", "run_worker"]


_SECRET_HINTS = ("password", "url", "dsn")


def _describe(error: ErrorDetails) -> str:
    if not error["loc"]:
        return f"  {error['msg']}"
    field = str(error["loc"][0])
    variable = field if field == "KAFKA_BOOTSTRAP_SERVERS" else f"OMS_{field.upper()}"
    shown = error["type"] != "missing" and not any(h in field.lower() for h in _SECRET_HINTS)
    return f"  {variable}: {error['msg']}" + (f" (got {error['input']!r})" if shown else "")


def invalid_configuration(exc: ValidationError) -> str:
    """What is wrong with the settings, one variable per line, secrets never shown."""
    lines = [_describe(error) for error in exc.errors(include_url=False)]
    return "invalid configuration:\n" + "\n".join(lines)


def run_worker(build: Callable[[], ServiceRuntime]) -> NoReturn:
    """``python -m oms_<name> worker``: build the service from the environment and run it.
    ``python -m oms_<name> openapi``: print its API's OpenAPI document (``make schemas``).

    A bad setting stops the worker at once, naming the variable, with exit status 2.
    """
    parser = argparse.ArgumentParser(prog=f"python -m {sys.argv[0].split('/')[-2]}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("worker", help="consume, publish and serve HTTP until SIGTERM")
    commands.add_parser("openapi", help="print the HTTP API's OpenAPI document")
    command = parser.parse_args().command
    if command == "openapi":
        # The document depends on the code alone; building the service needs a database URL
        # it never connects to.
        os.environ.setdefault("OMS_DATABASE_URL", "postgresql://localhost/openapi")
    try:
        runtime = build()
    except ValidationError as exc:
        print(invalid_configuration(exc), file=sys.stderr)
        sys.exit(2)
    if command == "openapi":
        sys.stdout.write(render_openapi(runtime.http))
        sys.exit(0)
    asyncio.run(runtime.run())
    sys.exit(0)
