"""The sandbox payment provider: a real provider's test mode, kept in PostgreSQL.

Card tokens pick the outcome like real test cards: ``tok_decline``,
``tok_insufficient_funds``, ``tok_requires_action``, ``tok_timeout_then_approve`` (unavailable
on the first call per idempotency key, approved on the retry); any other token, and every
non-card method, approves.

Like a real provider it outlives the order service: every call commits on its own (its own
connection, never the caller's transaction), the idempotency memory and the books are tables
(migration 0005), and ids are derived from the idempotency key, so a restarted service can
never be handed an id another order already has. It enforces what a real one would: an
idempotency key belongs to its first call (reusing it for other parameters is a caller bug,
refused); captures never exceed the authorisation and refunds never the capture; and every
capture, void or refund names the order (``reference``) its authorisation was taken for, or
is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg

from oms_events.values import Money
from oms_order.adapters.payments import AuthorizationResult, PaymentOutcome, ProviderUnavailable
from oms_runtime import DedicatedConnection

__all__ = ["SandboxPayments"]

_DECLINES: dict[str, tuple[PaymentOutcome, str]] = {
    "tok_decline": (PaymentOutcome.DECLINED, "the card was declined"),
    "tok_insufficient_funds": (PaymentOutcome.INSUFFICIENT_FUNDS, "insufficient funds"),
    "tok_requires_action": (
        PaymentOutcome.REQUIRES_ACTION,
        "the customer must authenticate the payment",
    ),
}
_TIMEOUT_THEN_APPROVE = "tok_timeout_then_approve"
_TIMED_OUT = object()
"""What an operation returns to end its call with a simulated timeout, remembered."""

Operation = Callable[[asyncpg.Connection, bool], Awaitable[Any]]
"""Runs a call's effect inside its transaction; told whether this is the key's first call."""


def _id(prefix: str, idempotency_key: str) -> str:
    return f"sbx_{prefix}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def _approval(idempotency_key: str) -> dict[str, Any]:
    """An approved authorisation's result, as the books keep it."""
    return {"outcome": "approved", "authorization_id": _id("auth", idempotency_key), "reason": None}


class SandboxPayments:
    """The ``PaymentProvider`` the order service runs with, on its own connection to the
    service's database (``dsn``): no pool reset after every call, one call at a time."""

    def __init__(self, dsn: str) -> None:
        self._connection = DedicatedConnection(dsn)
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._lock, self._connection.acquire() as conn:
            yield conn

    async def close(self) -> None:
        await self._connection.close()

    async def _once(self, idempotency_key: str, request: dict[str, Any], run: Operation) -> Any:
        """Run a call once per idempotency key: a repeat gets the first call's result."""
        async with self._conn() as conn, conn.transaction():
            first = await conn.fetchval(
                "INSERT INTO sandbox_payment_calls (idempotency_key, request)"
                " VALUES ($1, $2::jsonb) ON CONFLICT DO NOTHING RETURNING true",
                idempotency_key,
                json.dumps(request),
            )
            if not first:
                known = await conn.fetchrow(
                    "SELECT request, result FROM sandbox_payment_calls"
                    " WHERE idempotency_key = $1 FOR UPDATE",
                    idempotency_key,
                )
                assert known is not None
                if json.loads(known["request"]) != request:
                    raise ValueError(
                        f"idempotency key {idempotency_key!r} was first used for"
                        f" {known['request']}, not {json.dumps(request)}"
                    )
                if known["result"] is not None:
                    return json.loads(known["result"])
            result = await run(conn, bool(first))
            if result is _TIMED_OUT:
                return result  # committed without a result: the retry goes on
            await conn.execute(
                "UPDATE sandbox_payment_calls SET result = $2::jsonb WHERE idempotency_key = $1",
                idempotency_key,
                json.dumps(result),
            )
            return result

    async def authorize(
        self,
        *,
        idempotency_key: str,
        reference: str,
        amount: Money,
        card_token: str | None,
        method: str,
    ) -> AuthorizationResult:
        if amount.amount_minor < 0:
            raise ValueError(f"cannot authorize a negative amount: {amount.amount_minor}")
        is_card = str(method) == "card"
        declined = _DECLINES.get(card_token or "") if is_card else None
        times_out_once = is_card and card_token == _TIMEOUT_THEN_APPROVE
        approval = _approval(idempotency_key)

        async def run(conn: asyncpg.Connection, first: bool) -> Any:
            if times_out_once and first:
                return _TIMED_OUT
            if declined is not None:
                outcome, reason = declined
                return {"outcome": outcome.value, "authorization_id": None, "reason": reason}
            await conn.execute(
                "INSERT INTO sandbox_authorizations (authorization_id, reference, currency,"
                " amount_minor) VALUES ($1, $2, $3, $4)",
                approval["authorization_id"],
                reference,
                amount.currency,
                amount.amount_minor,
            )
            return approval

        request = {
            "operation": "authorize",
            "reference": reference,
            "amount": amount.model_dump(mode="json"),
            "card_token": card_token,
            "method": str(method),
        }
        result = None
        if declined is None and not times_out_once:
            result = await self._first_approval(idempotency_key, request, approval, amount)
        if result is None:
            result = await self._once(idempotency_key, request, run)
        if result is _TIMED_OUT:
            raise ProviderUnavailable("sandbox: simulated timeout, retry with the same key")
        return AuthorizationResult(
            outcome=PaymentOutcome(result["outcome"]),
            authorization_id=result["authorization_id"],
            reason=result["reason"],
        )

    async def _first_approval(
        self,
        idempotency_key: str,
        request: dict[str, Any],
        approval: dict[str, Any],
        amount: Money,
    ) -> dict[str, Any] | None:
        """The common case in one statement (and no transaction): a new key for an approval
        records the call, its result and the authorisation together. None when the key is
        known: the general path answers."""
        async with self._conn() as conn:
            first = await conn.fetchval(
                "WITH call AS (INSERT INTO sandbox_payment_calls (idempotency_key, request,"
                " result) VALUES ($1, $2::jsonb, $3::jsonb) ON CONFLICT DO NOTHING RETURNING 1),"
                " approved AS (INSERT INTO sandbox_authorizations (authorization_id, reference,"
                " currency, amount_minor) SELECT $4, $5, $6, $7 WHERE EXISTS (SELECT FROM call))"
                " SELECT EXISTS (SELECT FROM call)",
                idempotency_key,
                json.dumps(request),
                json.dumps(approval),
                approval["authorization_id"],
                request["reference"],
                amount.currency,
                amount.amount_minor,
            )
        return approval if first else None

    async def capture(
        self, *, idempotency_key: str, reference: str, authorization_id: str, amount: Money
    ) -> str:
        async def run(conn: asyncpg.Connection, _: bool) -> Any:
            auth = await _authorization(conn, authorization_id, reference)
            if auth["voided"]:
                raise ValueError(f"authorization {authorization_id!r} is voided")
            _within(
                amount,
                Money(amount_minor=auth["amount_minor"], currency=auth["currency"]),
                auth["captured_minor"],
                "capture",
                f"authorization {authorization_id!r}",
            )
            capture_id = _id("cap", idempotency_key)
            await conn.execute(
                "WITH taken AS (UPDATE sandbox_authorizations"
                " SET captured_minor = captured_minor + $4 WHERE authorization_id = $2)"
                " INSERT INTO sandbox_captures (capture_id, authorization_id, currency,"
                " amount_minor) VALUES ($1, $2, $3, $4)",
                capture_id,
                authorization_id,
                amount.currency,
                amount.amount_minor,
            )
            return capture_id

        request = {
            "operation": "capture",
            "reference": reference,
            "authorization_id": authorization_id,
            "amount": amount.model_dump(mode="json"),
        }
        return str(await self._once(idempotency_key, request, run))

    async def void(self, *, idempotency_key: str, reference: str, authorization_id: str) -> None:
        async def run(conn: asyncpg.Connection, _: bool) -> Any:
            await _authorization(conn, authorization_id, reference)
            # Voiding twice is harmless, as with real providers.
            await conn.execute(
                "UPDATE sandbox_authorizations SET voided = true WHERE authorization_id = $1",
                authorization_id,
            )
            return "voided"

        request = {
            "operation": "void",
            "reference": reference,
            "authorization_id": authorization_id,
        }
        await self._once(idempotency_key, request, run)

    async def refund(
        self, *, idempotency_key: str, reference: str, capture_id: str, amount: Money
    ) -> str:
        async def run(conn: asyncpg.Connection, _: bool) -> Any:
            capture = await conn.fetchrow(
                "SELECT c.currency, c.amount_minor, c.refunded_minor, a.reference"
                " FROM sandbox_captures c JOIN sandbox_authorizations a USING (authorization_id)"
                " WHERE c.capture_id = $1 FOR UPDATE OF c",
                capture_id,
            )
            if capture is None:
                raise ValueError(f"unknown capture {capture_id!r}")
            if capture["reference"] != reference:
                raise ValueError(f"capture {capture_id!r} belongs to another order")
            _within(
                amount,
                Money(amount_minor=capture["amount_minor"], currency=capture["currency"]),
                capture["refunded_minor"],
                "refund",
                f"capture {capture_id!r}",
            )
            refund_id = _id("ref", idempotency_key)
            await conn.execute(
                "WITH given AS (UPDATE sandbox_captures SET refunded_minor = refunded_minor + $4"
                " WHERE capture_id = $2)"
                " INSERT INTO sandbox_refunds (refund_id, capture_id, currency, amount_minor)"
                " VALUES ($1, $2, $3, $4)",
                refund_id,
                capture_id,
                amount.currency,
                amount.amount_minor,
            )
            return refund_id

        request = {
            "operation": "refund",
            "reference": reference,
            "capture_id": capture_id,
            "amount": amount.model_dump(mode="json"),
        }
        return str(await self._once(idempotency_key, request, run))


async def _authorization(
    conn: asyncpg.Connection, authorization_id: str, reference: str
) -> asyncpg.Record:
    """The authorisation, locked; refused when unknown or taken for another order."""
    auth = await conn.fetchrow(
        "SELECT reference, currency, amount_minor, captured_minor, voided"
        " FROM sandbox_authorizations WHERE authorization_id = $1 FOR UPDATE",
        authorization_id,
    )
    if auth is None:
        raise ValueError(f"unknown authorization {authorization_id!r}")
    if auth["reference"] != reference:
        raise ValueError(f"authorization {authorization_id!r} belongs to another order")
    return auth


def _within(amount: Money, total: Money, used_minor: int, verb: str, what: str) -> None:
    """A capture or refund takes a positive amount from what is left, never more."""
    if amount.currency != total.currency:
        raise ValueError(f"{what} is in {total.currency}, not {amount.currency}")
    remaining = total.amount_minor - used_minor
    if not 0 < amount.amount_minor <= remaining:
        raise ValueError(
            f"cannot {verb} {amount.amount_minor} {amount.currency} on {what}:"
            f" {remaining} of {total.amount_minor} remain"
        )
