"""A worker's garbage collector: what it made at start-up frozen, the young generation
collected every ``OMS_GC_THRESHOLD`` allocations (``_gc.py``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from oms_runtime import RuntimeSettings
from oms_runtime._gc import tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_the_young_generation_collected_less_often() -> None:
    made_at_start_up = [[n] for n in range(1000)]
    older = gc.get_threshold()[1:]
    tune_gc(RuntimeSettings(database_url="postgresql://localhost/x").gc_threshold)
    assert gc.get_threshold() == (50_000, *older)
    assert gc.get_freeze_count() >= len(made_at_start_up)


def test_the_threshold_is_a_setting_with_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_GC_THRESHOLD", "700")
    assert RuntimeSettings(database_url="postgresql://localhost/x").gc_threshold == 700
    monkeypatch.setenv("OMS_GC_THRESHOLD", "10")
    with pytest.raises(ValueError, match="gc_threshold"):
        RuntimeSettings(database_url="postgresql://localhost/x")
