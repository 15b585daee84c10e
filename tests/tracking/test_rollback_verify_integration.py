"""`rca models rollback` verifies the bundle it rolls back to, as promote and the loader do."""
from __future__ import annotations

import pytest

from tracking import api
from tracking.registry import Registry
from tracking.signing import BundleVerificationError
from tests.tracking.conftest import tiny_bundle
from tests.tracking.helpers import rca_models

pytestmark = pytest.mark.integration

BUCKET = "openstack-rca"


def test_rollback_refuses_a_tampered_earlier_version_and_leaves_production(tracked_env, s3, capsys):
    first = api.track_training(tiny_bundle("first"), metrics={"f1": 0.8})
    second = api.track_training(tiny_bundle("second"), metrics={"f1": 0.9})
    assert rca_models("promote", str(second.version)) == 0
    key = f"{first.run_name}/artifacts/model/model.pkl"
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01                      # someone with bucket access changed one byte
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))
    with pytest.raises(BundleVerificationError) as refused:
        rca_models("rollback")
    assert "\n" not in str(refused.value) and f"version {first.version}" in str(refused.value)
    assert Registry().get("production").version == second.version   # the alias did not move


def test_rollback_to_a_sound_version_still_moves(tracked_env, capsys):
    first = api.track_training(tiny_bundle("first"), metrics={"f1": 0.8})
    second = api.track_training(tiny_bundle("second"), metrics={"f1": 0.9})
    assert rca_models("promote", str(second.version)) == 0
    assert rca_models("rollback") == 0
    assert Registry().get("production").version == first.version
    assert "rolled back" in capsys.readouterr().out
