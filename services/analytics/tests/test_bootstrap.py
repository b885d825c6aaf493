"""The analytics service builds its faust app from its settings, without a broker: the app id
(and so every faust topic) carries the run's topic prefix and group suffix."""

from __future__ import annotations

import tempfile
from pathlib import Path

import faust
import pytest
from pydantic import ValidationError

from oms_analytics.config import AnalyticsSettings
from oms_analytics.entrypoints.streams import broker_credentials, build_app


def test_the_app_and_its_changelogs_are_named_after_the_prefix_and_suffix() -> None:
    settings = AnalyticsSettings(
        database_url="postgresql://oms_analytics@127.0.0.1/oms_analytics",
        topic_prefix="t1.",
        group_suffix="-r1",
        http_port=8123,
        kafka_session_timeout_s=8.0,
    )
    app = build_app(settings)
    assert app.conf.id == "t1.oms-analytics-r1"
    assert app.conf.web_port == 8123
    # A killed worker's partitions move after the runtime's session timeout, not faust's 60 s.
    assert (app.conf.broker_session_timeout, app.conf.broker_heartbeat_interval) == (8.0, 8 / 3)
    # One table, one changelog: an event's writes reach the broker in order, its journal
    # record first (service_layer/journal.py).
    assert [t.changelog_topic.get_topic_name() for t in app.tables.values()] == [
        "t1.oms-analytics-r1-state-changelog"
    ]


def test_faust_s_local_files_go_under_the_data_dir_not_the_working_directory(
    tmp_path: Path,
) -> None:
    base = {"database_url": "postgresql://oms_analytics@127.0.0.1/oms_analytics"}
    default = build_app(AnalyticsSettings(**base, topic_prefix="t2."))
    assert (
        default.conf.datadir == Path(tempfile.gettempdir()) / "oms-analytics/t2.oms-analytics-data"
    )
    placed = build_app(AnalyticsSettings(**base, analytics_data_dir=tmp_path))
    assert placed.conf.datadir == tmp_path / "oms-analytics-data"
    assert Path.cwd() not in placed.conf.datadir.parents


def test_the_runtimes_kafka_security_settings_reach_faust() -> None:
    base = {"database_url": "postgresql://oms_analytics@127.0.0.1/oms_analytics"}
    assert broker_credentials(AnalyticsSettings(**base)) is None
    sasl = AnalyticsSettings(
        **base,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="oms_analytics",
        kafka_sasl_password="secret",
    )
    credentials = broker_credentials(sasl)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("oms_analytics", "secret")
    assert str(credentials.mechanism.value) == "SCRAM-SHA-512"
    assert str(credentials.protocol.value) == "SASL_PLAINTEXT"
    assert build_app(sasl).conf.broker_credentials is not None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OMS_ANALYTICS_BATCH_MAX", "0"),
        ("OMS_ANALYTICS_BATCH_MAX", "many"),
        ("OMS_ANALYTICS_BATCH_S", "0"),
        ("OMS_ANALYTICS_BATCH_S", "nan"),
        ("OMS_ANALYTICS_STALL_S", "2"),
        ("OMS_ANALYTICS_STALL_S", "inf"),
    ],
)
def test_a_batch_setting_out_of_range_is_refused_naming_it(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql://oms_analytics@127.0.0.1/oms_analytics")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("OMS_").lower()):
        AnalyticsSettings()
