"""Rate shopping and labels on the real broker and database, the shipping service as an OS
process (deploy/demo/dispatch.yaml): packing publishes each parcel's choice with every
alternative; the label PDF renders (pdftoppm) to a barcode that decodes (zxing-cpp) to the
tracking number; the ZPL is well formed with the number in its ^BC field; the manifest
lists what was handed over; a return label on request; tracking numbers stay unique under
concurrent packing."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from oms_events.fulfilment import ReadyToShip
from oms_events.values import DeliveryMethod
from oms_runtime import key_digest
from oms_shipping.domain.tracking_numbers import is_valid
from tests.support.inventory import BERLIN, HAMBURG, TSHIRT, events_until
from tests.support.shipping import (
    fulfilment_order,
    now,
    released,
    send_released,
    staff_call,
    staff_download,
)
from tests.support.world import Env

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
KEY = "hh-devices-key"
API_KEYS = f'{{"{key_digest(KEY)}": {{"location": "{HAMBURG}"}}}}'
STAFF = {"staff_id": "s-7"}


def _parcels(*quantities: int) -> list[dict[str, Any]]:
    return [
        {
            "parcel_id": f"p-{n}",
            "box": "M-30x20x15",
            "weight_grams": 800,
            "lines": [{"line_id": "1", "sku": TSHIRT, "quantity": q}],
        }
        for n, q in enumerate(quantities, start=1)
    ]


async def _pack(url: str, fulfilment_order_id: str, parcels: list[dict[str, Any]]) -> None:
    path = f"/v1/fulfilment-orders/{fulfilment_order_id}"
    for action, body in (
        ("accept", STAFF),
        ("start-picking", STAFF),
        ("pack", {**STAFF, "parcels": parcels}),
    ):
        status, answer = await staff_call(url, "POST", f"{path}/{action}", KEY, body)
        assert status == 200, answer


def _barcodes(pdf: bytes, tmp_path: Path) -> list[str]:
    """The Code 128 barcodes a scanner reads off the label printed at 203 dpi."""
    source = tmp_path / "label.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "203", "-png", "-singlefile", source, tmp_path / "label"], check=True
    )
    with Image.open(tmp_path / "label.png") as image:
        assert image.size == (812, 1218)  # 4 x 6 inch
        return [
            b.text
            for b in zxingcpp.read_barcodes(image)
            if b.format is zxingcpp.BarcodeFormat.Code128
        ]


_COMMAND = re.compile(r"\^([A-Z@][A-Z0-9@])")


def _zpl_fields(zpl: str) -> list[tuple[str, str]]:
    """A label format's fields as (commands before ^FD, data); asserts the format is one
    ^XA ... ^XZ block and every ^FD is closed by ^FS."""
    body = zpl.strip()
    assert body.startswith("^XA") and body.endswith("^XZ") and body.count("^XA") == 1
    fields = []
    for chunk in body[3:-3].split("^FS")[:-1]:
        head, sep, data = chunk.partition("^FD")
        assert sep and "^" not in data and "~" not in data, chunk
        fields.append(("".join(_COMMAND.findall(head)), data))
    assert body[3:-3].split("^FS")[-1].strip() == ""  # nothing after the last field
    return fields


async def test_packing_chooses_labels_and_they_print_scan_and_hand_over(
    env: Env, tmp_path: Path
) -> None:
    shipping = await env.service("shipping", OMS_SHIPPING_API_KEYS=API_KEYS)
    await shipping.wait_ready()
    late = released("ord-lbl-1", "fo-lbl-1").model_copy(
        update={"promised_by": now() - timedelta(days=1)}  # a promise nothing can keep now
    )
    await send_released(env, late)
    await fulfilment_order(env, "ord-lbl-1", "CREATED")
    url, fo = shipping.url, "/v1/fulfilment-orders/fo-lbl-1"
    await _pack(url, "fo-lbl-1", _parcels(1, 1))

    # The choice per parcel with every alternative and why it lost, published and stored.
    [ready] = await events_until(env, "oms.shipments", 1, "ReadyToShip")
    chosen: ReadyToShip = ready.payload
    assert (chosen.policy, chosen.promise_at_risk) == ("cheapest_meeting_promise", True)
    assert [(p.parcel_id, p.carrier, p.service, p.meets_promise) for p in chosen.parcels] == [
        ("p-1", "dhl", "paket", False),
        ("p-2", "dhl", "paket", False),
    ]
    first = chosen.parcels[0]
    # 800 g in the M box (30 x 20 x 15 cm outside): DHL bills its 1.8 kg dimensional weight.
    assert (first.cost.amount_minor, first.cost.currency, first.billable_weight_grams) == (
        549,
        "EUR",
        1800,
    )
    assert [(a.carrier, a.service, a.lost_because) for a in first.alternatives] == [
        ("dpd", "classic", "more_expensive"),
        ("ups", "express", "more_expensive"),
        ("dhl", "sperrgut", "more_expensive"),
    ]
    numbers = [p.tracking_number for p in chosen.parcels]
    assert all(is_valid(n) and n.startswith("DHL") for n in numbers) and len(set(numbers)) == 2
    status, view = await staff_call(url, "GET", fo, KEY)
    assert (status, view["promise_at_risk"], view["policy"]) == (
        200,
        True,
        "cheapest_meeting_promise",
    )
    status, listed = await staff_call(url, "GET", fo + "/labels", KEY)
    assert [(x["parcel_id"], x["tracking_number"]) for x in listed["labels"]] == [
        ("p-1", numbers[0]),
        ("p-2", numbers[1]),
    ]
    assert [a["lost_because"] for a in listed["labels"][0]["alternatives"]] == [
        "more_expensive",
        "more_expensive",
        "more_expensive",
    ]

    # The PDF's barcode reads back as the tracking number; the ZPL says the same.
    status, media, pdf = await staff_download(url, fo + "/parcels/p-1/label.pdf", KEY)
    assert (status, media) == (200, "application/pdf")
    assert _barcodes(pdf, tmp_path) == [numbers[0]]
    status, media, zpl = await staff_download(url, fo + "/parcels/p-2/label.zpl", KEY)
    assert (status, media) == (200, "application/zpl")
    fields = _zpl_fields(zpl.decode())
    assert [data for commands, data in fields if "BC" in commands] == [numbers[1]]
    texts = [data for commands, data in fields if "FH" in commands]
    assert "Erika Mustermann" in texts and "parcel 2 of 2" in texts[-2]
    missing = await staff_download(url, fo + "/parcels/p-9/label.pdf", KEY)
    assert missing[0] == 404

    # A return label only once the parcels left; then once, back to Hamburg.
    status, problem = await staff_call(url, "POST", fo + "/parcels/p-1/return-label", KEY)
    assert (status, problem["code"]) == (409, "not_shipped")
    kept = await env.fetch("shipping", "SELECT action, reason FROM refused_actions")
    assert [tuple(r) for r in kept] == [("return_label", "not_shipped")]
    status, shipped = await staff_call(url, "POST", fo + "/hand-over", KEY, STAFF)
    assert (status, shipped["status"], shipped["tracking_numbers"]) == (200, "SHIPPED", numbers)
    status, back = await staff_call(url, "POST", fo + "/parcels/p-1/return-label", KEY)
    assert (status, back["kind"], back["carrier"]) == (200, "return", "dhl")
    assert back["tracking_number"] not in numbers and is_valid(back["tracking_number"])
    again = await staff_call(url, "POST", fo + "/parcels/p-1/return-label", KEY)
    assert again[1]["tracking_number"] == back["tracking_number"]
    _, _, pdf = await staff_download(url, fo + "/parcels/p-1/return-label.pdf", KEY)
    assert _barcodes(pdf, tmp_path) == [back["tracking_number"]]

    # The day's manifest for DHL at Hamburg: both parcels, as JSON and as CSV.
    status, manifest = await staff_call(url, "GET", f"/v1/manifests/{HAMBURG}/dhl", KEY)
    assert status == 200
    assert [(p["tracking_number"], p["parcel_id"]) for p in manifest["parcels"]] == [
        (numbers[0], "p-1"),
        (numbers[1], "p-2"),
    ]
    assert manifest["total_weight_grams"] == 1600
    _, media, text = await staff_download(url, f"/v1/manifests/{HAMBURG}/dhl?format=csv", KEY)
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert media == "text/csv" and [r["tracking_number"] for r in rows] == numbers
    empty = await staff_call(url, "GET", f"/v1/manifests/{HAMBURG}/ups", KEY)
    assert empty[1]["parcels"] == []
    status, problem = await staff_call(url, "GET", "/v1/manifests/store-berlin/dhl", KEY)
    assert (status, problem["code"]) == (403, "forbidden")


async def test_tracking_numbers_stay_unique_under_concurrent_packing(env: Env) -> None:
    shipping = await env.service("shipping", OMS_SHIPPING_API_KEYS=API_KEYS)
    await shipping.wait_ready()
    ids = [f"fo-many-{n}" for n in range(8)]
    await send_released(env, *(released(f"ord-many-{n}", fo) for n, fo in enumerate(ids)))
    for n in range(8):
        await fulfilment_order(env, f"ord-many-{n}", "CREATED")
    await asyncio.gather(*(_pack(shipping.url, fo, _parcels(1, 1)) for fo in ids))

    rows = await env.fetch("shipping", "SELECT carrier, tracking_number FROM labels")
    numbers = [r["tracking_number"] for r in rows]
    assert len(numbers) == 16 and len(set(numbers)) == 16
    # Drawn from one counter, none skipped or repeated: serials 1..16.
    assert sorted(int(n[3:-1]) for n in numbers) == list(range(1, 17))


async def test_each_delivery_methods_policy_chooses_and_says_why_the_others_lost(
    env: Env, tmp_path: Path
) -> None:
    # The demo's carriers with cut-offs at the end of the day, so the choice does not
    # depend on when the test runs.
    demo = (REPO / "deploy/demo/dispatch.yaml").read_text()
    dispatch = tmp_path / "dispatch.yaml"
    dispatch.write_text(re.sub(r'cutoff: "[0-9:]+"', 'cutoff: "23:59:59"', demo))
    shipping = await env.service(
        "shipping", OMS_SHIPPING_API_KEYS=API_KEYS, OMS_DISPATCH=str(dispatch)
    )
    await shipping.wait_ready()
    to_store = {"pickup_store_id": BERLIN, "shipping_address": None}
    methods = {
        "fo-home": {},
        "fo-store": {"delivery_method": DeliveryMethod.SHIP_TO_STORE, **to_store},
        "fo-collect": {"delivery_method": DeliveryMethod.CLICK_AND_COLLECT, **to_store},
    }
    await send_released(
        env,
        *(released(f"ord-{fo}", fo).model_copy(update=update) for fo, update in methods.items()),
    )
    for fo in methods:
        await fulfilment_order(env, f"ord-{fo}", "CREATED")
        await _pack(shipping.url, fo, _parcels(2))

    ready = await events_until(env, "oms.shipments", 3, "ReadyToShip")
    chosen = {
        e.payload.fulfilment_order_id: (
            e.payload.policy,
            e.payload.parcels[0].carrier,
            [(a.carrier, a.service, a.lost_because) for a in e.payload.parcels[0].alternatives],
        )
        for e in ready
    }
    assert chosen == {
        "fo-home": (
            "cheapest_meeting_promise",
            "dhl",
            [
                ("dpd", "classic", "more_expensive"),
                ("ups", "express", "more_expensive"),
                ("dhl", "sperrgut", "more_expensive"),
            ],
        ),
        "fo-store": (
            "best_score_within_budget",
            "dhl",
            [
                ("dhl", "sperrgut", "over_budget"),
                ("ups", "express", "over_budget"),
                ("dpd", "classic", "lower_score"),
            ],
        ),
        "fo-collect": (
            "fastest",
            "ups",
            [
                ("dhl", "paket", "slower"),
                ("dpd", "classic", "slower"),
                ("dhl", "sperrgut", "slower"),
            ],
        ),
    }
    # Pickup work travels to the store: its label is addressed there.
    _, _, zpl = await staff_download(
        shipping.url, "/v1/fulfilment-orders/fo-store/parcels/p-1/label.zpl", KEY
    )
    assert "^FDOMS Store Berlin Mitte^FS" in zpl.decode()
