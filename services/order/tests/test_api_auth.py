"""API keys: digests in configuration, principals and what they may see."""

from __future__ import annotations

import hashlib
import json

import pytest

from oms_events.values import ActorRole
from oms_order.entrypoints.api_auth import Principal, parse_api_keys
from oms_runtime import MAX_KEY_LENGTH, authenticate, key_digest

WEB = "web-key-1"
DESK = "desk-key-1"


def _config(**extra: object) -> str:
    return json.dumps(
        {
            hashlib.sha256(WEB.encode()).hexdigest(): {"channel": "web-de"},
            hashlib.sha256(DESK.encode()).hexdigest().upper(): {
                "role": "customer_service",
                "actor_id": "cs-desk-1",
            },
            **extra,
        }
    )


def test_digests_map_to_principals() -> None:
    keys = parse_api_keys(_config())
    assert keys[key_digest(WEB)] == Principal(actor_id="web-de", channel="web-de")
    assert keys[key_digest(DESK)] == Principal(actor_id="cs-desk-1")  # upper case normalised
    assert parse_api_keys("{}") == {}


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        (json.dumps({"secret-key": {"channel": "web-de"}}), "SHA-256 hex digest"),
        (json.dumps({"a" * 63: {"channel": "web-de"}}), "SHA-256 hex digest"),
        (json.dumps({"0" * 64: {"channel": ""}}), "principal"),
        (json.dumps({"0" * 64: {"role": "admin", "actor_id": "x"}}), "principal"),
        (json.dumps({"0" * 64: {"channel": "web-de", "role": "customer_service"}}), "principal"),
        (json.dumps({"0" * 64: "web-de"}), "principal"),
        ('{"' + "0" * 64 + '": {"channel": "a"}, "' + "0" * 64 + '": {"channel": "b"}}', ""),
    ],
)
def test_bad_configuration_is_refused_with_a_reason(text: str, complaint: str) -> None:
    if not complaint:  # a duplicate key in the JSON text: the last one wins, as in JSON
        assert len(parse_api_keys(text)) == 1
        return
    with pytest.raises(ValueError, match=complaint):
        parse_api_keys(text)


def test_a_key_never_appears_in_the_error() -> None:
    with pytest.raises(ValueError) as caught:
        parse_api_keys(json.dumps({"0" * 64: {"channel": "web-de", "key": "s3cret"}}))
    assert "s3cret" not in str(caught.value)


def test_authenticate_finds_the_principal_of_a_known_key_only() -> None:
    keys = parse_api_keys(_config())
    assert authenticate(WEB, keys) == Principal("web-de", "web-de")
    desk = authenticate(DESK, keys)
    assert desk is not None and desk.is_customer_service
    assert authenticate("web-key-2", keys) is None
    assert authenticate(key_digest(WEB), keys) is None  # the digest is no key
    assert authenticate("\udc80", keys) is None  # odd text never raises
    for missing in (None, "", "k" * (MAX_KEY_LENGTH + 1)):
        assert authenticate(missing, keys) is None


def test_principals_act_and_see_as_their_role() -> None:
    channel = Principal(actor_id="web-de", channel="web-de")
    desk = Principal(actor_id="cs-desk-1")
    assert (channel.actor.role, channel.actor.actor_id) == (ActorRole.CUSTOMER, "web-de")
    assert (desk.actor.role, desk.actor.actor_id) == (ActorRole.CUSTOMER_SERVICE, "cs-desk-1")
    assert channel.may_see("web-de") and not channel.may_see("marketplace")
    assert desk.may_see("web-de") and desk.may_see(None)


def test_staff_act_at_their_location_and_see_no_order() -> None:
    digest = "f" * 64
    keys = parse_api_keys(
        _config(**{digest: {"role": "staff", "actor_id": "pos-1", "location_id": "store-berlin"}})
    )
    staff = keys[digest]
    assert staff == Principal(actor_id="pos-1", location_id="store-berlin")
    assert staff.is_staff and not staff.is_customer_service
    assert (staff.actor.role, staff.actor.actor_id) == (ActorRole.STAFF, "pos-1")
    assert not staff.may_see("web-de")
    with pytest.raises(ValueError, match="principal"):
        parse_api_keys(json.dumps({digest: {"role": "staff", "actor_id": "pos-1"}}))
