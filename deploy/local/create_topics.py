"""Create every topic of the registry (oms_events.topics) and its dead-letter twin.

Run inside the workspace: ``uv run --no-sync python deploy/local/create_topics.py``.
Existing topics are left alone, so running it again is harmless.

Environment: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:19092), OMS_TOPIC_PREFIX (default "").
Exit status: 0 when every topic exists, 1 when a topic could not be created,
2 when the broker cannot be reached or the registry cannot be imported.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"
DEAD_LETTER_RETENTION_MS = 30 * 24 * 60 * 60 * 1000
REPLICATION_FACTOR = 1
TOPIC_ALREADY_EXISTS = 36  # Kafka error code


@dataclass(frozen=True)
class Wanted:
    name: str
    partitions: int
    config: dict[str, str]


def wanted_topics(prefix: str) -> list[Wanted]:
    """Every registry topic followed by its dead-letter twin, with full (prefixed) names."""
    try:
        from oms_events.topics import TOPICS, all_topic_names
    except ImportError as exc:
        fail(
            f"cannot import the topic registry (oms_events.topics): {exc}; "
            "run `uv sync` in the repository first",
            code=2,
        )
    wanted: list[Wanted] = []
    for spec in TOPICS:
        wanted.append(Wanted(spec.full_name(prefix), spec.partitions, dict(spec.config())))
        dead_letter_config = {
            "cleanup.policy": "delete",
            "retention.ms": str(DEAD_LETTER_RETENTION_MS),
        }
        wanted.append(Wanted(prefix + spec.dead_letter, spec.partitions, dead_letter_config))
    # The registry's own list is the reference: fail loudly if the two ever disagree.
    expected = list(all_topic_names(prefix))
    if sorted(w.name for w in wanted) != sorted(expected):
        fail(f"topic list differs from all_topic_names(): {expected}", code=2)
    return wanted


def fail(message: str, code: int = 1) -> Any:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


async def connect(bootstrap: str, wait_s: float) -> Any:
    """A started admin client; retries until ``wait_s`` elapses (a broker may be starting)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    # aiokafka logs every failed connection attempt; the final error says it all.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    deadline = time.monotonic() + wait_s
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="oms-create-topics", request_timeout_ms=10_000
        )
        try:
            await admin.start()
            await admin.list_topics()  # a metadata round trip: the broker answers
            return admin
        except (KafkaError, OSError) as exc:
            await admin.close()
            if time.monotonic() >= deadline:
                fail(f"Kafka at {bootstrap} is not reachable: {exc!r}", code=2)
            await asyncio.sleep(0.5)


def _errors(response: Any) -> list[tuple[str, int, str]]:
    result: list[tuple[str, int, str]] = []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 and entry[2] else ""
        result.append((name, code, message))
    return result


async def run(bootstrap: str, prefix: str, wait_s: float, count_only: bool) -> int:
    from aiokafka.admin import NewTopic

    wanted = wanted_topics(prefix)
    admin = await connect(bootstrap, wait_s)
    try:
        existing = set(await admin.list_topics())
        missing = [w for w in wanted if w.name not in existing]
        if count_only:
            user_topics = [t for t in existing if not t.startswith("__")]
            print(
                f"{len(user_topics)} topics on the broker; "
                f"{len(wanted) - len(missing)}/{len(wanted)} registry topics "
                f"(prefix {prefix!r}) present"
            )
            return 0
        if not missing:
            print(f"all {len(wanted)} topics exist (prefix {prefix!r})")
            return 0
        response = await admin.create_topics(
            [
                NewTopic(
                    name=w.name,
                    num_partitions=w.partitions,
                    replication_factor=REPLICATION_FACTOR,
                    topic_configs=w.config,
                )
                for w in missing
            ],
            timeout_ms=30_000,
        )
        failed = [e for e in _errors(response) if e[1] not in (0, TOPIC_ALREADY_EXISTS)]
        for name, code, message in failed:
            print(f"error: creating {name}: Kafka error {code} {message}", file=sys.stderr)
        created = len(missing) - len(failed)
        print(f"created {created} topics, {len(wanted) - len(missing)} existed (prefix {prefix!r})")
        return 1 if failed else 0
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP,
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or %(default)s)",
    )
    parser.add_argument(
        "--prefix",
        default=os.environ.get("OMS_TOPIC_PREFIX", ""),
        help="topic name prefix (default: $OMS_TOPIC_PREFIX or empty)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to retry reaching the broker (default: %(default)s)",
    )
    parser.add_argument(
        "--count", action="store_true", help="only report how many topics exist; create nothing"
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args.bootstrap, args.prefix, args.wait, args.count))


if __name__ == "__main__":
    sys.exit(main())
