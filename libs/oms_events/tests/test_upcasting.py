"""Registry, upcasting and the golden fixtures every published version must keep decoding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oms_events.codec import decode
from oms_events.fulfilment import HandedOver, ShipmentShipped, ShippedParcel
from oms_events.inventory import StockSnapshot, StockSnapshotV1
from oms_events.notifications import NotificationFailed, NotificationSent
from oms_events.orders import (
    Customer,
    OrderAccepted,
    OrderSubmitted,
    OrderSubmittedV1,
    OrderSubmittedV2,
)
from oms_events.registry import (
    ALL_EVENT_TYPES,
    REGISTRY,
    latest_model,
    latest_version,
    payload_model,
    upcast,
)
from oms_events.values import DeliveryMethod

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
ENTRIES = [(t, v) for t, v, _ in REGISTRY.entries()]


def golden(event_type: str, version: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GOLDEN_DIR / f"{event_type}.v{version}.json").read_text())
    return doc


class TestRegistry:
    def test_keeps_every_version(self) -> None:
        assert payload_model("OrderSubmitted", 1) is OrderSubmittedV1
        assert payload_model("OrderSubmitted", 2) is OrderSubmittedV2
        assert payload_model("OrderSubmitted", 3) is OrderSubmitted
        assert payload_model("StockSnapshot", 1) is StockSnapshotV1
        assert latest_version("OrderSubmitted") == 3
        assert latest_model("StockSnapshot") is StockSnapshot
        assert latest_version("OrderConfirmed") == 1

    def test_unknown_lookups_raise_key_error(self) -> None:
        with pytest.raises(KeyError, match="OrderTeleported"):
            latest_version("OrderTeleported")
        with pytest.raises(KeyError, match="OrderSubmitted v4"):
            payload_model("OrderSubmitted", 4)

    def test_all_event_types_are_sorted_and_unique(self) -> None:
        assert list(ALL_EVENT_TYPES) == sorted(set(ALL_EVENT_TYPES))
        assert len(ALL_EVENT_TYPES) == 89

    def test_class_names_follow_the_versioning_convention(self) -> None:
        # Latest model: the bare event name; older ones: <Name>V<n>.
        for event_type, version, model in REGISTRY.entries():
            latest = version == latest_version(event_type)
            assert model.__name__ == (event_type if latest else f"{event_type}V{version}")
            assert (model.event_type, model.version) == (event_type, version)


class TestUpcasters:
    def test_order_submitted_v1_to_v2(self) -> None:
        data = golden("OrderSubmitted", 1)["data"]
        before = json.dumps(data, sort_keys=True)
        upcast_data = upcast("OrderSubmitted", 1, data)
        assert json.dumps(data, sort_keys=True) == before, "upcasters must not mutate input"
        assert "customer_email" not in upcast_data
        assert upcast_data["customer"] == {"customer_id": None, "email": data["customer_email"]}
        assert upcast_data["delivery_method"] == "home_delivery"

    def test_order_submitted_v2_to_v3_has_no_promise(self) -> None:
        data = golden("OrderSubmitted", 2)["data"]
        assert upcast("OrderSubmitted", 2, data) == {**data, "promised_by": None}

    def test_order_accepted_v1_to_v2_has_no_promise(self) -> None:
        decoded = decode(json.dumps(golden("OrderAccepted", 1)).encode())
        assert isinstance(decoded.payload, OrderAccepted)
        assert (decoded.payload.promised_by, decoded.upcast_from) == (None, 1)

    def test_latest_version_is_unchanged(self) -> None:
        data = golden("OrderSubmitted", 3)["data"]
        assert upcast("OrderSubmitted", 3, data) == data

    def test_unknown_version_raises(self) -> None:
        with pytest.raises(KeyError):
            upcast("OrderSubmitted", 4, {})

    def test_decoding_the_v1_fixture_yields_the_latest_model(self) -> None:
        doc = golden("OrderSubmitted", 1)
        decoded = decode(json.dumps(doc).encode())
        payload = decoded.payload
        assert isinstance(payload, OrderSubmitted)
        assert payload.customer == Customer(customer_id=None, email="jana.keller@example.com")
        assert payload.delivery_method is DeliveryMethod.HOME_DELIVERY
        assert payload.pickup_store_id is None
        assert payload.shipping_address is not None
        assert payload.lines[0].sku == doc["data"]["lines"][0]["sku"]
        # The envelope still says what came on the wire.
        assert decoded.envelope.dataversion == 1
        assert decoded.upcast_from == 1

    @pytest.mark.parametrize(
        ("model", "field"), [(NotificationSent, "attempts"), (NotificationFailed, "locale")]
    )
    def test_notification_outcomes_published_before_their_added_field_still_decode(
        self, model: type[Any], field: str
    ) -> None:
        doc = golden(model.event_type, 1)
        del doc["data"][field]
        decoded = decode(json.dumps(doc).encode())
        assert isinstance(decoded.payload, model)
        assert getattr(decoded.payload, field) is None

    def test_stock_snapshot_v1_gets_sequence_zero(self) -> None:
        decoded = decode(json.dumps(golden("StockSnapshot", 1)).encode())
        assert isinstance(decoded.payload, StockSnapshot)
        assert decoded.payload.source_sequence == 0
        assert decoded.upcast_from == 1

    def test_shipment_shipped_v1_becomes_one_parcel_under_its_number(self) -> None:
        decoded = decode(json.dumps(golden("ShipmentShipped", 1)).encode())
        assert isinstance(decoded.payload, ShipmentShipped)
        assert decoded.payload.parcels == (
            ShippedParcel(parcel_id=None, carrier="dhl", tracking_number="00340434161094042557"),
        )
        assert len(decoded.payload.lines) == 2

    @pytest.mark.parametrize("version", [1, 2])
    def test_an_older_hand_over_hands_over_every_parcel(self, version: int) -> None:
        decoded = decode(json.dumps(golden("HandedOver", version)).encode())
        assert isinstance(decoded.payload, HandedOver)
        assert decoded.payload.parcel_ids == ()
        assert decoded.upcast_from == version


class TestGoldenFixtures:
    def test_every_registry_entry_has_a_fixture_and_nothing_else_does(self) -> None:
        files = {p.name for p in GOLDEN_DIR.glob("*.json")}
        assert files == {f"{t}.v{v}.json" for t, v in ENTRIES}

    @pytest.mark.parametrize(
        ("event_type", "version"), ENTRIES, ids=[f"{t}.v{v}" for t, v in ENTRIES]
    )
    def test_fixture_decodes_to_the_latest_model(self, event_type: str, version: int) -> None:
        doc = golden(event_type, version)
        assert (doc["type"], doc["dataversion"]) == (event_type, version)
        decoded = decode((GOLDEN_DIR / f"{event_type}.v{version}.json").read_bytes())
        assert type(decoded.payload) is latest_model(event_type)
        if version == latest_version(event_type):
            assert decoded.upcast_from is None
            # Nothing is lost or invented between the wire and the model.
            assert decoded.payload.model_dump(mode="json") == doc["data"]
        else:
            assert decoded.upcast_from == version
