"""Tracked runs against the local stack's MLflow server and S3 (s3proxy)."""
from __future__ import annotations

import argparse
import re
import threading
import time
from datetime import datetime, timezone

import orjson
import pytest

from cli.models_cmd import add_mlflow_flags, mlflow_enabled
from config.settings import get_settings
from tracking import api, naming
from tracking.runs import TrackedRun
from tracking.signing import sha256_hex
from tests.tracking.conftest import tiny_bundle
from tests.tracking.helpers import client

pytestmark = pytest.mark.integration

BUCKET = "openstack-rca"
T0 = datetime(2025, 7, 19, 20, 33, 15, tzinfo=timezone.utc)


def keys_under(s3, prefix: str) -> list[str]:
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in objects if not o["Key"].endswith("/"))    # s3proxy lists its directories


def test_training_run_layout_manifest_and_mlflow_record(tracked_env, s3):
    rec = api.track_training(tiny_bundle(), params={"epochs": 3, "window": 10},
                             metrics={"f1": 0.8, "precision": 0.9}, history={"loss": [1.0, 0.6, 0.4]},
                             scores=[0.1, 0.2, 0.3, 0.95], threshold=0.7, data_summary={"lines": 2000})
    slug = tracked_env["experiment"].replace("_", "-")
    assert rec.run_name.startswith(slug + "_") and naming.RUN_NAME_RE.match(rec.run_name)
    assert rec.folder == f"s3://{BUCKET}/{rec.run_name}/artifacts/"
    assert rec.model_url == rec.folder + "model"

    keys = keys_under(s3, f"{rec.run_name}/artifacts/")
    assert keys == [f"{rec.run_name}/artifacts/{k}" for k in (
        "model/manifest.json", "model/model.pkl", "plots/score_distribution.png", "plots/training_curve.png")]
    for png in ("training_curve", "score_distribution"):
        body = s3.get_object(Bucket=BUCKET, Key=f"{rec.run_name}/artifacts/plots/{png}.png")["Body"].read()
        assert body.startswith(b"\x89PNG")
    pkl = s3.get_object(Bucket=BUCKET, Key=f"{rec.run_name}/artifacts/model/model.pkl")["Body"].read()
    manifest = orjson.loads(s3.get_object(Bucket=BUCKET, Key=f"{rec.run_name}/artifacts/model/manifest.json")
                            ["Body"].read())
    assert manifest["sha256"] == sha256_hex(pkl) and manifest["size"] == len(pkl)
    assert manifest["signature_alg"] == "HMAC-SHA256" and len(manifest["signature"]) == 64
    assert manifest["template_count"] == 4 and manifest["data_summary"] == {"lines": 2000}
    assert manifest["metrics"] == {"f1": 0.8, "precision": 0.9}
    assert manifest["run_name"] == rec.run_name and "mlflow" in manifest["libraries"]
    assert not [k for k in keys_under(s3, f"{rec.run_name}/") if k.endswith((".keras", ".h5"))]

    run = client().get_run(rec.run_id)
    assert run.info.run_name == rec.run_name
    assert run.data.tags["artifact_folder"] == rec.folder
    assert run.data.tags["artifact_folder_url"].endswith(f"/{BUCKET}/{rec.run_name}/artifacts/")
    assert rec.folder in run.data.tags["mlflow.note.content"]
    assert run.data.params == {"epochs": "3", "window": "10"}
    assert run.data.metrics["f1"] == 0.8 and run.data.metrics["template_count"] == 4
    assert [m.value for m in client().get_metric_history(rec.run_id, "loss")] == [1.0, 0.6, 0.4]
    mv = client().get_model_version(tracked_env["model"], str(rec.version))
    assert mv.source == rec.model_url and mv.run_id == rec.run_id
    assert rec.version == 1 and set(rec.aliases) == {"production", "challenger"}


def test_runs_started_in_the_same_second_get_their_own_names_and_folders(tracked_env, s3):
    runs: list[TrackedRun] = []
    barrier = threading.Barrier(3)

    def start():
        run = TrackedRun("analyze", clock=lambda: T0)
        barrier.wait()
        runs.append(run.start())

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in runs:
        r.put_json("report.json", {"ok": True})
        r.finish()
    slug = tracked_env["experiment"].replace("_", "-")
    names = sorted(r.run_name for r in runs)
    # Unique names of the documented shape, none before the common start second. Concurrent
    # claims of one second that collide all step aside (none may win twice), so the seconds
    # taken need not be consecutive: 15, 16, 17 or 15, 19, 20 are both correct.
    assert len(set(names)) == 3 and names[0] >= f"{slug}_20250719_203315"
    assert all(re.fullmatch(rf"{re.escape(slug)}_20250719_2033\d\d", n) for n in names)
    assert all(r.status == "tracked" for r in runs)
    for r in runs:
        assert keys_under(s3, f"{r.run_name}/artifacts/") == [f"{r.run_name}/artifacts/report.json"]
        assert client().get_run(r.run_id).data.tags["artifact_folder"] == f"s3://{BUCKET}/{r.run_name}/artifacts/"
    # a later run in that second moves on as well
    with TrackedRun("analyze", clock=lambda: T0) as fourth:
        assert fourth.run_name not in names and fourth.run_name.startswith(f"{slug}_20250719_2033")


def _runs(experiment: str) -> list:
    c = client()
    exp = c.get_experiment_by_name(experiment)
    return [] if exp is None else c.search_runs([exp.experiment_id])


def test_tracking_is_on_by_default_and_disable_mlflow_turns_it_off(tracked_env, monkeypatch):
    parser = argparse.ArgumentParser()
    add_mlflow_flags(parser)
    assert mlflow_enabled(parser.parse_args([])) is True
    assert mlflow_enabled(parser.parse_args(["--enable-mlflow"])) is True
    assert mlflow_enabled(parser.parse_args(["--disable-mlflow"])) is False
    with pytest.raises(SystemExit):
        parser.parse_args(["--enable-mlflow", "--disable-mlflow"])

    with api.analysis_run({"issue": "db timeout"}) as run:          # default: on
        run.log_metrics({"windows": 3, "incidents": 1})
    assert run.status == "tracked" and "MLflow run" in run.summary()
    assert [r.info.run_name for r in _runs(tracked_env["experiment"])] == [run.run_name]

    with api.analysis_run({"issue": "x"}, enabled=mlflow_enabled(parser.parse_args(["--disable-mlflow"]))) as off:
        off.log_metrics({"windows": 3})
        assert off.put_json("report.json", {}) is None
    assert off.status == "disabled" and "skipped" in off.summary() and off.run_id is None

    monkeypatch.setenv("RCA_MLFLOW_AUTO_LOG", "false")
    get_settings.cache_clear()
    assert mlflow_enabled(parser.parse_args([])) is False
    with api.analysis_run({"issue": "y"}) as off2:
        pass
    assert off2.status == "disabled"
    assert len(_runs(tracked_env["experiment"])) == 1

    rec = api.track_training(tiny_bundle(), enabled=False)
    assert not rec.tracked and rec.version is None
    assert rec.model_url.startswith("file://") and "/models/" in rec.model_url
    assert api.load_model(rec.model_url).bundle.metadata["tag"] == "a"
    assert len(_runs(tracked_env["experiment"])) == 1


@pytest.mark.parametrize("down", ["mlflow", "s3"])
def test_analysis_succeeds_and_says_tracking_was_skipped_when_a_server_is_down(tracked_env, monkeypatch, caplog,
                                                                                down):
    if down == "mlflow":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    else:
        monkeypatch.setenv("RCA_S3_ENDPOINT_URL", "http://127.0.0.1:9")
        monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    t0 = time.monotonic()
    with api.analysis_run({"issue": "db timeout"}) as run:
        result = {"incidents": [], "root_causes": []}          # the analysis itself
        run.log_metrics({"windows": 1})
        run.put_json("report.json", result)
    assert time.monotonic() - t0 < 15
    assert result == {"incidents": [], "root_causes": []}
    assert run.status == "skipped" and run.run_id is None
    assert "unreachable" in run.skipped_reason and run.summary().startswith("skipped (")
    assert caplog.text.count("tracking skipped") <= 1

    rec = api.track_training(tiny_bundle("down"), metrics={"f1": 0.5})     # the model is never lost
    assert not rec.tracked and "unreachable" in rec.skipped_reason
    assert api.load_model(rec.model_url).bundle.metadata["tag"] == "down"


def test_worker_run_logs_metrics_over_time_and_the_model_version(tracked_env):
    w = api.worker_run({"window_seconds": 60})
    w.set_model_version(3)
    for i in range(4):
        w.log_metrics({"events_per_s": 100.0 + i, "anomalies": i})
    w.close()
    assert w.run is not None and w.run.status == "tracked"
    run = client().get_run(w.run.run_id)
    assert run.data.tags["model_version"] == "3" and run.data.tags["rca.kind"] == "worker"
    assert run.data.params == {"window_seconds": "60"} and run.info.status == "FINISHED"
    history = client().get_metric_history(w.run.run_id, "events_per_s")
    assert [m.value for m in history] == [100.0, 101.0, 102.0, 103.0]
    assert len(_runs(tracked_env["experiment"])) == 1


def test_worker_run_never_blocks_when_tracking_is_down(tracked_env, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    get_settings.cache_clear()
    w = api.worker_run()
    t0 = time.monotonic()
    for i in range(200):
        w.log_metrics({"events_per_s": i})
    assert time.monotonic() - t0 < 0.5
    w.close(timeout=15)
    assert w.run is not None and "unreachable" in w.skipped_reason and w.dropped >= 1


def test_worker_tracking_recovers_after_an_outage(tracked_env, monkeypatch):
    from tracking.backend import Backend

    real_probe = Backend.probe
    outage = {"left": 2}

    def flaky_probe(self):
        if outage["left"]:
            outage["left"] -= 1
            return "MLflow tracking server at test is unreachable (simulated)"
        return real_probe(self)

    monkeypatch.setattr(Backend, "probe", flaky_probe)
    monkeypatch.setenv("RCA_TRACKING_RETRY_INTERVAL_S", "0.2")
    w = api.worker_run()
    deadline = time.monotonic() + 10
    i = 0
    while time.monotonic() < deadline and not (w.run and w.run.active):
        w.log_metrics({"events_per_s": i})
        i += 1
        time.sleep(0.05)
    assert w.run is not None and w.run.active, w.skipped_reason
    w.log_metrics({"events_per_s": 999})
    w.close()
    assert client().get_run(w.run.run_id).data.metrics["events_per_s"] == 999
    assert w.dropped >= 1 and outage["left"] == 0

    # a failure in the middle of a run: the same run resumes once the servers answer again
    run = TrackedRun("worker").start()
    run._skip("simulated failure")
    assert not run.active and run.resume() and run.active
    run.log_metrics({"x": 1})
    run.finish()
    assert client().get_run(run.run_id).data.metrics["x"] == 1
