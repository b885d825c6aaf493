"""schemas/openapi/ holds each HTTP API's OpenAPI document as FastAPI generates it; a change
that breaks the APIs' callers is caught like a breaking change to an event schema."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from functools import cache
from typing import Any

import pytest

from oms_runtime import check_openapi_compatibility
from tests.support.stack import REPO

SERVICES = ("order", "inventory", "orchestration", "shipping", "notification")
REGENERATE = "run make schemas"


@cache
def generated(service: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    run = subprocess.run(
        [sys.executable, "-m", f"oms_{service}", "openapi"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
    )
    return run.stdout


def committed(service: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (REPO / "schemas" / "openapi" / f"{service}.json").read_text(encoding="utf-8")
    )
    return document


def test_one_document_per_api() -> None:
    assert sorted(p.stem for p in (REPO / "schemas" / "openapi").glob("*.json")) == sorted(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_document_is_the_generated_one(service: str) -> None:
    path = REPO / "schemas" / "openapi" / f"{service}.json"
    assert path.read_text(encoding="utf-8") == generated(service), f"{path} is stale: {REGENERATE}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_document_is_compatible(service: str) -> None:
    assert check_openapi_compatibility(committed(service), json.loads(generated(service))) == []


# Operations that callers other than API-key holders reach, and the scheme that secures them.
SIGNED = {("shipping", "/v1/carriers/{carrier}/tracking"): "carrierSignature"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_is_secured_and_answers_problems(service: str) -> None:
    document = committed(service)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A per-caller API key; the service stores only its SHA-256 digest.",
    }
    assert set(schemes) == {"bearer", *(s for (svc, _), s in SIGNED.items() if svc == service)}
    for path, operations in document["paths"].items():
        scheme = SIGNED.get((service, path), "bearer")
        for method, operation in operations.items():
            assert operation["security"] == [{scheme: []}], (method, path)
            errors = {s: r for s, r in operation["responses"].items() if s >= "400"}
            assert {"401", "503"} <= set(errors), (method, path)
            for response in errors.values():
                assert list(response["content"]) == ["application/problem+json"], (method, path)


# -- the compatibility check -----------------------------------------------------------------


def _changed(edit: Any) -> list[str]:
    """Problems found when the current document is the committed one edited by ``edit``."""
    old = committed("order")
    new = copy.deepcopy(old)
    edit(new)
    return check_openapi_compatibility(old, new)


def test_an_unchanged_document_is_compatible() -> None:
    assert _changed(lambda doc: None) == []


def test_a_path_or_an_operation_removed() -> None:
    def remove(doc: dict[str, Any]) -> None:
        del doc["paths"]["/v1/orders/{order_id}/hold"]
        del doc["paths"]["/v1/orders"]["get"]

    assert _changed(remove) == [
        "GET /v1/orders: operation removed",
        "/v1/orders/{order_id}/hold: path removed",
    ]


def test_a_response_field_removed_or_retyped() -> None:
    def edit(doc: dict[str, Any]) -> None:
        view = doc["components"]["schemas"]["OrderView"]
        del view["properties"]["on_hold"]
        view["properties"]["channel"]["type"] = "integer"

    problems = _changed(edit)
    assert "GET /v1/orders/{order_id}: response 200: field 'on_hold' removed" in problems
    assert any(
        p.startswith("GET /v1/orders/{order_id}: response 200: field 'channel' retyped")
        for p in problems
    )


def test_a_response_may_gain_a_field() -> None:
    def edit(doc: dict[str, Any]) -> None:
        view = doc["components"]["schemas"]["OrderView"]
        view["properties"]["loyalty_tier"] = {"type": "string"}
        view["required"].append("loyalty_tier")

    assert _changed(edit) == []


def test_a_tightened_request() -> None:
    def edit(doc: dict[str, Any]) -> None:
        hold = doc["components"]["schemas"]["HoldRequest"]
        hold["required"].append("note")
        del doc["components"]["schemas"]["CancelRequest"]["properties"]["lines"]
        find = doc["paths"]["/v1/orders"]["get"]
        limit = next(p for p in find["parameters"] if p["name"] == "limit")
        limit["required"] = True
        limit["schema"]["maximum"] = 50
        find["parameters"].append(
            {"in": "query", "name": "region", "required": True, "schema": {"type": "string"}}
        )

    problems = _changed(edit)
    for expected in (
        "POST /v1/orders/{order_id}/hold: request body: field 'note' became required",
        "POST /v1/orders/{order_id}/cancel: request body: field 'lines' removed",
        "GET /v1/orders: query parameter 'limit' became required",
        "GET /v1/orders: query parameter 'limit': payload retyped (maximum: 100 -> 50)",
        "GET /v1/orders: query parameter 'region' added as required",
    ):
        assert expected in problems, problems
