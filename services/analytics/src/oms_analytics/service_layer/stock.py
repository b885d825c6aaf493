"""The stock use case: ``OutOfStock``, ``BackInStock``, ``StockCommitted`` and
``StockDayClosed`` from oms.inventory kept per SKU and location; stock-outs, time out of
stock, units moved per hour or day with each day's closing stock, the inventory turnover over
a range of days, and what is out of stock now.

"Now" is event time: the latest event time read on oms.inventory (``now`` given to each
query), so a replay gives the same figures and a stock-out under way is counted up to the
latest event read, not the wall clock.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, MutableMapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from oms_analytics.domain.expiry import Retention, stock_expired
from oms_analytics.domain.moments import utc_iso
from oms_analytics.domain.stock import StockFacts
from oms_analytics.domain.windows import Granularity, Window, window_of
from oms_analytics.service_layer.sweeping import Sweep
from oms_events.envelope import Envelope
from oms_events.inventory import BackInStock, OutOfStock, StockCommitted, StockDayClosed
from oms_events.registry import EventPayload

__all__ = ["STOCK_TRACKED", "Stock", "StockWindow"]

STOCK_TRACKED = (OutOfStock, BackInStock, StockCommitted, StockDayClosed)


class StockWindow(StrEnum):
    HOUR = "hour"
    DAY = "day"


class Stock:
    def __init__(self, stock: MutableMapping[str, Any], now: Callable[[], datetime | None]) -> None:
        self.stock = stock
        """Per ``[sku, location]``: its stock-outs, units moved per hour, commits counted."""
        self.now = now

    def record(self, envelope: Envelope, payload: EventPayload) -> bool:
        """Keep what ``payload`` says of its SKU at its location; whether it changed."""
        if not isinstance(payload, STOCK_TRACKED):
            return False
        key = json.dumps([payload.sku, payload.location_id])
        known = self.stock.get(key)
        facts = StockFacts.from_dict(known) if known is not None else StockFacts()
        match payload:
            case OutOfStock():
                changed = facts.out_of_stock(payload.since)
            case BackInStock():
                changed = facts.back_in_stock(envelope.time)
            case StockCommitted():
                commit_id = f"{payload.reservation_id}/{payload.shipment_id}"
                hour = window_of(envelope.time, Granularity.HOUR)
                changed = facts.committed(commit_id, hour, payload.quantity)
            case StockDayClosed():
                changed = facts.closed(payload.day, payload.on_hand)
        if changed:
            self.stock[key] = facts.to_dict()
        return changed

    def report(
        self,
        window: StockWindow,
        first: date | None = None,
        last: date | None = None,
        sku: str | None = None,
        location: str | None = None,
    ) -> dict[str, Any]:
        """Per window (hour or UTC day, from ``first`` to ``last`` inclusive), SKU and
        location, oldest first: stock-outs begun, seconds out of stock within the window and
        units moved, and a day's stock on hand at its close; only windows with any of them."""
        now = self.now()
        since = datetime.combine(first, time(), UTC) if first else None
        until = datetime.combine(last + timedelta(days=1), time(), UTC) if last else None
        rows: dict[tuple[datetime, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0])
        closings: dict[tuple[datetime, str, str], int] = {}
        for (item, place), facts in self._items(sku, location):
            for start, figures in _hours(facts, now, since, until):
                if (since is not None and start < since) or (until is not None and start >= until):
                    continue
                if window is StockWindow.DAY:
                    start = start.replace(hour=0)
                row = rows[(start, item, place)]
                for n, value in enumerate(figures):
                    row[n] += value
            if window is StockWindow.DAY:
                for day, on_hand in _days_closed(facts, first, last):
                    key = (datetime.combine(day, time(), UTC), item, place)
                    closings[key] = on_hand
                    rows.setdefault(key, [0, 0.0, 0])
        return {
            "window": str(window),
            "from": first.isoformat() if first else None,
            "to": last.isoformat() if last else None,
            "sku": sku,
            "location": location,
            "as_of": utc_iso(now) if now else None,
            "windows": [
                {
                    **_period(window, start),
                    "sku": item,
                    "location": place,
                    "stock_outs": int(outs),
                    "seconds_out_of_stock": seconds,
                    "units_moved": int(moved),
                    **(
                        {"closing_on_hand": closings.get((start, item, place))}
                        if window is StockWindow.DAY
                        else {}
                    ),
                }
                for (start, item, place), (outs, seconds, moved) in sorted(rows.items())
            ],
        }

    def turnover(
        self,
        first: date | None = None,
        last: date | None = None,
        sku: str | None = None,
        location: str | None = None,
    ) -> dict[str, Any]:
        """Per SKU and location over the UTC days ``first`` to ``last`` inclusive (by default
        every day known): units moved, the average stock on hand of the days closed, the
        turnover (units moved / average on hand) and the days of supply (the range's days /
        turnover); a figure with nothing to divide by is None."""
        items = list(self._items(sku, location))
        known = sorted(
            {day for _, facts in items for day in facts.closing}
            | {hour[:10] for _, facts in items for hour in facts.moved}
        )
        first = first or (date.fromisoformat(known[0]) if known else None)
        last = last or (date.fromisoformat(known[-1]) if known else None)
        rows = []
        if first is not None and last is not None and first <= last:
            period = (last - first).days + 1
            for (item, place), facts in items:
                on_hand = [units for _, units in _days_closed(facts, first, last)]
                moved = sum(
                    units
                    for hour, units in facts.moved.items()
                    if first <= date.fromisoformat(hour[:10]) <= last
                )
                if not on_hand and not moved:
                    continue
                average = sum(on_hand) / len(on_hand) if on_hand else None
                turns = moved / average if average else None
                rows.append(
                    {
                        "sku": item,
                        "location": place,
                        "days_closed": len(on_hand),
                        "average_on_hand": average,
                        "units_moved": moved,
                        "turnover": turns,
                        "days_of_supply": period / turns if turns else None,
                    }
                )
        return {
            "from": first.isoformat() if first else None,
            "to": last.isoformat() if last else None,
            "sku": sku,
            "location": location,
            "as_of": utc_iso(now) if (now := self.now()) else None,
            "items": sorted(rows, key=lambda r: (r["sku"], r["location"])),
        }

    def expire(self, retention: Retention, sweep: Sweep) -> Iterator[None]:
        """Delete the SKUs at a location with nothing under way and nothing within the
        retention before now (the latest event time read on oms.inventory). Their changelog
        partition is not kept (oms.inventory's partition of the key): every one gets the
        deletion."""
        now = self.now()
        for key in list(self.stock.keys()):
            yield from sweep.tick()
            value = self.stock.get(key)
            if value is not None and stock_expired(StockFacts.from_dict(value), retention, now):
                sweep.delete("stock", self.stock, key, None)

    def out_of_stock(self, sku: str | None = None, location: str | None = None) -> dict[str, Any]:
        """The SKUs out of stock now, longest first, each with since when and for how long
        (to the latest event time read)."""
        now = self.now()
        rows = []
        for (item, place), facts in self._items(sku, location):
            current = facts.current
            if current is None:
                continue
            seconds = max((now - current.since).total_seconds(), 0.0) if now else 0.0
            rows.append((current.since, item, place, seconds))
        return {
            "sku": sku,
            "location": location,
            "as_of": utc_iso(now) if now else None,
            "out_of_stock": [
                {"sku": item, "location": place, "since": utc_iso(since), "seconds": seconds}
                for since, item, place, seconds in sorted(rows)
            ],
        }

    def _items(
        self, sku: str | None, location: str | None
    ) -> Iterator[tuple[tuple[str, str], StockFacts]]:
        for key, value in list(self.stock.items()):
            item, place = json.loads(key)
            if (sku and item != sku) or (location and place != location):
                continue
            yield (item, place), StockFacts.from_dict(value)


def _hours(
    facts: StockFacts, now: datetime | None, since: datetime | None, until: datetime | None
) -> Iterator[tuple[datetime, list[float]]]:
    """Per hour with something: [stock-outs begun, seconds out of stock, units moved]; the
    time out of stock only from ``since`` to ``until`` (each optional), so a long stock-out
    costs the hours asked for, not all of its own."""
    hours: dict[datetime, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    for out in facts.stock_outs:
        hours[window_of(out.since, Granularity.HOUR).start][0] += 1
        stop = out.until if out.until is not None else max(now or out.since, out.since)
        stop = min(stop, until) if until is not None else stop
        hour = window_of(max(out.since, since) if since else out.since, Granularity.HOUR)
        while hour.start < stop:
            hours[hour.start][1] += out.seconds_within(hour.start, hour.end, stop)
            hour = Window(Granularity.HOUR, hour.end)
    for start, units in facts.moved.items():
        hours[datetime.fromisoformat(start)][2] += units
    yield from hours.items()


def _days_closed(
    facts: StockFacts, first: date | None, last: date | None
) -> Iterator[tuple[date, int]]:
    """The days closed from ``first`` to ``last`` (each optional) with their stock on hand."""
    for key, on_hand in facts.closing.items():
        day = date.fromisoformat(key)
        if (first is None or day >= first) and (last is None or day <= last):
            yield day, on_hand


def _period(window: StockWindow, start: datetime) -> dict[str, str]:
    if window is StockWindow.DAY:
        return {"day": start.date().isoformat()}
    return {"start": utc_iso(start), "end": utc_iso(Window(Granularity.HOUR, start).end)}
