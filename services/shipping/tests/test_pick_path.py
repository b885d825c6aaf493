"""Pick paths: a location's bins walked as a snake, one order's pick list and a wave of the
location's accepted work, SKUs without a bin listed last with why; the bins, boxes and
catalogue files refused with each problem named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from oms_runtime import DocumentError, in_memory_unit_of_work, invalid_configuration
from oms_shipping.adapters.config_files import read_boxes, read_item_catalogue, read_pick_bins
from oms_shipping.config import ShippingSettings
from oms_shipping.domain.boxes import BoxCatalogue, Size
from oms_shipping.domain.catalogue import ItemSpec
from oms_shipping.domain.fulfilment import FulfilmentOrder, FulfilmentStatus, Line
from oms_shipping.domain.pick_path import LocationBins, NoBin, PickBins, PickedFor, walk
from oms_shipping.service_layer.pick_pack import PickPack
from services.shipping.tests.fakes import BOXES, FakeFulfilmentOrders, FakeItems, box

HAMBURG = LocationBins.model_validate(
    {
        "aisles": ["A", "B", "C"],
        "bins": {
            "A-01": {"aisle": "A", "bay": 1},
            "A-05": {"aisle": "A", "bay": 5},
            "B-02": {"aisle": "B", "bay": 2},
            "B-08-1": {"aisle": "B", "bay": 8, "level": 1},
            "B-08-3": {"aisle": "B", "bay": 8, "level": 3},
            "C-04": {"aisle": "C", "bay": 4},
        },
        "skus": {
            "CAP": "C-04",
            "SOCKS": "B-02",
            "SHIRT": "A-05",
            "BOOT": "B-08-3",
            "BELT": "B-08-1",
            "MUG": "A-01",
        },
    }
)


def fo(fo_id: str, *lines: tuple[str, str, int]) -> FulfilmentOrder:
    return FulfilmentOrder(
        fulfilment_order_id=fo_id,
        order_id=f"ord-{fo_id}",
        location_id="wh-hamburg",
        lines=tuple(Line(*line) for line in lines),
        status=FulfilmentStatus.ACCEPTED,
    )


def test_a_pick_list_walks_the_aisles_as_a_snake() -> None:
    work = fo("fo-1", *((str(n), sku, 1) for n, sku in enumerate(HAMBURG.skus, 1)))
    path = walk(HAMBURG, [work])
    # Up aisle A, down aisle B (bay 8 before bay 2, low level first), up aisle C.
    assert [(p.bin, p.sku) for p in path.picks] == [
        ("A-01", "MUG"),
        ("A-05", "SHIRT"),
        ("B-08-1", "BELT"),
        ("B-08-3", "BOOT"),
        ("B-02", "SOCKS"),
        ("C-04", "CAP"),
    ]


def test_skus_without_a_bin_come_last_with_why() -> None:
    work = fo("fo-1", ("1", "UMBRELLA", 1), ("2", "CAP", 2), ("3", "KITE", 1))
    path = walk(HAMBURG, [work])
    assert [(p.sku, p.bin, p.no_bin) for p in path.picks] == [
        ("CAP", "C-04", None),
        ("KITE", None, NoBin.SKU_HAS_NO_BIN),
        ("UMBRELLA", None, NoBin.SKU_HAS_NO_BIN),
    ]
    unknown_place = walk(None, [work])
    assert {p.no_bin for p in unknown_place.picks} == {NoBin.LOCATION_HAS_NO_BINS}
    assert sum(p.quantity for p in unknown_place.picks) == 4


def test_a_wave_picks_each_sku_once_keeping_which_order_and_line_it_is_for() -> None:
    first = fo("fo-1", ("1", "CAP", 1), ("2", "SHIRT", 2))
    second = fo("fo-2", ("1", "SHIRT", 1), ("2", "SOCKS", 3), ("3", "CAP", 1))
    path = walk(HAMBURG, [first, second])
    assert [(p.bin, p.sku, p.quantity) for p in path.picks] == [
        ("A-05", "SHIRT", 3),
        ("B-02", "SOCKS", 3),
        ("C-04", "CAP", 2),
    ]
    assert path.picks[0].lines == (
        PickedFor("fo-1", "ord-fo-1", "2", 2),
        PickedFor("fo-2", "ord-fo-2", "1", 1),
    )


def refused(read: Callable[[Path], object], path: Path, text: str) -> str:
    """What reading ``text`` from ``path`` is refused with."""
    path.write_text(text)
    with pytest.raises(DocumentError) as refusal:
        read(path)
    return str(refusal.value)


def test_bins_that_do_not_add_up_are_refused_each_problem_named(tmp_path: Path) -> None:
    path = tmp_path / "bins.yaml"
    location = "locations:\n  wh-1:\n    aisles: [A, A]\n    skus: {CAP: A-9}\n"
    problems = refused(read_pick_bins, path, location + "    bins: {A-2: {aisle: A, bay: 0}}\n")
    assert "locations.wh-1.bins.A-2.bay: Input should be greater than or equal to 1" in problems
    problems = refused(read_pick_bins, path, location + "    bins: {Z-1: {aisle: Z, bay: 1}}\n")
    assert "aisles: A listed more than once" in problems
    assert "bins.Z-1.aisle: 'Z' is not in aisles" in problems
    assert "skus.CAP: bin 'A-9' is not in bins" in problems


def test_boxes_that_do_not_add_up_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "boxes.yaml"
    size = "{length_mm: 300, width_mm: 200, height_mm: 100}"
    smaller = "{length_mm: 290, width_mm: 190, height_mm: 90}"
    text = refused(
        read_boxes,
        path,
        "boxes:\n"
        f"  - {{id: M, inner: {size}, outer: {smaller}, max_weight_g: 10000, tare_g: 100}}\n"
        f"  - {{id: L, inner: {smaller}, outer: {size}, max_weight_g: 100, tare_g: 100}}\n"
        f"  - {{id: M, inner: {smaller}, outer: {size}, max_weight_g: 1000, tare_g: -1}}\n",
    )
    assert "boxes.0: Value error, the inner size is larger than the outer size" in text
    assert "boxes.1: Value error, the tare leaves no weight for items" in text
    assert "boxes.2.tare_g: Input should be greater than 0" in text
    one = f"{{id: M, inner: {smaller}, outer: {size}, max_weight_g: 1000, tare_g: 100}}"
    twice = refused(read_boxes, path, f"boxes:\n  - {one}\n  - {one}\n")
    assert "boxes: id M listed more than once" in twice


def test_the_catalogue_is_read_for_sizes_and_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        "items:\n"
        "  - {sku: CAP, name: Cap, weight_g: 90, returnable: false,\n"
        "     dimensions: {length_mm: 280, width_mm: 200, height_mm: 140}}\n"
        "  - {sku: MUG, name: Mug, weight_g: 420}\n"
        "locations: [{location_id: wh-1, name: Hamburg}]\n"
    )
    catalogue = read_item_catalogue(path)
    assert [(i.sku, i.weight_g, i.dimensions is not None) for i in catalogue.items] == [
        ("CAP", 90, True),
        ("MUG", 420, False),
    ]
    text = refused(
        read_item_catalogue,
        path,
        "items:\n  - {sku: CAP, weight_g: 0, dimensions: {length_mm: 280, width_mm: 200}}\n",
    )
    assert "items.0.weight_g: Input should be greater than 0" in text
    assert "items.0.dimensions.height_mm: Field required" in text
    twice = refused(read_item_catalogue, path, "items: [{sku: CAP}, {sku: CAP, weight_g: 6}]\n")
    assert "items: sku CAP listed more than once" in twice


async def test_a_wave_takes_the_locations_accepted_work_only_and_packing_its_catalogue() -> None:
    orders = FakeFulfilmentOrders()
    for work, status in (
        (fo("fo-1", ("1", "CAP", 1)), FulfilmentStatus.ACCEPTED),
        (fo("fo-2", ("1", "CAP", 2), ("2", "MUG", 1)), FulfilmentStatus.ACCEPTED),
        (fo("fo-3", ("1", "CAP", 5)), FulfilmentStatus.PICKING),
        (fo("fo-4", ("1", "CAP", 7)), FulfilmentStatus.CREATED),
        (fo("fo-5", ("1", "SOCKS", 1)), FulfilmentStatus.ACCEPTED),
    ):
        work.status = status
        orders.orders[work.fulfilment_order_id] = work
    socks = ItemSpec("SOCKS", Size(length_mm=150, width_mm=100, height_mm=40), 60)
    pick_pack = PickPack(
        PickBins(locations={"wh-hamburg": HAMBURG}), BOXES, orders, FakeItems({"SOCKS": socks})
    )
    wave, path = await pick_pack.wave(in_memory_unit_of_work(), "wh-hamburg", limit=2)
    assert [w.fulfilment_order_id for w in wave] == ["fo-1", "fo-2"]
    assert [(p.sku, p.quantity) for p in path.picks] == [("MUG", 1), ("CAP", 3)]
    _, everything = await pick_pack.wave(in_memory_unit_of_work(), "wh-hamburg", limit=50)
    assert [p.sku for p in everything.picks] == ["MUG", "SOCKS", "CAP"]

    suggestion = await pick_pack.packing(in_memory_unit_of_work(), orders.orders["fo-5"])
    assert [(p.box.id, p.weight_g) for p in suggestion.parcels] == [("S", 60 + 100)]
    # A counter bag, smaller still, holds click & collect work only.
    bag = box("SMALL-BAG", (200, 150, 50), 3_000, tare_g=20)
    counter_bag = bag.model_copy(update={"counter_only": True})
    pick_pack.boxes = BoxCatalogue(boxes=(*BOXES.boxes, counter_bag))
    carried = await pick_pack.packing(in_memory_unit_of_work(), orders.orders["fo-5"])
    assert [p.box.id for p in carried.parcels] == ["S"]
    fo5 = orders.orders["fo-5"]
    fo5.pickup_store_id = fo5.location_id  # click & collect: collected where it is packed
    collected = await pick_pack.packing(in_memory_unit_of_work(), orders.orders["fo-5"])
    assert [p.box.id for p in collected.parcels] == ["SMALL-BAG"]
    capped = await pick_pack.packing(in_memory_unit_of_work(), orders.orders["fo-1"])
    assert [(u.line.sku, u.reason) for u in capped.unpacked] == [("CAP", "not_in_catalogue")]


def test_the_demo_configuration_is_valid() -> None:
    demo = Path(__file__).resolve().parents[3] / "deploy" / "demo"
    bins = read_pick_bins(demo / "bins.yaml")
    boxes = read_boxes(demo / "boxes.yaml")
    assert isinstance(bins, PickBins) and "dc-hamburg" in bins.locations
    assert boxes.find("M-30x20x15") is not None and boxes.find("NOPE") is None
    assert read_item_catalogue(demo / "catalogue.yaml").items


def test_the_worker_refuses_to_start_on_a_bad_box_or_bin_file(tmp_path: Path) -> None:
    bins = tmp_path / "bins.yaml"
    bins.write_text("locations: {wh-1: {aisles: [A], bins: {}, skus: {CAP: A-1}}}\n")
    with pytest.raises(ValidationError) as refused:
        ShippingSettings(database_url="postgresql://x/y", pick_bins=bins)
    assert "skus.CAP: bin 'A-1' is not in bins" in invalid_configuration(refused.value)
    with pytest.raises(ValidationError) as refused:
        ShippingSettings(database_url="postgresql://x/y", boxes=tmp_path / "none.yaml")
    assert "OMS_BOXES" in invalid_configuration(refused.value)
    assert "cannot be read" in invalid_configuration(refused.value)
