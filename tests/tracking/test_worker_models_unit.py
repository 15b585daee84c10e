"""The worker's model serving without a server: refused bundle at start, outages logged once."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from config.settings import WorkerSettings
from consumers.pipeline import Counters
from consumers import app as worker_app
from consumers import models
from tracking import api
from tracking.signing import BundleVerificationError
from tests.aio import run_alone



def test_is_outage_tells_an_unreachable_server_from_a_refused_bundle():
    assert api.is_outage("API request to http://127.0.0.1:1/api/2.0/mlflow/registered-models/alias failed "
                         "with exception HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded")
    assert api.is_outage("MLflow tracking server at http://x is unreachable (Connection refused)")
    assert api.is_outage(ConnectionRefusedError())
    assert not api.is_outage(BundleVerificationError("sha256 abc does not match; refusing to unpickle"))
    assert not api.is_outage("version 2 of m refused: signature mismatch; refusing to unpickle")
    assert not api.is_outage("registered model 'm' has no 'production' version")
    assert not api.is_outage(None)


class FakeLoaded(SimpleNamespace):
    def describe(self):
        return f"version {self.version} (cached copy)"


@pytest.fixture
def no_scoring(monkeypatch):
    monkeypatch.setattr(models, "checked_scorer", lambda loaded: SimpleNamespace(version=str(loaded.version)))


def test_refused_production_at_start_serves_the_cached_copy_and_says_so(monkeypatch, no_scoring, caplog):
    def refuse(ref):
        raise BundleVerificationError("model.pkl sha256 0f does not match the manifest; refusing to unpickle")

    cached = FakeLoaded(version=3, from_cache=True, label="3")
    monkeypatch.setattr(api, "load_model", refuse)
    monkeypatch.setattr(api, "load_last_verified", lambda ref: cached)
    with caplog.at_level(logging.WARNING, logger="consumers.models"):
        serving = models.initial(None)
    assert serving.loaded is cached and serving.scorer is not None
    assert "serving the last verified cached copy, version 3" in caplog.text and "refusing" in caplog.text


def test_refused_production_without_a_cached_copy_serves_the_baseline(monkeypatch, no_scoring, caplog):
    def refuse(ref):
        raise BundleVerificationError("signature mismatch")

    def none(ref):
        raise RuntimeError("no cached 'production' copy of 'm'")

    monkeypatch.setattr(api, "load_model", refuse)
    monkeypatch.setattr(api, "load_last_verified", none)
    with caplog.at_level(logging.WARNING, logger="consumers.models"):
        serving = models.initial(None)
    assert serving.loaded is None and "baseline" in caplog.text and "no verified cached copy" in caplog.text


def test_no_production_yet_does_not_look_in_the_cache(monkeypatch, no_scoring):
    def missing(ref):
        raise RuntimeError("registered model 'm' has no 'production' version")

    def never(ref):
        raise AssertionError("cache consulted")

    monkeypatch.setattr(api, "load_model", missing)
    monkeypatch.setattr(api, "load_last_verified", never)
    assert models.initial(None).loaded is None


class FakeApp:
    def __init__(self):
        self.timers = []

    def timer(self, interval):
        def register(fn):
            self.timers.append(fn)
            return fn
        return register


def test_an_unreachable_registry_is_one_warning_then_one_info(monkeypatch, caplog):
    down = "API request failed with exception HTTPConnectionPool(host='127.0.0.1', port=15000): Max retries exceeded"
    results = iter([(False, down)] * 5 + [(False, None)] * 3 + [(False, down), (False, None)])
    monkeypatch.setattr(models, "refresh", lambda *a, **k: next(results))
    emitted = []

    async def emit(*args, **fields):
        emitted.append((args, fields))

    app = FakeApp()
    settings = SimpleNamespace(worker=WorkerSettings(model_poll_seconds=5))
    serving = models.Serving()
    worker_app._follow_production(app, settings, SimpleNamespace(counters=Counters()), serving, None, None, emit)
    (timer,) = app.timers
    with caplog.at_level(logging.INFO, logger="consumers.app"):
        for _ in range(10):
            run_alone(timer())
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "consumers.app"]
    assert [lvl for lvl, _ in records] == ["WARNING", "INFO", "WARNING", "INFO"], records
    assert "unreachable" in records[0][1] and "reachable again" in records[1][1]
    assert not any(r.levelname == "ERROR" for r in caplog.records)
    assert emitted == []


def test_a_refused_bundle_is_reported_once(monkeypatch, caplog):
    refused = "version 4 of m refused: signature mismatch; refusing to unpickle"
    results = iter([(False, refused)] * 4)
    monkeypatch.setattr(models, "refresh", lambda *a, **k: next(results))
    emitted = []

    async def emit(*args, **fields):
        emitted.append(args[1])

    app = FakeApp()
    worker_app._follow_production(app, SimpleNamespace(worker=WorkerSettings()), SimpleNamespace(counters=Counters()),
                                  models.Serving(), None, None, emit)
    with caplog.at_level(logging.INFO, logger="consumers.app"):
        for _ in range(4):
            run_alone(app.timers[0]())
    assert emitted == ["model_load_failed"]
    assert sum("keeping model" in r.getMessage() for r in caplog.records) == 1
