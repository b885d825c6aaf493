"""The analytics use case: an event read from a public topic updates the order's facts and the
windows its figures land in, per channel and per location; a query adds the windows up.

The stores are mappings (faust tables in the worker, dicts in unit tests). Window figures
are kept per source partition: a table's changelog record goes to the partition of the event
that wrote it, so a key written from two partitions would recover from whichever changelog
partition was read last. Keyed per partition, each changelog partition holds only its own
sub-totals, and a query sums them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, MutableMapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

import asyncpg

from oms_analytics.adapters.history import DailyRow, read_daily_history, read_daily_partitions
from oms_analytics.domain.expiry import Retention, order_expired, window_expired
from oms_analytics.domain.kpis import Contribution, Figures, WindowFigures
from oms_analytics.domain.locations import LocationContribution, LocationFigures
from oms_analytics.domain.moments import utc_iso
from oms_analytics.domain.orders import OrderFacts, ReturnRequest, settle, settle_locations
from oms_analytics.domain.windows import (
    ROLLING_HOUR,
    Granularity,
    Hopping,
    Window,
    accepts,
    window_of,
)
from oms_analytics.service_layer.changes import Changes
from oms_analytics.service_layer.expired_days import HistoryUnavailable, expired_days
from oms_analytics.service_layer.sweeping import Sweep
from oms_events.envelope import Envelope
from oms_events.fulfilment import FulfilmentOrderRejected, ShipmentShipped
from oms_events.orders import OrderAccepted, OrderCanceled, OrderCompleted, OrderRejected
from oms_events.registry import EventPayload
from oms_events.returns import ReturnRequested
from oms_events.sourcing import FulfilmentOrderCreated, FulfilmentOrderRerouted, OrderBackordered

__all__ = ["TRACKED", "Analytics", "HistoryUnavailable", "Store", "daily_report", "stored_daily"]

Store = MutableMapping[str, Any]

TRACKED = (
    OrderAccepted,
    OrderRejected,
    OrderCanceled,
    ShipmentShipped,
    ReturnRequested,
    OrderBackordered,
    OrderCompleted,
    FulfilmentOrderCreated,
    FulfilmentOrderRerouted,
    FulfilmentOrderRejected,
)
"""The event types that change a figure; every other event only moves the watermark."""


class Analytics:
    def __init__(
        self,
        orders: Store,
        windows: Store,
        marks: Store,
        grace: timedelta,
        locations: Store | None = None,
    ) -> None:
        self.orders = orders
        self.windows = windows
        self.marks = marks
        self.grace = grace
        self.locations: Store = {} if locations is None else locations
        """Per window, location and source partition: the location's figures."""
        self._days = Changes[_Day]()
        """Channels' and locations' days per source partition whose hourly windows the
        history may not hold as they stand."""

    def record(
        self, envelope: Envelope, payload: EventPayload | None, topic: str, partition: int
    ) -> None:
        """Count one event read from ``topic`` and ``partition`` (``payload`` None: not a
        tracked type). Its figures are checked against that topic partition's watermark,
        which then moves to the event's time if that is later: each topic partition is read
        in order, so a replay finds the same watermarks as the first reading did."""
        watermark = self.watermark(topic, partition)
        if payload is not None:
            self._record(envelope, payload, partition, watermark)
        if watermark is None or envelope.time > watermark:
            self.marks[f"watermark/{topic}/{partition}"] = envelope.time.isoformat()

    def _record(
        self, envelope: Envelope, payload: EventPayload, partition: int, watermark: datetime | None
    ) -> None:
        if not isinstance(payload, TRACKED):
            return
        at = envelope.time
        order_id = payload.order_id  # every tracked event is about one order
        facts = self._facts(order_id)
        facts.partition = partition
        match payload:
            case OrderAccepted():
                total = payload.totals.grand_total
                facts.placed(payload.channel, at, total.currency, total.amount_minor)
            case OrderRejected():
                facts.rejected(payload.channel, at)
            case OrderCanceled():
                facts.canceled(at)
            case ShipmentShipped():
                facts.shipped(at)
                facts.at_location(payload.location_id, "shipped_at", at)
            case OrderBackordered():
                facts.backordered(at)
            case OrderCompleted():
                facts.completed(at)
            case FulfilmentOrderCreated():
                if payload.promised_by is not None:
                    facts.promised(payload.promised_by)
                facts.at_location(payload.location_id, "offered_at", at)
            case FulfilmentOrderRejected():
                facts.at_location(payload.location_id, "rejected_at", at)
            case FulfilmentOrderRerouted():
                facts.at_location(payload.from_location_id, "resourced_at", at)
            case ReturnRequested():
                facts.returned(payload.return_id, _return_request(payload, at))
        facts.read_at(at, watermark)
        due = settle(facts)
        due_at_locations = settle_locations(facts)
        self.orders[order_id] = facts.to_dict()
        for moment, contribution in due:
            mark = facts.watermark_at(moment, watermark)
            for window in self._open_windows(moment, partition, mark):
                self._add(window, contribution, partition)
        for moment, at_location in due_at_locations:
            mark = facts.watermark_at(moment, watermark)
            for window in self._open_windows(moment, partition, mark):
                self._add_at_location(window, at_location, partition)

    def _facts(self, order_id: str) -> OrderFacts:
        known = self.orders.get(order_id)
        return OrderFacts.from_dict(known) if known is not None else OrderFacts()

    def _open_windows(
        self, moment: datetime, partition: int, watermark: datetime | None
    ) -> list[Window]:
        """The windows of ``moment`` still taking figures; each closed one counts a figure
        dropped as late."""
        open_windows = []
        for granularity in Granularity:
            window = window_of(moment, granularity)
            if accepts(window, watermark, self.grace):
                open_windows.append(window)
            else:
                late_key = f"late/{granularity}/{partition}"
                self.marks[late_key] = int(self.marks.get(late_key, 0)) + 1
        return open_windows

    def _add(self, window: Window, contribution: Contribution, partition: int) -> None:
        key = _window_key(window, contribution.channel, partition)
        known = self.windows.get(key)
        figures = WindowFigures.from_dict(known) if known is not None else WindowFigures()
        figures.add(contribution)
        self.windows[key] = figures.to_dict()
        self._changed(WindowFigures, window, contribution.channel, partition)

    def _add_at_location(
        self, window: Window, contribution: LocationContribution, partition: int
    ) -> None:
        key = _window_key(window, contribution.location, partition)
        known = self.locations.get(key)
        figures = LocationFigures.from_dict(known) if known is not None else LocationFigures()
        figures.add(contribution)
        self.locations[key] = figures.to_dict()
        self._changed(LocationFigures, window, contribution.location, partition)

    def _changed(self, figures: type[Figures], window: Window, name: str, partition: int) -> None:
        if window.granularity is Granularity.HOUR:
            self._days.add(_Day(figures, name, window.start.date(), partition))

    def watermark(self, topic: str, partition: int) -> datetime | None:
        mark = self.marks.get(f"watermark/{topic}/{partition}")
        return datetime.fromisoformat(mark) if mark else None

    def kpis(self, granularity: Granularity, channel: str | None = None) -> dict[str, Any]:
        """Every window of ``granularity`` (of one channel, or each channel), oldest first."""
        return {
            "window": str(granularity),
            "channel": channel,
            "grace_seconds": int(self.grace.total_seconds()),
            "late_events_dropped": self.late_dropped(granularity),
            "windows": _windows(
                self._parts(self.windows, granularity, channel), granularity, "channel"
            ),
        }

    def rolling(
        self,
        channel: str | None = None,
        hopping: Hopping = ROLLING_HOUR,
        since: datetime | None = None,
        latest: bool = False,
    ) -> dict[str, Any]:
        """Every hopping window (of one channel, or each channel) that holds a figure, oldest
        first, then by channel: the minute windows it spans added up, so an event is in every
        hop that covers its minute, with the minute windows' grace. ``since``: only the hops
        starting at or after it. ``latest``: per channel only the hop that ends first after
        its newest minute, the last hour as of its newest event."""
        return self._rolling(
            self.windows, WindowFigures, "channel", channel, hopping, since, latest
        )

    def location_rolling(
        self,
        location: str | None = None,
        hopping: Hopping = ROLLING_HOUR,
        since: datetime | None = None,
        latest: bool = False,
    ) -> dict[str, Any]:
        """``rolling`` per location: the location minute windows added up per hop."""
        return self._rolling(
            self.locations, LocationFigures, "location", location, hopping, since, latest
        )

    def _rolling(
        self,
        store: Store,
        figures: type[WindowFigures | LocationFigures],
        key: str,
        name: str | None,
        hopping: Hopping,
        since: datetime | None,
        latest: bool,
    ) -> dict[str, Any]:
        hops: dict[tuple[datetime, str], list[dict[str, Any]]] = defaultdict(list)
        newest: dict[str, datetime] = {}
        for (minute, found), stored in self._parts(store, Granularity.MINUTE, name).items():
            newest[found] = max(minute, newest.get(found, minute))
            for start in hopping.covering(minute):
                hops[(start, found)].extend(stored)
        current = {found: hopping.covering(minute)[0] for found, minute in newest.items()}
        return {
            "size_seconds": int(hopping.size.total_seconds()),
            "step_seconds": int(hopping.step.total_seconds()),
            key: name,
            "from": utc_iso(since) if since else None,
            "latest": latest,
            "grace_seconds": int(self.grace.total_seconds()),
            "late_events_dropped": self.late_dropped(Granularity.MINUTE),
            "hops": [
                {
                    "start": utc_iso(start),
                    "end": utc_iso(start + hopping.size),
                    key: found,
                    **_summary(figures, stored),
                }
                for (start, found), stored in sorted(hops.items())
                if (since is None or start >= since) and (not latest or start == current[found])
            ],
        }

    def location_kpis(self, granularity: Granularity, location: str | None) -> dict[str, Any]:
        """Every location window of ``granularity`` (of one location, or each location),
        oldest first, then by location."""
        parts = self._parts(self.locations, granularity, location)
        return {
            "window": str(granularity),
            "location": location,
            "grace_seconds": int(self.grace.total_seconds()),
            "late_events_dropped": self.late_dropped(granularity),
            "windows": _windows(parts, granularity, "location", LocationFigures),
        }

    def daily(
        self,
        first: date | None,
        last: date | None,
        channel: str | None,
        stored: Iterable[DailyRow] = (),
    ) -> dict[str, Any]:
        """Per day (UTC, from ``first`` to ``last`` inclusive, each optional) and channel,
        oldest first: the day's hourly windows added up (lead-time percentiles over every
        order shipped that day, not an average of the hours'); with the ``stored`` history
        rows of the days and partitions the tables no longer hold."""
        parts = self._parts(self.windows, Granularity.HOUR, channel)
        return {
            "from": first.isoformat() if first else None,
            "to": last.isoformat() if last else None,
            "channel": channel,
            "late_events_dropped": self.late_dropped(Granularity.HOUR),
            "days": _days(
                _with_stored(parts, self.windows, stored, channel), first, last, "channel"
            ),
        }

    def location_daily(
        self,
        first: date | None,
        last: date | None,
        location: str | None,
        stored: Iterable[DailyRow] = (),
    ) -> dict[str, Any]:
        """Per day and location, oldest first: the location's hourly windows added up; with
        the ``stored`` history rows of the days and partitions the tables no longer hold."""
        parts = _with_stored(
            self._parts(self.locations, Granularity.HOUR, location),
            self.locations,
            stored,
            location,
            LocationFigures,
        )
        return {
            "from": first.isoformat() if first else None,
            "to": last.isoformat() if last else None,
            "location": location,
            "late_events_dropped": self.late_dropped(Granularity.HOUR),
            "days": _days(parts, first, last, "location", LocationFigures),
        }

    def take_changes(self, everything: bool = False) -> list[DailyRow]:
        """History rows for each channel's and location's day per source partition changed
        since the last call (``everything``: every day the tables hold, as after a start);
        the caller hands them back with ``keep_changes`` if it could not store them."""
        held = (
            {
                _Day(figures, name, datetime.fromisoformat(start).date(), int(partition))
                for figures, store in self._stores()
                for kind, name, start, partition in map(json.loads, list(store.keys()))
                if kind == Granularity.HOUR
            }
            if everything
            else None
        )
        days = self._days.take(held)
        ordered = sorted(days, key=lambda d: (d.figures.__name__, d.name, d.day, d.partition))
        return [self._daily_row(day) for day in ordered]

    def keep_changes(self, rows: list[DailyRow]) -> None:
        self._days.keep(map(_day_of, rows))

    def written(self, rows: list[DailyRow]) -> None:
        """The history holds ``rows`` (taken with ``take_changes``)."""
        self._days.written(map(_day_of, rows))

    def expire(self, retention: Retention, sweep: Sweep) -> Iterator[None]:
        """Delete the windows (channels' and locations') and the closed orders' facts that
        expired by the watermark of their source partition (``sweep.now``), pausing as the
        sweep says. A day's hourly windows go only once the history holds the day as it
        stands."""
        for (figures, store), table in zip(self._stores(), ("windows", "locations"), strict=True):
            for key in list(store.keys()):
                yield from sweep.tick()
                if key not in store:
                    continue
                kind, name, start, partition = json.loads(key)
                window = Window(Granularity(kind), datetime.fromisoformat(start))
                if not window_expired(window, retention, sweep.now(partition)):
                    continue
                if kind == Granularity.HOUR and self._days.pending(
                    _Day(figures, name, window.start.date(), partition)
                ):
                    continue
                sweep.delete(table, store, key, partition)
        for order_id in list(self.orders.keys()):
            yield from sweep.tick()
            stored_facts = self.orders.get(order_id)
            if stored_facts is None:
                continue
            facts = OrderFacts.from_dict(stored_facts)
            if order_expired(facts, retention, sweep.now(facts.partition)):
                sweep.delete("orders", self.orders, order_id, facts.partition)

    def _stores(self) -> tuple[tuple[type[Figures], Store], ...]:
        return ((WindowFigures, self.windows), (LocationFigures, self.locations))

    def _daily_row(self, day: _Day) -> DailyRow:
        """The day's hourly windows of the channel or location read from the partition,
        added up."""
        store = dict(self._stores())[day.figures]
        midnight = datetime.combine(day.day, time(), tzinfo=UTC)
        hours = (
            store.get(_window_key(Window(Granularity.HOUR, start), day.name, day.partition))
            for start in (midnight + timedelta(hours=h) for h in range(24))
        )
        figures = day.figures.total(day.figures.from_dict(h) for h in hours if h is not None)
        return DailyRow(day.day, day.name, day.partition, figures)

    @staticmethod
    def _parts(
        store: Store, granularity: Granularity, name: str | None
    ) -> dict[tuple[datetime, str], list[dict[str, Any]]]:
        """Each window's stored figures per source partition, by window start and channel
        (or location): of ``name`` only, when given."""
        parts: dict[tuple[datetime, str], list[dict[str, Any]]] = defaultdict(list)
        for key, value in list(store.items()):
            kind, window_name, start, _partition = json.loads(key)
            if kind != granularity or (name and window_name != name):
                continue
            parts[(datetime.fromisoformat(start), window_name)].append(value)
        return parts

    def late_dropped(self, granularity: Granularity) -> int:
        """Figures of ``granularity`` dropped as too late for their window."""
        return sum(
            int(value)
            for key, value in list(self.marks.items())
            if key.startswith(f"late/{granularity}/")
        )


async def daily_report(
    analytics: Analytics,
    pool: asyncpg.Pool | None,
    expired: date | None,
    first: date | None,
    last: date | None,
    name: str | None,
    figures: type[WindowFigures | LocationFigures] = WindowFigures,
) -> dict[str, Any]:
    """The daily report per channel (or location, with ``LocationFigures``): the days up to
    ``expired`` (those the tables may no longer hold, by the retention) read from the
    history in PostgreSQL for the source partitions the tables do not hold them for, the
    others from the tables, so a report across expired days answers as it did before."""
    stored: list[DailyRow] = []
    if days := expired_days(pool, expired, first, last):
        stored = await read_daily_partitions(days.pool, figures, days.first, days.through, name)
    if figures is LocationFigures:
        return analytics.location_daily(first, last, name, stored)
    return analytics.daily(first, last, name, stored)


async def stored_daily(
    pool: asyncpg.Pool,
    first: date | None,
    last: date | None,
    name: str | None,
    figures: type[WindowFigures | LocationFigures] = WindowFigures,
) -> dict[str, Any]:
    """The daily report per channel (or location, with ``LocationFigures``) as it was last
    written to PostgreSQL, in the shape of :meth:`Analytics.daily` (or
    :meth:`Analytics.location_daily`) without ``late_events_dropped`` (a count the history
    does not keep)."""
    dimension = "channel" if figures is WindowFigures else "location"
    return {
        "from": first.isoformat() if first else None,
        "to": last.isoformat() if last else None,
        dimension: name,
        "days": [
            {"day": day.isoformat(), dimension: day_name, **stored.summary()}
            for day, day_name, stored in await read_daily_history(pool, figures, first, last, name)
        ],
    }


def _with_stored(
    parts: dict[tuple[datetime, str], list[dict[str, Any]]],
    store: Store,
    stored: Iterable[DailyRow],
    name: str | None,
    figures: type[Figures] = WindowFigures,
) -> dict[tuple[datetime, str], list[dict[str, Any]]]:
    """``parts`` (hourly windows by start and name) with each stored day (of ``figures``, of
    ``name`` when given) of a name and source partition of which ``store`` holds no hour, as
    one part at the day's midnight."""
    stored = [
        row for row in stored if isinstance(row.figures, figures) and (not name or row.name == name)
    ]
    if not stored:
        return parts
    held = {
        (datetime.fromisoformat(start).date(), name, partition)
        for kind, name, start, partition in map(json.loads, list(store.keys()))
        if kind == Granularity.HOUR
    }
    for row in stored:
        if (row.day, row.name, row.source_partition) not in held:
            midnight = datetime.combine(row.day, time(), tzinfo=UTC)
            parts[(midnight, row.name)].append(row.figures.to_dict())
    return parts


def _summary(figures: type[WindowFigures | LocationFigures], parts: list[dict[str, Any]]) -> Any:
    """The published figures of stored per-partition figures added up."""
    if figures is LocationFigures:
        return LocationFigures.total(map(LocationFigures.from_dict, parts)).summary()
    return WindowFigures.total(map(WindowFigures.from_dict, parts)).summary()


def _windows(
    parts: dict[tuple[datetime, str], list[dict[str, Any]]],
    granularity: Granularity,
    dimension: str,
    figures: type[WindowFigures | LocationFigures] = WindowFigures,
) -> list[dict[str, Any]]:
    """Each window's partitions added up, oldest first, then by ``dimension`` (channel or
    location)."""
    return [
        {
            "start": utc_iso(start),
            "end": utc_iso(Window(granularity, start).end),
            dimension: name,
            **_summary(figures, stored),
        }
        for (start, name), stored in sorted(parts.items())
    ]


def _days(
    parts: dict[tuple[datetime, str], list[dict[str, Any]]],
    first: date | None,
    last: date | None,
    dimension: str,
    figures: type[WindowFigures | LocationFigures] = WindowFigures,
) -> list[dict[str, Any]]:
    """The hourly windows added up per UTC day (from ``first`` to ``last`` inclusive, each
    optional) and ``dimension``, oldest first."""
    days: dict[tuple[date, str], list[dict[str, Any]]] = defaultdict(list)
    for (start, name), stored in parts.items():
        day = start.date()
        if (first is None or first <= day) and (last is None or day <= last):
            days[(day, name)].extend(stored)
    return [
        {"day": day.isoformat(), dimension: name, **_summary(figures, stored)}
        for (day, name), stored in sorted(days.items())
    ]


def _day_of(row: DailyRow) -> _Day:
    return _Day(type(row.figures), row.name, row.day, row.source_partition)


class _Day(NamedTuple):
    figures: type[Figures]
    """WindowFigures for a channel's day, LocationFigures for a location's."""
    name: str
    day: date
    partition: int


def _return_request(payload: ReturnRequested, at: datetime) -> ReturnRequest:
    units: dict[str, int] = defaultdict(int)
    for line in payload.lines:
        units[str(line.reason)] += line.quantity
    return ReturnRequest(payload.channel, at, tuple(sorted(units.items())))


def _window_key(window: Window, channel: str, partition: int) -> str:
    return json.dumps([str(window.granularity), channel, utc_iso(window.start), partition])
