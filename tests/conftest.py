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
