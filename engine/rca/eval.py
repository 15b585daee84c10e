"""Evaluate RCA on a data set laid out like the fault-injection dev set.

Run-level failure detection: round 1 of a FAILURE test is positive, every
NO_FAILURE round is negative (a failing round 2 -- left-over state of round
1 -- is left out). Root cause: for every positive run, is the labelled
module (COMPONENT ``/nova/compute/manager.py`` -> ``nova.compute.manager``)
among the top-1 / top-3 candidates, at subsystem (``nova``), package
(``nova.compute``) and module level? The ranked list at each level is the
candidates' names at that level with repeats removed, in rank order.

Two root-cause figures are given:
* ``rca``: the ranking for every labelled incident, whether or not the
  detector flagged the run (RCA given that there is an incident, the way an
  operator asks with ``--issue``);
* ``rca_end_to_end``: a missed detection counts as a miss.

``cross_validate`` fits on some tests and evaluates on the others (folds by
test, so both rounds of a test are on the same side): the honest estimate
for unseen tests.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.parsing import ERROR_LEVELS
from schemas.log_event import LogEvent

from .dataset import RunRef, list_runs, load_run
from .model import RCAModel, analyze
from .modules import level_of
from .report import Report, RootCause

log = logging.getLogger(__name__)

LEVELS = ("subsystem", "package", "module")
AnalyzeFn = Callable[[list[LogEvent]], Report]


def is_evaluated(ref: RunRef) -> bool:
    """Runs that count for detection: round 1 of any test, and fault-free round 2s."""
    return ref.failure is not None and (ref.round == "round_1" or not ref.failure)


def ranked_names(report: Report) -> list[str]:
    """Module names in rank order (root causes, else the forced candidates)."""
    causes = report.root_causes or report.candidates
    return [rc.module or rc.subsystem for rc in causes]


def score_predictions(items: Sequence[tuple[RunRef, bool, list[str], list[str]]]) -> dict:
    """Metrics from (run, predicted incident, ranked modules, ranked modules if detected)."""
    tp = fp = fn = tn = 0
    hits = {k: {lvl: {1: 0, 3: 0} for lvl in LEVELS} for k in ("rca", "rca_end_to_end")}
    n_inc = 0
    per_run = []
    for ref, predicted, ranked, ranked_e2e in items:
        if not is_evaluated(ref):
            continue
        positive = bool(ref.failure) and ref.round == "round_1"
        tp += positive and predicted
        fp += (not positive) and predicted
        fn += positive and not predicted
        tn += (not positive) and not predicted
        row = {"run": ref.run_id, "label": positive, "predicted": predicted,
               "truth": ref.root_module, "top3": ranked[:3]}
        if positive and ref.root_module:
            n_inc += 1
            for key, names in (("rca", ranked), ("rca_end_to_end", ranked_e2e)):
                for lvl in LEVELS:
                    truth = level_of(ref.root_module, lvl)
                    ordered = _dedupe(level_of(n, lvl) for n in names)
                    for k in (1, 3):
                        hits[key][lvl][k] += truth in ordered[:k]
        per_run.append(row)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    out = {
        "detection": {"precision": precision, "recall": recall, "f1": f1,
                      "tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "incidents": n_inc, "runs": per_run,
    }
    for key in hits:
        out[key] = {f"{lvl}_top{k}": (hits[key][lvl][k] / n_inc if n_inc else 0.0)
                    for lvl in LEVELS for k in (1, 3)}
    return out


def _dedupe(names) -> list:
    seen, out = set(), []
    for n in names:
        if n is not None and n not in seen:
            seen.add(n)
            out.append(n)
    return out


def evaluate_dataset(dataset_dir: str | Path, labels_tsv: str | Path, analyze_fn: AnalyzeFn,
                     load_fn: Callable[[Path], list[LogEvent]] = load_run) -> dict:
    """Analyze every run of the data set with ``analyze_fn`` and score it.

    ``analyze_fn(events) -> Report``; for the ``rca`` figures on missed
    detections it should fill ``Report.candidates`` (``analyze(...,
    force_rank=True)``).
    """
    items = []
    for ref in list_runs(dataset_dir, labels_tsv):
        if not is_evaluated(ref):
            continue
        report = analyze_fn(load_fn(ref.path))
        items.append(_item(ref, report))
    return score_predictions(items)


def _item(ref: RunRef, report: Report) -> tuple[RunRef, bool, list[str], list[str]]:
    e2e = [rc.module or rc.subsystem for rc in report.root_causes] if report.is_incident else []
    return ref, report.is_incident, ranked_names(report), e2e


def cross_validate(refs: Sequence[RunRef], events: dict[str, list[LogEvent]], folds: int | None = 5,
                   seed: int = 0, issue_fn: Callable[[RunRef], str | None] | None = None) -> dict:
    """Fit on the other tests, analyze the held-out ones; folds by test.

    ``folds=None`` is leave-one-test-out. ``events`` maps run_id -> events
    (load once, reuse for every fold).
    """
    items = []
    folds_list = folds_by_test(refs, folds, seed)
    k = len(folds_list)
    for fold, (train, test) in enumerate(folds_list):
        model = fit_model(train, events)
        for ref in test:
            if not is_evaluated(ref):
                continue
            issue = issue_fn(ref) if issue_fn else None
            report = analyze(events[ref.run_id], model, issue=issue, force_rank=True)
            items.append(_item(ref, report))
        log.info("fold %d/%d done (%d test runs)", fold + 1, k, len(test))
    return score_predictions(items)


def folds_by_test(refs: Sequence[RunRef], folds: int | None = 5, seed: int = 0) -> list[tuple[list[RunRef], list[RunRef]]]:
    """(training runs, test runs) of each fold: tests shuffled by ``seed``, dealt round-robin
    (both rounds of a test on the same side); ``folds=None`` is leave-one-test-out. The
    stream evaluation (consumers/stream_eval.py) uses the same folds."""
    tests = sorted({r.test_id for r in refs})
    order = tests[:]
    random.Random(seed).shuffle(order)
    k = len(order) if folds is None else min(folds, len(order))
    fold_of = {t: i % k for i, t in enumerate(order)}
    return [([r for r in refs if fold_of[r.test_id] != fold], [r for r in refs if fold_of[r.test_id] == fold])
            for fold in range(k)]


def fit_model(refs: Sequence[RunRef], events: dict[str, list[LogEvent]]):
    """An RCAModel fitted on labelled runs (what ships is this on all dev data)."""
    runs = [events[r.run_id] for r in refs]
    labels = [r.failure for r in refs]
    roots = [r.root_module for r in refs]
    return RCAModel().fit(runs, labels, roots)


def baseline_analyze(events: list[LogEvent]) -> Report:
    """The naive rule: any ERROR record is an incident; the first ERROR's logger is the cause."""
    errors = [e for e in events if e.level in ERROR_LEVELS]
    if not errors:
        return Report(is_incident=False, anomaly_score=0.0)
    first = min(errors, key=lambda e: e.timestamp or 0.0)
    rc = RootCause(1, (first.logger or "unknown").split(".")[0], first.service, first.logger,
                   "error", 1.0, first.timestamp)
    return Report(is_incident=True, anomaly_score=1.0, root_causes=[rc], candidates=[rc])


def format_metrics(metrics: dict, title: str = "") -> str:
    """A short human-readable table of the metrics."""
    d = metrics["detection"]
    lines = [title] if title else []
    lines.append(f"detection  P={d['precision']:.3f} R={d['recall']:.3f} F1={d['f1']:.3f} "
                 f"(tp={d['tp']} fp={d['fp']} fn={d['fn']} tn={d['tn']})")
    for key in ("rca", "rca_end_to_end"):
        m = metrics[key]
        lines.append(f"{key:15s}" + "  ".join(
            f"{lvl} top1={m[f'{lvl}_top1']:.3f} top3={m[f'{lvl}_top3']:.3f}" for lvl in LEVELS)
            + f"  (n={metrics['incidents']})")
    return "\n".join(lines)


def evaluate(dataset_dir: str | Path, labels_tsv: str | Path, model=None, cv_folds: int | None = 5,
             baseline: bool = True, seed: int = 0, events: dict[str, list[LogEvent]] | None = None) -> dict:
    """Everything `rca eval` reports, loading each run once.

    With ``model``: that model on every run (a held-out evaluation). Without:
    ``in_sample`` (a model fitted on this data set and scored on it) and, when
    ``cv_folds`` is not 0, ``cross_validated`` (folds by test; None =
    leave-one-test-out). ``baseline``: the any-ERROR / first-ERROR-logger rule. ``events``:
    run_id -> parsed events when the caller loaded them already (missing runs are loaded).
    """
    refs = list_runs(dataset_dir, labels_tsv)
    events = events if events is not None else {}
    for r in refs:
        if r.run_id not in events:
            events[r.run_id] = load_run(r.path)
    evaluated = [r for r in refs if is_evaluated(r)]
    out: dict = {"runs": len(evaluated), "tests": len({r.test_id for r in refs})}
    if baseline:
        out["baseline"] = score_predictions([_item(r, baseline_analyze(events[r.run_id])) for r in evaluated])
    if model is not None:
        out["model"] = score_predictions(
            [_item(r, analyze(events[r.run_id], model, force_rank=True)) for r in evaluated])
        return out
    fitted = fit_model(refs, events)
    out["in_sample"] = score_predictions(
        [_item(r, analyze(events[r.run_id], fitted, force_rank=True)) for r in evaluated])
    if cv_folds != 0:
        out["cross_validated"] = cross_validate(refs, events, folds=cv_folds, seed=seed)
    return out


def ranking_cross_validate(refs: Sequence[RunRef], problems: dict[str, list[LogEvent]],
                           signatures: dict[str, set[str]], fit_ranker: Callable, folds: int | None = 5,
                           seed: int = 0) -> dict:
    """Batch root-cause ranking only, on the folds of ``cross_validate`` (a minute instead of
    twenty: for choosing ranking features and an ablation).

    ``problems``: run_id -> the errors, warnings and rare INFO records of each failed run with a
    root cause (what ``ranking_anomalies`` may keep); ``signatures``: run_id -> the set of signatures of
    every run (the normal profile). Each fold's profile, anomalies and training incidents are
    those ``fit_model`` and ``analyze`` use, so the ranking figures equal the batch CV's ``rca``
    ones. ``fit_ranker(incidents) -> Ranker``; returns {level_topk: share} and ``incidents``.
    """
    from .features import NormalProfile, signature
    from .ranker import ranking_anomalies

    hits: dict[str, int] = {f"{lvl}_top{k}": 0 for lvl in LEVELS for k in (1, 3)}
    n = 0
    for train, test in folds_by_test(refs, folds, seed):
        profile = NormalProfile()
        for r in train:
            if r.failure is False:
                profile.add_run(signatures[r.run_id])
        profile.finish()

        def anomalies(r):
            ev = problems[r.run_id]
            return ranking_anomalies(ev, profile, sigs=[signature(e) for e in ev])

        ranker = fit_ranker([(anomalies(r), r.root_module) for r in train if r.failure and r.root_module])
        for r in test:
            if not (r.failure and r.round == "round_1" and r.root_module):
                continue
            n += 1
            an = anomalies(r)
            names = [c.module for c in ranker.rank(an)] if an else []
            for lvl in LEVELS:
                ordered = _dedupe(level_of(m, lvl) for m in names)
                for k in (1, 3):
                    hits[f"{lvl}_top{k}"] += level_of(r.root_module, lvl) in ordered[:k]
    out: dict = {key: (v / n if n else 0.0) for key, v in hits.items()}
    out["incidents"] = n
    return out


RARE_INFO_SHARE = 0.1   # load_for_ranking keeps INFO records at most this share of fault-free runs show


def load_for_ranking(refs: Sequence[RunRef]) -> tuple[dict[str, list[LogEvent]], dict[str, set[str]]]:
    """(problems, signatures) for ``ranking_cross_validate``: loads each run once, keeps little.

    A failed run's INFO records are kept when their signature is in at most RARE_INFO_SHARE of
    all fault-free runs: a superset of those a fold's profile finds novel (NOVEL_SHARE of its
    own fault-free runs), so the ranking's INFO fallback sees what it would see in ``rca eval``."""
    from .features import signature
    from .ranker import NOVEL_SHARE

    kept: dict[str, list[LogEvent]] = {}
    sigs: dict[str, set[str]] = {}
    for r in refs:
        events = load_run(r.path)
        sigs[r.run_id] = {signature(e) for e in events}
        if r.failure and r.root_module:
            kept[r.run_id] = [e for e in events if e.level in ERROR_LEVELS or e.level in ("WARNING", "INFO")]
    normal = [sigs[r.run_id] for r in refs if r.failure is False]
    seen: dict[str, int] = {}
    for run in normal:
        for sig in run:
            seen[sig] = seen.get(sig, 0) + 1
    rare = max(RARE_INFO_SHARE, 2 * NOVEL_SHARE) * max(len(normal), 1)
    problems = {rid: [e for e in evs if e.level != "INFO" or seen.get(signature(e), 0) <= rare]
                for rid, evs in kept.items()}
    return problems, sigs

