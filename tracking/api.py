"""What `rca train`, `rca analyze`, `rca worker` and retraining call.

- ``track_training``: one run, the signed bundle in ``{run folder}/model/``,
  plots, params and metrics, and a new registry version (``challenger``;
  also ``production`` when there is none yet). Untracked (disabled or
  unreachable), the bundle is still written, signed, to a local folder.
- ``analysis_run``: one run per `rca analyze` call (context manager).
- ``worker_run``: one run per worker lifetime, non-blocking.
- ``load_model`` / ``reload_model``: the verified production bundle (or any
  alias, version, folder or path); on an outage the last verified cached
  copy; on a failed reload the caller keeps the model it had.
- ``load_last_verified``: that cached copy on its own (a worker whose
  production bundle is refused at start serves it); ``is_outage`` tells an
  unreachable server from a refused bundle.
"""
from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from config.settings import get_settings
from engine.bundle import ModelBundle
from tracking import bundle_io, naming, plots
from tracking.backend import Backend
from tracking.registry import CHALLENGER, PRODUCTION, Registry, RegistryUnavailable, VersionInfo
from tracking.runs import TrackedRun, WorkerRun, warn_once
from tracking.signing import BundleVerificationError
from tracking.storage import FileStore, split_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRecord:
    run_name: str
    folder: str                    # s3://bucket/{run name}/artifacts/  (file:// when untracked)
    model_url: str                 # {folder}model
    manifest: dict[str, Any]
    run_id: str | None = None
    version: int | None = None
    aliases: tuple[str, ...] = ()
    skipped_reason: str | None = None

    @property
    def tracked(self) -> bool:
        return self.run_id is not None

    def summary(self) -> str:
        if not self.tracked:
            return f"model saved to {self.model_url} (tracking skipped: {self.skipped_reason})"
        version = (f", registered version {self.version}" + (f" @{','.join(self.aliases)}" if self.aliases else "")
                   if self.version is not None else ", not registered")
        return f"MLflow run {self.run_name}: model at {self.model_url}{version}"


@dataclass(frozen=True)
class LoadedModel:
    bundle: ModelBundle
    source: str
    manifest: dict[str, Any] = field(repr=False)
    version: int | None = None
    from_cache: bool = False

    @property
    def sha256(self) -> str:
        return str(self.manifest.get("sha256", ""))

    @property
    def label(self) -> str:
        """The version number as text, or the source for a bundle loaded from a location."""
        return str(self.version) if self.version is not None else self.source

    def describe(self) -> str:
        where = f"version {self.version}" if self.version is not None else self.source
        return f"{where} (sha256 {self.sha256[:12]}{', cached copy' if self.from_cache else ''})"


def mlflow_enabled(disable: bool = False, enable: bool = False) -> bool:
    """--disable-mlflow wins; --enable-mlflow is redundant; otherwise RCA_MLFLOW_AUTO_LOG (default true)."""
    if disable:
        return False
    return True if enable else get_settings().mlflow.auto_log


def _save_untracked(store: FileStore, backend: Backend, bundle: ModelBundle, clock: Callable[[], datetime],
                    **manifest_fields: Any) -> tuple[str, str, dict[str, Any]]:
    """Write the bundle, signed, to {store}/{run name}/model/ when there is no tracked run."""
    name = naming.claim_run_name(store.claim, backend.experiment_name, clock())
    manifest = bundle_io.write(store, f"{name}/model", bundle, backend.signing_key(), run_name=name,
                               **manifest_fields)
    return name, store.url_for(f"{name}/"), manifest


def bundle_params(bundle: ModelBundle) -> dict[str, str]:
    """Run parameters the bundle itself tells, whoever trained it (`rca train`, a retrain): the
    release of each project its code map was built from (engine/rca/codemap.py), so a run shows
    which OpenStack code its ranking learned from. Empty for a bundle without that record."""
    rca = (bundle.metadata or {}).get("rca") or {}
    if "code_map" not in rca:
        return {}
    code = rca["code_map"]
    if not code:
        return {"code_map": "none"}
    releases = code.get("releases") or {}
    out = {"code_map": ", ".join(f"{p} {r.get('release')}" for p, r in sorted(releases.items()))
           or ", ".join(code.get("sources") or ())}
    origins = sorted({str(r.get("from")) for r in releases.values() if r.get("from")})
    if origins:
        out["code_map_from"] = ", ".join(origins)
    return out


def track_training(bundle: ModelBundle, *, params: Mapping[str, Any] | None = None,
                   metrics: Mapping[str, Any] | None = None,
                   history: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
                   scores: Sequence[float] | None = None, threshold: float | None = None,
                   data_summary: Mapping[str, Any] | None = None, enabled: bool | None = None,
                   register: bool = True, aliases: tuple[str, ...] = (CHALLENGER,),
                   production_if_none: bool = True, backend: Backend | None = None,
                   clock: Callable[[], datetime] | None = None) -> TrainingRecord:
    """Track a training run and register its bundle. Never loses the bundle: untracked, it is saved locally.

    ``history`` is a loss series or {name: series} (per epoch); ``scores`` are
    window scores on the training/validation data (plotted with ``threshold``).
    """
    backend = backend or Backend.from_env()
    clock = clock or (lambda: datetime.now(timezone.utc))
    metrics = dict(metrics or {})
    series = {} if history is None else (dict(history) if isinstance(history, Mapping) else {"loss": list(history)})
    manifest_fields = {"metrics": metrics, "data_summary": dict(data_summary) if data_summary is not None else None}
    backend.signing_key()          # a bad key setting fails here, before any work is tracked
    params = {**bundle_params(bundle), **dict(params or {})}
    with TrackedRun("train", enabled=enabled, backend=backend, params=params, clock=clock) as run:
        manifest = run.put_bundle(bundle, **manifest_fields)
        if manifest is not None:
            run.set_tags({"model_sha256": manifest["sha256"], "model_signed": bool(manifest.get("signature"))})
            extra = {"model_size_bytes": manifest["size"]}
            if manifest.get("template_count") is not None:
                extra["template_count"] = manifest["template_count"]
            run.log_metrics({**metrics, **extra}, step=0)
            for name, values in series.items():
                run.log_series(name, list(values))
            _put_plots(lambda relpath, png: run.put_artifact(relpath, png, "image/png"), series, scores, threshold)
        version, version_aliases = None, ()
        if manifest is not None and run.active and register:
            try:
                info = Registry(backend).register(source=run.model_source, run_id=run.run_id,
                                                  run_name=run.run_name, manifest=manifest, aliases=aliases,
                                                  production_if_none=production_if_none)
                version, version_aliases = info.version, info.aliases
                run.set_tags({"registered_model": backend.registered_model_name, "model_version": version})
            except Exception as exc:  # noqa: BLE001 - the bundle is safe in its folder
                warn_once(f"registering the model failed: {exc}")
        if manifest is not None and run.active:
            return TrainingRecord(run_name=run.run_name, folder=run.folder, model_url=run.model_source,
                                  manifest=manifest, run_id=run.run_id, version=version,
                                  aliases=version_aliases)
        reason = run.skipped_reason or "tracking failed"
    store = FileStore(backend.state_dir / "models")
    name, folder, manifest = _save_untracked(store, backend, bundle, clock, **manifest_fields)
    if series or scores:
        _put_plots(lambda relpath, png: store.put(f"{name}/{relpath}", png), series, scores, threshold)
    log.info("tracking skipped (%s): model saved to %smodel/", reason, folder)
    return TrainingRecord(run_name=name, folder=folder, model_url=f"{folder}model", manifest=manifest,
                          skipped_reason=reason)


def _plot_files(series, scores, threshold) -> Iterator[tuple[str, bytes]]:
    try:
        if series:
            yield "plots/training_curve.png", plots.training_curve(series)
        if scores:
            yield "plots/score_distribution.png", plots.score_distribution(list(scores), threshold)
    except Exception:  # noqa: BLE001 - a plot is never worth a failed training
        log.warning("could not draw training plots", exc_info=True)


def _put_plots(put: Callable[[str, bytes], Any], series, scores, threshold) -> None:
    """Draw the plots and hand each (relative path, PNG) to ``put``."""
    for relpath, png in _plot_files(series, scores, threshold):
        put(relpath, png)


@contextlib.contextmanager
def analysis_run(params: Mapping[str, Any] | None = None, *, enabled: bool | None = None,
                 backend: Backend | None = None) -> Iterator[TrackedRun]:
    """One tracked run per `rca analyze` call; use run.log_metrics, run.put_json('report.json', ...), run.summary()."""
    with TrackedRun("analyze", enabled=enabled, backend=backend, params=dict(params or {})) as run:
        yield run


def worker_run(params: Mapping[str, Any] | None = None, *, enabled: bool | None = None,
               backend: Backend | None = None) -> WorkerRun:
    """The worker's run (started; logs from a background thread). Call .close() at shutdown."""
    return WorkerRun(enabled=enabled, backend=backend, params=dict(params or {})).start()


def _is_location(ref: str) -> bool:
    """A folder URL or path, not a registry reference ('production', '3', 'v3', 'latest')."""
    if urllib.parse.urlparse(ref).scheme in ("s3", "file"):
        return True
    return ref.startswith((".", "/", "~")) or "/" in ref or ref.endswith(".pkl")


def load_model(ref: str | int | None = None, *, backend: Backend | None = None,
               use_cache: bool = True) -> LoadedModel:
    """A verified bundle: ``ref`` is an alias (default production), a version, a stage name, an
    s3:// / file:// model folder or a local folder/model.pkl. When the registry is unreachable, the
    last verified cached copy of that alias/version is used (with a warning). Raises
    BundleVerificationError (nothing unpickled) or RuntimeError with a one-line reason.
    """
    return _load(backend or Backend.from_env(), ref, use_cache)


def _load(backend: Backend, ref: str | int | None, use_cache: bool, registry: Registry | None = None,
          info: VersionInfo | None = None) -> LoadedModel:
    """load_model; ``registry`` and ``info`` (its ``get(ref)``) when the caller has them already."""
    ref = PRODUCTION if ref is None else ref
    key = backend.signing_key()
    if isinstance(ref, str) and _is_location(ref):
        if urllib.parse.urlparse(ref).scheme in ("s3", "file"):
            store, folder = split_url(ref, backend.s3)
            bundle, manifest = bundle_io.read(store, folder, key)
        else:
            bundle, manifest = bundle_io.load_dir(ref, key)
        return LoadedModel(bundle=bundle, source=ref, manifest=manifest)
    registry = registry or Registry(backend)
    try:
        bundle, info, manifest = registry.load(ref, info)
        return LoadedModel(bundle=bundle, source=info.source, manifest=manifest, version=info.version)
    except BundleVerificationError:
        raise
    except (RegistryUnavailable, RuntimeError, OSError) as exc:
        if not use_cache or not _looks_like_outage(exc):
            raise
        try:
            bundle, version, manifest = registry.load_cached(ref)
        except (RuntimeError, OSError) as cache_exc:
            raise RuntimeError(f"{exc}; and no usable cached copy ({cache_exc})") from exc
        warn_once(f"{exc}: using the cached copy of {registry.name} version {version}")
        return LoadedModel(bundle=bundle, source=str(registry._cache_root() / f"v{version}"), manifest=manifest,
                           version=version, from_cache=True)


_OUTAGE_WORDS = ("unreachable", "connection", "timed out", "timeout", "max retries", "endpoint", "s3:")


def _looks_like_outage(exc: BaseException) -> bool:
    if isinstance(exc, BundleVerificationError):
        return False
    if isinstance(exc, (RegistryUnavailable, OSError)):
        return True
    text = f"{exc} {exc.__cause__ or ''}".lower()
    return any(w in text for w in _OUTAGE_WORDS)


def is_outage(error: str | BaseException | None) -> bool:
    """True when a load or reload failed because the tracking server or S3 did not answer (not
    because a bundle was refused or is missing): worth one warning, not an error per poll."""
    if error is None:
        return False
    if isinstance(error, BaseException):
        return _looks_like_outage(error)
    text = error.lower()
    return "refusing" not in text and any(w in text for w in _OUTAGE_WORDS)


def load_last_verified(ref: str | int | None = None, *, backend: Backend | None = None) -> LoadedModel:
    """The last verified cached copy of ``ref`` (an alias or version; default production), verified
    again from the cache: what a worker serves when the registry's bundle is refused. Raises
    RuntimeError when there is none (or ``ref`` is a location, which has no cached copy)."""
    ref = PRODUCTION if ref is None else ref
    if isinstance(ref, str) and _is_location(ref):
        raise RuntimeError(f"{ref} is a location: it has no cached copy")
    registry = Registry(backend or Backend.from_env())
    bundle, version, manifest = registry.load_cached(ref)
    return LoadedModel(bundle=bundle, source=str(registry._cache_root() / f"v{version}"), manifest=manifest,
                       version=version, from_cache=True)


def reload_model(current: LoadedModel | None, ref: str | int | None = None, *,
                 backend: Backend | None = None,
                 refused: dict[str, str] | None = None) -> tuple[LoadedModel | None, str | None]:
    """(model to serve, error). Same version as ``current``: no reload. Any failure (tampered bundle,
    outage, missing alias) keeps ``current`` and returns the reason; the caller reports it (once: a
    worker polls every few seconds), see ``is_outage``.

    ``refused``: registry version -> why its bundle was refused, kept by the caller across polls
    (this fills it). A version in it is not downloaded and verified again on every poll: its
    bytes cannot change under the same version (a new bundle is a new version)."""
    backend = backend or Backend.from_env()
    registry = info = None
    try:
        if not (isinstance(ref, str) and _is_location(ref)) and (current is None or current.version is not None):
            # asked first even with nothing served, so a refused version is not fetched again
            registry = Registry(backend)
            try:
                info = registry.get(ref)
            except Exception:  # noqa: BLE001
                if current is not None:
                    raise
                # nothing served: _load says why, or serves the verified cached copy
            if info is not None:
                if current is not None and info.version == current.version and not current.from_cache:
                    return current, None
                if refused is not None and str(info.version) in refused:
                    return current, refused[str(info.version)]
        new = _load(backend, ref, use_cache=current is None, registry=registry, info=info)
    except Exception as exc:  # noqa: BLE001 - keep serving what we have
        kept = current.describe() if current else "no model"
        log.debug("model reload refused: %s; keeping %s", exc, kept)
        if refused is not None and info is not None and isinstance(exc, BundleVerificationError):
            refused[str(info.version)] = str(exc)
        return current, str(exc)
    if current is None or new.sha256 != current.sha256:
        log.info("serving model %s", new.describe())
    return new, None


__all__ = ["TrainingRecord", "LoadedModel", "track_training", "analysis_run", "worker_run", "load_model",
           "reload_model", "load_last_verified", "is_outage", "mlflow_enabled", "BundleVerificationError"]
