"""The worker's garbage-collector tuning (consumers/app.py tune_garbage_collector)."""
import gc

import pytest

from config.settings import WorkerSettings
from consumers.app import tune_garbage_collector


@pytest.fixture
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tuning_freezes_what_is_loaded_and_raises_the_young_threshold(restore_gc):
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    _, second, third = gc.get_threshold()
    tune_garbage_collector(12_345)
    assert gc.get_threshold() == (12_345, second, third)
    assert gc.get_freeze_count() > 1000      # modules, classes, this test's own objects


def test_the_threshold_is_a_setting_with_a_floor(monkeypatch):
    assert WorkerSettings().gc_young_threshold == 50_000
    monkeypatch.setenv("RCA_WORKER_GC_YOUNG_THRESHOLD", "700")
    assert WorkerSettings().gc_young_threshold == 700
    with pytest.raises(ValueError):
        WorkerSettings(gc_young_threshold=10)
