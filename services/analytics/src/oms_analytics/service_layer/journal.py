"""A batch of events' writes to the tables: all of them or none after a crash, and once.

Every table is a view of one store (in the worker one faust table, so one changelog topic)
under its own key prefix (``windows/...``). While a batch of events is counted its writes
are held back (the views read them back), each noted with the source partition of the event
that made it; when the batch is done they go to the store, per source partition, as one
journal record, which lists the partition's writes and the last offset counted per topic of
that partition, followed by the writes themselves, to that partition of the changelog. A
key written several times in the batch is written once, with its last value.

One partition's records reach the broker in the order they were produced (aiokafka has one
request per broker in flight and retries a batch before the next, and faust hands its
buffered records over in order), so what a SIGKILL leaves of a partition is a prefix of its
records: every batch before the last journal record whole, and of the batch that journal is
for, any prefix of its writes. After the tables are recovered, :meth:`Journal.recover`
writes that journal's writes again (the torn batch completed), and the events it lists as
counted are skipped when they are read again (:meth:`Journal.seen`), whatever table they
wrote: no figure is counted twice or lost. Every key is written from one source partition
only (the tables' keys carry it, or are keyed as the topics are).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any, cast

from oms_analytics.service_layer.sweeping import Delete

__all__ = ["JOURNAL", "Journal", "Send", "TableView"]

JOURNAL = "journal"
"""The prefix of the journal's keys: ``journal/<source partition>``."""

Send = Callable[[int, str, Any], None]
"""Writes a key of the store (a value None: deletes it) outside an event: to the given
changelog partition, as the worker must outside a stream."""

_GONE = object()
"""A key deleted by the event under way."""


class Journal:
    def __init__(
        self, store: MutableMapping[str, Any], send: Send, remember: Send | None = None
    ) -> None:
        self.store = store
        self._send = send
        self._remember = remember
        """Writes a key to this worker's copy of the store alone: the rest of a torn
        batch (fault injection) stays in memory, as it does in a worker killed while
        sending, so nothing reads a batch half applied before the kill."""
        self._pending: dict[str, tuple[int, Any]] | None = None
        """The batch's writes by key in the store: the source partition of the event that
        made it, the value (None: no batch under way)."""
        self._partition = -1
        """The source partition of the event being counted."""
        self._applied: dict[int, dict[str, int]] = {}
        """Per source partition: the offset of the last event counted per topic, carried
        into the next journal record (a batch that wrote nothing there writes none)."""
        self._applied_before: dict[int, dict[str, int]] = {}

    def table(self, name: str) -> TableView:
        return TableView(self, name)

    def seen(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the event at ``offset`` of ``topic`` and ``partition`` was counted
        already: read again after a crash, it is skipped."""
        return offset <= self._applied_on(partition).get(topic, -1)

    def begin(self) -> None:
        """A batch begins."""
        self._pending = {}
        self._applied_before = {p: dict(offsets) for p, offsets in self._applied.items()}

    def reading(self, partition: int) -> None:
        """The next event's writes are from ``partition``."""
        self._partition = partition

    def counted(self, topic: str, partition: int, offset: int) -> None:
        self._applied_on(partition)[topic] = offset

    def abandon(self) -> None:
        """The batch failed: none of its writes, none of its events counted."""
        self._pending = None
        self._applied = self._applied_before

    def commit(self, keep: int | None = None) -> int:
        """The batch's writes to the store, per source partition its journal record and then
        its writes (only the first ``keep`` records in all: a torn write, for the fault
        injection of the tests). How many keys the batch wrote."""
        pending, self._pending = self._pending or {}, None
        by_partition: dict[int, dict[str, Any]] = {}
        for key, (partition, value) in pending.items():
            by_partition.setdefault(partition, {})[key] = value
        records: list[tuple[int, str, Any]] = []
        for partition, writes in by_partition.items():
            journal = {
                "applied": dict(self._applied_on(partition)),
                "writes": {key: value for key, value in writes.items() if value is not _GONE},
                "gone": [key for key, value in writes.items() if value is _GONE],
            }
            records.append((partition, _journal_key(partition), journal))
            records += [(partition, key, None if v is _GONE else v) for key, v in writes.items()]
        for partition, key, value in records[:keep]:
            self._send(partition, key, value)
        remember = self._remember
        if keep is not None and remember is not None:
            for partition, key, value in records[keep:]:
                remember(partition, key, value)
        return len(pending)

    def recover(self, partitions: Iterable[int]) -> None:
        """The tables were recovered from their changelog: the writes of the last batch of
        each of ``partitions`` (held here now) written again, as a crash may have torn
        them, and the events the journal lists as counted skipped when read again."""
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
        """Delete ``key`` of ``table`` outside a batch (the expiry) from the changelog
        ``partitions`` that may hold it, first from their journal records, so a recovery
        does not write it again."""
        full = _full_key(table, key)
        for partition in partitions:
            journal = self.store.get(_journal_key(partition))
            if journal is not None and full in journal["writes"]:
                writes = {k: v for k, v in journal["writes"].items() if k != full}
                self._send(partition, _journal_key(partition), {**journal, "writes": writes})
            self._send(partition, full, None)

    def deleter(self, partitions: int) -> Delete:
        """The expiry's deletion of a table's key: from the changelog partition the key was
        written from, or from every one of ``partitions`` when the key does not say."""

        def delete(store: MutableMapping[str, Any], key: str, partition: int | None) -> None:
            table = cast("TableView", store)
            held = range(partitions) if partition is None else [partition]
            self.delete(table.name, key, held)

        return delete

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
    """One table of the store: its keys without the prefix; during a batch, with the
    batch's writes so far."""

    def __init__(self, journal: Journal, name: str) -> None:
        self._journal = journal
        self.name = name
        self._prefix = f"{name}/"

    def __getitem__(self, key: str) -> Any:
        full = self._prefix + key
        pending = self._journal._pending
        if pending is not None and full in pending:
            value = pending[full][1]
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
        mine = {k[cut:]: v for k, (_, v) in pending.items() if k.startswith(self._prefix)}
        held = set(stored)
        kept = [key for key in stored if mine.get(key) is not _GONE]
        added = [key for key, value in mine.items() if value is not _GONE and key not in held]
        return iter(kept + added)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _write(self, full: str, value: Any) -> None:
        journal = self._journal
        if journal._pending is None:  # outside a batch (a unit test's set-up): to the store
            if value is _GONE:
                del journal.store[full]
            else:
                journal.store[full] = value
            return
        journal._pending[full] = (journal._partition, value)


def _full_key(table: str, key: str) -> str:
    return f"{table}/{key}"


def _journal_key(partition: int) -> str:
    return _full_key(JOURNAL, str(partition))


def _is_journal(key: str) -> bool:
    return key.startswith(f"{JOURNAL}/")
