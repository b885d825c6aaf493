"""Expiry on dicts: when each kind of key has expired by the watermark of its partition, that
open orders' facts and ledgers never do, that nothing the history may not hold is deleted,
that the daily report across expired days answers from the history rows as it did before,
and the retention settings refused at start naming the setting."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import ValidationError

from oms_analytics.adapters.history import DayRow, LedgerRow, StoredDay, StoredExceptions
from oms_analytics.config import AnalyticsSettings
from oms_analytics.domain.expiry import (
    Retention,
    expired_through,
    ledger_expired,
    order_expired,
    partition_now,
    stay_expired,
    stock_expired,
    window_expired,
)
from oms_analytics.domain.ledger import Closure, FundsLedger
from oms_analytics.domain.orders import OrderFacts
from oms_analytics.domain.stock import StockFacts
from oms_analytics.domain.stuck import FlowStatus, Stay, StuckPolicy
from oms_analytics.domain.windows import Granularity, Window
from oms_analytics.entrypoints import history as history_entrypoint
from oms_analytics.entrypoints.history import History
from oms_analytics.entrypoints.reports import to_csv
from oms_analytics.service_layer import funds as funds_module
from oms_analytics.service_layer.changes import Changes
from oms_analytics.service_layer.expiry import Expiry
from oms_analytics.service_layer.funds import Funds, reconciliation_report
from oms_analytics.service_layer.stock import Stock
from oms_analytics.service_layer.stuck import StuckOrders
from oms_analytics.service_layer.sweeping import Sweep
from oms_analytics.service_layer.tracking import Analytics, HistoryUnavailable, daily_report
from oms_events.registry import EventPayload
from tests.support.analytics import (
    accepted,
    at,
    authorized,
    back_in_stock,
    canceled,
    captured,
    completed,
    envelope,
    out_of_stock,
    refunded,
    shipped,
)

RETENTION = Retention(days=timedelta(days=2), minutes=timedelta(hours=3))


def _day(day: int) -> datetime:
    return datetime(2026, 11, day, tzinfo=UTC)


def test_windows_expire_by_their_day_or_their_minute() -> None:
    hour = Window(Granularity.HOUR, at("23:00", 24))
    # The 24th ends at midnight of the 25th: kept two days past that, to midnight of the 27th.
    assert not window_expired(hour, RETENTION, at("23:59", 26))
    assert window_expired(hour, RETENTION, _day(27))
    # Every hour of a day goes together.
    assert window_expired(Window(Granularity.HOUR, at("00:00", 24)), RETENTION, _day(27))
    assert not window_expired(Window(Granularity.HOUR, at("00:00", 24)), RETENTION, at("23:00", 26))
    minute = Window(Granularity.MINUTE, at("10:00"))
    assert not window_expired(minute, RETENTION, at("13:00"))
    assert window_expired(minute, RETENTION, at("13:01"))
    assert not window_expired(minute, RETENTION, None)  # nothing read: nothing expires
    assert expired_through(RETENTION, at("10:00", 27)) == date(2026, 11, 24)
    assert expired_through(RETENTION, None) is None


def test_now_is_the_latest_event_time_held_back_by_a_topic_with_records_to_read() -> None:
    marks = {"oms.orders": at("10:00", 27), "oms.payments": at("09:00", 25), "oms.returns": None}
    assert partition_now(marks, ()) == at("10:00", 27)  # payments and returns read to the end
    assert partition_now(marks, {"oms.payments"}) == at("09:00", 25)  # payments lag behind
    assert partition_now(marks, {"oms.returns"}) is None  # records there, none read yet
    assert partition_now({"oms.orders": None}, ()) is None


def test_an_order_expires_once_closed_by_its_latest_event() -> None:
    facts = OrderFacts()
    facts.placed("web", at("09:00", 20), "EUR", 1000)
    facts.shipped(at("10:00", 24))
    assert not order_expired(facts, RETENTION, _day(30))  # open: never
    facts.completed(at("12:00", 24))
    assert not order_expired(facts, RETENTION, at("23:00", 26))
    assert order_expired(facts, RETENTION, _day(27))
    facts.at_location("ST-MUNICH", "shipped_at", at("08:00", 25))  # a later fact keeps it
    assert not order_expired(facts, RETENTION, _day(27))
    assert order_expired(facts, RETENTION, _day(28))


def test_a_ledger_expires_once_closed_by_its_latest_money() -> None:
    ledger = FundsLedger()
    ledger.placed("web", at("09:00", 20), "EUR", 1000)
    assert not ledger_expired(ledger, RETENTION, _day(30))  # open: never
    ledger.closed(Closure.CANCELED, at("10:00", 20))
    assert ledger_expired(ledger, RETENTION, _day(23))
    restored = FundsLedger.from_dict({**ledger.to_dict(), "movements": {}})
    assert restored.closure is Closure.CANCELED


def test_a_final_stay_expires_an_open_one_never() -> None:
    done = Stay("O1", FlowStatus.COMPLETED, at("10:00", 24), 0)
    assert not stay_expired(done, RETENTION, at("09:59", 26))
    assert stay_expired(done, RETENTION, at("10:00", 26))
    assert not stay_expired(Stay("O2", FlowStatus.SHIPPED, at("10:00", 1), 0), RETENTION, _day(30))


def test_a_sku_expires_with_nothing_under_way_and_nothing_recent() -> None:
    facts = StockFacts()
    facts.out_of_stock(at("09:00", 20))
    assert not stock_expired(facts, RETENTION, _day(30))  # under way
    facts.back_in_stock(at("11:00", 20))
    facts.committed("R1/S1", Window(Granularity.HOUR, at("15:00", 21)), 2)
    assert not stock_expired(facts, RETENTION, at("15:59", 23))
    assert stock_expired(facts, RETENTION, at("16:00", 23))


def test_retention_must_be_something_and_minutes_no_longer() -> None:
    with pytest.raises(ValueError, match="longer than nothing"):
        Retention(days=timedelta(0), minutes=timedelta(hours=1))
    with pytest.raises(ValueError, match="not kept longer"):
        Retention(days=timedelta(hours=1), minutes=timedelta(hours=2))


def test_changes_stay_pending_until_written() -> None:
    changes = Changes[str]()
    changes.add("a")
    assert changes.pending("a")
    assert changes.take() == {"a"}
    assert changes.pending("a")  # a write under way
    changes.add("a")  # changed again meanwhile
    changes.written(["a"])
    assert changes.pending("a")
    assert changes.take() == {"a"}
    changes.keep(["a"])  # the write failed
    assert changes.take() == {"a"}
    changes.written(["a"])
    assert not changes.pending("a")
    assert changes.take(["b"]) == {"b"} and changes.pending("b")  # every key after a start


class World:
    """The four use cases on dicts, "now" per partition set by the test."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {
            name: {}
            for name in ("orders", "windows", "locations", "marks", "ledgers", "funds", "stays")
        }
        self.stock_table: dict[str, Any] = {}
        self.analytics = Analytics(
            self.tables["orders"],
            self.tables["windows"],
            self.tables["marks"],
            grace=timedelta(minutes=30),
            locations=self.tables["locations"],
        )
        self.funds = Funds(self.tables["ledgers"], self.tables["funds"])
        self.stuck = StuckOrders(self.tables["stays"], StuckPolicy({}))
        self.stock_now: datetime | None = None
        self.stock = Stock(self.stock_table, lambda: self.stock_now)
        self.now: dict[int, datetime] = {}
        self.expiry = Expiry(
            self.analytics, self.funds, self.stuck, self.stock, RETENTION, self._now
        )
        self.deleted: list[tuple[str, int | None]] = []
        self.stored_ledgers: dict[str, LedgerRow] = {}
        self.stored_days: dict[tuple[date, str, int, str], DayRow] = {}
        self.reads: list[tuple[date | None, date | None]] = []

    def _now(self, partition: int | None) -> datetime | None:
        if partition is None:
            return max(self.now.values(), default=None)
        return self.now.get(partition)

    def record(self, payload: EventPayload, when: datetime, partition: int = 0) -> None:
        topic = "oms.shipments" if "Shipment" in type(payload).__name__ else "oms.orders"
        event = envelope(payload, when)
        self.analytics.record(event, payload, topic, partition)
        self.funds.record(event, payload, partition)
        self.stuck.apply(self.stuck.observe(event, payload, partition, None))

    def write_history(self) -> list[Any]:
        """What the worker's history write does when it works: the rows it stored (the
        funds' kept in ``stored_ledgers`` and ``stored_days``, as the upserts keep them)."""
        ledgers, days = self.funds.take_changes()
        daily = self.analytics.take_changes()
        self.funds.written(ledgers, days)
        self.analytics.written(daily)
        for ledger in ledgers:
            self.stored_ledgers[ledger.order_id] = ledger
        for day in days:
            self.stored_days[(day.day, day.channel, day.source_partition, day.currency)] = day
        return daily

    async def read_funds(
        self,
        pool: Any,
        first: date | None,
        last: date | None,
        channel: str | None,
        money: bool = True,
    ) -> tuple[list[StoredDay], list[StoredExceptions]]:
        """``read_history`` on the rows stored: the days per partition (with ``money``),
        exceptional orders."""
        self.reads.append((first, last))

        def within(day: date | None, row_channel: str | None) -> bool:
            return (
                day is not None
                and (first is None or first <= day)
                and (last is None or day <= last)
                and (channel is None or row_channel == channel)
            )

        days = [StoredDay(*row[:3], *row[3:8]) for row in self.stored_days.values()]
        orders = [
            StoredExceptions(
                row.order_id,
                row.channel,
                row.placed_on,
                _jsonb(row.exceptions),
                row.source_partition,
            )
            for row in self.stored_ledgers.values()
            if row.exceptions != "[]" and row.channel is not None and row.placed_on is not None
        ]
        return (
            [row for row in days if money and within(row.day, row.channel)],
            [row for row in orders if within(row.placed_on, row.channel)],
        )

    def delete(self, store: MutableMapping[str, Any], key: str, partition: int | None) -> None:
        self.deleted.append((key, partition))
        del store[key]


def _jsonb(text: str) -> str:
    """``text`` as PostgreSQL's jsonb gives it back: each object's keys shortest first."""
    return json.dumps(
        [
            {key: found[key] for key in sorted(found, key=lambda k: (len(k), k))}
            for found in json.loads(text)
        ]
    )


def _three_days(world: World) -> list[Any]:
    """Orders on the 24th (partition 0, one left open with a payment) and the 25th
    (partition 1), one shipped on the 26th; the history rows written."""
    world.record(accepted("A1", "web", 1000), at("09:00", 24))
    world.record(accepted("O1", "web", 500), at("10:00", 24))
    world.record(authorized("O1", 500), at("10:01", 24))
    world.record(shipped("A1", at("11:00", 24)), at("11:00", 24))
    world.record(completed("A1", at("12:00", 24)), at("12:00", 24))
    world.record(accepted("B1", "pos", 700), at("09:00", 25), partition=1)
    world.record(captured("B1", "cap-B1", 700, 700), at("09:30", 25), partition=1)
    world.record(canceled("B1", at("10:00", 25)), at("10:00", 25), partition=1)
    world.record(accepted("C1", "web", 300), at("08:00", 26), partition=1)
    return world.write_history()


def test_expired_keys_go_open_orders_stay_and_the_daily_report_answers_as_before() -> None:
    world = World()
    rows = _three_days(world)
    before = world.analytics.daily(None, None, None)
    before_web = world.analytics.daily(None, None, "web")
    before_locations = world.analytics.location_daily(None, None, None)
    assert before_locations["days"]
    world.now = {0: at("12:00", 24), 1: at("08:00", 26)}
    # Only partition 1's minute windows of the 25th are more than 3 hours old.
    assert world.expiry.sweep(world.delete) == {
        "windows": 2,  # B1 placed and canceled
        "locations": 0,
        "orders": 0,
        "funds": 0,
        "ledgers": 0,
        "stays": 0,
        "stock": 0,
    }
    assert world.analytics.daily(None, None, None) == before  # the hours are all there

    # Partition 0 reads on to the 27th: its 24th has expired; partition 1 is quiet.
    world.now = {0: _day(27), 1: at("08:00", 26)}
    deleted = world.expiry.sweep(world.delete)
    assert deleted == {
        "windows": 8,  # the hours and minutes of 09:00, 10:00 (O1), 11:00 and 12:00
        "locations": 2,  # A1 shipped from WH-HAMBURG: the hour and the minute
        "orders": 1,  # A1, completed; O1 is open
        "funds": 1,  # the 24th of web on partition 0
        "ledgers": 1,  # A1; O1 is open
        "stays": 1,  # A1 completed
        "stock": 0,
    }
    assert set(world.tables["orders"]) == {"O1", "B1", "C1"}
    assert set(world.tables["ledgers"]) == {"O1", "B1", "C1"}
    assert "O1" in world.tables["stays"] and "A1" not in world.tables["stays"]
    assert [key for key in world.tables["windows"] if "2026-11-24" in key] == []
    # Each deletion went to its key's changelog partition.
    assert {partition for _key, partition in world.deleted[2:]} == {0}
    # The report across the expired day: the 24th from the history's rows, the 25th and
    # 26th (whose rows are given too) from the tables, as before; per location too.
    assert world.analytics.daily(None, None, None) != before
    assert world.analytics.daily(None, None, None, rows) == before
    assert world.analytics.daily(None, None, "web", rows) == before_web
    assert world.analytics.location_daily(None, None, None, rows) == before_locations


def test_nothing_the_history_may_not_hold_is_deleted() -> None:
    world = World()
    _three_days(world)
    world.record(captured("A1", "cap-A1", 1000, 1000), at("12:30", 24))  # changed after
    world.record(shipped("O1", at("13:00", 24)), at("13:00", 24))
    world.analytics.take_changes()  # a write under way, not confirmed
    world.funds.take_changes()
    world.now = {0: _day(28), 1: _day(28)}
    deleted = world.expiry.sweep(world.delete)
    assert deleted["ledgers"] == 1  # B1 (partition 1); A1's change is not written
    assert "A1" in world.tables["ledgers"]
    # O1's shipment changed the 24th of web on partition 0: not written, its hours stay;
    # the minute windows go (the history holds no minutes).
    assert any('"hour", "web", "2026-11-24' in key for key in world.tables["windows"])
    assert not any('"minute", "web", "2026-11-24' in key for key in world.tables["windows"])
    assert "A1" not in world.tables["orders"]  # facts need no history


def test_a_sku_expires_by_the_latest_inventory_event() -> None:
    world = World()
    for payload, when in (
        (out_of_stock("SKU-1", "WH", at("09:00", 20)), at("09:00", 20)),
        (back_in_stock("SKU-1", "WH"), at("10:00", 20)),
        (out_of_stock("SKU-2", "WH", at("09:00", 20)), at("09:00", 20)),
    ):
        world.stock.record(envelope(payload, when), payload)
    world.stock_now = _day(25)
    assert world.expiry.sweep(world.delete)["stock"] == 1
    assert list(world.stock_table) == ['["SKU-2", "WH"]']  # still out of stock
    assert world.deleted == [('["SKU-1", "WH"]', None)]  # its partition is not known


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OMS_ANALYTICS_RETENTION_DAYS", "a month", "valid number"),
        ("OMS_ANALYTICS_RETENTION_DAYS", "0", "greater than 0"),
        ("OMS_ANALYTICS_RETENTION_DAYS", "nan", "finite number"),
        ("OMS_ANALYTICS_MINUTE_RETENTION_H", "-1", "greater than 0"),
        ("OMS_ANALYTICS_MINUTE_RETENTION_H", "1000", "must not exceed OMS_ANALYTICS_RETENTION"),
        ("OMS_ANALYTICS_MINUTE_RETENTION_H", "0.5", "must not be shorter than OMS_ANALYTICS_GRACE"),
    ],
)
def test_bad_retentions_are_refused_at_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql://localhost/analytics")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=message) as refused:
        AnalyticsSettings()
    loc = refused.value.errors()[0]["loc"]
    assert not loc or loc[0] == variable.removeprefix("OMS_").lower()


def test_retention_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql://localhost/analytics")
    assert AnalyticsSettings().retention() == Retention(timedelta(days=35), timedelta(hours=48))


async def test_the_reports_need_the_history_only_for_days_that_may_have_expired() -> None:
    world = World()
    _three_days(world)
    live = world.analytics.daily(None, None, None)
    # Nothing may have expired, or the days asked for are after the last that may have.
    assert await daily_report(world.analytics, None, None, None, None, None) == live
    after = date(2026, 11, 25)
    assert (await daily_report(world.analytics, None, date(2026, 11, 24), after, None, None))[
        "days"
    ] == [day for day in live["days"] if day["day"] >= "2026-11-25"]
    with pytest.raises(HistoryUnavailable):
        await daily_report(world.analytics, None, date(2026, 11, 24), None, None, None)
    # The reconciliation alike.
    money = world.funds.reconciliation
    assert await reconciliation_report(world.funds, None, None, None, None, None) == money(
        None, None, None
    )
    late = await reconciliation_report(world.funds, None, date(2026, 11, 24), after, None, None)
    assert late == money(after, None, None)
    with pytest.raises(HistoryUnavailable):
        await reconciliation_report(world.funds, None, date(2026, 11, 24), None, None, None)


async def test_the_expiry_waits_for_a_write_of_every_key_with_the_tables_settled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written: list[int] = []

    async def stored(pool: Any, ledgers: Any, days: Any, daily: Any) -> None:
        written.append(len(ledgers) + len(days) + len(daily))

    monkeypatch.setattr(history_entrypoint, "write_history", stored)
    world = World()
    _three_days(world)
    settled = [False]
    history = History(world.funds, world.analytics, lambda: settled[0])
    history.pool = cast(Any, object())
    await history.write()  # every key, but the tables still recovering
    assert not history.caught_up
    settled[0] = True
    await history.write()  # every key again
    assert history.caught_up and written[0] == written[1] > 0
    await history.write()  # only what changed: nothing
    assert written[2] == 0
    history.start_over()  # a rebalance
    assert not history.caught_up
    await history.write()
    assert history.caught_up and written[3] == written[0]


def test_a_sweep_pauses_and_reads_a_key_again_after_a_pause() -> None:
    world = World()
    _three_days(world)
    world.now = {0: _day(30), 1: _day(30)}
    sweep = Sweep(world._now, world.delete, pause_every=2)
    steps = world.expiry.steps(sweep)
    next(steps)  # paused before the second window
    held = sorted(world.tables["windows"])
    del world.tables["windows"][held[1]]  # gone meanwhile
    world.tables["orders"]["late"] = {**OrderFacts().to_dict(), "partition": 0}  # an open order
    for _ in steps:
        pass
    assert world.tables["windows"] == {}
    assert sorted(world.tables["orders"]) == ["C1", "O1", "late"]  # the open ones
    # The first window before the pause, then all but the one gone meanwhile.
    assert sweep.deleted["windows"] == 1 + len(held) - 1


def _money_of_two_partitions(world: World) -> None:
    """On top of the three days: on the 24th E1 (web, partition 0) captured more than was
    authorised and completed; P1 (web, partition 1) refunded more than it captured, left
    open. O1 (partition 0, open) is authorised only; B1 (the 25th, partition 1) was
    canceled after its capture."""
    world.record(accepted("E1", "web", 1000), at("13:00", 24))
    world.record(authorized("E1", 1000), at("13:01", 24))
    world.record(captured("E1", "cap-E1", 1200, 1200), at("14:00", 24))
    world.record(completed("E1", at("15:00", 24)), at("15:00", 24))
    world.record(accepted("P1", "web", 400), at("09:00", 24), partition=1)
    world.record(authorized("P1", 400), at("09:01", 24), partition=1)
    world.record(captured("P1", "cap-P1", 400, 400), at("09:02", 24), partition=1)
    world.record(refunded("P1", "ref-P1", 500, 500), at("16:00", 24), partition=1)
    world.write_history()


def _with_money(monkeypatch: pytest.MonkeyPatch) -> World:
    """The three days and the money of two partitions, the history read from the world."""
    world = World()
    monkeypatch.setattr(funds_module, "read_history", world.read_funds)
    _three_days(world)
    _money_of_two_partitions(world)
    return world


async def _report(
    world: World, first: date | None = None, last: date | None = None, channel: str | None = None
) -> dict[str, Any]:
    """The live reconciliation as the worker answers it, the history read from the rows the
    world stored."""
    expired = world.expiry.expired_through()
    return await reconciliation_report(world.funds, object(), expired, first, last, channel)


async def test_the_reconciliation_across_expired_days_answers_as_before_per_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = _with_money(monkeypatch)
    queries: list[tuple[date | None, date | None, str | None]] = [
        (None, None, None),
        (None, None, "web"),
        (None, None, "pos"),
        (date(2026, 11, 24), date(2026, 11, 24), None),
        (date(2026, 11, 25), None, None),
        (None, date(2026, 11, 24), "web"),
    ]
    before = [world.funds.reconciliation(*query) for query in queries]
    codes = [(e["order_id"], e["code"]) for e in before[0]["exceptions"]]
    assert codes == [
        ("E1", "capture_exceeds_authorisation"),
        ("P1", "refund_exceeds_capture"),
        ("B1", "capture_exceeds_authorisation"),  # no authorisation read
        ("B1", "canceled_but_not_refunded"),
    ]
    assert before[0]["days"][0]["captured_minor"] == {"EUR": 1200 + 400}

    # Partition 0 reads on to the 27th: its 24th expires; partition 1 is quiet, so its part
    # of the 24th (P1) stays in the tables (and A1's and E1's ledgers wait for that day).
    world.now = {0: _day(27), 1: at("08:00", 26)}
    deleted = world.expiry.sweep(world.delete)
    assert (deleted["funds"], deleted["ledgers"]) == (1, 0)
    assert world.expiry.expired_through() == date(2026, 11, 24)
    live = world.funds.reconciliation(None, None, None)
    assert live["days"][0]["captured_minor"] == {"EUR": 400}  # partition 1's alone
    assert [e["order_id"] for e in live["exceptions"]] == ["P1", "B1", "B1"]

    # The 24th: partition 0 from the history, partition 1 from the tables; as before.
    assert [await _report(world, *query) for query in queries] == before
    # The history is read only up to the last day that may have expired.
    through = date(2026, 11, 24)
    assert world.reads[-2:] == [(through, through), (None, through)]
    reads = len(world.reads)
    assert await _report(world, date(2026, 11, 25)) == before[4]
    assert len(world.reads) == reads

    # The exception list alone reads no money and lists the same.
    for query, whole in zip(queries, before, strict=True):
        listed = await reconciliation_report(world.funds, object(), through, *query, money=False)
        assert listed["exceptions"] == whole["exceptions"]

    # Partition 1 reads on too: the 24th and 25th come wholly from the history, as before
    # (P1's ledger is open and stays; its exceptions come from the history's row).
    world.now = {0: _day(28), 1: _day(28)}
    world.expiry.sweep(world.delete)
    assert world.tables["funds"] == {}
    assert set(world.tables["ledgers"]) == {"O1", "P1", "C1"}  # open
    assert [await _report(world, *query) for query in queries] == before
    # As CSV too: the exceptions' fields in their order, whatever jsonb kept.
    listed = (await _report(world))["exceptions"]
    assert to_csv(listed) == to_csv(before[0]["exceptions"])


async def test_rows_of_no_partition_count_once_and_an_open_order_changed_later_keeps_its_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = _with_money(monkeypatch)
    before = world.funds.reconciliation(None, None, None)
    world.now = {0: _day(27), 1: at("08:00", 26)}
    world.expiry.sweep(world.delete)
    # Rows written before the partition was stored: counted for their day and channel when
    # it is read from the history; P1, also in the tables' part of its day, counted once.
    for order_id in ("E1", "P1"):
        world.stored_ledgers[order_id] = world.stored_ledgers[order_id]._replace(
            source_partition=None
        )
    assert await _report(world) == before
    # O1 (open, placed on the expired 24th) is canceled with its authorisation left open:
    # its flag brings back a day of partition 0 with no money, the money still comes from
    # the history, and O1 is listed among the 24th's exceptions.
    world.record(canceled("O1", at("09:00", 27)), at("09:00", 27))
    after = await _report(world)
    assert after["days"][0] == {**before["days"][0], "orders_with_exceptions": 3}
    assert [(e["order_id"], e["code"]) for e in after["exceptions"]][:3] == [
        ("E1", "capture_exceeds_authorisation"),
        ("O1", "authorisation_left_open"),
        ("P1", "refund_exceeds_capture"),
    ]
    world.write_history()
    assert await _report(world) == after
    # That day held no money: once written (the flag is O1's row), it expires again.
    world.expiry.sweep(world.delete)
    assert not [key for key in world.tables["funds"] if "2026-11-24" in key and key.endswith("0]")]
    assert await _report(world) == after
