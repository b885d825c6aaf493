"""The funds reconciliation use case: order and payment events update each order's ledger
and its channel's days; queries give an order's ledger, the days and the exceptions; the
keys changed since the last call are handed out as rows for the history in PostgreSQL, and
the reconciliation is read back from there in the same shape.

Stores are mappings (faust tables in the worker, dicts in unit tests). Days are kept per
source partition, as the KPI windows are (``tracking.py``): a query adds them up.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from datetime import date, datetime
from typing import Any

import asyncpg

from oms_analytics.adapters.history import (
    DayRow,
    LedgerRow,
    StoredDay,
    StoredExceptions,
    read_history,
)
from oms_analytics.domain.expiry import Retention, day_expired, ledger_expired
from oms_analytics.domain.funds_days import DayFunds
from oms_analytics.domain.ledger import Closure, Flow, FundsLedger, Movement
from oms_analytics.domain.moments import utc_iso
from oms_analytics.domain.reconciliation import FundsException, exceptions
from oms_analytics.service_layer.changes import Changes
from oms_analytics.service_layer.expired_days import expired_days
from oms_analytics.service_layer.sweeping import Sweep
from oms_events.envelope import Envelope
from oms_events.orders import OrderAccepted, OrderCanceled, OrderCompleted, OrderRejected
from oms_events.payments import PaymentAuthorized, PaymentCaptured, PaymentVoided, RefundIssued
from oms_events.registry import EventPayload

__all__ = [
    "FUNDS_TRACKED",
    "Funds",
    "StoredFunds",
    "reconciliation_report",
    "stored_reconciliation",
]

Store = MutableMapping[str, Any]
StoredFunds = tuple[Iterable[StoredDay], Iterable[StoredExceptions]]
"""History rows: the days of money per source partition, the orders with exceptions."""

FUNDS_TRACKED: tuple[type[EventPayload], ...] = (
    OrderAccepted,
    OrderRejected,
    OrderCanceled,
    OrderCompleted,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentVoided,
    RefundIssued,
)


class Funds:
    def __init__(self, ledgers: Store, days: Store) -> None:
        self.ledgers = ledgers
        self.days = days
        self._orders = Changes[str]()
        self._days = Changes[str]()
        """The orders and days the history may not hold as they stand."""
        self._moneyless: set[str] = set()
        """Days taken for the last write that moved no money: no row of theirs is stored
        (their flags are the orders' rows), so the write confirms them as it is."""

    def record(self, envelope: Envelope, payload: EventPayload, partition: int) -> None:
        """Keep what ``payload`` (read from ``partition``) says of its order's money."""
        if not isinstance(payload, FUNDS_TRACKED):
            return
        order_id = str(getattr(payload, "order_id"))  # noqa: B009  (every tracked type has one)
        ledger = self.ledger(order_id) or FundsLedger()
        before = ledger.version
        _apply(ledger, envelope, payload)
        if ledger.version == before:
            return  # a redelivery: nothing new
        ledger.partition = partition
        for movement in ledger.uncounted():
            assert ledger.channel is not None  # uncounted() waits for the channel
            self._update_day(ledger.channel, movement.at.date(), partition, movement)
        if ledger.channel is not None and ledger.placed_at is not None:
            key = _day_key(ledger.channel, ledger.placed_at.date(), partition)
            day = self._day(key)
            if day.flag(order_id, bool(exceptions(ledger))):
                self._put_day(key, day)
        self.ledgers[order_id] = ledger.to_dict()
        self._orders.add(order_id)

    def _update_day(self, channel: str, day: date, partition: int, movement: Movement) -> None:
        key = _day_key(channel, day, partition)
        figures = self._day(key)
        figures.add(movement)
        self._put_day(key, figures)

    def _day(self, key: str) -> DayFunds:
        known = self.days.get(key)
        return DayFunds.from_dict(known) if known is not None else DayFunds()

    def _put_day(self, key: str, figures: DayFunds) -> None:
        self.days[key] = figures.to_dict()
        self._days.add(key)

    def ledger(self, order_id: str) -> FundsLedger | None:
        known = self.ledgers.get(order_id)
        return FundsLedger.from_dict(known) if known is not None else None

    def order(self, order_id: str) -> dict[str, Any] | None:
        """An order's ledger and exceptions, None when no event of it was read."""
        ledger = self.ledger(order_id)
        if ledger is None:
            return None
        total = ledger.grand_total
        return {
            "order_id": order_id,
            "channel": ledger.channel,
            "placed_at": _iso(ledger.placed_at),
            "grand_total": {"currency": total[0], "amount_minor": total[1]} if total else None,
            "closure": ledger.closure,
            "closed_at": _iso(ledger.closed_at),
            **{f"{flow}_minor": amounts for flow, amounts in ledger.totals().items()},
            "movements": [
                {"id": key.split("/", 1)[1], **m.to_dict(), "at": utc_iso(m.at)}
                for key, m in sorted(ledger.movements.items(), key=lambda kv: (kv[1].at, kv[0]))
            ],
            "exceptions": [e.to_dict() for e in exceptions(ledger)],
        }

    def reconciliation(
        self,
        first: date | None,
        last: date | None,
        channel: str | None,
        stored: StoredFunds = ((), ()),
    ) -> dict[str, Any]:
        """Per day and channel (days from ``first`` to ``last``, inclusive, each optional),
        oldest first: the money per flow and currency and the orders placed that day whose
        money does not add up; then those orders' exceptions. With the ``stored`` history
        rows of the days and source partitions whose money the tables no longer hold (an
        order row of no known partition whenever its day is read from them)."""
        parts: dict[tuple[str, str], list[DayFunds]] = defaultdict(list)
        held: set[tuple[str, str, int]] = set()
        for key, value in list(self.days.items()):
            day_channel, day, partition = json.loads(key)
            figures = DayFunds.from_dict(value)
            if figures.currencies():
                # A day with no money only flags orders (sets: the history's add nothing
                # twice): one whose money expired flags an open order that changed since.
                held.add((day, day_channel, partition))
            if _within(day, day_channel, first, last, channel):
                parts[(day, day_channel)].append(figures)
        live = {key: DayFunds.total(figures) for key, figures in parts.items()}
        flagged = {order for figures in live.values() for order in figures.exceptional_orders}

        def gone(day: str, day_channel: str, partition: int | None) -> bool:
            return _within(day, day_channel, first, last, channel) and (
                partition is None or (day, day_channel, partition) not in held
            )

        past, listed = _stored_days(*stored, gone)
        days = {
            key: DayFunds.total(f for f in (live.get(key), past.get(key)) if f is not None)
            for key in live.keys() | past.keys()
        }

        def exceptions_of(order_id: str) -> list[dict[str, str]]:
            return self._exceptions_of(order_id) if order_id in flagged else listed[order_id]

        return _report(first, last, channel, days, exceptions_of)

    def _exceptions_of(self, order_id: str) -> list[dict[str, str]]:
        ledger = self.ledger(order_id)
        # Flagged from its ledger, which expires after the day it was placed on.
        assert ledger is not None
        return [found.to_dict() for found in exceptions(ledger)]

    def take_changes(self, everything: bool = False) -> tuple[list[LedgerRow], list[DayRow]]:
        """Rows for the keys changed since the last call (``everything``: every key, as after
        a start, when the tables were just recovered); the caller hands them back with
        ``keep_changes`` if it could not store them."""
        orders = self._orders.take(list(self.ledgers.keys()) if everything else None)
        days = self._days.take(list(self.days.keys()) if everything else None)
        rows = {key: _day_rows(key, self._day(key)) for key in sorted(days)}
        self._moneyless = {key for key, of_day in rows.items() if not of_day}
        return (
            [_ledger_row(order_id, self.ledger(order_id)) for order_id in sorted(orders)],
            [row for of_day in rows.values() for row in of_day],
        )

    def keep_changes(self, ledgers: list[LedgerRow], days: list[DayRow]) -> None:
        self._orders.keep(row.order_id for row in ledgers)
        self._days.keep(self._day_keys(days))

    def written(self, ledgers: list[LedgerRow], days: list[DayRow]) -> None:
        """The history holds ``ledgers`` and ``days`` (taken with ``take_changes``)."""
        self._orders.written(row.order_id for row in ledgers)
        self._days.written(self._day_keys(days))

    def _day_keys(self, days: list[DayRow]) -> set[str]:
        """The keys of the days taken with ``days``, those that moved no money too."""
        keys = {_day_key(row.channel, row.day, row.source_partition) for row in days}
        keys |= self._moneyless
        self._moneyless = set()
        return keys

    def expire(self, retention: Retention, sweep: Sweep) -> Iterator[None]:
        """Delete the days of money and the closed orders' ledgers that expired by the
        watermark of their source partition (``sweep.now``) and that the history holds as
        they stand, pausing as the sweep says."""
        for key in list(self.days.keys()):
            yield from sweep.tick()
            _channel, day, partition = json.loads(key)
            expired = day_expired(date.fromisoformat(day), retention, sweep.now(partition))
            if expired and key in self.days and not self._days.pending(key):
                sweep.delete("funds", self.days, key, partition)
        # A day still held may list an order's exceptions: its ledger waits for it. (A day
        # written again during a pause is written by a ledger changed since: pending.)
        held = {tuple(json.loads(key)[:2]) for key in list(self.days.keys())}
        for order_id in list(self.ledgers.keys()):
            yield from sweep.tick()
            ledger = self.ledger(order_id)
            if ledger is None:
                continue
            placed = (
                (ledger.channel, ledger.placed_at.date().isoformat()) if ledger.placed_at else None
            )
            expired = ledger_expired(ledger, retention, sweep.now(ledger.partition))
            if expired and not self._orders.pending(order_id) and placed not in held:
                sweep.delete("ledgers", self.ledgers, order_id, ledger.partition)


async def stored_reconciliation(
    pool: asyncpg.Pool, first: date | None, last: date | None, channel: str | None
) -> dict[str, Any]:
    """The reconciliation as it was last written to PostgreSQL, in the shape of
    :meth:`Funds.reconciliation`."""
    days, listed = _stored_days(*await read_history(pool, first, last, channel))
    return _report(first, last, channel, days, listed.__getitem__)


async def reconciliation_report(
    funds: Funds,
    pool: asyncpg.Pool | None,
    expired: date | None,
    first: date | None,
    last: date | None,
    channel: str | None,
    money: bool = True,
) -> dict[str, Any]:
    """The reconciliation: the days up to ``expired`` (those the tables may no longer hold,
    by the retention) read from the history in PostgreSQL for the source partitions the
    tables do not hold them for, the others from the tables, so a report across expired
    days answers as it did before. Without ``money`` only its exceptions are: the expired
    days' money is not read."""
    days = expired_days(pool, expired, first, last)
    stored = await read_history(*days, channel, money) if days else ((), ())
    return funds.reconciliation(first, last, channel, stored)


def _stored_days(
    stored_days: Iterable[StoredDay],
    stored_exceptions: Iterable[StoredExceptions],
    taken: Callable[[str, str, int | None], bool] = lambda day, channel, partition: True,
) -> tuple[dict[tuple[str, str], DayFunds], dict[str, list[dict[str, str]]]]:
    """The stored rows of the days, channels and source partitions ``taken`` (each by
    default) added up per day and channel, and the exceptions of the orders counted there."""
    days: dict[tuple[str, str], DayFunds] = defaultdict(DayFunds)
    for row in stored_days:
        day = row.day.isoformat()
        if not taken(day, row.channel, row.source_partition):
            continue
        figures = days[(day, row.channel)]
        amounts = (row.authorised_minor, row.captured_minor, row.voided_minor, row.refunded_minor)
        for flow, amount in zip(Flow, amounts, strict=True):
            if amount:  # the live report lists no currency a flow has not moved
                moved = figures.amounts[flow]
                moved[row.currency] = moved.get(row.currency, 0) + amount
    listed: dict[str, list[dict[str, str]]] = {}
    for order in stored_exceptions:
        placed_on = order.placed_on.isoformat()
        if taken(placed_on, order.channel, order.source_partition):
            days[(placed_on, order.channel)].exceptional_orders.add(order.order_id)
            # jsonb keeps no key order: back in the order the live report gives them.
            found = json.loads(order.exceptions)
            listed[order.order_id] = [FundsException(**each).to_dict() for each in found]
    return dict(days), listed


def _within(
    day: str, day_channel: str, first: date | None, last: date | None, channel: str | None
) -> bool:
    """Whether the day (ISO) of ``day_channel`` passes the report's filters."""
    if channel and day_channel != channel:
        return False
    return not ((first and day < first.isoformat()) or (last and day > last.isoformat()))


def _report(
    first: date | None,
    last: date | None,
    channel: str | None,
    days: Mapping[tuple[str, str], DayFunds],
    exceptions_of: Callable[[str], list[dict[str, str]]],
) -> dict[str, Any]:
    """Days (by day and channel) oldest first, then the exceptions of their orders."""
    ordered = sorted(days.items())
    return {
        "from": first.isoformat() if first else None,
        "to": last.isoformat() if last else None,
        "channel": channel,
        "days": [
            {"day": day, "channel": day_channel, **figures.summary()}
            for (day, day_channel), figures in ordered
        ],
        "exceptions": [
            {"order_id": order_id, "channel": day_channel, "placed_on": day} | found
            for (day, day_channel), figures in ordered
            for order_id in sorted(figures.exceptional_orders)
            for found in exceptions_of(order_id)
        ],
    }


def _apply(ledger: FundsLedger, envelope: Envelope, payload: EventPayload) -> None:
    at = envelope.time
    match payload:
        case OrderAccepted():
            total = payload.totals.grand_total
            ledger.placed(payload.channel, at, total.currency, total.amount_minor)
        case OrderRejected():
            ledger.closed(Closure.REJECTED, at, payload.channel)
        case OrderCanceled():
            ledger.closed(Closure.CANCELED, at)
        case OrderCompleted():
            ledger.closed(Closure.COMPLETED, at)
        case PaymentAuthorized():
            amount = payload.amount
            ledger.moved(
                payload.payment_id,
                Movement(Flow.AUTHORISED, amount.currency, amount.amount_minor, at),
            )
        case PaymentCaptured():
            amount = payload.amount
            ledger.moved(
                payload.capture_id,
                Movement(
                    Flow.CAPTURED,
                    amount.currency,
                    amount.amount_minor,
                    at,
                    payload.captured_total.amount_minor,
                ),
            )
        case PaymentVoided():
            amount = payload.amount
            ledger.moved(
                payload.payment_id, Movement(Flow.VOIDED, amount.currency, amount.amount_minor, at)
            )
        case RefundIssued():
            amount = payload.amount
            ledger.moved(
                payload.refund_id,
                Movement(
                    Flow.REFUNDED,
                    amount.currency,
                    amount.amount_minor,
                    at,
                    payload.refunded_total.amount_minor,
                ),
            )


def _ledger_row(order_id: str, ledger: FundsLedger | None) -> LedgerRow:
    assert ledger is not None  # a ledger with a change not written is never deleted
    total = ledger.grand_total
    return LedgerRow(
        order_id=order_id,
        channel=ledger.channel,
        placed_on=ledger.placed_at.date() if ledger.placed_at else None,
        closure=str(ledger.closure) if ledger.closure else None,
        total_currency=total[0] if total else None,
        total_minor=total[1] if total else None,
        totals=json.dumps({str(flow): amounts for flow, amounts in ledger.totals().items()}),
        exceptions=json.dumps([e.to_dict() for e in exceptions(ledger)]),
        version=ledger.version,
        source_partition=ledger.partition,
    )


def _day_rows(key: str, figures: DayFunds) -> list[DayRow]:
    channel, day, partition = json.loads(key)
    return [
        DayRow(
            day=date.fromisoformat(day),
            channel=channel,
            source_partition=int(partition),
            currency=currency,
            authorised_minor=figures.amounts[Flow.AUTHORISED].get(currency, 0),
            captured_minor=figures.amounts[Flow.CAPTURED].get(currency, 0),
            voided_minor=figures.amounts[Flow.VOIDED].get(currency, 0),
            refunded_minor=figures.amounts[Flow.REFUNDED].get(currency, 0),
            version=figures.version,
        )
        for currency in figures.currencies()
    ]


def _day_key(channel: str, day: date, partition: int) -> str:
    return json.dumps([channel, day.isoformat(), partition])


def _iso(moment: datetime | None) -> str | None:
    return utc_iso(moment) if moment else None
