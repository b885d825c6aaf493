"""The payment-provider port.

The order service only ever talks to a provider through :class:`PaymentProvider`, with
an idempotency key on every call: a redelivered event or a retry after a timeout must
never charge twice. The sandbox provider (adapters/payment_sandbox.py) implements it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from oms_events.values import Money

__all__ = [
    "AuthorizationResult",
    "PaymentOutcome",
    "PaymentProvider",
    "ProviderUnavailable",
]


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
    result and moves no money a second time. ``reference`` names the order the money belongs
    to (a provider's merchant reference): an authorisation is taken for it, and a capture,
    void or refund of another order's payment is refused. Refusals of business rules
    (capturing more than authorised, refunding more than captured) raise :class:`ValueError`.
    """

    async def authorize(
        self,
        *,
        idempotency_key: str,
        reference: str,
        amount: Money,
        card_token: str | None,
        method: str,
    ) -> AuthorizationResult: ...

    async def capture(
        self, *, idempotency_key: str, reference: str, authorization_id: str, amount: Money
    ) -> str:
        """Capture part or all of an authorisation; returns the capture id."""
        ...

    async def void(self, *, idempotency_key: str, reference: str, authorization_id: str) -> None:
        """Release what is not yet captured; no capture is possible afterwards."""
        ...

    async def refund(
        self, *, idempotency_key: str, reference: str, capture_id: str, amount: Money
    ) -> str:
        """Refund part or all of a capture; returns the refund id."""
        ...
