"""Whoever can write the bucket cannot run code in our workers: tampered bundles are never unpickled."""
from __future__ import annotations

import pickle

import orjson
import pytest

from config.settings import get_settings
from engine import bundle as bundle_mod
from tracking import api, signing
from tracking.registry import Registry
from tracking.signing import BundleVerificationError
from tests.tracking.conftest import tiny_bundle
from tests.tracking.helpers import rca_models

pytestmark = pytest.mark.integration

BUCKET = "openstack-rca"


@pytest.fixture
def trained(tracked_env):
    rec = api.track_training(tiny_bundle("good"), metrics={"f1": 0.8})
    good = api.load_model()            # what a worker serves (and caches) before the tampering
    assert good.version == rec.version == 1
    return rec, good


def forbid_unpickling(monkeypatch) -> list:
    """From now on, any unpickling fails the test; returns the list of attempted calls."""
    calls: list = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("a tampered bundle was unpickled")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(bundle_mod, "from_bytes", refuse)
    return calls


@pytest.fixture
def no_unpickling(monkeypatch):
    return forbid_unpickling(monkeypatch)


def _keys(rec):
    base = f"{rec.run_name}/artifacts/model"
    return f"{base}/model.pkl", f"{base}/manifest.json"


def test_one_changed_byte_in_s3_is_refused_and_nothing_is_unpickled(trained, s3, monkeypatch):
    _, good = trained
    rec2 = api.track_training(tiny_bundle("next"), metrics={"f1": 0.9})
    pkl_key, _ = _keys(rec2)
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=pkl_key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=pkl_key, Body=bytes(data))
    with pytest.raises(BundleVerificationError, match=f"version {rec2.version} .* refused"):
        Registry().promote(rec2.version)      # `rca models promote` verifies first
    assert Registry().get("production").version == good.version
    Registry().promote(rec2.version, verify=False)   # someone with registry access moves the alias anyway
    calls = forbid_unpickling(monkeypatch)

    with pytest.raises(BundleVerificationError, match="sha256 .* does not match"):
        Registry().load("production")
    with pytest.raises(BundleVerificationError):
        api.load_model()                               # no fallback to the cache for a tampered source
    with pytest.raises(BundleVerificationError, match="refusing to unpickle"):
        rca_models("load", str(rec2.version))
    with pytest.raises(BundleVerificationError):
        rca_models("export", "production", "-o", "/tmp/never-written-rca-export")

    kept, error = api.reload_model(good)      # the worker keeps serving the model it had
    assert kept is good and "sha256" in error
    assert calls == []

    # the worker's polls: a refused version is remembered, not downloaded and verified every time
    refused: dict = {}
    real_load = api._load
    api.reload_model(good, refused=refused)
    assert list(refused) == [str(rec2.version)] and "sha256" in refused[str(rec2.version)]
    monkeypatch.setattr(api, "_load", lambda *a, **k: pytest.fail("a refused version was fetched again"))
    kept, again = api.reload_model(good, refused=refused)
    assert kept is good and again == refused[str(rec2.version)]
    monkeypatch.setattr(api, "_load", real_load)

    # the same for a worker that serves nothing yet (it started while production was tampered)
    refused = {}
    served, error = api.reload_model(None, refused=refused)
    assert served is None and "sha256" in error and list(refused) == [str(rec2.version)]
    monkeypatch.setattr(api, "_load", lambda *a, **k: pytest.fail("a refused version was fetched again"))
    served, again = api.reload_model(None, refused=refused)
    assert served is None and again == refused[str(rec2.version)]
    assert calls == []


def test_replaced_pickle_with_a_matching_unsigned_manifest_is_refused(trained, s3, no_unpickling):
    rec, _ = trained
    pkl_key, manifest_key = _keys(rec)
    evil = b"cos\nsystem\n(S'echo pwned'\ntR."               # a classic malicious pickle
    manifest = orjson.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    manifest.update(sha256=signing.sha256_hex(evil), size=len(evil), signature=None)
    s3.put_object(Bucket=BUCKET, Key=pkl_key, Body=evil)
    s3.put_object(Bucket=BUCKET, Key=manifest_key, Body=orjson.dumps(manifest))
    with pytest.raises(BundleVerificationError, match="unsigned but a signing key is configured"):
        api.load_model("1")
    manifest["signature"] = "0" * 64
    s3.put_object(Bucket=BUCKET, Key=manifest_key, Body=orjson.dumps(manifest))
    with pytest.raises(BundleVerificationError, match="signature mismatch"):
        api.load_model("1")
    assert no_unpickling == []


def test_a_bundle_signed_with_another_key_is_refused(trained, monkeypatch, no_unpickling):
    monkeypatch.setenv("RCA_MODEL_SIGNING_KEY", "a-different-key-0123456789abcdef")
    get_settings.cache_clear()
    with pytest.raises(BundleVerificationError, match="signature mismatch"):
        api.load_model()
    assert no_unpickling == []


def test_missing_manifest_is_refused(trained, s3, no_unpickling):
    rec, _ = trained
    s3.delete_object(Bucket=BUCKET, Key=_keys(rec)[1])
    with pytest.raises(BundleVerificationError, match="manifest.json is missing"):
        api.load_model()
    assert no_unpickling == []


def test_promote_refuses_a_tampered_bundle_and_leaves_the_alias(trained, s3, capsys):
    """`rca models promote` verifies sha256 + HMAC like the loader before moving the alias."""
    rec, good = trained
    rec2 = api.track_training(tiny_bundle("next"), metrics={"f1": 0.9})
    pkl_key, _ = _keys(rec2)
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=pkl_key)["Body"].read())
    data[-1] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=pkl_key, Body=bytes(data))
    with pytest.raises(BundleVerificationError) as refused:
        rca_models("promote", str(rec2.version))
    assert "\n" not in str(refused.value) and "refused" in str(refused.value)
    with pytest.raises(BundleVerificationError):
        rca_models("promote", str(rec2.version), "--alias", "challenger")
    assert Registry().get("production").version == rec.version
    rec3 = api.track_training(tiny_bundle("third"), metrics={"f1": 0.95})
    assert rca_models("promote", str(rec3.version)) == 0          # a sound bundle moves
    assert Registry().get("production").version == rec3.version
    assert "is now production" in capsys.readouterr().out


def test_a_refused_production_at_start_serves_the_last_verified_cached_copy(trained, s3, monkeypatch):
    rec, good = trained                                   # production v1 was loaded, so cached
    rec2 = api.track_training(tiny_bundle("next"), metrics={"f1": 0.9})
    pkl_key, _ = _keys(rec2)
    s3.put_object(Bucket=BUCKET, Key=pkl_key, Body=b"not the signed pickle")
    Registry().promote(rec2.version, verify=False)
    with pytest.raises(BundleVerificationError):
        api.load_model()
    cached = api.load_last_verified()
    assert cached.from_cache and cached.version == good.version and cached.sha256 == good.sha256
    assert cached.bundle.metadata["tag"] == "good"
    kept, error = api.reload_model(cached)               # the worker's poll: refused, cached copy kept
    assert kept is cached and not api.is_outage(error)
