"""The promise each fulfilment order carries, on the saga's fakes: made from the order's date
at the location it goes to, the channel's own promise kept, and a reroute keeping the promise
the customer was made."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from oms_events.sourcing import FulfilmentOrderCreated
from oms_orchestration.adapters.config_file import parse_config
from oms_orchestration.service_layer.saga import Orchestrator
from services.orchestration.tests.fakes import FakeOrderStore, FakeSagaStore
from services.orchestration.tests.test_saga import HAMBURG_FO, Clock, Saga, emitted, work
from tests.support.inventory import HAMBURG, MUNICH, TSHIRT
from tests.support.orchestration import SOURCING

PLACED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Tuesday, 11:00 in Berlin
THURSDAY = datetime(2026, 11, 26, 22, 59, 59, tzinfo=UTC)  # its end in Berlin


@pytest.fixture
def saga() -> Saga:
    """Munich takes three working days to get a parcel out."""
    config = copy.deepcopy(SOURCING)
    for location in config["locations"]:
        if location["location_id"] == MUNICH:
            location["handling"] = {"processing_days": 3}
    sagas, orders, clock = FakeSagaStore(), FakeOrderStore(), Clock()
    orchestrator = Orchestrator(parse_config(config), sagas=sagas, orders=orders, clock=clock)
    return Saga(orchestrator, sagas, orders, clock)


async def _released(saga: Saga, **order: object) -> list[FulfilmentOrderCreated]:
    saga.accept("ord-1", (TSHIRT, 2), **order)
    return emitted(await saga.hold_all(await saga.confirm("ord-1")), FulfilmentOrderCreated)


async def test_the_promise_counts_from_the_order_date_at_its_location(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    [created] = await _released(saga, placed_at=PLACED)
    # Before Hamburg's 15:00 cut-off, then two working days of transit.
    assert (created.location_id, created.promised_by) == (HAMBURG, THURSDAY)
    assert saga.sagas.fulfilment_orders[HAMBURG_FO].promised_by == THURSDAY


async def test_the_channels_promise_is_kept(saga: Saga) -> None:
    saga.stock(MUNICH, TSHIRT, 5)
    promised = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    [created] = await _released(saga, placed_at=PLACED, promised_by=promised)
    assert (created.location_id, created.promised_by) == (MUNICH, promised)


async def test_an_order_kept_without_its_date_promises_nothing(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    [created] = await _released(saga)
    assert created.promised_by is None


async def test_a_rerouted_fulfilment_order_keeps_the_promise_made(saga: Saga) -> None:
    saga.stock(HAMBURG, TSHIRT, 5)
    saga.stock(MUNICH, TSHIRT, 5)
    await _released(saga, placed_at=PLACED)

    unit = work()
    await saga.orchestrator.rejected(unit, HAMBURG_FO, [], "rejected by wh-hamburg: no_stock")
    [moved] = emitted(await saga.hold_all(unit), FulfilmentOrderCreated)

    # Munich alone would promise the Tuesday after; the customer was promised Thursday.
    assert (moved.location_id, moved.promised_by) == (MUNICH, THURSDAY)
    assert saga.sagas.fulfilment_orders[moved.fulfilment_order_id].promised_by == THURSDAY
