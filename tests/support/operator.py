"""The ``oms`` operator command run as an operator runs it: the installed script, in its own
process, configured by the environment."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oms_events.codec import decode, encode, new_event
from oms_events.orders import OrderCanceled
from oms_events.values import Actor, ActorRole
from tests.support.kafka import produce, read_topic
from tests.support.world import Env

OMS = Path(sys.executable).parent / "oms"
OPERATOR = "ops-mara"


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


async def oms(
    env: Env,
    *args: str,
    services: dict[str, str | None] | None = None,
    prefix: str | None = None,
    extra: dict[str, str] | None = None,
) -> Ran:
    """Run ``oms ARGS`` against this test's topics, groups and databases. ``services`` maps each
    service to configure to its HTTP base URL (None: no URL; the database is the test's);
    ``prefix`` replaces the test's topic prefix; ``extra`` adds variables."""
    environ = {
        k: v for k, v in os.environ.items() if not (k.startswith("OMS_") or k.startswith("KAFKA_"))
    }
    environ.update(
        KAFKA_BOOTSTRAP_SERVERS=env.bootstrap,
        OMS_TOPIC_PREFIX=env.prefix if prefix is None else prefix,
        OMS_GROUP_SUFFIX=f"-{env.run}",
        OMS_OPERATOR=OPERATOR,
        COLUMNS="200",
    )
    wanted = services or {}
    environ["OMS_SERVICES"] = ",".join(wanted) or "notification"
    for name, url in wanted.items():
        environ[f"OMS_{name.upper()}_DATABASE_URL"] = await env.database(name)
        environ[f"OMS_{name.upper()}_URL"] = url or "http://127.0.0.1:9"
    environ.update(extra or {})
    done = await asyncio.to_thread(
        subprocess.run,
        [str(OMS), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def canceled(order_id: str) -> bytes:
    payload = OrderCanceled(
        order_id=order_id,
        reason="customer asked",
        canceled_by=Actor(actor_id="agent-7", role=ActorRole.CUSTOMER_SERVICE),
        canceled_at=datetime.now(UTC),
    )
    return encode(new_event(payload, subject=order_id, source="oms/order", correlation_id=order_id))


async def publish_cancellations(env: Env, *order_ids: str) -> None:
    for order_id in order_ids:
        await produce(
            env.bootstrap, env.topic("oms.orders"), [canceled(order_id)], key=order_id.encode()
        )


async def audit_events(env: Env, at_least: int) -> list[dict[str, Any]]:
    """The payloads published on oms.operator-audit."""
    records = await read_topic(env.bootstrap, env.topic("oms.operator-audit"), at_least=at_least)
    return [decode(r.value).payload.model_dump(mode="json") for r in records]
