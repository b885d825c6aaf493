import pytest
from pydantic import ValidationError

from oms_runtime._config import RuntimeSettings


@pytest.fixture(autouse=True)
def _database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql://oms_order@db/oms_order")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("OMS_TOPIC_PREFIX", "staging.")
    monkeypatch.setenv("OMS_BATCH_MAX", "250")
    settings = RuntimeSettings()
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.topic("oms.orders") == "staging.oms.orders"
    assert settings.batch_max == 250
    assert settings.aiokafka_security() == {"security_protocol": "PLAINTEXT"}


def test_sasl_needs_mechanism_and_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(ValidationError, match="OMS_KAFKA_SASL_MECHANISM"):
        RuntimeSettings()
    monkeypatch.setenv("OMS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("OMS_KAFKA_SASL_USERNAME", "oms-order")
    monkeypatch.setenv("OMS_KAFKA_SASL_PASSWORD", "s3cret")
    options = RuntimeSettings().aiokafka_security()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_password"] == "s3cret"
    assert "s3cret" not in repr(RuntimeSettings())


def test_bad_values_are_refused_with_the_field_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_BATCH_MAX", "0")
    with pytest.raises(ValidationError, match="batch_max"):
        RuntimeSettings()


def test_database_url_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMS_DATABASE_URL")
    with pytest.raises(ValidationError, match="database_url"):
        RuntimeSettings()


def test_sasl_mechanism_needs_a_sasl_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_KAFKA_SASL_MECHANISM", "PLAIN")
    with pytest.raises(ValidationError, match="must be SASL_PLAINTEXT or SASL_SSL"):
        RuntimeSettings()
