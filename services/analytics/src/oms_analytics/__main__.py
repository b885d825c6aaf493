"""``python -m oms_analytics worker``: run the analytics service's faust worker.

``rebuild-spec``, ``rebuild --stop-at JSON`` and ``rebuild-swap`` are ``oms rebuild
analytics``'s steps (``entrypoints/rebuild.py``), run with ``OMS_DATABASE_URL`` the rebuild
database and ``OMS_REBUILD_SEED_DATABASE_URL`` the live one: JSON on stdout."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from pydantic import ValidationError
from pydantic_settings import SettingsError

from oms_analytics.bootstrap import build_worker
from oms_analytics.config import AnalyticsSettings
from oms_analytics.entrypoints import rebuild
from oms_runtime import (
    RebuildStalled,
    RebuildTargetRefused,
    configure_logging,
    invalid_configuration,
    tune_gc,
)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m oms_analytics")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("worker", help="run the faust worker")
    commands.add_parser("rebuild-spec", help="print, as JSON, what a rebuild reproduces")
    rebuild = commands.add_parser(
        "rebuild",
        help="count again from the topics into OMS_DATABASE_URL (a fresh database), side "
        "effects off; started by `oms rebuild analytics`",
    )
    rebuild.add_argument(
        "--stop-at", required=True, help="JSON [[topic, partition, offset], ...]: where to stop"
    )
    commands.add_parser(
        "rebuild-swap",
        help="write the rebuilt state in OMS_DATABASE_URL to the live changelog; started by "
        "`oms rebuild --swap`",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    arguments = _arguments(argv)
    configure_logging("analytics")
    try:
        settings = AnalyticsSettings()
    except (ValidationError, SettingsError) as exc:
        print(invalid_configuration(exc), file=sys.stderr)
        return 2
    if arguments.command == "worker":
        build_worker(settings).execute_from_commandline()
        return 0
    if arguments.command == "rebuild-spec":
        print(json.dumps(rebuild.describe(settings)))
        return 0
    seed_from = os.environ.get("OMS_REBUILD_SEED_DATABASE_URL")
    if arguments.command == "rebuild-swap":
        try:
            done = asyncio.run(rebuild.swap(settings, seed_from=seed_from))
        except RebuildTargetRefused as exc:
            print(f"swap refused: {exc}", file=sys.stderr, flush=True)
            return 1
        print(json.dumps({"done": done}), flush=True)
        return 0
    stop_at = {(str(t), int(p)): int(o) for t, p, o in json.loads(arguments.stop_at)}
    tune_gc(settings.gc_threshold)  # the whole state is in memory: no walks over it per batch
    try:
        done = asyncio.run(
            rebuild.rebuild(
                settings,
                stop_at,
                seed_from=seed_from,
                report=lambda read: print(json.dumps({"read": read}), flush=True),
            )
        )
    except (RebuildTargetRefused, RebuildStalled) as exc:
        print(f"rebuild refused: {exc}", file=sys.stderr, flush=True)
        return 1
    except rebuild.NotRebuildable as exc:  # `oms rebuild` exits 9 with the reason
        print(json.dumps({"refused": str(exc)}), flush=True)
        return 3
    print(json.dumps({"done": done}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
