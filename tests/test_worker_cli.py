"""The worker command refuses bad configuration clearly, before touching any client."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"OMS_BATCH_MAX": "0"}, "OMS_BATCH_MAX: Input should be greater than or equal to 1"),
        ({"OMS_HTTP_PORT": "eighty"}, "OMS_HTTP_PORT: Input should be a valid integer"),
        ({"OMS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs OMS_KAFKA_SASL_MECHANISM"),
        ({"OMS_KAFKA_SECURITY_PROTOCOL": "TLS"}, "OMS_KAFKA_SECURITY_PROTOCOL: Input should be"),
    ],
)
@pytest.mark.parametrize("service", ["order", "notification"])
def test_bad_settings_stop_the_worker_naming_the_variable(
    service: str, variables: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"oms_{service}", "worker"],
        env={**os.environ, "OMS_DATABASE_URL": "postgresql://db/oms", **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("invalid configuration:")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_secrets_are_not_echoed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oms_order", "worker"],
        env={
            **os.environ,
            "OMS_DATABASE_URL": "postgresql://oms:pw-in-url@db/oms",
            "OMS_KAFKA_SASL_MECHANISM": "MD5",
            "OMS_KAFKA_SASL_PASSWORD": "hunter2",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "OMS_KAFKA_SASL_MECHANISM" in result.stderr
    assert "hunter2" not in result.stderr
    assert "pw-in-url" not in result.stderr


def test_a_missing_database_url_is_named() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMS_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "oms_order", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "OMS_DATABASE_URL: Field required" in result.stderr


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        (
            '{"validation": {"max_lines": 0}}',
            "OMS_ORDER_POLICIES: validation.max_lines: Input should be greater than or equal to 1",
        ),
        ('{"risk": {"blocked_email": []}}', "OMS_ORDER_POLICIES: risk.blocked_email: Extra inputs"),
        ('{"validation": ', "OMS_ORDER_POLICIES: not valid JSON: Expecting value"),
    ],
)
def test_bad_order_policies_stop_the_worker_naming_the_field(policies: str, expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oms_order", "worker"],
        env={
            **os.environ,
            "OMS_DATABASE_URL": "postgresql://db/oms",
            "OMS_ORDER_POLICIES": policies,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("invalid configuration:")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"OMS_UNCOLLECTED_POLICY": "later"}, "OMS_UNCOLLECTED_POLICY: Input should be 'cancel'"),
        ({"OMS_PICKUP_HOLD": "PT0S"}, "OMS_PICKUP_HOLD: Value error, must be positive"),
        ({"OMS_PICKUP_SWEEP_S": "0"}, "OMS_PICKUP_SWEEP_S: Input should be greater than 0"),
    ],
)
def test_bad_pickup_settings_stop_the_shipping_worker(
    variables: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oms_shipping", "worker"],
        env={**os.environ, "OMS_DATABASE_URL": "postgresql://db/oms", **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
