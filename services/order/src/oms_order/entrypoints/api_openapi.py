"""The OpenAPI 3.1 document of the order service's HTTP API, built from the pydantic models.

``make schemas`` writes it to ``schemas/openapi/order.json``; the service serves the same
document at ``GET /openapi.json``. Output is deterministic (sorted keys), so a test can tell
when the committed file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from oms_events.orders import OrderSubmitted
from oms_order.entrypoints.api_body import MAX_BODY_BYTES
from oms_order.entrypoints.api_models import (
    AddressChangeRequest,
    CancelRequest,
    ErrorBody,
    HoldRequest,
    OrderList,
    OrderView,
    ReleaseRequest,
    SubmitResponse,
)

__all__ = ["OPENAPI_PATH", "openapi_document", "render_openapi", "write_openapi"]

OPENAPI_PATH = Path("openapi") / "order.json"
"""Where the document lives under ``schemas/``."""

_REF = "#/components/schemas/{model}"
_REQUESTS: tuple[type[BaseModel], ...] = (
    OrderSubmitted,
    CancelRequest,
    HoldRequest,
    ReleaseRequest,
    AddressChangeRequest,
)
_RESPONSES: tuple[type[BaseModel], ...] = (SubmitResponse, OrderView, OrderList, ErrorBody)

_ERRORS = {
    "400": "The request is incomplete: `idempotency_key_required` or `invalid_idempotency_key`.",
    "401": "No API key, or an unknown one (`unauthorized`).",
    "403": "The key's principal may not do this (`forbidden`, `channel_mismatch`).",
    "404": "No such order, or not one of the calling channel's (`order_not_found`).",
    "409": "The order's state refuses the command; nothing changed and the refusal is in the"
    " timeline. `code` is the refusal's (`not_on_hold`, `not_cancelable`, `order_released`, ...).",
    "413": f"The body is larger than {MAX_BODY_BYTES} bytes (`payload_too_large`).",
    "422": "The body or query cannot be read (`invalid_order`, `invalid_request`,"
    " `invalid_query`, `idempotency_key_reused`); `details` names each field.",
    "503": "A dependency (database, payment provider) is unavailable; retry later (`unavailable`).",
}


def _schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """$ref per model name, and the components they point to."""
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in _REQUESTS]
    inputs += [(m, "serialization") for m in _RESPONSES]
    refs, top = models_json_schema(inputs, ref_template=_REF)
    by_name = {model.__name__: dict(schema) for (model, _), schema in refs.items()}
    return by_name, dict(top.get("$defs", {}))


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _responses(
    ok: dict[str, tuple[str, dict[str, Any]]], errors: list[str], error_ref: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    request_id = {
        "X-Request-Id": {
            "description": "This request's id: it names the request in logs and as the cause"
            " of the events it emitted.",
            "schema": {"type": "string", "format": "uuid"},
        }
    }
    for status, (description, ref) in ok.items():
        out[status] = {"description": description, "headers": request_id, "content": _json(ref)}
    for status in errors:
        out[status] = {
            "description": _ERRORS[status],
            "headers": request_id,
            "content": _json(error_ref),
        }
    return out


def openapi_document() -> dict[str, Any]:
    refs, components = _schemas()
    error = refs["ErrorBody"]
    view = refs["OrderView"]
    order_id = {
        "name": "order_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    }

    def command(
        operation_id: str,
        summary: str,
        body: str,
        *,
        body_required: bool = True,
        who: str = "Customer service only.",
    ) -> dict[str, Any]:
        return {
            "operationId": operation_id,
            "summary": summary,
            "description": f"{who} The actor in the order's timeline is the key's principal.",
            "tags": ["customer service"],
            "parameters": [order_id],
            "requestBody": {"required": body_required, "content": _json(refs[body])},
            "responses": _responses(
                {"200": ("The order after the change.", view)},
                ["401", "403", "404", "409", "413", "422", "503"],
                error,
            ),
        }

    replayed = {
        "Idempotent-Replayed": {
            "description": "`true` when this is the stored answer to an earlier request with"
            " the same Idempotency-Key and body.",
            "schema": {"type": "string", "enum": ["true"]},
        }
    }
    submit_responses = _responses(
        {
            "201": (
                "A new order; status REJECTED with `reasons` if it failed validation.",
                refs["SubmitResponse"],
            ),
            "200": ("The order was already known (created false).", refs["SubmitResponse"]),
        },
        ["400", "401", "403", "413", "422", "503"],
        error,
    )
    for status in ("200", "201", "422"):
        submit_responses[status]["headers"] = {
            **submit_responses[status]["headers"],
            **replayed,
        }

    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    identifier = {"type": "string", "minLength": 1, "maxLength": 200}
    paths: dict[str, Any] = {
        "/v1/orders": {
            "post": {
                "operationId": "submitOrder",
                "summary": "Submit an order (sales channels)",
                "description": "The body is an OrderSubmitted v2 payload, exactly as on the"
                " intake topic; `channel` must be the key's channel. One order per (channel,"
                " external_order_id), whichever path it came by. An order the contract cannot"
                " read is answered 422 and, when its channel and external_order_id are"
                " readable, kept as REJECTED with the reasons.",
                "tags": ["capture"],
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": True,
                        "description": "Unique per intended order submission; a retry with the"
                        " same key and body gets the first answer again.",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 200,
                            "pattern": "^[\\x20-\\x7e]+$",
                        },
                    }
                ],
                "requestBody": {"required": True, "content": _json(refs["OrderSubmitted"])},
                "responses": submit_responses,
            },
            "get": {
                "operationId": "findOrders",
                "summary": "Find orders by (channel, external_order_id) or by customer e-mail",
                "description": "Give `channel` and `external_order_id` (a channel only its"
                " own), or `customer_email` (customer service only). Pages are in order id"
                " order; pass `next_cursor` as `cursor` for the next one.",
                "tags": ["customer service"],
                "parameters": [
                    query("channel", "The order's sales channel.", identifier),
                    query("external_order_id", "The channel's own order id.", identifier),
                    query(
                        "customer_email",
                        "The customer's e-mail, compared without case.",
                        {"type": "string", "minLength": 1, "maxLength": 320},
                    ),
                    query(
                        "limit",
                        "Orders per page.",
                        {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    ),
                    query("cursor", "`next_cursor` of the previous page.", identifier),
                ],
                "responses": _responses(
                    {"200": ("The matching orders.", refs["OrderList"])},
                    ["401", "403", "422", "503"],
                    error,
                ),
            },
        },
        "/v1/orders/{order_id}": {
            "get": {
                "operationId": "getOrder",
                "summary": "One order with its lines and timeline",
                "description": "Customer service sees every order, a channel its own.",
                "tags": ["customer service"],
                "parameters": [order_id],
                "responses": _responses(
                    {"200": ("The order.", view)}, ["401", "404", "503"], error
                ),
            }
        },
        "/v1/orders/{order_id}/cancel": {
            "post": command(
                "cancelOrder",
                "Cancel the whole order or some units of some lines",
                "CancelRequest",
                who="Customer service, or the order's own channel.",
            )
        },
        "/v1/orders/{order_id}/hold": {
            "post": command("holdOrder", "Put the order on hold", "HoldRequest")
        },
        "/v1/orders/{order_id}/release": {
            "post": command("releaseOrder", "Lift the hold", "ReleaseRequest", body_required=False)
        },
        "/v1/orders/{order_id}/shipping-address": {
            "put": command(
                "changeShippingAddress",
                "Change the shipping address before the order is released",
                "AddressChangeRequest",
            )
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["meta"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OMS order service",
            "version": "1.0.0",
            "description": "Order capture for sales channels and customer-service commands."
            " Authenticate with `Authorization: Bearer <API key>`; each key belongs to one"
            " sales channel or one customer-service desk.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A per-caller API key; the service stores only its SHA-256.",
                }
            },
        },
    }


def render_openapi() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_openapi(schemas_dir: Path) -> Path:
    """Write the document under ``schemas_dir`` (``schemas/openapi/order.json``)."""
    path = schemas_dir / OPENAPI_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_openapi(), encoding="utf-8")
    return path
