"""The operator command without a broker: arguments, help, filters, plans, audit events."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oms_events.audit import OperatorAction, OperatorActionRecorded
from oms_events.codec import decode, encode
from oms_ops.audit import audit_event
from oms_ops.cli import app
from oms_ops.config import OpsConfig, UsageError
from oms_ops.dead_letters import DeadLetterFilter, DeadLetterId
from oms_ops.output import Exit, format_age, parse_when
from oms_ops.replay import ReplayMove

COMMANDS = [
    [],
    ["status"],
    ["dlq"],
    ["dlq", "list"],
    ["dlq", "show"],
    ["dlq", "redrive"],
    ["replay"],
    ["rebuild"],
    ["trace"],
    ["topics"],
    ["topics", "list"],
    ["topics", "describe"],
    ["topics", "apply"],
    ["publish"],
    ["copy"],
    ["run"],
    ["top"],
]
runner = CliRunner()
# Nothing listens there: a command that reached for the broker would fail, not pass.
# Nor is any database configured, whatever the shell that runs the tests has set.
OFFLINE = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    "OMS_SERVICES": "notification",
    "OMS_NOTIFICATION_DATABASE_URL": "",
}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "oms")
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage: oms" in result.output


def test_the_installed_script_answers() -> None:
    script = Path(sys.executable).parent / "oms"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("status", "dlq", "replay", "rebuild", "trace", "topics", "copy", "publish"):
        assert command in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["replay", "notification"],
        ["replay", "notification", "--from-start", "--to-offset", "3"],
        ["replay", "notification", "--to-time", "yesterday-ish"],
        ["replay", "billing", "--from-start"],
        ["dlq", "redrive"],
        ["dlq", "show", "not-an-id"],
        ["replay", "notification", "--from-start", "--bogus"],
        ["topics", "describe", "oms.nope"],
        ["topics", "apply", "--topic", "oms.orders", "--topic", "oms.nope"],
        ["publish", "/nonexistent/events.jsonl", "--topic", "oms.orders"],
        ["publish", "pyproject.toml", "--topic", "oms.nope"],
        ["copy", "oms.orders"],
        ["copy", "oms.orders", "--to-topic", "a", "--to-file", "b"],
        ["copy", "oms.orders", "--to-topic", "oms.orders"],
        ["copy", "oms.orders", "--to-topic", "x", "--since", "2h", "--to-offset", "3"],
        ["copy", "oms.orders", "--to-file", "pyproject.toml"],
        ["copy", "oms.orders", "--to-topic", "x", "--since", "whenever"],
        ["run", "--no-stack"],
        ["run", "--no-stack", "--service", "billing"],
        ["rebuild", "billing"],
        ["rebuild", "notification"],  # no database URL
    ],
)
def test_bad_arguments_exit_2_before_touching_anything(args: list[str]) -> None:
    result = runner.invoke(app, args, env=OFFLINE)
    assert result.exit_code == Exit.USAGE, result.output


def test_times_are_durations_ago_or_iso() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_when("2h", now) == now - timedelta(hours=2)
    assert parse_when("30m", now) == now - timedelta(minutes=30)
    assert parse_when("7d", now) == now - timedelta(days=7)
    assert parse_when("2026-11-24T10:00:00Z") == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert parse_when("2026-11-24T10:00:00") == datetime(2026, 11, 24, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a duration"):
        parse_when("soon")
    assert [format_age(s) for s in (5, 125, 7300, 200000)] == ["5s", "2m", "2h", "2d"]


def test_dead_letter_ids_round_trip() -> None:
    parsed = DeadLetterId.parse("notification:t1.oms.orders:3:17")
    assert parsed == DeadLetterId("notification", "t1.oms.orders", 3, 17)
    assert str(parsed) == "notification:t1.oms.orders:3:17"
    for bad in ("notification:oms.orders:3", "notification:oms.orders:x:1", ":oms.orders:1:1"):
        with pytest.raises(ValueError):
            DeadLetterId.parse(bad)


def test_a_filter_is_parameterised_sql() -> None:
    since = datetime(2026, 11, 24, tzinfo=UTC)
    where, args = DeadLetterFilter(
        topic="oms.orders", reason="handler_failed", since=since, pending_only=True
    ).sql()
    assert where == "topic = $1 AND reason = $2 AND created_at >= $3 AND redriven_at IS NULL"
    assert args == ["oms.orders", "handler_failed", since]
    assert DeadLetterFilter().sql() == ("true", [])
    ids = DeadLetterFilter(ids=(DeadLetterId("order", "oms.orders", 1, 2),))
    assert ids.for_service("notification") is None
    assert ids.for_service("order") == ids


def test_topics_take_the_deployment_prefix_and_services_their_group() -> None:
    config = OpsConfig.from_env(
        {"OMS_TOPIC_PREFIX": "t1.", "OMS_GROUP_SUFFIX": "-x", "OMS_ORDER_DATABASE_URL": "pg://o"}
    )
    assert config.topic("oms.orders") == "t1.oms.orders"
    assert config.topic("t1.oms.orders") == "t1.oms.orders"
    order = config.service("order")
    assert (order.group, order.url, order.database_url) == (
        "oms-order-x",
        "http://127.0.0.1:8001",
        "pg://o",
    )
    with pytest.raises(UsageError, match="OMS_INVENTORY_DATABASE_URL"):
        config.database_url("inventory")
    with pytest.raises(UsageError, match="unknown service"):
        config.service("billing")
    analytics = config.service("analytics")
    # faust names the group after the app id, which carries the topic prefix.
    assert (analytics.group, analytics.url, analytics.runtime) == (
        "t1.oms-analytics-x",
        "http://127.0.0.1:8006",
        False,
    )
    assert order.runtime


def test_dead_letters_are_not_asked_of_a_stream_app() -> None:
    result = runner.invoke(
        app,
        ["dlq", "list", "--service", "analytics"],
        env={**OFFLINE, "OMS_SERVICES": "analytics", "OMS_ANALYTICS_DATABASE_URL": "pg://a"},
    )
    assert result.exit_code == 2
    assert "analytics keeps no dead letters" in result.output


def test_a_move_counts_what_is_read_again_and_what_is_skipped() -> None:
    back = ReplayMove(topic="oms.orders", partition=0, current=10, target=4, end=12)
    assert (back.reprocessed, back.skipped) == (6, 0)
    forward = ReplayMove(topic="oms.orders", partition=1, current=3, target=7, end=12)
    assert (forward.reprocessed, forward.skipped) == (0, 4)


def test_the_audit_event_follows_the_contract() -> None:
    envelope = audit_event(
        operator="ops-mara",
        action=OperatorAction.REPLAY_STREAM,
        subject="oms-notification",
        parameters={"service": "notification", "force": None, "reprocessed": 3},
        outcome="ok",
        reason="rebuild after the template fix",
    )
    decoded = decode(encode(envelope))
    payload = decoded.payload
    assert isinstance(payload, OperatorActionRecorded)
    assert payload.parameters == {"outcome": "ok", "service": "notification", "reprocessed": "3"}
    assert payload.operator.actor_id == "ops-mara"
    assert decoded.envelope.subject == "oms-notification"
