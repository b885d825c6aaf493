import logging
from collections.abc import Sequence

import pytest

from oms_events.inventory import StockReserved
from oms_events.orders import OrderSubmitted
from oms_runtime._logging import OncePerInterval
from oms_runtime._subscriptions import Subscription
from oms_runtime._unit_of_work import Received, UnitOfWork


async def _orders(work: UnitOfWork, received: Sequence[Received[OrderSubmitted]]) -> None:
    return None


def test_a_type_the_topic_does_not_carry_is_refused_when_the_service_is_built() -> None:
    with pytest.raises(ValueError, match=r"oms.channel-order-intake carries no StockReserved"):
        Subscription("oms.channel-order-intake").batch(StockReserved, _orders)  # type: ignore[arg-type]


def test_a_type_registered_twice_is_refused() -> None:
    subscription = Subscription("oms.channel-order-intake").batch(OrderSubmitted, _orders)
    with pytest.raises(ValueError, match=r"OrderSubmitted on oms\.channel-order-intake has two"):
        subscription.batch(OrderSubmitted, _orders)


def test_an_unknown_topic_is_refused() -> None:
    with pytest.raises(KeyError):
        Subscription("oms.nowhere")


def _record(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)


def test_repeated_kafka_client_messages_pass_once_per_interval_with_a_count() -> None:
    once = OncePerInterval("aiokafka", interval_s=3600)
    passed = [
        once.filter(r)
        for r in [_record("aiokafka.conn", "Unable connect to %s") for _ in range(50)]
    ]
    assert passed.count(True) == 1
    assert once.filter(_record("aiokafka.client", "another message"))
    assert once.filter(_record("oms.service", "Unable connect to %s"))  # not a Kafka logger
