"""The fixtures of tests on the real Kafka broker and PostgreSQL (``stack``, ``env``), for
every test directory: services' integration tests beside their code, cross-service tests in
tests/."""

import pytest

pytest_plugins = ["tests.support.world", "tests.support.smtp"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``slow`` first: the parallel workers start on them while the short
    ones fill in around, instead of one worker finishing a long test alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
