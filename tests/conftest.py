"""Shared fixtures: the path to ../shared and the real local stack."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT

# Training in tests (and in the commands they start) never fetches OpenStack source from PyPI
# for the code map (engine/rca/codefetch.py): that would make the suite slow and depend on the
# network. The fetch's own tests pass their settings explicitly.
os.environ["RCA_CODE_FETCH"] = "off"

SHARED = PROJECT_ROOT.parent / "shared"
LOGHUB_DIR = SHARED / "data" / "loghub-openstack-2k"
LOGHUB = LOGHUB_DIR / "OpenStack_2k.log"


@pytest.fixture(scope="session")
def loghub_log() -> Path:
    if not LOGHUB.exists():
        pytest.skip(f"reference data not found at {LOGHUB} (../shared is absent in a user's clone)")
    return LOGHUB


DEV = SHARED / "data" / "openstack-fault-injection-dev"


@pytest.fixture(scope="session")
def devset(tmp_path_factory) -> tuple[Path, Path]:
    """The dev set extracted once per test session: (root folder, labels.tsv)."""
    import tarfile

    if not (DEV / "devset.tar.xz").is_file() or not (DEV / "labels.tsv").is_file():
        pytest.skip(f"fault-injection dev set not found under {DEV} (../shared is absent in a user's clone)")
    out = tmp_path_factory.mktemp("devset")
    with tarfile.open(DEV / "devset.tar.xz") as tar:
        tar.extractall(out, filter="data")
    return out, DEV / "labels.tsv"


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    """The real local stack, started once per test session by the code behind `rca stack up`
    (if `rca stack up` already ran, `up` finds the services running and only checks that they
    answer): the environment that points every command at it."""
    from config.settings import Settings
    from devstack import stack as devstack

    settings = Settings()
    devstack.up(settings)
    return devstack.env(settings)


@pytest.fixture
def s3(stack):
    """A boto3 S3 client of the local stack's s3proxy."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=stack["RCA_S3_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=stack["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=stack["AWS_SECRET_ACCESS_KEY"],
                        config=Config(request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))
