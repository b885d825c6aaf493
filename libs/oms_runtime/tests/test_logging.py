import json
import logging

import pytest
import structlog

from oms_runtime._logging import configure_logging, redact_personal_data


def test_personal_data_is_masked_at_any_depth() -> None:
    event = {
        "event": "order_accepted",
        "order_id": "ord_1",
        "customer": {"email": "erika@example.com", "customer_id": "cus-1"},
        "addresses": [{"line1": "Heidestrasse 17", "country": "DE"}],
        "phone": "+49 221 123456",
    }
    out = redact_personal_data(None, "info", dict(event))
    assert out["order_id"] == "ord_1"
    assert out["customer"] == {"email": "***", "customer_id": "cus-1"}
    assert out["addresses"] == [{"line1": "***", "country": "DE"}]
    assert out["phone"] == "***"


def test_logs_are_json_lines_with_context_and_no_personal_data(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging("order", "INFO")
    with structlog.contextvars.bound_contextvars(correlation_id="corr-1", order_id="ord_1"):
        structlog.get_logger("t").info("order_accepted", email="erika@example.com")
    logging.getLogger("aiokafka").warning("broker gone")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    first = lines[0]
    assert first["event"] == "order_accepted"
    assert first["service"] == "order"
    assert first["correlation_id"] == "corr-1" and first["order_id"] == "ord_1"
    assert first["email"] == "***"
    assert "erika" not in json.dumps(lines)
    assert lines[1]["event"] == "broker gone" and lines[1]["level"] == "warning"
