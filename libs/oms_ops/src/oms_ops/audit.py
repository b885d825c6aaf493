"""Every change an operator makes is published as ``OperatorActionRecorded``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from oms_events.audit import OperatorAction, OperatorActionRecorded
from oms_events.codec import CONTENT_TYPE, encode, new_event
from oms_events.envelope import Envelope
from oms_events.values import Actor, ActorRole
from oms_ops.config import OpsConfig
from oms_ops.kafka import producer

__all__ = ["AUDIT_TOPIC", "SOURCE", "audit_event", "record_action"]

AUDIT_TOPIC = "oms.operator-audit"
SOURCE = "oms/operator-cli"
_MAX_PARAMS = 50
_MAX_VALUE = 2000


def audit_event(
    *,
    operator: str,
    action: OperatorAction,
    subject: str,
    parameters: Mapping[str, object],
    outcome: str,
    reason: str,
    order_id: str | None = None,
    at: datetime | None = None,
) -> Envelope:
    """The event for one action; ``outcome`` (``ok``, ``refused``, ``failed``...) and the
    command's arguments go into ``parameters``, each a string."""
    params = {"outcome": outcome}
    for name, value in parameters.items():
        if value is None or len(params) >= _MAX_PARAMS:
            continue
        params[name] = str(value)[:_MAX_VALUE]
    action_id = f"opa_{uuid.uuid4().hex}"
    payload = OperatorActionRecorded(
        action_id=action_id,
        operator=Actor(actor_id=operator[:200], role=ActorRole.OPERATOR),
        action=action,
        subject=subject[:200],
        order_id=order_id,
        parameters=params,
        reason=reason[:_MAX_VALUE],
        occurred_at=at or datetime.now(UTC),
    )
    return new_event(payload, subject=payload.subject, source=SOURCE, correlation_id=action_id)


async def record_action(config: OpsConfig, envelope: Envelope) -> None:
    """Publish on ``oms.operator-audit``, keyed by the action's subject, and wait for it."""
    async with producer(config.kafka) as sender:
        await sender.send_and_wait(
            config.topic(AUDIT_TOPIC),
            encode(envelope),
            key=envelope.subject.encode(),
            headers=[("content-type", CONTENT_TYPE.encode())],
        )
