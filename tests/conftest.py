"""Shared fixtures: the path to ../shared and the real local stack."""
from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared"
LOGHUB = SHARED / "data" / "loghub-openstack-2k" / "OpenStack_2k.log"


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
