"""The rate engine and the policies: billable weight, zones, surcharges, transit over cut-off
times, weekends and holidays; the choice under each policy with every alternative and why
it lost; tracking numbers' check digit; the dispatch file validated as a whole."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from oms_runtime import DocumentError
from oms_shipping.adapters.carrier_file import read_dispatch
from oms_shipping.config import ShippingSettings
from oms_shipping.domain.carrier_choice import choose
from oms_shipping.domain.dispatch import DispatchConfig, PolicyConfig, PolicyKind
from oms_shipping.domain.fulfilment import ActionRefused, FulfilmentOrder, Line, Parcel
from oms_shipping.domain.rating import (
    Destination,
    Dimensions,
    Quote,
    billable_grams,
    collection_day,
    quotes,
)
from oms_shipping.domain.tracking_numbers import check_digit, is_valid, tracking_number
from oms_shipping.service_layer.rate_shopping import shop
from services.shipping.tests.dispatch_config import DISPATCH
from services.shipping.tests.fakes import BOXES

REPO = Path(__file__).resolve().parents[3]
BERLIN = ZoneInfo("Europe/Berlin")
KOELN = Destination("DE", "51147")
MONDAY_9 = datetime(2026, 11, 30, 9, tzinfo=BERLIN)  # before every cut-off
HOLIDAYS = frozenset({date(2026, 12, 25), date(2026, 12, 26)})


def offers(
    weight: int = 800,
    at: datetime = MONDAY_9,
    to: Destination = KOELN,
    config: DispatchConfig = DISPATCH,
) -> list[Quote]:
    return quotes(config, weight, None, to, at.astimezone(UTC), BERLIN)


def policy(kind: PolicyKind, budget: int | None = None) -> PolicyConfig:
    return PolicyConfig(choose=kind, budget_minor=budget)


def summary(quotes_: list[Quote]) -> list[tuple[str, int | None, date | None, str | None]]:
    return [(q.carrier, q.cost_minor, q.estimated_delivery, q.unavailable) for q in quotes_]


# --- the rate engine ---------------------------------------------------------------------


def test_each_service_quotes_its_band_price_and_its_date() -> None:
    assert summary(offers()) == [
        ("dhl", 499, date(2026, 12, 2), None),
        ("dpd", 449, date(2026, 12, 2), None),
        ("ups", 1290, date(2026, 12, 1), None),
    ]
    # Above the first band: the next one's price.
    assert [q.cost_minor for q in offers(weight=1001)] == [649, 599, 1490]


def test_billable_weight_is_the_larger_of_actual_and_dimensional() -> None:
    box = Dimensions(400, 300, 200)  # 24,000 cm³ / 5000 = 4.8 kg
    assert billable_grams(800, box, 5000) == 4800
    assert billable_grams(6000, box, 5000) == 6000
    assert billable_grams(800, None, 5000) == 800  # no dimensions known
    assert billable_grams(800, box, None) == 800  # the service bills actual weight only


def test_a_service_without_a_zone_or_band_for_the_parcel_makes_no_offer() -> None:
    assert [q.unavailable for q in offers(to=Destination("AT", "1010"))] == ["no_zone"] * 3
    assert [q.unavailable for q in offers(weight=5001)] == ["overweight"] * 3


def test_the_longest_postal_prefix_picks_the_zone_and_surcharges_apply_by_weight() -> None:
    raw = DISPATCH.model_dump(mode="json")
    paket = raw["carriers"]["dhl"]["services"]["paket"]
    island = {**paket["zones"][0], "name": "islands", "postal_prefixes": ["27", "274"]}
    island["transit_days"] = 4
    paket["zones"].append({**island, "postal_prefixes": ["2749"], "transit_days": 5})
    paket["zones"].append(island)
    paket["surcharges"] = [
        {"code": "fuel", "amount_minor": 50},
        {"code": "heavy", "amount_minor": 300, "over_grams": 900},
    ]
    config = DispatchConfig.model_validate(raw)
    [dhl, *_] = offers(to=Destination("DE", "27498"), config=config)
    assert (dhl.cost_minor, dhl.estimated_delivery) == (549, date(2026, 12, 7))  # 2749: 5 days
    [dhl, *_] = offers(weight=950, to=Destination("DE", "27000"), config=config)
    assert (dhl.cost_minor, dhl.estimated_delivery) == (849, date(2026, 12, 4))  # 27: 4 days


@pytest.mark.parametrize(
    ("packed", "taken"),
    [
        (datetime(2026, 11, 30, 16, 59), date(2026, 11, 30)),  # Monday before the cut-off
        (datetime(2026, 11, 30, 17, 0), date(2026, 11, 30)),  # at the cut-off still
        (datetime(2026, 11, 30, 17, 1), date(2026, 12, 1)),  # after it: Tuesday
        (datetime(2026, 12, 4, 18, 0), date(2026, 12, 7)),  # Friday evening: Monday
        (datetime(2026, 12, 5, 10, 0), date(2026, 12, 7)),  # Saturday: Monday
        (datetime(2026, 12, 24, 18, 0), date(2026, 12, 28)),  # Christmas Eve late: after both
    ],
)
def test_the_carrier_takes_a_parcel_the_next_business_day_after_the_cut_off(
    packed: datetime, taken: date
) -> None:
    assert collection_day(packed, time(17), HOLIDAYS) == taken


def test_transit_days_skip_weekends_and_holidays() -> None:
    raw = DISPATCH.model_dump(mode="json")
    raw["carriers"]["dhl"]["holidays"] = ["2026-12-25"]
    config = DispatchConfig.model_validate(raw)
    # Taken Wednesday 23 December, two business days: Thursday 24, (25 holiday, weekend),
    # Monday 28.
    [dhl, *_] = offers(at=datetime(2026, 12, 23, 9, tzinfo=BERLIN), config=config)
    assert dhl.estimated_delivery == date(2026, 12, 28)
    # Packed Friday evening in Berlin (UTC the same day): taken Monday, delivered Wednesday.
    [dhl, *_] = offers(at=datetime(2026, 12, 4, 17, 30, tzinfo=BERLIN), config=config)
    assert dhl.estimated_delivery == date(2026, 12, 9)


# --- the policies ------------------------------------------------------------------------


def lost(
    choice_quotes: list[Quote], kind: PolicyKind, **kw: object
) -> tuple[str, list[tuple[str, str]]]:
    choice = choose(choice_quotes, policy(kind, kw.get("budget")), kw.get("promised"))  # type: ignore[arg-type]
    assert choice is not None
    return choice.chosen.carrier, [(a.quote.carrier, a.lost_because) for a in choice.alternatives]


def test_cheapest_meeting_the_promise() -> None:
    cheapest = PolicyKind.CHEAPEST_MEETING_PROMISE
    assert lost(offers(), cheapest) == (
        "dpd",
        [("dhl", "more_expensive"), ("ups", "more_expensive")],
    )
    # Only UPS arrives by Tuesday: the cheaper ones miss the promise.
    assert lost(offers(), cheapest, promised=date(2026, 12, 1)) == (
        "ups",
        [("dhl", "misses_promise"), ("dpd", "misses_promise")],
    )


def test_fastest() -> None:
    assert lost(offers(), PolicyKind.FASTEST) == ("ups", [("dpd", "slower"), ("dhl", "slower")])


def test_best_score_within_the_budget() -> None:
    best = PolicyKind.BEST_SCORE_WITHIN_BUDGET
    assert lost(offers(), best, budget=800) == (
        "dhl",
        [("ups", "over_budget"), ("dpd", "lower_score")],
    )
    # Nothing within the budget: the best score of all.
    assert lost(offers(), best, budget=100)[0] == "ups"


def test_services_that_make_no_offer_lose_with_their_reason() -> None:
    heavy = offers(weight=1500)
    heavy[2] = Quote("ups", "express", 0.98, 1500, unavailable="overweight")
    heavy.append(Quote("gls", "parcel", 0.9, 1500, unavailable="no_zone"))
    assert lost(heavy, PolicyKind.FASTEST) == (
        "dpd",
        [("ups", "overweight"), ("gls", "no_zone"), ("dhl", "more_expensive")],
    )


def test_an_identical_offer_loses_on_the_files_order() -> None:
    dpd = offers()[1]
    twin = Quote("gls", "parcel", dpd.reliability, 800, dpd.cost_minor, dpd.estimated_delivery)
    assert lost([dpd, twin], PolicyKind.CHEAPEST_MEETING_PROMISE) == (
        "dpd",
        [("gls", "ranked_lower")],
    )


def test_a_promise_nothing_can_keep_is_flagged_and_the_parcel_still_gets_a_carrier() -> None:
    promised = date(2026, 11, 30)  # today: nothing arrives today
    choice = choose(offers(), policy(PolicyKind.CHEAPEST_MEETING_PROMISE), promised)
    assert choice is not None and choice.meets_promise is False
    assert choice.chosen.carrier == "dpd"
    kept = choose(offers(), policy(PolicyKind.CHEAPEST_MEETING_PROMISE), date(2026, 12, 2))
    assert kept is not None and kept.meets_promise is True
    unpromised = choose(offers(), policy(PolicyKind.FASTEST), None)
    assert unpromised is not None and unpromised.meets_promise is None


def test_no_offer_at_all_is_no_choice() -> None:
    assert choose(offers(weight=9000), policy(PolicyKind.FASTEST), None) is None


# --- per delivery method, per parcel ----------------------------------------------------


def packed(**fields: object) -> FulfilmentOrder:
    line = Line("1", "TSHIRT", 1)
    parcels = (Parcel("p-1", "S", 800, (line,)), Parcel("p-2", "M-30x20x15", 4000, (line,)))
    return FulfilmentOrder("fo-1", "ord-1", "wh-hamburg", (line, line), parcels=parcels, **fields)  # type: ignore[arg-type]


def test_pickup_work_from_elsewhere_travels_to_the_store_under_its_methods_policy() -> None:
    fo = packed(delivery_method="ship_to_store", pickup_store_id="store-berlin")
    shopped = shop(DISPATCH, fo, MONDAY_9, BOXES)
    assert (shopped.policy.choose, shopped.ship_to.city) == (
        PolicyKind.BEST_SCORE_WITHIN_BUDGET,
        "Berlin",
    )
    # Each parcel on its own: the heavier one's best score within the budget is DHL's too. The
    # 800 g parcel's S box (26 x 18 x 11 cm outside) bills 1.03 kg: the 1-5 kg band.
    assert [(p.parcel_id, c.chosen.carrier, c.chosen.cost_minor) for p, c in shopped.choices] == [
        ("p-1", "dhl", 649),
        ("p-2", "dhl", 649),
    ]
    assert not shopped.promise_at_risk


def test_a_light_parcel_in_a_large_box_is_billed_by_the_boxs_dimensional_weight() -> None:
    line = Line("1", "TSHIRT", 1)

    def in_box(box: str) -> FulfilmentOrder:
        parcel = Parcel("p-1", box, 800, (line,))
        return FulfilmentOrder(
            "fo-1",
            "ord-1",
            "wh-hamburg",
            (line,),
            parcels=(parcel,),
            delivery_method="ship_to_store",
            pickup_store_id="store-berlin",
        )

    # M is 31 x 21 x 16 cm outside: 10,416 cm3 / 5,000 = 2.1 kg billed, the 1-5 kg band's
    # price; a box the catalogue does not know is billed by its 800 g.
    [(_, large)] = shop(DISPATCH, in_box("M-30x20x15"), MONDAY_9, BOXES).choices
    [(_, unknown)] = shop(DISPATCH, in_box("CRATE"), MONDAY_9, BOXES).choices
    assert (large.chosen.carrier, large.chosen.cost_minor) == ("dhl", 649)
    assert (unknown.chosen.carrier, unknown.chosen.cost_minor) == ("dhl", 499)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"delivery_method": "home_delivery"}, "no_destination"),  # no address kept
        ({"delivery_method": "ship_to_store", "pickup_store_id": "store-x"}, "no_destination"),
        ({"delivery_method": "teleport", "pickup_store_id": "store-berlin"}, "no_policy"),
    ],
)
def test_work_that_cannot_be_rated_is_refused(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ActionRefused) as caught:
        shop(DISPATCH, packed(**fields), MONDAY_9, BOXES)
    assert caught.value.reason == reason


# --- tracking numbers --------------------------------------------------------------------


def test_tracking_numbers_carry_a_luhn_check_digit() -> None:
    assert check_digit("7992739871") == 3  # the textbook example
    number = tracking_number("DHL", 42)
    assert number == "DHL000000000422" and is_valid(number)
    assert not is_valid("DHL000000000432")  # one digit wrong
    assert not is_valid("DHL000000004022")  # two neighbours swapped
    assert not is_valid("dhl000000000422")
    with pytest.raises(ValueError, match="outside"):
        tracking_number("DHL", 10**11)


# --- the dispatch file -------------------------------------------------------------------


def test_the_demo_dispatch_file_fits_the_carrier_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    settings = ShippingSettings(database_url="postgresql://localhost/x")
    assert set(settings.dispatch_config.carriers) <= set(settings.carriers.carriers)
    assert set(settings.dispatch_config.policies) == {
        "home_delivery",
        "click_and_collect",
        "ship_to_store",
    }


def test_a_bad_dispatch_file_is_refused_with_every_problem_named(tmp_path: Path) -> None:
    raw = DISPATCH.model_dump(mode="json")
    raw["carriers"]["dpd"]["tracking_prefix"] = "DHL"
    raw["carriers"]["ups"]["services"]["express"]["zones"][0]["bands"].reverse()
    raw["locations"]["wh-hamburg"]["timezone"] = "Mars/Olympus"
    raw["policies"]["ship_to_store"] = {"choose": "best_score_within_budget"}
    path = tmp_path / "dispatch.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(DocumentError) as caught:
        read_dispatch(path)
    errors = "\n".join(caught.value.errors)
    assert f"{path}: locations.wh-hamburg.timezone" in errors and "Mars/Olympus" in errors
    assert "carriers.ups.services.express.zones.0.bands" in errors
    assert "policies.ship_to_store" in errors and "budget_minor" in errors


def test_carriers_share_no_tracking_prefix() -> None:
    raw = DISPATCH.model_dump(mode="json")
    raw["carriers"]["dpd"]["tracking_prefix"] = "DHL"
    with pytest.raises(ValueError, match="each carrier needs its own tracking_prefix"):
        DispatchConfig.model_validate(raw)


def test_a_carrier_without_status_codes_cannot_take_parcels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    codes = tmp_path / "carriers.yaml"
    codes.write_text("carriers:\n  dhl:\n    DL: {status: delivered}\n")
    with pytest.raises(ValueError, match="carriers dpd, ups have no status codes"):
        ShippingSettings(database_url="postgresql://localhost/x", carrier_codes=codes)
