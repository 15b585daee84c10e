"""Which model the worker serves, and switching it without a restart.

At start the worker loads the production bundle (verified before it is
unpickled); without one it serves the baseline analyzer and says so. A timer
asks the registry every few seconds whether production moved (a retrain or
`rca models promote/rollback`); a new bundle is verified and loaded in a
thread, then swapped in between two messages. A bundle that fails
verification or loading is refused and the old one keeps serving.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from consumers.pipeline import Pipeline, baseline_windows
from engine.scoring import BundleScorer

log = logging.getLogger(__name__)


@dataclass
class Serving:
    loaded: object | None = None   # tracking.api.LoadedModel
    scorer: BundleScorer | None = None
    refused: dict = field(default_factory=dict)   # registry version -> why it was refused (not fetched again)

    @property
    def version(self) -> str | None:
        return None if self.loaded is None else self.loaded.label


def checked_scorer(loaded) -> BundleScorer:
    """A scorer for `loaded` that has scored a probe window (raises if the bundle cannot serve)."""
    scorer = BundleScorer(loaded.bundle, loaded.label)
    scorer.self_check()
    return scorer


def apply(pipeline: Pipeline, serving: Serving) -> None:
    """Serve `serving.scorer` (or the baseline when None) from the next window on."""
    scorer = serving.scorer
    if scorer is None:
        pipeline.analyzer, pipeline.analyzer_name, pipeline.model_version = baseline_windows, "baseline", None
        pipeline.incident_analyst = pipeline.incident_gap = None
        pipeline.follow(None)
        return
    pipeline.swap_miner(scorer.miner)
    pipeline.analyzer = scorer.analyze_windows
    pipeline.incident_analyst = scorer.rank_incident
    pipeline.incident_gap = getattr(scorer.bundle.rca_model, "incident_gap", None)
    pipeline.follow(getattr(scorer.bundle.rca_model, "followups", None))
    pipeline.analyzer_name = "bundle"
    pipeline.model_version = scorer.version
    pipeline.counters.model_loaded()
    log.info("serving model %s", scorer.version)


def initial(ref: str | None) -> Serving:
    """What to serve at start: the verified production bundle; if it is refused (tampered, unsigned,
    unloadable, failing its self-check), the last verified cached copy, said in the log; else the
    baseline."""
    from tracking.api import load_last_verified, load_model

    try:
        loaded = load_model(ref)
        return Serving(loaded, checked_scorer(loaded))
    except Exception as exc:  # noqa: BLE001 - serve the baseline rather than nothing
        reason = _first_line(exc)
    if is_bundle_problem(reason):
        try:
            cached = load_last_verified(ref)
            serving = Serving(cached, checked_scorer(cached))
            log.warning("model %s refused (%s); serving the last verified cached copy, %s",
                        ref or "production", reason, cached.describe())
            return serving
        except Exception as exc:  # noqa: BLE001
            reason = f"{reason}; no verified cached copy ({_first_line(exc)})"
    log.warning("no model to serve (%s); using the baseline analyzer until one is promoted", reason)
    return Serving()


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def refresh(serving: Serving, ref: str | None, backend=None) -> tuple[bool, str | None]:
    """(changed, error). Runs in a worker thread: network and unpickling stay off the event loop.

    ``backend`` (a tracking.backend.Backend) defaults to one read from the environment."""
    from tracking.api import reload_model

    new, error = reload_model(serving.loaded, ref, backend=backend, refused=serving.refused)
    changed = new is not None and (serving.loaded is None or new.sha256 != serving.loaded.sha256)
    if changed:
        try:
            scorer = checked_scorer(new)
        except Exception as exc:  # noqa: BLE001 - keep serving what we have (the caller reports it once)
            error = f"model {new.describe()} failed its self-check: {_first_line(exc)}"
            if new.version is not None:
                serving.refused[str(new.version)] = error
            return False, error
        serving.loaded, serving.scorer = new, scorer
    elif new is not None and new is not serving.loaded:
        serving.loaded = new   # the same bytes from the registry now (not the cache): stop re-reading it
    return changed, error


_NOTHING_TO_LOAD = ("does not exist", "has no", "no cached")


def is_bundle_problem(error: str) -> bool:
    """True when a production bundle exists but was refused (tampered, unsigned, failed its
    self-check, unreadable) -- worth an event; False when there is simply none yet."""
    return not any(phrase in error for phrase in _NOTHING_TO_LOAD)


def is_outage(error: str | None) -> bool:
    """True when the tracking server or S3 did not answer (log once, not per poll)."""
    from tracking.api import is_outage as outage

    return outage(error)
