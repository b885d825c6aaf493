"""An event's writes to the tables: all of them or none after a crash, and once.

Every table is a view of one store (in the worker one faust table, so one changelog topic)
under its own key prefix (``windows/...``). While an event is counted its writes are held
back (the views read them back); when it is done they go to the store as one journal record
for the event's source partition, which lists every write and the last offset applied per
topic of that partition, followed by the writes themselves.

A store's writes during an event go to the changelog partition of the event's source
partition, and one partition's records reach the broker in the order they were produced
(aiokafka has one request per broker in flight and retries a batch before the next, and
faust hands its buffered records over in order), so what a SIGKILL leaves of a partition is
a prefix of its records: every event before the last journal record whole, and of the
event that journal is for, any prefix of its writes. After the tables are recovered,
:meth:`Journal.recover` writes that event's writes again (the torn event completed), and
the events the journal lists as applied are skipped when they are read again
(:meth:`Journal.seen`), whatever table they wrote: no figure is counted twice or lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

__all__ = ["JOURNAL", "Journal", "Send", "TableView"]

JOURNAL = "journal"
"""The prefix of the journal's keys: ``journal/<source partition>``."""

Send = Callable[[int, str, Any], None]
"""Writes a key of the store (a value None: deletes it) outside an event: to the given
changelog partition, as the worker must outside a stream."""

_GONE = object()
"""A key deleted by the event under way."""


class Journal:
    def __init__(self, store: MutableMapping[str, Any], send: Send) -> None:
        self.store = store
        self._send = send
        self._pending: dict[str, Any] | None = None
        """The writes of the event under way, by key in the store (None: no event)."""
        self._applied: dict[int, dict[str, int]] = {}
        """Per source partition: the offset of the last event counted per topic, carried
        into the next journal record (an event that wrote nothing writes none)."""

    def table(self, name: str) -> TableView:
        return TableView(self, name)

    def seen(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the event at ``offset`` of ``topic`` and ``partition`` was counted
        already: read again after a crash, it is skipped."""
        return offset <= self._applied_on(partition).get(topic, -1)

    def begin(self) -> None:
        self._pending = {}

    def abandon(self) -> None:
        """The event failed: none of its writes."""
        self._pending = None

    def commit(self, topic: str, partition: int, offset: int, keep: int | None = None) -> int:
        """The event's writes to the store: its journal record, then each write (only the
        first ``keep`` of them: a torn write, for the fault injection of the tests). How
        many writes the event made."""
        pending, self._pending = self._pending or {}, None
        applied = self._applied_on(partition)
        applied[topic] = offset
        if not pending:
            return 0
        self.store[_journal_key(partition)] = {
            "applied": dict(applied),
            "writes": {key: value for key, value in pending.items() if value is not _GONE},
            "gone": [key for key, value in pending.items() if value is _GONE],
        }
        for key, value in list(pending.items())[:keep]:
            if value is _GONE:
                self.store.pop(key, None)
            else:
                self.store[key] = value
        return len(pending)

    def recover(self, partitions: Iterable[int]) -> None:
        """The tables were recovered from their changelog: the writes of the last event of
        each of ``partitions`` (held here now) written again, as a crash may have torn
        them, and the events the journal lists as applied skipped when read again."""
        for partition in partitions:
            self._applied.pop(partition, None)
            journal = self.store.get(_journal_key(partition))
            if journal is None:
                continue
            for key, value in journal["writes"].items():
                self._send(partition, key, value)
            for key in journal["gone"]:
                self._send(partition, key, None)

    def delete(self, table: str, key: str, partitions: Iterable[int]) -> None:
        """Delete ``key`` of ``table`` outside an event (the expiry) from the changelog
        ``partitions`` that may hold it, first from their journal records, so a recovery
        does not write it again."""
        full = _full_key(table, key)
        for partition in partitions:
            journal = self.store.get(_journal_key(partition))
            if journal is not None and full in journal["writes"]:
                writes = {k: v for k, v in journal["writes"].items() if k != full}
                self._send(partition, _journal_key(partition), {**journal, "writes": writes})
            self._send(partition, full, None)

    def sizes(self) -> Counter[str]:
        """Keys per table, in one pass over the store."""
        return Counter(
            key.partition("/")[0] for key in list(self.store.keys()) if not _is_journal(key)
        )

    def _applied_on(self, partition: int) -> dict[str, int]:
        if partition not in self._applied:
            journal = self.store.get(_journal_key(partition))
            self._applied[partition] = dict(journal["applied"]) if journal is not None else {}
        return self._applied[partition]


class TableView(MutableMapping[str, Any]):
    """One table of the store: its keys without the prefix; during an event, with the
    event's writes so far."""

    def __init__(self, journal: Journal, name: str) -> None:
        self._journal = journal
        self.name = name
        self._prefix = f"{name}/"

    def __getitem__(self, key: str) -> Any:
        full = self._prefix + key
        pending = self._journal._pending
        if pending is not None and full in pending:
            value = pending[full]
            if value is _GONE:
                raise KeyError(key)
            return value
        return self._journal.store[full]

    def __setitem__(self, key: str, value: Any) -> None:
        self._write(self._prefix + key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._write(self._prefix + key, _GONE)

    def __iter__(self) -> Iterator[str]:
        cut = len(self._prefix)
        stored = [
            key[cut:] for key in list(self._journal.store.keys()) if key.startswith(self._prefix)
        ]
        pending = self._journal._pending
        if not pending:
            return iter(stored)
        mine = {k[cut:]: v for k, v in pending.items() if k.startswith(self._prefix)}
        held = set(stored)
        kept = [key for key in stored if mine.get(key) is not _GONE]
        added = [key for key, value in mine.items() if value is not _GONE and key not in held]
        return iter(kept + added)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _write(self, full: str, value: Any) -> None:
        pending = self._journal._pending
        if pending is None:  # outside an event (a unit test's set-up): straight to the store
            if value is _GONE:
                del self._journal.store[full]
            else:
                self._journal.store[full] = value
            return
        pending[full] = value


def _full_key(table: str, key: str) -> str:
    return f"{table}/{key}"


def _journal_key(partition: int) -> str:
    return _full_key(JOURNAL, str(partition))


def _is_journal(key: str) -> bool:
    return key.startswith(f"{JOURNAL}/")
