"""Fixtures for tracking tests: the real local stack (integration) and isolated environments.

`tracked_env` points MLflow and S3 at the running local stack with an
experiment and registered model name unique to the test, so tests never see
each other's runs or versions.
"""
from __future__ import annotations

import uuid

import pytest

from config.settings import get_settings
from engine.bundle import ModelBundle
from tests.integration.conftest import stack  # noqa: F401 - the session-wide local stack

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
def tracked_env(stack, clean_env, monkeypatch):  # noqa: F811 - pytest fixture injection
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


@pytest.fixture
def s3(stack):  # noqa: F811
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=stack["RCA_S3_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=stack["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"],
                        config=Config(request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))
