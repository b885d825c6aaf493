"""The staff API's keys: a location's devices or an operator, configured as digests."""

from __future__ import annotations

import json

import pytest

from oms_runtime import key_digest
from oms_shipping.entrypoints.api_auth import Staff, parse_staff_keys


def test_location_and_operator_keys() -> None:
    keys = parse_staff_keys(
        json.dumps(
            {
                key_digest("a"): {"location": "store-berlin"},
                key_digest("b"): {"role": "operator", "actor_id": "ops-1"},
            }
        )
    )
    berlin, ops = keys[key_digest("a")], keys[key_digest("b")]
    assert berlin == Staff(actor_id="location:store-berlin", location_id="store-berlin")
    assert berlin.may_work_at("store-berlin") and not berlin.may_work_at("wh-hamburg")
    assert ops.may_work_at("wh-hamburg") and ops.location_id is None


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ('{"' + key_digest("a") + '": {"channel": "web-de"}}', 'must be {"location"'),
        ('{"not-a-digest": {"location": "x"}}', "not a SHA-256 hex digest"),
        ("[]", "must be a JSON object"),
    ],
)
def test_a_bad_key_document_says_what_is_wrong(document: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("{", r"\{")):
        parse_staff_keys(document)
