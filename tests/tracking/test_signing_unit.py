"""Manifests, sha256 and HMAC: verification happens before any unpickling."""
from __future__ import annotations

import logging
import pickle

import orjson
import pytest

from engine import bundle as bundle_mod
from tracking import bundle_io, signing
from tracking.manifest import build_manifest, clean_metrics, library_versions
from tracking.signing import BundleVerificationError
from tracking.storage import FileStore
from tests.tracking.conftest import tiny_bundle

KEY = b"k" * 32


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything unpickles."""
    def boom(*a, **k):
        raise AssertionError("unpickled before verification")
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(bundle_mod, "from_bytes", boom)


def signed(key=KEY, **fields):
    data, manifest = bundle_io.dump(tiny_bundle(), key, **fields)
    return data, orjson.loads(bundle_io.manifest_bytes(manifest))    # as read back from manifest.json


def test_template_count_comes_from_either_metadata_key():
    b = tiny_bundle()
    b.metadata = {"templates": 12}
    assert build_manifest(b"x", b)["template_count"] == 12


def test_manifest_describes_the_bundle():
    b = tiny_bundle(metrics={"f1": 0.9})
    data = bundle_mod.to_bytes(b)
    m = build_manifest(data, b, run_name="exp_20250719_203315", metrics={"loss": 0.25, "bad": "x",
                                                                         "nan": float("nan")},
                       data_summary={"lines": 2000})
    assert m["sha256"] == signing.sha256_hex(data) and m["size"] == len(data)
    assert m["template_count"] == 4 and m["data_summary"] == {"lines": 2000}
    assert m["metrics"] == {"f1": 0.9, "loss": 0.25}
    assert m["run_name"] == "exp_20250719_203315" and m["file"] == "model.pkl"
    assert "python" in m["libraries"] and "mlflow" in m["libraries"]


def test_clean_metrics_and_library_versions():
    assert clean_metrics({"a": 1, "b": True, "c": None, "d": float("inf")}) == {"a": 1.0, "b": 1.0}
    assert library_versions()["python"].count(".") == 2


def test_signed_manifest_verifies_after_a_json_round_trip():
    data, manifest = signed(metrics={"x": 0.1 + 0.2}, data_summary={"when": "2025-07-19"})
    assert manifest["signature_alg"] == "HMAC-SHA256" and len(manifest["signature"]) == 64
    signing.verify(data, manifest, KEY)
    assert bundle_io.load(data, manifest, KEY).miner_state == b"miner-a"


def test_one_changed_byte_is_refused(no_unpickling):
    data, manifest = signed()
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x01
    with pytest.raises(BundleVerificationError, match="sha256"):
        bundle_io.load(bytes(bad), manifest, KEY)
    with pytest.raises(BundleVerificationError, match="sha256"):
        bundle_io.load(bytes(bad), manifest, None)


def test_rewritten_manifest_without_the_key_is_refused(no_unpickling):
    """An attacker replaces model.pkl and updates sha256/size but cannot re-sign."""
    _, manifest = signed()
    evil = pickle.dumps("evil")
    manifest.update(sha256=signing.sha256_hex(evil), size=len(evil))
    with pytest.raises(BundleVerificationError, match="signature mismatch"):
        bundle_io.load(evil, manifest, KEY)


def test_changed_metrics_break_the_signature(no_unpickling):
    data, manifest = signed(metrics={"f1": 0.5})
    manifest["metrics"]["f1"] = 0.99
    with pytest.raises(BundleVerificationError, match="signature"):
        bundle_io.load(data, manifest, KEY)


def test_wrong_key_is_refused(no_unpickling):
    data, manifest = signed()
    with pytest.raises(BundleVerificationError, match="signature mismatch"):
        bundle_io.load(data, manifest, b"another-key-0123456789")


def test_missing_signature_is_refused_when_a_key_is_configured(no_unpickling):
    data, manifest = signed(key=None)
    assert manifest["signature"] is None
    with pytest.raises(BundleVerificationError, match="unsigned"):
        bundle_io.load(data, manifest, KEY)
    manifest.pop("signature")
    with pytest.raises(BundleVerificationError, match="unsigned"):
        bundle_io.load(data, manifest, KEY)


def test_without_a_key_sha256_is_checked_and_a_warning_given(caplog, monkeypatch):
    monkeypatch.setattr(signing, "_warned_unsigned", False)
    data, manifest = signed()
    with caplog.at_level(logging.WARNING, logger="tracking.signing"):
        assert bundle_io.load(data, manifest, None).metadata["tag"] == "a"
    assert "sha256 only" in caplog.text


@pytest.mark.parametrize("manifest", [None, [], {}, {"sha256": 5}])
def test_malformed_manifests_are_refused(manifest, no_unpickling):
    with pytest.raises(BundleVerificationError):
        bundle_io.load(b"data", manifest, None)


def test_folder_round_trip_and_missing_manifest(tmp_path, no_unpickling):
    store = FileStore(tmp_path)
    bundle_io.write(store, "run/artifacts/model", tiny_bundle(), KEY)
    data, manifest = bundle_io.read_verified(store, "run/artifacts/model", KEY)
    assert manifest["size"] == len(data)
    (tmp_path / "run/artifacts/model/manifest.json").unlink()
    with pytest.raises(BundleVerificationError, match="manifest.json is missing"):
        bundle_io.read(store, "run/artifacts/model", KEY)
    (tmp_path / "run/artifacts/model/manifest.json").write_text("{not json")
    with pytest.raises(BundleVerificationError, match="not valid JSON"):
        bundle_io.read(store, "run/artifacts/model", KEY)
