"""What canceling units takes from a line's reservations, and what each location is told."""

from __future__ import annotations

import pytest

from oms_orchestration.domain.cancellation import units_to_cancel, work_canceled
from oms_orchestration.domain.sourcing import Line


@pytest.mark.parametrize(
    ("quantity", "taken"),
    [
        (1, [("r-1", 1)]),  # none fits whole: one unit out of the newest
        (2, [("r-1", 2)]),
        (3, [("r-1", 2), ("r-2", 1)]),
        (5, [("r-1", 2), ("r-2", 3)]),
        (7, [("r-1", 2), ("r-2", 3)]),  # units no reservation holds are not taken
    ],
)
def test_whole_reservations_first_then_part_of_the_next(
    quantity: int, taken: list[tuple[str, int]]
) -> None:
    assert units_to_cancel([("r-1", 2), ("r-2", 3)], quantity) == taken


def test_each_location_hears_of_its_own_units_summed_per_line_unless_called_off() -> None:
    taken = [
        ("fo-a", "wh-hamburg", Line("1", "TSHIRT", 1)),
        ("fo-a", "wh-hamburg", Line("1", "TSHIRT", 2)),
        ("fo-b", "wh-munich", Line("2", "MUG", 1)),
        ("fo-c", "store-berlin", Line("1", "TSHIRT", 1)),
    ]
    assert work_canceled(taken, {"fo-c"}) == {
        ("fo-a", "wh-hamburg"): [Line("1", "TSHIRT", 3)],
        ("fo-b", "wh-munich"): [Line("2", "MUG", 1)],
    }
