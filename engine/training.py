"""Train a model bundle from log files, folders or a labelled data set.

Input is either
- a data set laid out like the fault-injection dev set (`<root>/<Subsystem>/
  Test_<n>/logs/round_<k>/`), with a labels.tsv: runs carry failure labels
  and root-cause modules, so the incident detector and the ranker learn from
  them; or
- plain files and folders (or simulator output): each PATH is one run,
  assumed normal (the usual case for retraining on recent production logs).

The bundle holds the template miner state, the DeepLog LSTM over template
sequences, the parameter/duration model, the RCA model and thresholds, and what
it learned from (engine/experience.py), so that ``retrain`` starts from it: a
retrain on recent logs refreshes what normal looks like and keeps every failure
the bundle was taught, adding the operators' verdicts.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.bundle import ModelBundle
from engine.experience import Experience, Lesson, lessons_of_training, refit
from engine.params import ParamModel
from engine.rca import RCAModel
from engine.rca.dataset import list_runs, load_run
from engine.readers import InputError, expand, file_events
from engine.sequence import SequenceConfig, SequenceModel
from engine.sessions import group_sessions
from engine.templates import TemplateMiner
from schemas.log_event import LogEvent

Progress = Callable[[str, float], None]


@dataclass
class TrainingData:
    runs: list[list[LogEvent]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    labels: list[bool | None] = field(default_factory=list)
    root_causes: list[str | None] = field(default_factory=list)
    lines: int = 0

    def summary(self) -> dict:
        return {"runs": len(self.runs), "events": sum(len(r) for r in self.runs), "lines": self.lines,
                "failed_runs": sum(1 for v in self.labels if v),
                "normal_runs": sum(1 for v in self.labels if v is False)}


def is_dataset(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (any(p.glob("*/Test_*/logs")) or any(p.glob("devset/*/Test_*/logs")))


def read_events(path: str) -> tuple[list[LogEvent], int]:
    """Parsed, grouped events of one file and its line count."""
    stats: dict[str, int] = {}
    events = list(file_events(path, stats=stats))
    return events, stats["lines"]


def load_inputs(paths: Sequence[str], labels_tsv: str | None = None) -> TrainingData:
    """Runs of the given paths (see module doc); raises InputError for unusable input."""
    data = TrainingData()
    for p in paths:
        if is_dataset(p):
            for ref in list_runs(p, labels_tsv):
                events = load_run(ref.path)
                data.runs.append(events)
                data.names.append(ref.run_id)
                data.labels.append(ref.failure if labels_tsv else False)
                data.root_causes.append(ref.root_module)
                data.lines += sum(e.line_count for e in events)
            continue
        events: list[LogEvent] = []
        for f in expand([p]):
            evs, n = read_events(f)
            events.extend(evs)
            data.lines += n
        good = [e for e in events if e.parse_error is None]
        if events and not good:
            raise InputError(f"{p}: no OpenStack log lines found (unknown format)")
        good.sort(key=lambda e: e.timestamp or 0.0)
        data.runs.append(good)
        data.names.append(p)
        data.labels.append(False)
        data.root_causes.append(None)
    if not any(data.runs):
        raise InputError("no log events in the input")
    return data


def train(data: TrainingData, epochs: int = 3, config: SequenceConfig | None = None,
          progress: Progress | None = None) -> ModelBundle:
    """Fit every part of the bundle; `progress(stage, fraction)` reports along the way."""
    started = time.monotonic()
    say = progress or (lambda stage, frac: None)
    miner, mined, seq, params, sessions, seq_threshold = _sequence_parts(data, epochs, config, say, TemplateMiner())

    rca = RCAModel().fit(data.runs, data.labels, data.root_causes)
    experience = lessons_of_training(rca, data.runs, data.labels, data.root_causes, data.names)
    say("rca", 0.9)
    bundle = _bundle(miner, rca, seq, params, sessions, seq_threshold, experience, data.summary(), epochs, started)
    say("done", 1.0)
    return bundle


def retrain(base: ModelBundle, events: Sequence[LogEvent], verdicts: Sequence[Lesson] = (),
            rejected_events: Sequence[LogEvent] = (), epochs: int = 3, config: SequenceConfig | None = None,
            progress: Progress | None = None) -> ModelBundle:
    """A new bundle from the production one and recent logs, never from nothing.

    The template miner continues from the base's state (template ids keep their meaning); the
    LSTM and the parameter model learn what normal looks like from ``events``; the RCA model
    keeps the base's normal profile (refreshed with ``events``), follow-ups and incident gap, and
    refits its detector, calibration, ranker and memory of past incidents on everything the base
    learned from (its Experience) plus ``verdicts`` (``experience.verdict_lesson``);
    ``rejected_events``: the records of incidents operators rejected, which become familiar.
    A base without an Experience (trained before bundles kept one) keeps its RCA model as is.
    """
    started = time.monotonic()
    say = progress or (lambda stage, frac: None)
    data = TrainingData(runs=[list(events)], names=["retrain"], labels=[False], root_causes=[None],
                        lines=sum(e.line_count for e in events))
    miner, mined, seq, params, sessions, seq_threshold = _sequence_parts(
        data, epochs, config, say, TemplateMiner.load(base.miner_state))
    experience = base.learned_from
    if experience is None:
        rca, experience = copy.deepcopy(base.rca_model), Experience()
    else:
        rca, experience = refit(base.rca_model, experience, verdicts, new_events=events,
                                rejected_events=rejected_events)
    say("rca", 0.9)
    summary = {**data.summary(), "verdicts": len(verdicts), "base_trained_at": base.metadata.get("trained_at")}
    bundle = _bundle(miner, rca, seq, params, sessions, seq_threshold, experience, summary, epochs, started)
    say("done", 1.0)
    return bundle


def _sequence_parts(data: TrainingData, epochs: int, config: SequenceConfig | None, say: Progress,
                    miner: TemplateMiner):
    """The template miner (fed every run), the LSTM and parameter model (learned from the normal runs)."""
    mined: list[list[tuple[str, list[str]]]] = []
    for run in data.runs:
        out = []
        for e in run:
            r = miner.add(e.message)
            out.append((r.model_id, list(r.params)))   # the key the bundle's models use (templates.py)
        mined.append(out)
    say("templates", 0.1)

    normal = [i for i, v in enumerate(data.labels) if v is False] or list(range(len(data.runs)))
    sessions = []
    for i in normal:
        sessions.extend(group_sessions(data.runs[i], [t for t, _ in mined[i]]))
    cfg = config or SequenceConfig()
    cfg.epochs = epochs
    seq = SequenceModel(cfg).fit(sessions, progress=lambda ep, loss: say(f"lstm epoch {ep}/{epochs} loss {loss:.3f}",
                                                                         0.1 + 0.6 * ep / epochs))
    params = ParamModel().fit((t, p) for i in normal for t, p in mined[i])
    say("parameters", 0.75)
    # threshold: share of deviating events in a normal session, at its 99th percentile
    ratios = [float(flags.mean()) for flags in seq.score_sessions(sessions[:20_000]) if len(flags) >= 3]
    seq_threshold = float(np.quantile(ratios, 0.99)) if ratios else 0.5
    return miner, mined, seq, params, sessions, seq_threshold


def _bundle(miner, rca, seq, params, sessions, seq_threshold, experience: Experience, summary: dict,
            epochs: int, started: float) -> ModelBundle:
    elapsed = time.monotonic() - started
    return ModelBundle(
        miner_state=miner.save(),
        rca_model=rca,
        sequence_model=seq,
        param_model=params,
        thresholds={"sequence_deviation_ratio": round(max(seq_threshold, 0.05), 4),
                    "param_z": params.z_threshold},
        metadata={
            "trained_at": time.time(), "training_seconds": round(elapsed, 2), "epochs": epochs,
            "templates": len(miner), "vocabulary": len(seq.vocab), "sessions": len(sessions),
            "loss_curve": [round(x, 5) for x in seq.history_loss], "data": summary,
            "rca": dict(rca.metadata), "learned_from": experience.summary(),
        },
        experience=experience,
    )
