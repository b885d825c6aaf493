"""The payment-provider port, an in-memory sandbox provider, and retry with backoff.

The order service only ever talks to a provider through :class:`PaymentProvider`, with
an idempotency key on every call: a redelivered event or a retry after a timeout must
never charge twice. The sandbox behaves like a real provider's test mode (outcomes are
chosen by test card tokens) and enforces the invariants a real one would: captures never
exceed the authorisation and refunds never exceed the capture.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from oms_events.values import Money

__all__ = [
    "AuthorizationResult",
    "PaymentOutcome",
    "PaymentProvider",
    "ProviderUnavailable",
    "SandboxAuthorization",
    "SandboxCapture",
    "SandboxPaymentProvider",
    "SandboxRefund",
    "with_retries",
]

T = TypeVar("T")


class PaymentOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    REQUIRES_ACTION = "requires_action"
    """The customer must authenticate (e.g. 3-D Secure) before the charge can go on."""


@dataclass(frozen=True)
class AuthorizationResult:
    """``authorization_id`` is set only when approved; ``reason`` only when not."""

    outcome: PaymentOutcome
    authorization_id: str | None
    reason: str | None


class ProviderUnavailable(TimeoutError):
    """Timeout or 5xx: retry with backoff.

    A timeout: once the retries here are spent, the runtime retries the whole batch later
    rather than dead-lettering an order because its payment provider was down.
    """


class PaymentProvider(Protocol):
    """What the order service needs from any payment provider.

    Every call is idempotent on ``idempotency_key``: repeating it returns the first
    result and moves no money a second time. Refusals of business rules (capturing more
    than authorised, refunding more than captured) raise :class:`ValueError`.
    """

    async def authorize(
        self, *, idempotency_key: str, amount: Money, card_token: str | None, method: str
    ) -> AuthorizationResult: ...

    async def capture(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> str:
        """Capture part or all of an authorisation; returns the capture id."""
        ...

    async def void(self, *, idempotency_key: str, authorization_id: str) -> None:
        """Release what is not yet captured; no capture is possible afterwards."""
        ...

    async def refund(self, *, idempotency_key: str, capture_id: str, amount: Money) -> str:
        """Refund part or all of a capture; returns the refund id."""
        ...


# --- sandbox --------------------------------------------------------------------------------


@dataclass
class SandboxAuthorization:
    amount: Money
    captured_minor: int = 0
    voided: bool = False


@dataclass
class SandboxCapture:
    authorization_id: str
    amount: Money
    refunded_minor: int = 0


@dataclass(frozen=True)
class SandboxRefund:
    capture_id: str
    amount: Money


_DECLINES: dict[str, tuple[PaymentOutcome, str]] = {
    "tok_decline": (PaymentOutcome.DECLINED, "the card was declined"),
    "tok_insufficient_funds": (PaymentOutcome.INSUFFICIENT_FUNDS, "insufficient funds"),
    "tok_requires_action": (
        PaymentOutcome.REQUIRES_ACTION,
        "the customer must authenticate the payment",
    ),
}
_TIMEOUT_THEN_APPROVE = "tok_timeout_then_approve"


class SandboxPaymentProvider:
    """Deterministic in-memory provider for tests and local runs.

    Card tokens pick the outcome like real test cards: ``tok_decline``,
    ``tok_insufficient_funds``, ``tok_requires_action``, ``tok_timeout_then_approve``
    (unavailable on the first call per idempotency key, approved on the retry); any other
    token, and every non-card method, approves. Ids are sequential so tests can predict
    them. ``authorizations``, ``captures`` and ``refunds`` are the ledger; ``calls``
    counts every call per operation, including idempotent repeats.

    An idempotency key belongs to its first call: reusing it for another operation or
    other parameters raises ValueError, as real providers do, because it is a caller bug.
    """

    def __init__(self) -> None:
        self.authorizations: dict[str, SandboxAuthorization] = {}
        self.captures: dict[str, SandboxCapture] = {}
        self.refunds: dict[str, SandboxRefund] = {}
        self.calls: Counter[str] = Counter()
        self._completed: dict[str, tuple[Hashable, object]] = {}
        self._timed_out: set[str] = set()

    def _replay(self, idempotency_key: str, request: Hashable) -> tuple[bool, object]:
        if idempotency_key not in self._completed:
            return False, None
        first_request, result = self._completed[idempotency_key]
        if first_request != request:
            raise ValueError(
                f"idempotency key {idempotency_key!r} was first used for {first_request!r},"
                f" not {request!r}"
            )
        return True, result

    async def authorize(
        self, *, idempotency_key: str, amount: Money, card_token: str | None, method: str
    ) -> AuthorizationResult:
        self.calls["authorize"] += 1
        request = ("authorize", amount, card_token, str(method))
        replayed, previous = self._replay(idempotency_key, request)
        if replayed:
            assert isinstance(previous, AuthorizationResult)
            return previous
        if amount.amount_minor < 0:
            raise ValueError(f"cannot authorize a negative amount: {amount.amount_minor}")

        is_card = str(method) == "card"
        if is_card and card_token == _TIMEOUT_THEN_APPROVE:
            if idempotency_key not in self._timed_out:
                self._timed_out.add(idempotency_key)
                raise ProviderUnavailable("sandbox: simulated timeout, retry with the same key")
        if is_card and card_token in _DECLINES:
            outcome, reason = _DECLINES[card_token]
            result = AuthorizationResult(outcome=outcome, authorization_id=None, reason=reason)
        else:
            authorization_id = f"sbx_auth_{len(self.authorizations) + 1}"
            self.authorizations[authorization_id] = SandboxAuthorization(amount=amount)
            result = AuthorizationResult(
                outcome=PaymentOutcome.APPROVED, authorization_id=authorization_id, reason=None
            )
        self._completed[idempotency_key] = (request, result)
        return result

    async def capture(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> str:
        self.calls["capture"] += 1
        request = ("capture", authorization_id, amount)
        replayed, previous = self._replay(idempotency_key, request)
        if replayed:
            assert isinstance(previous, str)
            return previous
        auth = self.authorizations.get(authorization_id)
        if auth is None:
            raise ValueError(f"unknown authorization {authorization_id!r}")
        if auth.voided:
            raise ValueError(f"authorization {authorization_id!r} is voided")
        _within(
            amount,
            auth.amount,
            auth.captured_minor,
            "capture",
            f"authorization {authorization_id!r}",
        )
        auth.captured_minor += amount.amount_minor
        capture_id = f"sbx_cap_{len(self.captures) + 1}"
        self.captures[capture_id] = SandboxCapture(authorization_id, amount)
        self._completed[idempotency_key] = (request, capture_id)
        return capture_id

    async def void(self, *, idempotency_key: str, authorization_id: str) -> None:
        self.calls["void"] += 1
        request = ("void", authorization_id)
        replayed, _ = self._replay(idempotency_key, request)
        if replayed:
            return
        auth = self.authorizations.get(authorization_id)
        if auth is None:
            raise ValueError(f"unknown authorization {authorization_id!r}")
        auth.voided = True  # voiding twice is harmless, as with real providers
        self._completed[idempotency_key] = (request, None)

    async def refund(self, *, idempotency_key: str, capture_id: str, amount: Money) -> str:
        self.calls["refund"] += 1
        request = ("refund", capture_id, amount)
        replayed, previous = self._replay(idempotency_key, request)
        if replayed:
            assert isinstance(previous, str)
            return previous
        capture = self.captures.get(capture_id)
        if capture is None:
            raise ValueError(f"unknown capture {capture_id!r}")
        _within(amount, capture.amount, capture.refunded_minor, "refund", f"capture {capture_id!r}")
        capture.refunded_minor += amount.amount_minor
        refund_id = f"sbx_ref_{len(self.refunds) + 1}"
        self.refunds[refund_id] = SandboxRefund(capture_id, amount)
        self._completed[idempotency_key] = (request, refund_id)
        return refund_id


def _within(amount: Money, total: Money, used_minor: int, verb: str, what: str) -> None:
    """A capture or refund takes a positive amount from what is left, never more."""
    _same_currency(amount, total, what)
    remaining = total.amount_minor - used_minor
    if not 0 < amount.amount_minor <= remaining:
        raise ValueError(
            f"cannot {verb} {amount.amount_minor} {amount.currency} on {what}:"
            f" {remaining} of {total.amount_minor} remain"
        )


def _same_currency(amount: Money, reference: Money, what: str) -> None:
    if amount.currency != reference.currency:
        raise ValueError(f"{what} is in {reference.currency}, not {amount.currency}")


# --- retries --------------------------------------------------------------------------------


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    base_delay_s: float,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Await ``call()``, retrying :class:`ProviderUnavailable` with exponential backoff.

    Waits ``base_delay_s * 2**n`` after the n-th failure (0-based) and re-raises the last
    error once ``attempts`` calls have failed. Only ProviderUnavailable is retried: a
    decline or a ValueError will not change by asking again. Safe only because every
    provider call carries an idempotency key. ``sleep`` is injectable so tests never sleep.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    for attempt in range(attempts):
        try:
            return await call()
        except ProviderUnavailable:
            if attempt == attempts - 1:
                raise
            await sleep(base_delay_s * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover
