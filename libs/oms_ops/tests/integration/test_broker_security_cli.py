"""The command reaches the broker with the workers' TLS and SASL settings (``OMS_KAFKA_*``).

The local broker listens in plaintext, so a command that applies TLS or SASL fails its
handshake there, where one that ignored the settings would succeed."""

from __future__ import annotations

import pytest

from tests.support.operator import oms
from tests.support.world import Env

pytestmark = pytest.mark.integration

_SASL = {
    "OMS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "OMS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "OMS_KAFKA_SASL_USERNAME": "ops",
    "OMS_KAFKA_SASL_PASSWORD": "s3cret-value",
}


async def test_the_command_speaks_tls_and_sasl_as_configured(env: Env) -> None:
    plain = await oms(env, "topics", "list", "--json")
    assert plain.code == 0, plain.stderr
    tls = await oms(env, "topics", "list", extra={"OMS_KAFKA_SECURITY_PROTOCOL": "SSL"})
    assert tls.code == 1
    assert "the broker" in tls.stderr
    sasl = await oms(env, "status", "--json", extra=_SASL)
    assert sasl.code == 1
    assert "the broker" in sasl.stderr
    assert "s3cret-value" not in sasl.stdout + sasl.stderr


async def test_incomplete_or_unknown_settings_are_refused_naming_the_variables(env: Env) -> None:
    incomplete = await oms(
        env,
        "status",
        extra={"OMS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "OMS_KAFKA_SASL_PASSWORD": "s3cret"},
    )
    assert incomplete.code == 2
    assert "OMS_KAFKA_SASL_MECHANISM" in incomplete.stderr
    assert "s3cret" not in incomplete.stdout + incomplete.stderr
    unknown = await oms(env, "topics", "list", extra={"OMS_KAFKA_SECURITY_PROTOCOL": "TLS"})
    assert unknown.code == 2
    assert "OMS_KAFKA_SECURITY_PROTOCOL" in unknown.stderr


async def test_a_change_refused_for_its_settings_is_reported_once_without_a_traceback(
    env: Env,
) -> None:
    refused = await oms(
        env,
        "dlq",
        "redrive",
        "--all",
        services={"notification": None},
        extra={"OMS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
    )
    assert refused.code == 2
    assert refused.stderr.count("invalid Kafka settings") == 1
    assert "Traceback" not in refused.stderr
