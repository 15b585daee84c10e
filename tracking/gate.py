"""The promotion gate: may a retrained challenger replace the production bundle?

A challenger is refused when it is worse than production on any evidence there is, each
compared on the same data:

* ``kept incidents``: the failed runs and confirmed or missed faults production learned from
  (its Experience): the share of them a stream window would call an incident. A challenger
  that detects nothing where production detects something is refused whatever else says
  (a bundle trained on recent logs alone detects nothing: the failure this gate exists for);
* ``held-back verdicts``: the latest operator verdicts, kept out of the challenger's training:
  confirmed and missed faults should be detected and their cause ranked in the first three,
  rejected ones not detected;
* ``labelled set``: detection F1 + module top-3 on RCA_CONTROL_EVAL_DATASET, when configured;
* ``holdout deviation``: the share of held-back recent events the LSTM did not expect (lower is
  better; what normal looks like now). It only decides when nothing above applies: the LSTM
  raises anomaly scores but decides no incident, and a fresh LSTM trained for one epoch on a
  few hours differs from production's by a few points either way (measured: 0.36 vs 0.33 on a
  retrain that kept every detection).

Kept incidents an operator has since called false alarms (the challenger's Experience marks them
``overridden``) are left out of the first check: the verdict is newer than the label.
"Worse" means below production by more than the margin (above, for the deviation). The
challenger is promoted when no deciding check says worse. Pure functions over bundles: the trainer
(consumers/trainer.py) feeds them and records the checks in the MLflow run.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.bundle import ModelBundle
from engine.experience import Lesson
from engine.rca.evidence import unpack
from engine.rca.model import analyze, rank_incident, stream_windows

TOP_K = 3


@dataclass(frozen=True)
class Check:
    name: str
    challenger: float
    production: float
    higher_is_better: bool = True
    blocking: bool = False     # refuses on its own when the challenger scores 0 and production does not
    deciding: bool = True      # False: recorded only

    def worse(self, margin: float) -> bool:
        if self.blocking and self.production > 0 and self.challenger <= 0:
            return True
        if self.higher_is_better:
            return self.challenger < self.production - margin
        return self.challenger > self.production + margin

    def describe(self) -> str:
        return (f"{self.name} {self.challenger:.4f} vs production {self.production:.4f}"
                + ("" if self.deciding else " (recorded)"))


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    checks: tuple[Check, ...]

    def metrics(self) -> dict[str, float]:
        out = {}
        for c in self.checks:
            key = c.name.replace(" ", "_").replace("-", "_")
            out[key] = c.challenger
            out[f"production_{key}"] = c.production
        return out


def detects(bundle: ModelBundle, lesson: Lesson) -> bool:
    """Would a stream window of this lesson's records be an incident (the window detector)?"""
    events = [unpack(d) for d in lesson.events]
    model = bundle.rca_model
    return any(analyze(w, model, scope="window", sigs=sigs).is_incident for w, sigs in stream_windows(events))


def kept_incident_recall(bundle: ModelBundle, lessons: Sequence[Lesson]) -> float:
    failed = [le for le in lessons if le.failed and le.events]
    return sum(detects(bundle, le) for le in failed) / len(failed) if failed else 0.0


def verdict_score(bundle: ModelBundle, lessons: Sequence[Lesson]) -> float:
    """Mean over verdicts: right detection (1) + for a fault with a known cause, cause in the first
    TOP_K (1); out of the points available (0..1)."""
    got = total = 0
    for le in lessons:
        detected = detects(bundle, le) if le.events else False
        total += 1
        got += detected == le.failed
        if le.failed and le.cause and le.events:
            total += 1
            names = [rc.module or rc.subsystem for rc in rank_incident(le.events, bundle.rca_model)]
            got += le.cause in names[:TOP_K]
    return got / total if total else 0.0


def decide(challenger: ModelBundle, production: ModelBundle | None, held_verdicts: Sequence[Lesson],
           margin: float, deviation: tuple[float, float | None],
           labelled: tuple[float, float] | None = None) -> Decision:
    """Compare; ``deviation`` and ``labelled``: (challenger, production) scores measured by the caller."""
    if production is None:
        return Decision(True, "no production model", ())
    checks: list[Check] = []
    kept = production.learned_from
    now = challenger.learned_from
    overridden = {le.name for le in (now.lessons if now is not None else []) if getattr(le, "overridden_by", None)}
    kept_failed = [le for le in (kept.lessons if kept is not None else [])
                   if le.failed and le.events and le.name not in overridden]
    kept_failed += [le for le in held_verdicts if le.failed and le.events]
    if kept_failed:
        checks.append(Check("kept incidents detected", kept_incident_recall(challenger, kept_failed),
                            kept_incident_recall(production, kept_failed), blocking=True))
    if held_verdicts:
        checks.append(Check("held-back verdicts", verdict_score(challenger, held_verdicts),
                            verdict_score(production, held_verdicts)))
    if labelled is not None:
        checks.append(Check("labelled score", labelled[0], labelled[1]))
    if deviation[1] is not None:
        checks.append(Check("holdout deviation ratio", deviation[0], deviation[1], higher_is_better=False,
                            deciding=not checks))
    worse = [c for c in checks if c.deciding and c.worse(margin)]
    if worse:
        return Decision(False, "worse than production: " + "; ".join(c.describe() for c in worse)
                        + f" (margin {margin})", tuple(checks))
    return Decision(True, "not worse than production: " + "; ".join(c.describe() for c in checks)
                    + f" (margin {margin})", tuple(checks))


__all__ = ["Check", "Decision", "decide", "detects", "kept_incident_recall", "verdict_score"]
