"""The worker entry point every service's ``__main__`` calls."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsError

from oms_events.connection import variable
from oms_runtime._gc import tune_gc
from oms_runtime._openapi import render_openapi
from oms_runtime._rebuild import RebuildStalled, RebuildTargetRefused

if TYPE_CHECKING:
    from oms_runtime._service import ServiceRuntime

__all__ = ["invalid_configuration", "run_worker"]


_SECRET_HINTS = ("password", "url", "dsn")


def _place(loc: tuple[int | str, ...]) -> str:
    """Where inside a JSON setting: ``risk.blocked_addresses[0].country``."""
    place = ""
    for part in loc:
        place += f"[{part}]" if isinstance(part, int) else f".{part}"
    return place.lstrip(".")


def _describe(error: ErrorDetails) -> str:
    if not error["loc"]:
        return f"  {error['msg']}"
    field = str(error["loc"][0])
    inside = _place(error["loc"][1:])
    shown = error["type"] != "missing" and not any(h in field.lower() for h in _SECRET_HINTS)
    # A message over several lines (a file's problems, one a line) gets the variable's value
    # on its first line: at the end it would read as the last problem's.
    first, newline, rest = error["msg"].partition("\n")
    return (
        f"  {variable(field)}: "
        + (f"{inside}: " if inside else "")
        + first
        + (f" (got {error['input']!r})" if shown else "")
        + newline
        + rest
    )


# pydantic-settings decodes a structured setting's JSON before validation; its error names the
# field in prose only.
_UNDECODABLE = re.compile(r'error parsing value for field "(\w+)"')


def invalid_configuration(exc: ValidationError | SettingsError) -> str:
    """What is wrong with the settings, one variable per line, secrets never shown."""
    if isinstance(exc, SettingsError):
        named = _UNDECODABLE.match(str(exc))
        if named is None:
            return f"invalid configuration:\n  {exc}"
        return f"invalid configuration:\n  {variable(named[1])}: not valid JSON: {exc.__cause__}"
    lines = [_describe(error) for error in exc.errors(include_url=False)]
    return "invalid configuration:\n" + "\n".join(lines)


def _rebuild(runtime: ServiceRuntime, stop_at: str) -> int:
    """Progress and the outcome as JSON lines on stdout; 3 when the service refuses."""
    description = runtime.describe_rebuild()
    if not description["rebuildable"]:
        print(json.dumps({"refused": description["reason"]}), flush=True)
        return 3
    offsets = {(str(t), int(p)): int(o) for t, p, o in json.loads(stop_at)}

    def report(read: int) -> None:
        print(json.dumps({"read": read}), flush=True)

    try:
        done = asyncio.run(
            runtime.rebuild(
                offsets, seed_from=os.environ.get("OMS_REBUILD_SEED_DATABASE_URL"), report=report
            )
        )
    except (RebuildTargetRefused, RebuildStalled) as exc:
        print(f"rebuild refused: {exc}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps({"done": done}), flush=True)
    return 0


def run_worker(build: Callable[[], ServiceRuntime]) -> NoReturn:
    """``python -m oms_<name> worker``: build the service from the environment and run it.
    ``python -m oms_<name> openapi``: print its API's OpenAPI document (``make schemas``).

    A bad setting stops the worker at once, naming the variable, with exit status 2.
    """
    parser = argparse.ArgumentParser(prog=f"python -m {sys.argv[0].split('/')[-2]}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("worker", help="consume, publish and serve HTTP until SIGTERM")
    commands.add_parser("openapi", help="print the HTTP API's OpenAPI document")
    commands.add_parser(
        "rebuild-spec", help="print, as JSON, what a rebuild reproduces or why it cannot"
    )
    rebuild = commands.add_parser(
        "rebuild",
        help="rebuild the state into OMS_DATABASE_URL (a fresh database) from the topics, "
        "side effects off; started by `oms rebuild`",
    )
    rebuild.add_argument(
        "--stop-at",
        required=True,
        help="JSON [[topic, partition, offset], ...]: apply the records before these offsets",
    )
    arguments = parser.parse_args()
    command = arguments.command
    if command in ("openapi", "rebuild-spec"):
        # The document depends on the code alone; building the service needs a database URL
        # it never connects to.
        os.environ.setdefault("OMS_DATABASE_URL", "postgresql://localhost/openapi")
    try:
        runtime = build()
    except (ValidationError, SettingsError) as exc:
        print(invalid_configuration(exc), file=sys.stderr)
        sys.exit(2)
    if command == "openapi":
        sys.stdout.write(render_openapi(runtime.http))
        sys.exit(0)
    if command == "rebuild-spec":
        print(json.dumps(runtime.describe_rebuild()))
        sys.exit(0)
    tune_gc(runtime.settings.gc_threshold)
    if command == "rebuild":
        sys.exit(_rebuild(runtime, arguments.stop_at))
    asyncio.run(runtime.run())
    sys.exit(0)
