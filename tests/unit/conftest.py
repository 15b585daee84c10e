"""Unit tests check every result the pipeline builds against its JSON Schema (the worker does
not, on its hot path: consumers/pipeline.py `Pipeline.check_results`)."""
import pytest


@pytest.fixture(autouse=True)
def _validate_results(monkeypatch):
    from consumers.pipeline import Pipeline

    monkeypatch.setattr(Pipeline, "check_results", True)
