"""Box choice: fewest boxes, then least empty space; turned to fit, never past a box's
weight limit; every unit it cannot box reported with why."""

from __future__ import annotations

from oms_shipping.domain.boxes import Size
from oms_shipping.domain.catalogue import ItemSpec
from oms_shipping.domain.fulfilment import Line
from oms_shipping.domain.packing import Unpackable, suggest_parcels
from services.shipping.tests.fakes import BOXES, box

CARRIED = BOXES.for_work(for_pickup=False)


def item(sku: str, size: tuple[int, int, int] | None, weight_g: int | None) -> ItemSpec:
    dims = Size(length_mm=size[0], width_mm=size[1], height_mm=size[2]) if size else None
    return ItemSpec(sku, dims, weight_g)


ITEMS = {
    i.sku: i
    for i in (
        item("SOCKS", (150, 100, 40), 60),
        item("SHIRT", (290, 190, 30), 180),  # fits M only lying down, and L
        item("BOOT", (350, 250, 130), 1_400),  # only L takes it
        item("ANVIL", (100, 100, 100), 25_000),
        item("TV", (1400, 860, 180), 17_500),
        item("FLAT", (100, 100, 1), 10),
    )
}


def packed(lines: list[Line]) -> list[tuple[str, list[tuple[str, int]], int]]:
    suggestion = suggest_parcels(lines, ITEMS, CARRIED)
    return [
        (p.box.id, [(line.sku, line.quantity) for line in p.lines], p.weight_g)
        for p in suggestion.parcels
    ]


def test_the_smallest_box_that_takes_everything() -> None:
    assert packed([Line("1", "SOCKS", 3)]) == [("S", [("SOCKS", 3)], 3 * 60 + 100)]


def test_a_unit_is_turned_to_fit() -> None:
    # 290 x 190 x 30 goes into M (300 x 200 x 150) only flat; into S (250 x 170) not at all.
    assert packed([Line("1", "SHIRT", 4)]) == [("M-30x20x15", [("SHIRT", 4)], 4 * 180 + 100)]


def test_one_larger_box_rather_than_two_smaller() -> None:
    # Six shirts 30 mm thick: M (150 high) takes five, L (200 high) all six.
    assert packed([Line("1", "SHIRT", 6)]) == [("L", [("SHIRT", 6)], 6 * 180 + 300)]


def test_several_boxes_when_one_cannot_take_it_all_each_the_snuggest() -> None:
    parcels = packed([Line("1", "BOOT", 2), Line("2", "SOCKS", 2)])
    # Two boots never share an L (250 + 250 > 300 and 130 + 130 > 200): two parcels, the
    # socks riding with the first boot, and no parcel in a box larger than it needs.
    assert parcels == [
        ("L", [("BOOT", 1), ("SOCKS", 2)], 1_400 + 120 + 300),
        ("L", [("BOOT", 1)], 1_400 + 300),
    ]


def test_a_box_never_carries_more_than_its_weight_limit() -> None:
    heavy = {"BRICK": item("BRICK", (100, 100, 50), 2_000)}
    suggestion = suggest_parcels([Line("1", "BRICK", 6)], heavy, CARRIED)
    # Every brick fits S by size; L carries 20 kg less its 300 g tare: nine bricks, but
    # six (12 kg) are more than M's 10 kg, so L takes them all.
    assert [(p.box.id, p.lines[0].quantity) for p in suggestion.parcels] == [("L", 6)]
    assert all(p.weight_g <= p.box.max_weight_g for p in suggestion.parcels)


def test_units_no_box_takes_are_reported_with_why_and_the_rest_is_packed() -> None:
    lines = [
        Line("1", "TV", 1),
        Line("2", "ANVIL", 1),
        Line("3", "UNKNOWN", 2),
        Line("4", "SOCKS", 1),
    ]
    items = {
        **ITEMS,
        "NOSIZE": item("NOSIZE", None, 100),
        "NOWEIGHT": item("NOWEIGHT", (1, 1, 1), None),
    }
    suggestion = suggest_parcels(
        [*lines, Line("5", "NOSIZE", 1), Line("6", "NOWEIGHT", 1)], items, CARRIED
    )
    assert [(u.line.line_id, u.reason) for u in suggestion.unpacked] == [
        ("1", Unpackable.TOO_LARGE),
        ("2", Unpackable.TOO_HEAVY),
        ("3", Unpackable.NOT_IN_CATALOGUE),
        ("5", Unpackable.NO_DIMENSIONS),
        ("6", Unpackable.NO_WEIGHT),
    ]
    assert [p.box.id for p in suggestion.parcels] == ["S"]


def test_a_hundred_units_go_in_one_box_that_takes_them() -> None:
    boxes = (*CARRIED, box("XL", (600, 400, 400), 30_000))
    lines = [Line("1", "SOCKS", 40), Line("2", "SHIRT", 30), Line("3", "FLAT", 30)]
    suggestion = suggest_parcels(lines, ITEMS, boxes)
    assert sum(line.quantity for p in suggestion.parcels for line in p.lines) == 100
    assert [p.box.id for p in suggestion.parcels] == ["XL"]
