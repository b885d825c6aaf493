"""The sourcing engine on a small real network: German cities at their coordinates."""

from __future__ import annotations

from typing import Any

import pytest

from oms_events.sourcing import BackorderReason
from oms_events.values import DeliveryMethod
from oms_orchestration.adapters.config_file import parse_config
from oms_orchestration.domain.config import SourcingConfig
from oms_orchestration.domain.geo import Point, distance_km, locate
from oms_orchestration.domain.sourcing import Line, OrderToSource, Plan, source
from oms_runtime import DocumentError

HAMBURG, MUNICH, BERLIN_STORE, COLOGNE = "dc-hamburg", "dc-munich", "store-berlin", "dc-cologne"
KOELN_CUSTOMER = Point(50.9375, 6.9603)
BERLIN_CUSTOMER = Point(52.52, 13.405)


def network(**profile: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "locations": [
            {
                "location_id": HAMBURG,
                "type": "warehouse",
                "latitude": 53.5511,
                "longitude": 9.9937,
                "channels": ["web-de"],
                "capabilities": ["ship", "ship_to_store"],
                "priority": 2,
                "shipping": {"base_minor": 400, "per_km_minor": 1},
            },
            {
                "location_id": MUNICH,
                "type": "warehouse",
                "latitude": 48.1351,
                "longitude": 11.5820,
                "channels": ["web-de"],
                "capabilities": ["ship"],
                "daily_capacity": 100,
            },
            {
                "location_id": COLOGNE,
                "type": "warehouse",
                "latitude": 50.9375,
                "longitude": 6.9603,
                "channels": ["marketplace"],
                "capabilities": ["ship"],
            },
            {
                "location_id": BERLIN_STORE,
                "type": "store",
                "latitude": 52.52,
                "longitude": 13.405,
                "channels": ["web-de"],
                "capabilities": ["pickup", "ship_from_store"],
            },
        ],
        "postal_zones": {"DE": {"10": [52.52, 13.405], "50": [50.9375, 6.9603]}},
        "profiles": [
            {"profile_id": "home", "channels": ["*"], **profile},
            {
                "profile_id": "collect",
                "delivery_methods": ["click_and_collect", "ship_to_store"],
                "filters": {"location_types": ["warehouse", "store"]},
            },
        ],
    }


def config(**profile: Any) -> SourcingConfig:
    return parse_config(network(**profile))


def order(
    *lines: tuple[str, int], destination: Point | None = BERLIN_CUSTOMER, **kw: Any
) -> OrderToSource:
    return OrderToSource(
        order_id="ord-1",
        channel=kw.pop("channel", "web-de"),
        delivery_method=kw.pop("method", DeliveryMethod.HOME_DELIVERY),
        lines=tuple(Line(str(n), sku, q) for n, (sku, q) in enumerate(lines, start=1)),
        destination=destination,
        **kw,
    )


def run(
    cfg: SourcingConfig, o: OrderToSource, stock: dict[tuple[str, str], int], **kw: Any
) -> Plan:
    profile = cfg.profile_for(o.channel, o.delivery_method)
    assert profile is not None
    return source(o, profile, cfg.locations, stock, **kw)


def chosen(plan: Plan) -> list[tuple[str, list[tuple[str, int]]]]:
    return [
        (loc.location_id, [(ln.sku, ln.quantity) for ln in lines])
        for loc, lines in plan.allocations
    ]


def filtered(plan: Plan) -> dict[str, str | None]:
    assert plan.explanation is not None
    return {c.location_id: c.filtered_by for c in plan.explanation.candidates}


def test_distances_between_real_cities() -> None:
    assert distance_km(Point(53.5511, 9.9937), Point(52.52, 13.405)) == pytest.approx(255, abs=3)
    assert distance_km(Point(48.1351, 11.582), Point(52.52, 13.405)) == pytest.approx(504, abs=3)


def test_postal_zones_take_the_longest_prefix() -> None:
    zones = {"DE": {"1": Point(1, 1), "10": Point(2, 2)}}
    assert locate(zones, "DE", "10115") == Point(2, 2)
    assert locate(zones, "DE", "19000") == Point(1, 1)
    assert locate(zones, "DE", "80331") is None
    assert locate(zones, "FR", "10115") is None


def test_one_location_by_distance_with_every_candidate_explained() -> None:
    cfg = config()
    stock = {(HAMBURG, "A"): 5, (MUNICH, "A"): 5, (BERLIN_STORE, "A"): 5}
    plan = run(cfg, order(("A", 2)), stock)
    assert chosen(plan) == [(BERLIN_STORE, [("A", 2)])]  # 0 km from the customer
    assert filtered(plan) == {HAMBURG: None, MUNICH: None, COLOGNE: "channel", BERLIN_STORE: None}
    explanation = plan.explanation
    assert explanation is not None and explanation.profile == "home"
    assert "every line" in explanation.chosen_rule
    totals = {c.location_id: c.total_score for c in explanation.candidates}
    assert totals[BERLIN_STORE] > totals[HAMBURG] > totals[MUNICH]  # type: ignore[operator]


def test_a_split_when_no_single_location_has_everything_within_the_maximum() -> None:
    cfg = config(split={"policy": "max_splits", "max_splits": 2})
    stock = {(HAMBURG, "A"): 2, (MUNICH, "B"): 1, (BERLIN_STORE, "C"): 1}
    plan = run(cfg, order(("A", 2), ("B", 1), ("C", 1)), stock)
    assert len(plan.allocations) == 2
    # Then Munich and the Berlin store each give one unit: the store is nearer the customer.
    assert [ln.sku for ln in plan.backordered] == ["B"]
    assert plan.backorder_reason is BackorderReason.SPLIT_LIMIT  # Munich has it, unused
    assert "split over 2" in (plan.explanation.chosen_rule if plan.explanation else "")
    # Most units first: Hamburg has two of the four units.
    assert chosen(plan)[0] == (HAMBURG, [("A", 2)])


def test_ship_together_never_splits_nor_ships_part() -> None:
    cfg = config(split={"policy": "ship_together"})
    stock = {(HAMBURG, "A"): 2, (MUNICH, "B"): 1}
    plan = run(cfg, order(("A", 2), ("B", 1)), stock)
    assert plan.allocations == []
    assert [(ln.sku, ln.quantity) for ln in plan.backordered] == [("A", 2), ("B", 1)]
    assert plan.explanation is not None and "ship together" in plan.explanation.chosen_rule
    assert plan.backorder_reason is BackorderReason.NOT_IN_ONE_LOCATION


def test_repeated_line_ids_keep_every_unit() -> None:
    cfg = config(split={"policy": "max_splits", "max_splits": 3})
    o = OrderToSource(
        order_id="ord-1",
        channel="web-de",
        delivery_method=DeliveryMethod.HOME_DELIVERY,
        lines=(Line("L", "A", 3), Line("L", "A", 2)),  # one line retried in two parts
        destination=BERLIN_CUSTOMER,
    )
    profile = cfg.profile_for("web-de", DeliveryMethod.HOME_DELIVERY)
    assert profile is not None
    plan = source(o, profile, cfg.locations, {(HAMBURG, "A"): 2, (MUNICH, "A"): 2})
    allocated = sum(ln.quantity for _, lines in plan.allocations for ln in lines)
    assert allocated + sum(ln.quantity for ln in plan.backordered) == 5
    assert allocated == 4


def test_the_split_counts_a_skus_stock_once_across_its_lines() -> None:
    cfg = config(split={"policy": "max_splits", "max_splits": 1})
    plan = run(cfg, order(("S", 2), ("S", 2)), {(HAMBURG, "S"): 2, (MUNICH, "S"): 3})
    assert [loc.location_id for loc, _ in plan.allocations] == [MUNICH]  # gives 3, not "4"
    assert sum(ln.quantity for ln in plan.backordered) == 1


def test_a_line_may_come_from_two_locations() -> None:
    cfg = config(split={"policy": "max_splits", "max_splits": 3})
    plan = run(cfg, order(("A", 5)), {(HAMBURG, "A"): 3, (MUNICH, "A"): 2})
    assert sorted(chosen(plan)) == [(HAMBURG, [("A", 3)]), (MUNICH, [("A", 2)])]
    assert (plan.backordered, plan.backorder_reason) == ([], None)


@pytest.mark.parametrize(
    ("excluded", "stock", "reason"),
    [
        ([HAMBURG], {}, BackorderReason.OUT_OF_STOCK),  # stock at Munich would do
        (
            [HAMBURG, MUNICH, COLOGNE, BERLIN_STORE],
            {(HAMBURG, "A"): 5},
            BackorderReason.NO_ELIGIBLE_LOCATION,
        ),
    ],
)
def test_what_waits_says_whether_stock_or_the_rules_hold_it_back(
    excluded: list[str], stock: dict[tuple[str, str], int], reason: BackorderReason
) -> None:
    cfg = config(filters={"exclude_locations": excluded})
    plan = run(cfg, order(("A", 1)), stock)
    assert (chosen(plan), plan.backorder_reason) == ([], reason)


def test_a_location_at_its_daily_capacity_is_skipped() -> None:
    cfg = config()
    stock = {(MUNICH, "A"): 5, (HAMBURG, "A"): 5}
    plan = run(
        cfg, order(("A", 1), destination=Point(48.1, 11.6)), stock, capacity_used={MUNICH: 100}
    )
    assert chosen(plan) == [(HAMBURG, [("A", 1)])]
    assert filtered(plan)[MUNICH] == "daily_capacity"


def test_radius_excluded_and_rejecting_locations_are_filtered_with_their_reason() -> None:
    cfg = config(filters={"max_distance_km": 300, "exclude_locations": [HAMBURG]})
    stock = {(HAMBURG, "A"): 5, (MUNICH, "A"): 5, (BERLIN_STORE, "A"): 5}
    plan = run(cfg, order(("A", 1)), stock, excluded={BERLIN_STORE})
    assert filtered(plan) == {
        HAMBURG: "excluded",
        MUNICH: "radius",
        COLOGNE: "channel",
        BERLIN_STORE: "rejected_before",
    }
    assert plan.allocations == []
    assert [ln.quantity for ln in plan.backordered] == [1]
    assert "backorder" in (plan.explanation.chosen_rule if plan.explanation else "")


def test_click_and_collect_uses_only_the_pickup_store_and_its_stock() -> None:
    cfg = config()
    stock = {(HAMBURG, "A"): 5, (BERLIN_STORE, "A"): 1}
    o = order(("A", 1), method=DeliveryMethod.CLICK_AND_COLLECT, pickup_store_id=BERLIN_STORE)
    plan = run(cfg, o, stock)
    assert chosen(plan) == [(BERLIN_STORE, [("A", 1)])]
    assert filtered(plan)[HAMBURG] == "pickup_store"
    nothing = run(cfg, o, {(HAMBURG, "A"): 5})
    assert nothing.allocations == [] and nothing.backordered


def test_ship_to_store_sends_from_a_warehouse_that_can() -> None:
    cfg = config()
    o = order(("A", 1), method=DeliveryMethod.SHIP_TO_STORE, pickup_store_id=BERLIN_STORE)
    plan = run(cfg, o, {(HAMBURG, "A"): 5, (MUNICH, "A"): 5})
    assert chosen(plan) == [(HAMBURG, [("A", 1)])]
    assert filtered(plan)[MUNICH] == "capability"


def test_ties_are_broken_in_the_profiles_order_and_recorded() -> None:
    cfg = config(
        scores={"priority": 0.0, "distance": 0.0, "stock_balance": 1.0},
        tie_breakers=["priority", "location_id"],
    )
    plan = run(cfg, order(("A", 1), destination=None), {(HAMBURG, "A"): 4, (MUNICH, "A"): 4})
    assert chosen(plan) == [(HAMBURG, [("A", 1)])]  # priority 2 beats 0
    assert plan.explanation is not None and plan.explanation.tie_breaker == "priority"
    assert "destination unknown" in plan.explanation.chosen_rule


def test_the_same_input_gives_the_same_plan_whatever_the_network_order() -> None:
    cfg = config(scores={"distance": 0.0, "priority": 0.0, "stock_balance": 1.0})
    doc = network(scores={"distance": 0.0, "priority": 0.0, "stock_balance": 1.0})
    doc["locations"] = list(reversed(doc["locations"]))
    reversed_cfg = parse_config(doc)
    stock = {(HAMBURG, "A"): 4, (MUNICH, "A"): 4}
    o = order(("A", 1), destination=None)
    assert chosen(run(cfg, o, stock)) == chosen(run(reversed_cfg, o, stock))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["locations"].append(dict(d["locations"][0])),
            "locations.4.location_id: 'dc-hamburg' appears twice",
        ),
        (lambda d: d["locations"][0].update(latitude=123.0), "locations.0.latitude"),
        (lambda d: d["locations"][1].update(type="castle"), "locations.1.type"),
        (lambda d: d["profiles"][0].update(split={"max_splits": 0}), "profiles.0.split.max_splits"),
        (
            lambda d: d["profiles"][0].update(filters={"exclude_locations": ["nowhere"]}),
            "profiles.0.filters.exclude_locations.0: unknown 'nowhere'",
        ),
        (
            lambda d: d["profiles"][0].update(scores={"distance": 0.0}),
            "profiles.0.scores: at least one weight",
        ),
        (lambda d: d["profiles"][0].update(tie_breakers=["luck"]), "profiles.0.tie_breakers.0"),
        (
            lambda d: d["profiles"].append({"profile_id": "other", "channels": ["*"]}),
            "both apply to channel '*'",
        ),
        (lambda d: d["profiles"][0].update(surprise=1), "profiles.0.surprise"),
        (lambda d: d.pop("profiles"), "profiles: Field required"),
        (lambda d: d["postal_zones"]["DE"].update({"99": [500.0, 1.0]}), "postal_zones.DE.99"),
    ],
)
def test_bad_configuration_is_refused_naming_the_place(change: Any, expected: str) -> None:
    doc = network()
    change(doc)
    with pytest.raises(DocumentError) as caught:
        parse_config(doc)
    assert any(expected in error for error in caught.value.errors), caught.value.errors


def test_profiles_are_chosen_by_channel_then_wildcard() -> None:
    doc = network()
    doc["profiles"].append({"profile_id": "marketplace", "channels": ["marketplace"]})
    cfg = parse_config(doc)
    assert cfg.profile_for("marketplace", DeliveryMethod.HOME_DELIVERY).profile_id == "marketplace"  # type: ignore[union-attr]
    assert cfg.profile_for("web-de", DeliveryMethod.HOME_DELIVERY).profile_id == "home"  # type: ignore[union-attr]
    assert cfg.profile_for("web-de", DeliveryMethod.CLICK_AND_COLLECT).profile_id == "collect"  # type: ignore[union-attr]


def test_a_pickup_store_outside_the_network_is_named_in_the_rule() -> None:
    cfg = config()
    o = order(("A", 1), method=DeliveryMethod.CLICK_AND_COLLECT, pickup_store_id="atlantis")
    plan = run(cfg, o, {(BERLIN_STORE, "A"): 5})
    assert plan.allocations == []
    assert plan.explanation is not None
    assert plan.explanation.chosen_rule.startswith("pickup store 'atlantis' is not in the network")
