"""Stock alert states and the alerts raised when a SKU at a location moves between them."""

from __future__ import annotations

import pytest

from oms_inventory.domain.alerts import Alert, AlertState, alert_state, alerts_between

OK, LOW, OUT = AlertState.OK, AlertState.LOW, AlertState.OUT


@pytest.mark.parametrize(
    ("available", "threshold", "expected"),
    [
        # Well above the threshold: in stock.
        (100, 5, OK),
        (6, 5, OK),
        # At the threshold: low, not ok.
        (5, 5, LOW),
        (1, 5, LOW),
        (1, 1, LOW),
        # Nothing left is out, whatever the threshold, and so is less than nothing
        # (a downward count can take available below zero).
        (0, 5, OUT),
        (0, 0, OUT),
        (-1, 5, OUT),
        (-1, 0, OUT),
        (-1_000, 1_000, OUT),
        # A threshold of 0 never warns: one unit left is still ok.
        (1, 0, OK),
        (2, 0, OK),
        # The threshold is inclusive from above and exclusive one past it.
        (1_000_000, 1_000_000, LOW),
        (1_000_001, 1_000_000, OK),
    ],
)
def test_state_for_available_and_threshold(
    available: int, threshold: int, expected: AlertState
) -> None:
    assert alert_state(available, threshold) is expected


@pytest.mark.parametrize("available", [1, 2, 10, 1_000_000])
def test_a_zero_threshold_is_never_low(available: int) -> None:
    assert alert_state(available, 0) is OK
    assert alert_state(0, 0) is OUT


@pytest.mark.parametrize("threshold", [0, 1, 5, 1_000])
def test_zero_and_negative_are_out_whatever_the_threshold(threshold: int) -> None:
    assert alert_state(0, threshold) is OUT
    assert alert_state(-1, threshold) is OUT
    assert alert_state(threshold + 1, threshold) is OK


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        # No move, no alert: a burst of changes within one state raises nothing.
        (OK, OK, []),
        (LOW, LOW, []),
        (OUT, OUT, []),
        # Going down.
        (OK, LOW, [Alert.LOW_STOCK]),
        (OK, OUT, [Alert.OUT_OF_STOCK]),
        (LOW, OUT, [Alert.OUT_OF_STOCK]),
        # Coming back: back in stock first, then low if it is only just back.
        (OUT, OK, [Alert.BACK_IN_STOCK]),
        (OUT, LOW, [Alert.BACK_IN_STOCK, Alert.LOW_STOCK]),
        # Recovering from low is not news to subscribers.
        (LOW, OK, []),
    ],
)
def test_alerts_for_every_transition(
    previous: AlertState, current: AlertState, expected: list[Alert]
) -> None:
    assert alerts_between(previous, current) == expected


def test_every_pair_of_states_is_covered() -> None:
    """The table above names all nine moves; a new state would need its own rows."""
    assert {s.value for s in AlertState} == {"ok", "low", "out"}
    for previous in AlertState:
        for current in AlertState:
            alerts = alerts_between(previous, current)
            assert (alerts == []) == (previous == current or (previous, current) == (LOW, OK))
            assert (Alert.OUT_OF_STOCK in alerts) == (current is OUT and previous is not OUT)
            assert (Alert.BACK_IN_STOCK in alerts) == (previous is OUT and current is not OUT)


def test_states_and_alerts_compare_as_their_stored_and_published_names() -> None:
    # The stock table stores the state's value and the alerts are event type names.
    assert AlertState("low") is LOW
    assert [a.value for a in Alert] == ["LowStock", "OutOfStock", "BackInStock"]


def test_a_reservation_burst_crossing_the_threshold_raises_one_alert() -> None:
    """Alerts follow state, not each change: 8 single-unit reservations from 10 with a
    threshold of 5 cross into low once."""
    threshold = 5
    state = alert_state(10, threshold)
    raised: list[Alert] = []
    for available in range(9, 1, -1):
        current = alert_state(available, threshold)
        raised += alerts_between(state, current)
        state = current
    assert raised == [Alert.LOW_STOCK]
    assert state is LOW
