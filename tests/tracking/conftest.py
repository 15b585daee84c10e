"""Fixtures for tracking tests: isolated environments, and tracking on the real local stack
(the `stack` and `s3` fixtures are in tests/conftest.py).

`tracked_env` points MLflow and S3 at the running local stack with an
experiment and registered model name unique to the test, so tests never see
each other's runs or versions.
"""
from __future__ import annotations

import uuid

import pytest

from config.settings import get_settings
from engine.bundle import ModelBundle

TRACKING_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "RCA_S3_ENDPOINT_URL", "RCA_S3_BUCKET",
                "RCA_MLFLOW_TRACKING_URI", "RCA_MLFLOW_EXPERIMENT_NAME", "RCA_MLFLOW_REGISTERED_MODEL_NAME",
                "RCA_MLFLOW_AUTO_LOG", "RCA_MODEL_SIGNING_KEY", "RCA_MODEL_SIGNING_KEY_FILE",
                "RCA_TRACKING_SIGNING_KEY", "RCA_TRACKING_SIGNING_KEY_FILE", "RCA_TRACKING_ARTIFACT_ROOT",
                "RCA_TRACKING_MODEL_CACHE_DIR", "RCA_STACK_STATE_DIR")

SIGNING_KEY = "test-signing-key-0123456789abcdef"


def tiny_bundle(tag: str = "a", **metadata) -> ModelBundle:
    return ModelBundle(miner_state=f"miner-{tag}".encode(), thresholds={"score": 0.7},
                       metadata={"template_count": 4, "tag": tag, **metadata})


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No tracking configuration at all, and a private state folder."""
    for name in TRACKING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RCA_STACK_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def tracked_env(stack, clean_env, monkeypatch):
    """The local stack's MLflow + S3, a unique experiment and model name, and a signing key."""
    tag = uuid.uuid4().hex[:8]
    for k, v in stack.items():
        monkeypatch.setenv(k, v)
    names = {"experiment": f"rca_test_{tag}", "model": f"rca-test-{tag}"}
    monkeypatch.setenv("RCA_MLFLOW_EXPERIMENT_NAME", names["experiment"])
    monkeypatch.setenv("RCA_MLFLOW_REGISTERED_MODEL_NAME", names["model"])
    monkeypatch.setenv("RCA_MODEL_SIGNING_KEY", SIGNING_KEY)
    get_settings.cache_clear()
    yield {**stack, **names}
    get_settings.cache_clear()
