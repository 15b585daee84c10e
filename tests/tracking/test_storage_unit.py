"""Artifact stores chosen by URL scheme; the local folder implementation; settings."""
from __future__ import annotations

import pytest

from tracking import plots
from tracking.settings import TrackingSettings, env_names
from tracking.storage import ArtifactNotFound, FileStore, S3Store, open_store, split_url


def test_store_is_chosen_by_scheme(tmp_path):
    assert isinstance(open_store("s3://bucket/prefix"), S3Store)
    assert open_store("s3://bucket/prefix").url_for("run/artifacts/") == "s3://bucket/prefix/run/artifacts/"
    assert isinstance(open_store(tmp_path.as_uri()), FileStore)
    assert isinstance(open_store(str(tmp_path)), FileStore)
    for bad in ("gs://bucket", "s3://", ""):
        with pytest.raises(ValueError):
            open_store(bad)


def test_split_url():
    store, key = split_url("s3://b/exp_20250719_203315/artifacts/model")
    assert store.url_for(key) == "s3://b/exp_20250719_203315/artifacts/model"


def test_file_store(tmp_path):
    store = FileStore(tmp_path)
    url = store.put("r/artifacts/a.txt", b"1")
    assert url == (tmp_path / "r/artifacts/a.txt").as_uri()
    assert store.get("r/artifacts/a.txt") == b"1"
    assert store.list("r/") == ["r/artifacts/a.txt"]
    with pytest.raises(ArtifactNotFound):
        store.get("r/missing")
    with pytest.raises(ValueError):
        store.put("../outside", b"x")
    assert store.claim("s") and not store.claim("s") and not store.claim("r")
    assert store.probe() is None


def test_s3_links_point_at_the_endpoint_or_the_console():
    from config.settings import S3Settings

    local = S3Store("b", settings=S3Settings.model_construct(endpoint_url="http://127.0.0.1:19000",
                                                             region="us-east-1", bucket="b"))
    assert local.link_for("r/artifacts/") == "http://127.0.0.1:19000/b/r/artifacts/"
    aws = S3Store("b", settings=S3Settings.model_construct(endpoint_url=None, region="eu-west-1", bucket="b"))
    assert aws.link_for("r/artifacts/").startswith("https://s3.console.aws.amazon.com/s3/buckets/b?")


def test_signing_key_from_env_or_file(monkeypatch, tmp_path):
    for n in env_names():
        monkeypatch.delenv(n, raising=False)
    assert TrackingSettings().signing_key_bytes() is None
    monkeypatch.setenv("RCA_MODEL_SIGNING_KEY", "")
    assert TrackingSettings().signing_key_bytes() is None
    monkeypatch.setenv("RCA_MODEL_SIGNING_KEY", "k" * 32)
    assert TrackingSettings().signing_key_bytes() == b"k" * 32
    assert "k" * 32 not in repr(TrackingSettings())
    keyfile = tmp_path / "key"
    keyfile.write_text("f" * 32 + "\n")
    monkeypatch.setenv("RCA_MODEL_SIGNING_KEY_FILE", str(keyfile))
    with pytest.raises(ValueError, match="not both"):
        TrackingSettings().signing_key_bytes()
    monkeypatch.delenv("RCA_MODEL_SIGNING_KEY")
    assert TrackingSettings().signing_key_bytes() == b"f" * 32
    monkeypatch.setenv("RCA_MODEL_SIGNING_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot read"):
        TrackingSettings().signing_key_bytes()
    assert {"RCA_MODEL_SIGNING_KEY", "RCA_MODEL_SIGNING_KEY_FILE", "RCA_TRACKING_ARTIFACT_ROOT"} <= env_names()


def test_plots_are_pngs():
    png = b"\x89PNG\r\n\x1a\n"
    assert plots.training_curve([1.0, 0.6, 0.4]).startswith(png)
    assert plots.training_curve({"loss": [1, 0.5], "val_loss": [1.2, 0.7]}).startswith(png)
    assert plots.score_distribution([0.1, 0.2, 0.25, 0.9, float("nan")], threshold=0.5).startswith(png)
    assert plots.score_distribution([]).startswith(png)
