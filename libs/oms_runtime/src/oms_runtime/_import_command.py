"""``python -m oms_<name> <area> import FILE [--check]``: a service's operator command that
loads a configuration document (a catalogue, ...) into its database, validated as a whole
before anything is written."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import asyncpg
from pydantic import ValidationError
from pydantic_settings import SettingsError

from oms_runtime._cli import invalid_configuration
from oms_runtime._config import RuntimeSettings
from oms_runtime._db import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from oms_runtime._documents import DocumentError
from oms_runtime._logging import configure_logging

__all__ = ["DocumentImport"]

D = TypeVar("D")
S = TypeVar("S", bound=RuntimeSettings)


@dataclass(frozen=True)
class DocumentImport(Generic[S, D]):
    service: str
    """``inventory``: the command is ``python -m oms_inventory``, its migrations ``inventory``."""
    area: str
    """The command's first word: ``catalogue``."""
    summary: str
    read: Callable[[Path], D]
    """The document from its file; DocumentError lists every problem."""
    settings: Callable[[], S]
    migrations: Path
    write: Callable[[asyncpg.Connection, S, D], Awaitable[dict[str, int]]]
    """Writes the document in the transaction it is given: how many of each kind."""

    def main(self, argv: Sequence[str]) -> int:
        """Prints ``{"imported": {...}}``; a bad document or setting is told on stderr with
        exit status 2, and nothing is written."""
        parser = argparse.ArgumentParser(prog=f"python -m oms_{self.service}")
        areas = parser.add_subparsers(dest="area", required=True)
        actions = areas.add_parser(self.area, help=self.summary).add_subparsers(
            dest="action", required=True
        )
        load = actions.add_parser("import", help="validate a JSON or YAML file and upsert it")
        load.add_argument("file", type=Path)
        load.add_argument("--check", action="store_true", help="validate only; write nothing")
        args = parser.parse_args(argv)
        try:
            document = self.read(args.file)
            if args.check:
                print(f"{args.file}: valid")
                return 0
            try:
                settings = self.settings()
            except (ValidationError, SettingsError) as exc:
                print(invalid_configuration(exc), file=sys.stderr)
                return 2
            configure_logging(
                self.service, "WARNING"
            )  # JSON lines on stderr; stdout is the summary
            counts = asyncio.run(self._import(settings, document))
        except DocumentError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(json.dumps({"imported": counts}))
        return 0

    async def _import(self, settings: S, document: D) -> dict[str, int]:
        pool = await create_pool(settings.database_url.get_secret_value(), 2)
        try:
            await apply_migrations(
                pool, {"runtime": RUNTIME_MIGRATIONS, self.service: self.migrations}
            )
            async with pool.acquire() as conn, conn.transaction():
                return await self.write(conn, settings, document)
        finally:
            await pool.close()
