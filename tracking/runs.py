"""A tracked run: an MLflow run named by time whose artifacts live in its own folder.

``TrackedRun`` claims a run name (tracking/naming.py), creates the MLflow run
with tags ``artifact_folder`` (``s3://{bucket}/{run name}/artifacts/``) and
``artifact_folder_url`` (a link a person can open), logs params and metrics
and writes artifacts to that folder. Tracking never breaks the work it
tracks: if the server or the store is unreachable, or any call fails, it
warns once per reason, becomes a no-op and says why in ``skipped_reason``.

``WorkerRun`` is one run per worker lifetime, logged from a background
thread so the stream never waits on MLflow, retried after an outage.
"""
from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import orjson

from engine.bundle import ModelBundle
from tracking import bundle_io, naming
from tracking.backend import Backend
from tracking.manifest import clean_metrics

log = logging.getLogger(__name__)

_warned: set[str] = set()
_warned_lock = threading.Lock()
MAX_PARAM_LEN = 6000
DISABLED = "disabled (--disable-mlflow or RCA_MLFLOW_AUTO_LOG=false)"
REJECTED = ("INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "BAD_REQUEST")


def mlflow_key(name: Any) -> str:
    """A param/metric/tag name MLflow accepts (letters, digits, _ - . space /)."""
    return re.sub(r"[^\w\-. /]", "_", str(name))[:250] or "_"


def warn_once(reason: str) -> None:
    """Log a tracking warning once per process per reason (then at debug level)."""
    with _warned_lock:
        first = reason not in _warned
        _warned.add(reason)
    if first:
        log.warning("tracking skipped: %s (the work continues untracked)", reason)
    else:
        log.debug("tracking skipped: %s", reason)


class TrackedRun:
    """Context manager for one MLflow run; every method is safe to call when tracking is off."""

    def __init__(self, kind: str, *, enabled: bool | None = None, backend: Backend | None = None,
                 params: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.kind = kind
        self.backend = backend or Backend.from_env()
        self.enabled = self.backend.auto_log if enabled is None else enabled
        self._params = dict(params or {})
        self._tags = dict(tags or {})
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.run_id: str | None = None
        self.run_name: str | None = None
        self.folder: str | None = None          # s3://bucket/{run name}/artifacts/
        self.folder_link: str | None = None
        self.skipped_reason: str | None = None if self.enabled else DISABLED
        self._client = None
        self._store = None
        self._experiment_id: str | None = None
        self._started = False
        self._finished = False
        self._step = 0

    # -- state -------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._started and self.skipped_reason is None and not self._finished

    @property
    def status(self) -> str:
        if not self.enabled:
            return "disabled"
        return "skipped" if self.skipped_reason else "tracked"

    @property
    def run_url(self) -> str | None:
        """The run's page in the MLflow UI (tracking servers only)."""
        if not (self.run_id and self._experiment_id and self.backend.is_server):
            return None
        return f"{self.backend.tracking_uri.rstrip('/')}/#/experiments/{self._experiment_id}/runs/{self.run_id}"

    def summary(self) -> str:
        """For command output after 'tracking: ': where the run went, or why tracking was skipped."""
        if self.status == "tracked":
            where = self.run_url or self.backend.tracking_uri
            return f"MLflow run {self.run_name} ({where}), artifacts {self.folder}"
        return f"skipped ({self.skipped_reason})"

    def _skip(self, reason: str) -> None:
        if self.skipped_reason is None:
            self.skipped_reason = reason
            warn_once(reason)

    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        if not self.active:
            return None
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - tracking must never break the tracked work
            if getattr(exc, "error_code", None) in REJECTED:
                # the server answered but refused this value (e.g. a param logged twice): not an outage
                log.warning("tracking: %s rejected: %s", what, str(exc).splitlines()[0] if str(exc) else exc)
                return None
            log.debug("tracking call %s failed", what, exc_info=True)
            self._skip(f"{what} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            return None

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> "TrackedRun":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish("FAILED" if exc_type else "FINISHED")

    def start(self) -> "TrackedRun":
        if self._started or not self.enabled:
            self._started = True
            return self
        self._started = True
        try:
            reason = self.backend.probe()
            if reason:
                self._skip(reason)
                return self
            self._client = self.backend.client()
            experiment_id = self._experiment_id = self.backend.experiment_id(self._client)
            self._store = self.backend.store()
            self.run_name = naming.claim_run_name(self._store.claim, self.backend.experiment_name, self._clock())
            self.folder = self._store.url_for(f"{self.run_name}/artifacts/")
            self.folder_link = self._store.link_for(f"{self.run_name}/artifacts/")
            tags = {"artifact_folder": self.folder, "artifact_folder_url": self.folder_link, "rca.kind": self.kind,
                    "mlflow.note.content": f"Artifacts: [{self.folder}]({self.folder_link})", **self._tags}
            run = self._client.create_run(experiment_id, run_name=self.run_name, tags=tags)
            self.run_id = run.info.run_id
        except Exception as exc:  # noqa: BLE001
            log.debug("starting the tracked run failed", exc_info=True)
            self._skip(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            return self
        log.info("tracking %s run %s -> %s", self.kind, self.run_name, self.folder)
        if self._params:
            self.log_params(self._params)
        return self

    def resume(self) -> bool:
        """After a failure mid-run: probe again and, if all answers, log to the same run again."""
        if self.run_id is None or self._finished or self.skipped_reason is None:
            return self.active
        if self.backend.probe() is None:
            log.info("tracking is reachable again; resuming run %s", self.run_name)
            self.skipped_reason = None
        return self.active

    def finish(self, status: str = "FINISHED") -> None:
        if self.active:
            self._guard("ending the run", lambda: self._client.set_terminated(self.run_id, status))
        self._finished = True

    # -- logging -----------------------------------------------------------
    def log_params(self, params: dict[str, Any]) -> None:
        if not self.active:
            return
        from mlflow.entities import Param

        items = [Param(mlflow_key(k), str(v)[:MAX_PARAM_LEN]) for k, v in params.items() if v is not None]
        for i in range(0, len(items), 100):
            self._guard("logging params", lambda chunk=items[i:i + 100]: self._client.log_batch(
                self.run_id, params=chunk))

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if not self.active:
            return
        from mlflow.entities import Metric

        if step is None:
            step, self._step = self._step, self._step + 1
        now = int(time.time() * 1000)
        self._log_metric_batches([Metric(mlflow_key(k), v, now, step) for k, v in clean_metrics(metrics).items()])

    def log_series(self, name: str, values: list[float]) -> None:
        """A per-epoch series (e.g. training loss) as one metric with steps 0..n-1."""
        if not self.active:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._log_metric_batches([Metric(mlflow_key(name), v, now, int(i))
                                  for i, v in clean_metrics({str(i): v for i, v in enumerate(values)}).items()])

    def _log_metric_batches(self, items: list) -> None:
        """MLflow accepts at most 1000 metrics per log_batch request."""
        for i in range(0, len(items), 1000):
            self._guard("logging metrics", lambda chunk=items[i:i + 1000]: self._client.log_batch(
                self.run_id, metrics=chunk))

    def set_tags(self, tags: dict[str, Any]) -> None:
        if not self.active:
            return
        from mlflow.entities import RunTag

        items = [RunTag(mlflow_key(k), str(v)[:5000]) for k, v in tags.items()]
        self._guard("setting tags", lambda: self._client.log_batch(self.run_id, tags=items))

    # -- artifacts ---------------------------------------------------------
    def _key(self, relpath: str) -> str:
        return f"{self.run_name}/artifacts/{relpath.lstrip('/')}"

    def put_artifact(self, relpath: str, data: bytes, content_type: str | None = None) -> str | None:
        """Write ``data`` to ``{folder}{relpath}``; returns its URL (None when not tracked)."""
        return self._guard(f"writing {relpath}", lambda: self._store.put(self._key(relpath), data, content_type))

    def put_json(self, relpath: str, obj: Any) -> str | None:
        data = orjson.dumps(obj, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
        return self.put_artifact(relpath, data, "application/json")

    def put_bundle(self, bundle: ModelBundle, **manifest_fields: Any) -> dict[str, Any] | None:
        """model/model.pkl + model/manifest.json (signed); returns the manifest, None when not tracked."""
        key = self.backend.signing_key()   # a bad key setting is a user error: raise, do not skip
        return self._guard("writing the model bundle", lambda: bundle_io.write(
            self._store, self._key("model"), bundle, key, run_name=self.run_name, **manifest_fields))

    @property
    def model_source(self) -> str | None:
        """s3://bucket/{run name}/artifacts/model: the registered version's source."""
        return f"{self.folder}model" if self.folder else None


class WorkerRun:
    """One run per worker lifetime; ``log_metrics`` never blocks and never raises."""

    def __init__(self, *, enabled: bool | None = None, backend: Backend | None = None,
                 params: dict[str, Any] | None = None, retry_interval_s: float | None = None,
                 max_queue: int = 1000) -> None:
        self.backend = backend or Backend.from_env()
        self.enabled = self.backend.auto_log if enabled is None else enabled
        self.params = dict(params or {})
        self.retry_interval_s = retry_interval_s or self.backend.tracking.retry_interval_s
        self.run: TrackedRun | None = None
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._next_try = 0.0
        self._model_version: str | None = None
        self._step = 0
        self._closing = threading.Event()
        self._close_status = "FINISHED"

    @property
    def skipped_reason(self) -> str | None:
        if not self.enabled:
            return DISABLED
        return self.run.skipped_reason if self.run else "not started yet"

    def start(self) -> "WorkerRun":
        """Start the background logger; it opens the run at once (retrying while tracking is down)."""
        if self.enabled and self._thread is None:
            # MLflow imports its modules lazily; two threads importing them at once (this logger
            # and the model loader) can fail with a module-lock deadlock: import them here first
            import mlflow.entities  # noqa: F401
            import mlflow.tracking  # noqa: F401

            self._enqueue(("open", None, None))
            self._thread = threading.Thread(target=self._loop, name="rca-tracking", daemon=True)
            self._thread.start()
        return self

    def _enqueue(self, item: tuple) -> None:
        if not self.enabled:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Queue metrics (events/s, anomalies, ...) for the background logger."""
        if step is None:
            step, self._step = self._step, self._step + 1
        self._enqueue(("metrics", dict(metrics), step))

    def set_model_version(self, version: int | str | None) -> None:
        """Record the model version in use (tag and metric ``model_version``)."""
        self._model_version = None if version is None else str(version)
        self._enqueue(("model", self._model_version, None))

    def close(self, status: str = "FINISHED", timeout: float = 10.0) -> None:
        """Log what is queued, end the run, stop the thread (waits at most ``timeout`` seconds)."""
        if self._thread is None:
            return
        self._close_status = status
        self._closing.set()
        self._thread.join(timeout)

    # -- background thread ----------------------------------------------------
    def _ensure_run(self) -> bool:
        now = time.monotonic()
        if self.run is not None and self.run.active:
            return True
        if now < self._next_try:
            return False
        self._next_try = now + self.retry_interval_s
        if self.run is None or self.run.run_id is None:
            self.run = TrackedRun("worker", enabled=True, backend=self.backend, params=self.params).start()
            if self.run.active and self._model_version is not None:
                self._apply_model(self._model_version)
        else:
            self.run.resume()
        return self.run.active

    def _apply_model(self, version: str | None) -> None:
        assert self.run is not None
        self.run.set_tags({"model_version": version or "none"})
        if version is not None and version.isdigit():
            self.run.log_metrics({"model_version": int(version)})

    def _loop(self) -> None:
        while True:
            try:
                kind, value, step = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._closing.is_set():
                    if self.run is not None:
                        self.run.finish(self._close_status)
                    return
                continue
            try:
                if not self._ensure_run():
                    self.dropped += kind != "open"
                    continue
                if kind == "metrics":
                    self.run.log_metrics(value, step)
                elif kind == "model":
                    self._apply_model(value)
            except Exception:  # noqa: BLE001 - never let the logger thread die
                log.debug("worker tracking failed", exc_info=True)


__all__ = ["TrackedRun", "WorkerRun", "warn_once"]
