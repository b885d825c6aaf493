"""The OMS on one machine: the local stack's environment, free HTTP ports, and each service's
worker environment (its database, port, topics, API keys, sourcing and carrier files).

``oms run`` and the demo (deploy/demo/demo.py) start the services with these.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "DEFAULT_CHANNEL",
    "PICKUP_STORES",
    "find_repo",
    "free_ports",
    "stack_env",
    "worker_env",
]

DEFAULT_CHANNEL = "web-de"
PICKUP_STORES = {"store-berlin": {"name": "Berlin Mitte store", "hours": "Mon-Sat 10:00-20:00"}}


def find_repo(start: Path | None = None) -> Path:
    """The repository holding ``deploy/local/stack``: ``OMS_REPO``, else the current
    directory or one above it."""
    given = os.environ.get("OMS_REPO")
    if given:
        return Path(given)
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "deploy" / "local" / "stack").is_file():
            return candidate
    raise FileNotFoundError(
        f"no deploy/local/stack in {here} or above: run from the repository or set OMS_REPO"
    )


def stack_env(repo: Path) -> dict[str, str]:
    """The variables ``deploy/local/stack env`` exports (the broker, each database)."""
    out = subprocess.run(
        [str(repo / "deploy" / "local" / "stack"), "env"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if value and not name.startswith("#"):
            env[name.strip()] = shlex.split(value)[0]
    return env


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(wanted: Mapping[str, int]) -> dict[str, int]:
    """Each service's wanted port, or the next free one (another clone's may be running)."""
    chosen: dict[str, int] = {}
    for name, port in wanted.items():
        while port in chosen.values() or not _bindable(port):
            port += 1
        chosen[name] = port
    return chosen


def worker_env(
    name: str,
    *,
    repo: Path,
    bootstrap: str,
    database_url: str,
    port: int,
    topic_prefix: str,
    group_suffix: str,
    api_key_digest: str,
    channel: str = DEFAULT_CHANNEL,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of ``python -m oms_<name> worker``: ``base`` (default: this process's)
    with the service's settings; the API key (its SHA-256 digest) is ``channel``'s."""
    keys = json.dumps({api_key_digest: {"channel": channel}})
    return {
        **(os.environ if base is None else base),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "OMS_DATABASE_URL": database_url,
        "OMS_HTTP_PORT": str(port),
        "OMS_TOPIC_PREFIX": topic_prefix,
        "OMS_GROUP_SUFFIX": group_suffix,
        "OMS_ORDER_API_KEYS": keys,
        "OMS_INVENTORY_API_KEYS": keys,
        "OMS_NOTIFICATION_API_KEYS": keys,
        "OMS_SOURCING_CONFIG": str(repo / "deploy" / "demo" / "sourcing.yaml"),
        "OMS_CARRIER_CODES": str(repo / "deploy" / "demo" / "carriers.yaml"),
        "OMS_BOXES": str(repo / "deploy" / "demo" / "boxes.yaml"),
        "OMS_PICK_BINS": str(repo / "deploy" / "demo" / "bins.yaml"),
        "OMS_PICKUP_STORES": json.dumps(PICKUP_STORES),
    }
