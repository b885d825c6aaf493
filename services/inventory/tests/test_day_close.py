"""The day close without Kafka or PostgreSQL: which day it closes, which rows, in batches,
once, and the events it emits; its settings refused when out of range. That a row is closed
once when two workers close at the same time is PostgreSQL's doing (integration tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from oms_events.codec import decode
from oms_events.inventory import StockDayClosed
from oms_inventory.config import InventorySettings
from oms_inventory.domain.days import EndedDay, last_ended_day
from oms_inventory.service_layer.day_close import DayClose
from oms_runtime import UnitOfWork, in_memory_unit_of_work, invalid_configuration
from services.inventory.tests.fakes import FakeDayCloseStore, FakeStockStore, emitted, received
from tests.support.inventory import BERLIN, HAMBURG, MUG, MUNICH, TSHIRT

MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC)
DAY = date(2026, 11, 24)


@pytest.mark.parametrize(
    ("now", "day"),
    [
        # The first instant of a day closes the day before.
        (MIDNIGHT, DAY),
        (MIDNIGHT + timedelta(hours=23, minutes=59, seconds=59), DAY),
        (MIDNIGHT - timedelta(microseconds=1), DAY - timedelta(days=1)),
        # UTC days, whatever the zone of the clock: 01:00 in Berlin is 00:00 UTC.
        (datetime(2026, 11, 25, 1, 0, tzinfo=timezone(timedelta(hours=1))), DAY),
        (datetime(2026, 11, 25, 0, 30, tzinfo=timezone(timedelta(hours=1))), date(2026, 11, 23)),
        # New Year and a leap day.
        (datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC), date(2026, 12, 31)),
        (datetime(2028, 3, 1, 12, tzinfo=UTC), date(2028, 2, 29)),
    ],
)
def test_the_day_closed_is_the_utc_day_before_now(now: datetime, day: date) -> None:
    ended = last_ended_day(now)
    assert ended == EndedDay(
        day, datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    )


def test_a_time_without_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        last_ended_day(datetime(2026, 11, 25, 0, 5))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Units:
    """In-memory units of work, one per transaction the sweep opens, kept to look at."""

    def __init__(self) -> None:
        self.opened: list[UnitOfWork] = []

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[UnitOfWork]:
        work = in_memory_unit_of_work("inventory")
        self.opened.append(work)
        yield work

    def events(self) -> list[StockDayClosed]:
        return [event for work in self.opened for event in emitted(work, StockDayClosed)]


@pytest.fixture
def days() -> FakeDayCloseStore:
    store = FakeDayCloseStore(FakeStockStore())
    before = MIDNIGHT - timedelta(days=3)
    store.put(TSHIRT, HAMBURG, before, on_hand=40, reserved=3, in_transit=2, quarantined=1)
    store.put(TSHIRT, MUNICH, before, on_hand=7)
    store.put(MUG, HAMBURG, MIDNIGHT - timedelta(microseconds=1), on_hand=5)
    store.put(MUG, MUNICH, before)  # nothing there: still a row, closed at zero
    # Created as the day ended: it had no stock that day.
    store.put(TSHIRT, BERLIN, MIDNIGHT, on_hand=9)
    return store


async def test_each_row_that_existed_as_the_day_ended_is_closed_once_with_its_levels(
    days: FakeDayCloseStore,
) -> None:
    clock = Clock(MIDNIGHT + timedelta(seconds=42))
    units = Units()
    closed = await DayClose(days, batch=100, clock=clock).sweep(units)

    assert closed == 4
    events = units.events()
    assert [(e.sku, e.location_id) for e in events] == [
        (MUG, HAMBURG),
        (MUG, MUNICH),
        (TSHIRT, HAMBURG),
        (TSHIRT, MUNICH),
    ]
    assert {e.day for e in events} == {DAY}
    assert {e.taken_at for e in events} == {clock.now}
    tshirt = events[2]
    levels = (tshirt.on_hand, tshirt.reserved, tshirt.in_transit, tshirt.quarantined)
    assert levels == (40, 3, 2, 1)
    assert (events[1].on_hand, events[1].reserved) == (0, 0)
    [record, *_] = units.opened[0].outbox.records
    assert record.topic == "oms.inventory"
    assert record.key == f"{MUG}@{HAMBURG}".encode()
    envelope = decode(record.payload).envelope
    assert envelope.subject == f"{MUG}@{HAMBURG}"
    assert envelope.correlationid == "day-close-2026-11-24"
    assert set(days.closed) == {(DAY, e.sku, e.location_id) for e in events}


async def test_a_day_is_closed_in_batches_of_the_setting(days: FakeDayCloseStore) -> None:
    days.put(MUG, BERLIN, MIDNIGHT - timedelta(days=1), on_hand=1)  # five rows to close
    units = Units()
    closed = await DayClose(days, batch=2, clock=Clock(MIDNIGHT)).sweep(units)

    assert closed == 5
    # Two full batches, then one short batch that finds nothing after the last key.
    assert [len(emitted(w, StockDayClosed)) for w in units.opened] == [2, 2, 1]
    assert len({(e.sku, e.location_id) for e in units.events()}) == 5


async def test_a_full_last_batch_is_followed_by_one_that_finds_nothing(
    days: FakeDayCloseStore,
) -> None:
    units = Units()
    assert await DayClose(days, batch=2, clock=Clock(MIDNIGHT)).sweep(units) == 4
    assert [len(emitted(w, StockDayClosed)) for w in units.opened] == [2, 2, 0]


async def test_a_closed_day_is_not_closed_again_by_the_same_worker_or_another(
    days: FakeDayCloseStore,
) -> None:
    clock = Clock(MIDNIGHT + timedelta(minutes=1))
    day_close = DayClose(days, batch=100, clock=clock)
    assert await day_close.sweep(Units()) == 4
    calls = days.calls

    # The next tick of the same worker: it knows the day is closed, no transaction at all.
    clock.now += timedelta(minutes=1)
    again = Units()
    assert await day_close.sweep(again) == 0
    assert again.opened == []
    assert days.calls == calls

    # A restarted or second worker looks once, finds every row closed, emits nothing.
    other = Units()
    assert await DayClose(days, batch=100, clock=clock).sweep(other) == 0
    assert other.events() == []
    assert len(days.closed) == 4


async def test_the_next_day_closes_again_with_the_rows_created_meanwhile(
    days: FakeDayCloseStore,
) -> None:
    clock = Clock(MIDNIGHT + timedelta(minutes=1))
    day_close = DayClose(days, batch=100, clock=clock)
    await day_close.sweep(Units())
    clock.now += timedelta(days=1)
    units = Units()
    assert await day_close.sweep(units) == 5
    assert {e.day for e in units.events()} == {DAY + timedelta(days=1)}
    assert (TSHIRT, BERLIN) in {(e.sku, e.location_id) for e in units.events()}


async def test_after_days_away_only_the_last_ended_day_is_closed(
    days: FakeDayCloseStore,
) -> None:
    units = Units()
    await DayClose(days, batch=100, clock=Clock(MIDNIGHT + timedelta(days=3, hours=5))).sweep(units)
    assert {e.day for e in units.events()} == {DAY + timedelta(days=3)}
    assert {day for day, _, _ in days.closed} == {DAY + timedelta(days=3)}


async def test_a_rebuild_records_the_closes_read_back_as_they_were(
    days: FakeDayCloseStore,
) -> None:
    units = Units()
    await DayClose(days, batch=100, clock=Clock(MIDNIGHT)).sweep(units)
    published = units.events()
    rebuilt = FakeDayCloseStore(FakeStockStore())
    work = in_memory_unit_of_work("inventory")
    day_close = DayClose(rebuilt, batch=100)
    # A record delivered twice is recorded once.
    await day_close.closed_as_recorded(
        work, [received(e, "oms.inventory") for e in [*published, published[0]]]
    )
    assert rebuilt.closed == days.closed
    assert work.outbox.records == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OMS_STOCK_DAY_CLOSE_SWEEP_S", "0", "greater than 0"),
        ("OMS_STOCK_DAY_CLOSE_SWEEP_S", "-5", "greater than 0"),
        ("OMS_STOCK_DAY_CLOSE_SWEEP_S", "7200", "less than or equal to 3600"),
        ("OMS_STOCK_DAY_CLOSE_SWEEP_S", "a minute", "valid number"),
        ("OMS_STOCK_DAY_CLOSE_BATCH", "0", "greater than or equal to 1"),
        ("OMS_STOCK_DAY_CLOSE_BATCH", "100000", "less than or equal to 10000"),
        ("OMS_STOCK_DAY_CLOSE_BATCH", "1.5", "valid integer"),
    ],
)
def test_day_close_settings_out_of_range_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql://localhost/x")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refused:
        InventorySettings()
    described = invalid_configuration(refused.value)
    assert variable in described
    assert message in described


def test_day_close_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql://localhost/x")
    settings = InventorySettings()
    assert (settings.stock_day_close_sweep_s, settings.stock_day_close_batch) == (60.0, 1000)
