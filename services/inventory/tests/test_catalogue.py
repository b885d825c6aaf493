"""The catalogue document: what parses, and every refusal naming its place in the document;
reading catalogue files (JSON or YAML) and refusing unreadable or malformed ones clearly."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from oms_events.values import LocationType
from oms_inventory.adapters.catalogue_file import parse_catalogue, read_catalogue
from oms_inventory.domain.catalogue import Capability, Catalogue, Dimensions
from oms_runtime import DocumentError

TSHIRT = "TSHIRT-ORG-M-NAVY"
MUG = "MUG-STONE-300"
HAMBURG = "wh-hamburg"
BERLIN = "store-berlin-mitte"

DOCUMENT: dict[str, Any] = {
    "items": [
        {
            "sku": TSHIRT,
            "name": "Organic T-shirt M navy",
            "dimensions": {"length_mm": 300, "width_mm": 220, "height_mm": 20},
            "weight_g": 180,
            "safety_stock": 1,
            "low_stock_threshold": 5,
        },
        {"sku": MUG, "name": "Stoneware mug", "weight_g": 420, "returnable": False},
    ],
    "locations": [
        {
            "location_id": HAMBURG,
            "name": "Hamburg DC",
            "type": "warehouse",
            "latitude": 53.5511,
            "longitude": 9.9937,
            "capabilities": ["ship", "ship_to_store"],
            "channels": ["web-de", "app"],
        },
        {
            "location_id": BERLIN,
            "name": "Berlin Mitte store",
            "type": "store",
            "latitude": 52.52,
            "longitude": 13.405,
            "capabilities": ["pickup", "ship_from_store"],
            "channels": ["web-de"],
            "active": False,
        },
    ],
    "stock_policies": [
        {"sku": TSHIRT, "location_id": BERLIN, "safety_stock": 2},
        {"sku": MUG, "location_id": HAMBURG, "low_stock_threshold": 3},
    ],
}


def document() -> dict[str, Any]:
    """A fresh copy to spoil."""
    return copy.deepcopy(DOCUMENT)


def refused(doc: Any) -> list[str]:
    with pytest.raises(DocumentError) as caught:
        parse_catalogue(doc)
    assert caught.value.errors, "a DocumentError lists at least one problem"
    return caught.value.errors


def only_error(doc: Any) -> str:
    errors = refused(doc)
    assert len(errors) == 1, errors
    return errors[0]


# -- valid documents ----------------------------------------------------------------------


def test_a_valid_document_parses_with_its_values_and_defaults() -> None:
    catalogue = parse_catalogue(document())

    tshirt, mug = catalogue.items
    assert tshirt.sku == TSHIRT
    assert tshirt.dimensions == Dimensions(length_mm=300, width_mm=220, height_mm=20)
    assert (tshirt.weight_g, tshirt.safety_stock, tshirt.low_stock_threshold) == (180, 1, 5)
    assert tshirt.returnable is True  # default
    assert mug.dimensions is None
    assert (mug.returnable, mug.safety_stock, mug.low_stock_threshold) == (False, 0, 0)

    hamburg, berlin = catalogue.locations
    assert hamburg.type is LocationType.WAREHOUSE
    assert hamburg.capabilities == (Capability.SHIP, Capability.SHIP_TO_STORE)
    assert hamburg.channels == ("web-de", "app")
    assert (hamburg.latitude, hamburg.longitude) == (53.5511, 9.9937)
    assert hamburg.active is True  # default
    assert berlin.type is LocationType.STORE
    assert berlin.active is False

    to_berlin, to_hamburg = catalogue.stock_policies
    assert (to_berlin.sku, to_berlin.location_id) == (TSHIRT, BERLIN)
    assert (to_berlin.safety_stock, to_berlin.low_stock_threshold) == (2, None)
    assert (to_hamburg.safety_stock, to_hamburg.low_stock_threshold) == (None, 3)


def test_an_empty_document_is_an_empty_catalogue() -> None:
    assert parse_catalogue({}) == Catalogue()
    assert parse_catalogue({"items": [], "locations": [], "stock_policies": []}) == Catalogue()


@pytest.mark.parametrize(
    ("latitude", "longitude"), [(90, 180), (-90, -180), (0, 0), (-33.8688, 151.2093)]
)
def test_coordinates_at_the_limits_are_accepted(latitude: float, longitude: float) -> None:
    doc = document()
    doc["locations"][0].update(latitude=latitude, longitude=longitude)
    location = parse_catalogue(doc).locations[0]
    assert (location.latitude, location.longitude) == (latitude, longitude)


def test_a_sku_may_have_policies_at_several_locations() -> None:
    doc = document()
    doc["stock_policies"].append({"sku": TSHIRT, "location_id": HAMBURG, "safety_stock": 0})
    assert len(parse_catalogue(doc).stock_policies) == 3


def test_every_location_type_and_capability_is_accepted() -> None:
    doc = document()
    doc["locations"] = [
        {
            "location_id": f"loc-{kind.value}",
            "name": kind.value,
            "type": kind.value,
            "latitude": 50,
            "longitude": 8,
            "capabilities": [c.value for c in Capability],
        }
        for kind in LocationType
    ]
    doc["stock_policies"] = []
    catalogue = parse_catalogue(doc)
    assert [loc.type for loc in catalogue.locations] == list(LocationType)
    assert all(loc.capabilities == tuple(Capability) for loc in catalogue.locations)


# -- refusals, each naming its place ------------------------------------------------------


def test_a_duplicate_sku_is_refused_naming_the_second_entry() -> None:
    doc = document()
    doc["items"].append({"sku": TSHIRT, "name": "Same SKU again"})
    error = only_error(doc)
    assert error.startswith("items.2.sku: "), error
    assert TSHIRT in error


def test_a_duplicate_location_id_is_refused_naming_the_second_entry() -> None:
    doc = document()
    doc["locations"].append({**doc["locations"][0], "name": "Hamburg again"})
    error = only_error(doc)
    assert error.startswith("locations.2.location_id: "), error
    assert HAMBURG in error


def test_a_second_policy_for_the_same_sku_and_location_is_refused() -> None:
    doc = document()
    doc["stock_policies"].append({"sku": TSHIRT, "location_id": BERLIN, "safety_stock": 7})
    error = only_error(doc)
    assert error.startswith("stock_policies.2"), error
    assert TSHIRT in error
    assert BERLIN in error


@pytest.mark.parametrize(
    ("field", "value", "place"),
    [
        ("latitude", 90.0001, "locations.1.latitude: "),
        ("latitude", -91, "locations.1.latitude: "),
        ("longitude", 180.5, "locations.1.longitude: "),
        ("longitude", -181, "locations.1.longitude: "),
    ],
)
def test_coordinates_out_of_range_are_refused(field: str, value: float, place: str) -> None:
    doc = document()
    doc["locations"][1][field] = value
    error = only_error(doc)
    assert error.startswith(place), error


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["latitude", "longitude"])
def test_a_coordinate_that_is_not_a_finite_number_is_refused(field: str, value: float) -> None:
    doc = document()
    doc["locations"][0][field] = value
    error = only_error(doc)
    assert error.startswith(f"locations.0.{field}: "), error
    assert "finite" in error


@pytest.mark.parametrize("location_id", ["*", "wh@hamburg", "wh hamburg", "wh\x00"])
def test_a_location_id_that_could_not_be_half_of_a_stock_key_is_refused(
    location_id: str,
) -> None:
    doc = document()
    doc["locations"][0]["location_id"] = location_id
    error = only_error(doc)
    assert error.startswith("locations.0.location_id: "), error


def test_an_unknown_location_type_is_refused() -> None:
    doc = document()
    doc["locations"][1]["type"] = "spaceport"
    error = only_error(doc)
    assert error.startswith("locations.1.type: "), error
    assert "warehouse" in error  # says what would do


def test_an_unknown_capability_is_refused_naming_its_position() -> None:
    doc = document()
    doc["locations"][1]["capabilities"] = ["pickup", "teleport"]
    error = only_error(doc)
    assert error.startswith("locations.1.capabilities.1: "), error
    assert "ship_from_store" in error


@pytest.mark.parametrize(
    ("where", "place"),
    [
        (("items", 1), "items.1.colour: "),
        (("locations", 0), "locations.0.colour: "),
        (("stock_policies", 1), "stock_policies.1.colour: "),
        ((), "colour: "),
    ],
)
def test_an_extra_field_is_refused(where: tuple[str, int] | tuple[()], place: str) -> None:
    doc = document()
    target = doc[where[0]][where[1]] if where else doc
    target["colour"] = "navy"
    error = only_error(doc)
    assert error.startswith(place), error
    assert "Extra inputs are not permitted" in error


def test_an_extra_dimension_is_refused() -> None:
    doc = document()
    doc["items"][0]["dimensions"]["depth_mm"] = 5
    assert only_error(doc).startswith("items.0.dimensions.depth_mm: ")


@pytest.mark.parametrize(
    ("section", "index", "field"),
    [
        ("items", 0, "safety_stock"),
        ("items", 1, "low_stock_threshold"),
        ("stock_policies", 0, "safety_stock"),
        ("stock_policies", 1, "low_stock_threshold"),
    ],
)
def test_negative_stock_settings_are_refused(section: str, index: int, field: str) -> None:
    doc = document()
    doc[section][index][field] = -1
    error = only_error(doc)
    assert error.startswith(f"{section}.{index}.{field}: "), error
    assert "greater than or equal to 0" in error


@pytest.mark.parametrize("value", ["3", 3.0, 2.5, True, "three"])
@pytest.mark.parametrize(
    ("section", "index", "field"),
    [
        ("items", 0, "safety_stock"),
        ("items", 0, "low_stock_threshold"),
        ("items", 1, "weight_g"),
        ("stock_policies", 0, "safety_stock"),
        ("stock_policies", 1, "low_stock_threshold"),
    ],
)
def test_quantities_must_be_integers_not_strings_floats_or_booleans(
    section: str, index: int, field: str, value: object
) -> None:
    doc = document()
    doc[section][index][field] = value
    error = only_error(doc)
    assert error.startswith(f"{section}.{index}.{field}: "), error
    assert "valid integer" in error


@pytest.mark.parametrize("field", ["safety_stock", "low_stock_threshold", "returnable", "name"])
def test_an_item_field_with_a_default_is_not_nullable(field: str) -> None:
    doc = document()
    doc["items"][0][field] = None
    assert only_error(doc).startswith(f"items.0.{field}: ")


def test_a_policy_or_weight_given_as_null_means_not_set() -> None:
    doc = document()
    doc["stock_policies"][0]["safety_stock"] = None
    doc["items"][0]["weight_g"] = None
    catalogue = parse_catalogue(doc)
    assert catalogue.stock_policies[0].safety_stock is None
    assert catalogue.items[0].weight_g is None


@pytest.mark.parametrize("value", ["300", 300.0, 0, -1])
def test_dimensions_are_positive_integers(value: object) -> None:
    doc = document()
    doc["items"][0]["dimensions"]["height_mm"] = value
    assert only_error(doc).startswith("items.0.dimensions.height_mm: ")


@pytest.mark.parametrize(
    ("sku", "fragment"),
    [("BAD SKU", "pattern"), ("SKU@HAMBURG", "pattern"), ("", "at least 1"), (7, "string")],
)
def test_a_sku_that_cannot_key_stock_is_refused(sku: object, fragment: str) -> None:
    doc = document()
    doc["items"][1]["sku"] = sku
    error = only_error(doc)
    assert error.startswith("items.1.sku: "), error
    assert fragment in error


def test_a_missing_required_field_is_named() -> None:
    doc = document()
    del doc["locations"][0]["latitude"]
    del doc["items"][1]["name"]
    errors = refused(doc)
    assert sorted(errors) == [
        "items.1.name: Field required",
        "locations.0.latitude: Field required",
    ]


def test_every_problem_is_listed_not_just_the_first() -> None:
    doc = document()
    doc["items"][0]["safety_stock"] = -1
    doc["locations"][1]["latitude"] = 123
    doc["locations"][0]["type"] = "moon"
    doc["stock_policies"][1]["low_stock_threshold"] = "3"
    errors = refused(doc)
    places = sorted(e.split(": ", 1)[0] for e in errors)
    assert places == [
        "items.0.safety_stock",
        "locations.0.type",
        "locations.1.latitude",
        "stock_policies.1.low_stock_threshold",
    ]
    with pytest.raises(DocumentError) as caught:
        parse_catalogue(doc)
    message = str(caught.value)
    assert message.startswith("invalid catalogue:\n")
    assert all(f"  {e}" in message for e in errors)


@pytest.mark.parametrize("top", [[], [DOCUMENT], "items", 42, None, True])
def test_a_document_that_is_not_an_object_is_refused(top: object) -> None:
    error = only_error(top)
    assert error.startswith("(document): "), error
    assert "dictionary" in error


@pytest.mark.parametrize("section", ["items", "locations", "stock_policies"])
def test_a_section_that_is_not_a_list_is_refused(section: str) -> None:
    doc = document()
    doc[section] = {"0": doc[section][0]}
    assert only_error(doc).startswith(f"{section}: ")


def test_a_catalogue_error_is_a_value_error_with_its_errors() -> None:
    error = DocumentError("catalogue", ["items.0.sku: bad", "locations.1.name: bad"])
    assert isinstance(error, ValueError)
    assert error.errors == ["items.0.sku: bad", "locations.1.name: bad"]
    assert str(error) == "invalid catalogue:\n  items.0.sku: bad\n  locations.1.name: bad"


# -- reading files ------------------------------------------------------------------------


def test_a_json_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(DOCUMENT), encoding="utf-8")
    assert read_catalogue(path) == parse_catalogue(DOCUMENT)


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_a_yaml_file_is_read(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"catalogue{suffix}"
    path.write_text(yaml.safe_dump(DOCUMENT, sort_keys=False), encoding="utf-8")
    assert read_catalogue(path) == parse_catalogue(DOCUMENT)


def test_a_hand_written_yaml_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        "# The Berlin shop floor\n"
        "items:\n"
        f"  - sku: {TSHIRT}\n"
        "    name: Organic T-shirt M navy\n"
        "    low_stock_threshold: 5\n"
        "locations:\n"
        f"  - location_id: {BERLIN}\n"
        "    name: Berlin Mitte store\n"
        "    type: store\n"
        "    latitude: 52.52\n"
        "    longitude: 13.405\n"
        "    capabilities: [pickup]\n"
        "stock_policies:\n"
        f"  - {{sku: {TSHIRT}, location_id: {BERLIN}, safety_stock: 2}}\n",
        encoding="utf-8",
    )
    catalogue = read_catalogue(path)
    assert catalogue.items[0].low_stock_threshold == 5
    assert catalogue.locations[0].capabilities == (Capability.PICKUP,)
    assert catalogue.stock_policies[0].safety_stock == 2


def test_a_valid_file_with_an_invalid_catalogue_names_the_place(tmp_path: Path) -> None:
    doc = document()
    doc["locations"][1]["latitude"] = 95
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        read_catalogue(path)
    assert [e.split(": ", 1)[0] for e in caught.value.errors] == ["locations.1.latitude"]


def test_json_nan_in_a_file_is_refused(tmp_path: Path) -> None:
    # NaN is not JSON: the parser refuses it where it stands, before any model sees it.
    path = tmp_path / "catalogue.json"
    text = json.dumps(DOCUMENT).replace("53.5511", "NaN")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        read_catalogue(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}: not valid JSON: "), error
    assert f"(char {text.index('NaN')})" in error


def test_invalid_json_syntax_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text('{"items": [', encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        read_catalogue(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}: not valid JSON: "), error
    assert "line 1" in error  # where in the file
    assert str(path) in str(caught.value)


def test_a_file_without_a_suffix_is_read_as_json(tmp_path: Path) -> None:
    path = tmp_path / "catalogue"
    path.write_text("items: []", encoding="utf-8")  # YAML, but not named so
    with pytest.raises(DocumentError) as caught:
        read_catalogue(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}: not valid JSON: "), error


def test_invalid_yaml_syntax_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text("items:\n  - sku: [unclosed\n    name: x\n", encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        read_catalogue(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}: not valid YAML: "), error
    assert "line" in error


def test_a_yaml_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        read_catalogue(path)
    assert caught.value.errors[0].startswith("(document): ")


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "catalogue.json"
    with pytest.raises(DocumentError) as caught:
        read_catalogue(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}: cannot be read: "), error
    assert "No such file" in error


def test_a_directory_cannot_be_read_as_a_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.mkdir()
    with pytest.raises(DocumentError) as caught:
        read_catalogue(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}: cannot be read: "), error


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_bytes(b'{"items": [{"sku": "CAF\xe9", "name": "latin-1"}]}')
    with pytest.raises(DocumentError) as caught:
        read_catalogue(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}: cannot be read: "), error
    assert "utf-8" in error
