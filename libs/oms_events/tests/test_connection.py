"""The brokers, TLS and SASL as every client of the topics reads them."""

from __future__ import annotations

import ssl

import pytest

from oms_events.connection import KafkaConnection


def test_the_variables_are_the_workers_and_an_empty_one_is_not_set() -> None:
    kafka = KafkaConnection.from_environ(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9093,k2:9093",
            "OMS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "OMS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
            "OMS_KAFKA_SASL_USERNAME": "ops",
            "OMS_KAFKA_SASL_PASSWORD": "pw",
            "OMS_KAFKA_SSL_CAFILE": "",
        }
    )
    assert kafka.kafka_bootstrap_servers == "k1:9093,k2:9093"
    assert kafka.aiokafka_security() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "ops",
        "sasl_plain_password": "pw",
    }
    assert "pw" not in repr(kafka)


def test_nothing_set_is_the_local_plaintext_broker() -> None:
    kafka = KafkaConnection.from_environ({})
    assert kafka.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert kafka.aiokafka_security() == {"security_protocol": "PLAINTEXT"}


def test_tls_brings_a_context_that_checks_the_brokers_certificate() -> None:
    options = KafkaConnection.from_environ({"OMS_KAFKA_SECURITY_PROTOCOL": "SSL"})
    context = options.aiokafka_security()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OMS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "OMS_KAFKA_SASL_PASSWORD": "hidden"}, "needs"),
        ({"OMS_KAFKA_SASL_MECHANISM": "PLAIN"}, "must be SASL_PLAINTEXT or SASL_SSL"),
        ({"OMS_KAFKA_SECURITY_PROTOCOL": "TLS"}, "OMS_KAFKA_SECURITY_PROTOCOL: Input should be"),
        ({"OMS_KAFKA_SASL_MECHANISM": "GSSAPI"}, "OMS_KAFKA_SASL_MECHANISM: Input should be"),
    ],
)
def test_a_wrong_setting_is_refused_naming_the_variable_never_a_value(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ValueError, match="invalid Kafka settings") as refused:
        KafkaConnection.from_environ(environ)
    assert named in str(refused.value)
    assert "hidden" not in str(refused.value)
