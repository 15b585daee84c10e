"""`rca eval --stream`: replay labelled runs through the worker's own code and score the incidents.

Each run of a data set laid out like the fault-injection dev set is turned
into the messages a log shipper would send (one raw record per message: a
line, or a traceback's lines together, as a shipper with multiline settings
sends them; keyed ``host:path`` of its file; in event-time order over all
files; ``grouped=False`` sends every line on its own) and fed
through exactly what the worker runs, without a broker:
``consumers.pipeline.Pipeline`` (decode, parse, mine, window, score with the
served bundle; every window closed at the end) and then the incident
correlator (``consumers.incidents.Correlator``). A run is flagged when it
opened an incident; its root causes are its incidents' ranked causes, the
best incident first. The figures come from ``engine.rca.eval.score_predictions``
so they have the same shape as batch ``rca eval``, plus
``incidents_per_failed_run`` and ``fault_free_runs_with_incident``.

Cross-validated like batch eval (folds by test, same seed, so the folds are
the same): each fold's bundle is trained on the other tests. For speed the
per-fold bundle holds the template miner, the parameter model and the RCA
model but no LSTM: the LSTM only raises a window's anomaly score, it never
decides (engine/scoring.py), so detection and ranking are unchanged by it.
``--model REF`` replays with a served bundle as it is (held-out use).
"""
from __future__ import annotations

import heapq
import logging
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from config.settings import WorkerSettings
from consumers.incidents import Correlator, CorrelatorConfig
from consumers.pipeline import Pipeline
from engine.bundle import ModelBundle
from engine.params import ParamModel
from engine.rca.dataset import RunRef, list_runs, load_run, service_log_files
from engine.rca.eval import fit_model, folds_by_test, is_evaluated, score_predictions
from engine.templates import TemplateMiner

log = logging.getLogger(__name__)

PARTITIONS = 6          # as openstack.logs (config.settings.TopicSettings)
REPLAY_HOST = "devstack"  # the data set names no host: every file is keyed "<this>:<path>"

Message = tuple   # (key, value, partition) or (key, value, partition, broker time in ms)


# -- messages of a run ------------------------------------------------------
def _file_records(path: Path, index: int, grouped: bool = True) -> Iterator[tuple[float, int, int, str]]:
    """(event time, file index, record number, record text) of one log file.

    A record is what a shipper with multiline settings sends as one message: a
    line, or the lines of one multi-line record (a traceback logs many lines
    under one header); ``grouped=False``: every line on its own (a shipper
    without multiline settings). A record without a time of its own keeps its
    predecessor's.
    """
    from engine.parsing import parse_line, parse_lines

    last = float("-inf")
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = (line.rstrip("\r\n") for line in fh)
        events = parse_lines(lines) if grouped else (parse_line(line) for line in lines if line.strip())
        for n, event in enumerate(events):
            if event.timestamp is not None:
                last = event.timestamp
            if event.raw.strip():
                yield last, index, n, event.raw


def run_messages(run_dir: str | Path, host: str = REPLAY_HOST, grouped: bool = True,
                 shape: str | None = None) -> list[Message]:
    """The openstack.logs messages of one run (one raw record each, keyed ``host:path``),
    merged over its files in event-time order (``grouped``: see ``_file_records``).

    ``shape``: every record re-encoded as that pipeline ships it (engine/shapes/encode.py; its
    key, possibly none, and the time it reaches the broker), in the partition its raw lines
    would take (a shipper keyed by its stream)."""
    run_dir = Path(run_dir)
    files = service_log_files(run_dir)
    rel = ["/".join(p.relative_to(run_dir).parts) for p in files]
    keys = [f"{host}:{r}".encode() for r in rel]
    parts = [zlib.crc32(k) % PARTITIONS for k in keys]
    merged = heapq.merge(*(_file_records(p, i, grouped) for i, p in enumerate(files)))
    if shape is None or shape == "raw":
        return [(keys[i], text.encode("utf-8"), parts[i]) for _, i, _, text in merged]
    from engine.shapes.encode import RawRecord, encode

    records = list(merged)
    first = next((t for t, _, _, _ in records if t != float("-inf")), 0.0)
    out: list[Message] = []
    for t, i, _, text in records:
        when = t if t != float("-inf") else first   # a headerless record before any time: the run's first
        for key, value, arrival in encode(shape, RawRecord(text, host, rel[i], when)):
            out.append((key, value, parts[i], int(arrival * 1000)))
    return out


# -- the worker's code ------------------------------------------------------
def feed(pipeline: Pipeline, key: bytes, value: bytes, partition: int, offset: int, now: float,
         timestamp_ms: int | None = None) -> list:
    """One message through ``Pipeline.handle``; the windows it closed.

    The one place that knows handle's signature (it is the worker's, and it changes with it).
    """
    return pipeline.handle(value, key, partition, offset, timestamp_ms, None, now=now).closed


def replay(messages: Sequence[Message], pipeline: Pipeline) -> list[dict]:
    """RCA results of every window of the messages (every window closed at the end), in close order."""
    results: list[dict] = []
    offsets = [0] * PARTITIONS
    now = time.monotonic()
    for key, value, partition, *broker_ms in messages:
        closed = feed(pipeline, key, value, partition, offsets[partition], now, broker_ms[0] if broker_ms else None)
        offsets[partition] += 1
        results.extend(pipeline.results(closed))   # windows that close together are scored together
    results.extend(pipeline.results(pipeline.windows.close_all("shutdown")))
    return results


def make_pipeline(scorer, cfg: WorkerSettings | None = None) -> Pipeline:
    """A worker pipeline serving ``scorer`` (a BundleScorer), as consumers.models.apply does."""
    from consumers import models

    pipeline = Pipeline(cfg or WorkerSettings())
    quiet = logging.getLogger(models.__name__)
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))   # "serving model ..." once per replayed run is noise
    try:
        models.apply(pipeline, models.Serving(None, scorer))
    finally:
        quiet.setLevel(level)
    return pipeline


def stream_run(messages: Sequence[Message], scorer, config: CorrelatorConfig | None = None,
               cfg: WorkerSettings | None = None) -> tuple[list[dict], list[dict]]:
    """(every window's result, the final message of every incident) of one replayed run.

    Results go to the correlator in the order the worker publishes them; it expires
    incidents as event time advances, and resolves what is still open at the end.
    """
    pipeline = make_pipeline(scorer, cfg)
    correlator = Correlator(config or CorrelatorConfig.learned(pipeline.incident_gap), analyst=pipeline.incident_analyst)
    results = replay(messages, pipeline)
    final: dict[str, dict] = {}
    for result in results:
        for msg in correlator.observe(result):
            final[msg["incident_id"]] = msg
        result["incident_id"] = correlator.incident_of(result["window_id"])
        for msg in correlator.expire():
            final[msg["incident_id"]] = msg
    for msg in correlator.flush():
        final[msg["incident_id"]] = msg
    return results, list(final.values())


def ranked_modules(incidents: Sequence[dict]) -> list[str]:
    """Root causes of a run's incidents, best incident first (by score, then first seen)."""
    names: list[str] = []
    for inc in sorted(incidents, key=lambda i: (-i["score"], i["first_seen"], i["incident_id"])):
        names.extend(rc["module"] or rc["subsystem"] for rc in inc["root_causes"])
    return names


def score_stream(items: Sequence[tuple[RunRef, list[dict]]]) -> dict:
    """Batch-shaped figures (engine.rca.eval.score_predictions) of (run, its incidents), plus
    incidents per failed run and the share of fault-free runs with an incident."""
    preds = []
    failed, fault_free = [], []
    for ref, incidents in items:
        if not is_evaluated(ref):
            continue
        names = ranked_modules(incidents)
        preds.append((ref, bool(incidents), names, names))
        (failed if ref.failure and ref.round == "round_1" else fault_free).append(len(incidents))
    out = score_predictions(preds)
    out["incidents_per_failed_run"] = sum(failed) / len(failed) if failed else 0.0
    out["fault_free_runs_with_incident"] = (sum(1 for n in fault_free if n) / len(fault_free)
                                            if fault_free else 0.0)
    for row, (ref, incidents) in zip(out["runs"], [it for it in items if is_evaluated(it[0])]):
        row["incidents"] = len(incidents)
    return out


def fold_bundle(train: Sequence[RunRef], events: dict) -> ModelBundle:
    """A bundle for one cross-validation fold: template miner, parameter model and RCA model
    fitted on the training runs (no LSTM: it never decides, see the module doc)."""
    miner = TemplateMiner()
    mined: dict[str, list] = {}
    for ref in train:
        mined[ref.run_id] = [miner.add(e.message) for e in events[ref.run_id]]
    normal = [r for r in train if r.failure is False]
    params = ParamModel().fit((str(m.model_id), list(m.params)) for r in normal for m in mined[r.run_id])
    return ModelBundle(miner_state=miner.save(), rca_model=fit_model(train, events), param_model=params,
                       metadata={"stream_eval_fold": True, "runs": len(train)})


def evaluate_stream(dataset_dir: str | Path, labels_tsv: str | Path, bundle: ModelBundle | None = None,
                    version: str | None = None, folds: int | None = 5, seed: int = 0,
                    events: dict | None = None, config: CorrelatorConfig | None = None,
                    refs: Sequence[RunRef] | None = None, grouped: bool = True,
                    shape: str | None = None) -> dict:
    """Stream figures of a labelled data set.

    With ``bundle``: that bundle serves every run (``{"stream": ...}``, held-out use).
    Without: folds by test as ``engine.rca.eval.cross_validate`` makes them (same seed,
    same folds), each fold's bundle trained on the other tests
    (``{"stream_cross_validated": ...}``). ``events``: run_id -> parsed events (to fit
    the folds' models; loaded when not given). ``refs``: a subset of the runs. ``grouped``:
    multi-line records in one message (False: one message per line). ``shape``: every run
    re-encoded in that pipeline's shape first (engine/shapes/encode.py).
    """
    return evaluate_stream_shapes(dataset_dir, labels_tsv, [shape or "raw"], bundle, version, folds, seed, events,
                                  config, refs, grouped)[shape or "raw"]


def evaluate_stream_shapes(dataset_dir: str | Path, labels_tsv: str | Path, shapes: Sequence[str],
                           bundle: ModelBundle | None = None, version: str | None = None, folds: int | None = 5,
                           seed: int = 0, events: dict | None = None, config: CorrelatorConfig | None = None,
                           refs: Sequence[RunRef] | None = None, grouped: bool = True) -> dict[str, dict]:
    """`evaluate_stream` for each of ``shapes`` (shape -> its figures), each fold's bundle
    trained once and serving every shape: only the messages differ between shapes."""
    from engine.scoring import BundleScorer

    refs = list(refs) if refs is not None else list_runs(dataset_dir, labels_tsv)
    items: dict[str, list[tuple[RunRef, list[dict]]]] = {s: [] for s in shapes}
    spent = {s: 0.0 for s in shapes}
    started = time.monotonic()

    def stream(ref: RunRef, scorer) -> None:
        for s in shapes:
            t0 = time.monotonic()
            items[s].append((ref, stream_run(run_messages(ref.path, grouped=grouped, shape=s), scorer, config)[1]))
            spent[s] += time.monotonic() - t0

    if bundle is not None:
        scorer = BundleScorer(bundle, version)
        for ref in refs:
            if is_evaluated(ref):
                stream(ref, scorer)
        gates, name = [stall_gate(bundle)], "stream"
    else:
        if events is None:
            events = {r.run_id: load_run(r.path) for r in refs}
        gates, name = [], "stream_cross_validated"
        for k, (train, test) in enumerate(folds_by_test(refs, folds, seed)):
            fold = fold_bundle(train, events)
            gates.append(stall_gate(fold))
            scorer = BundleScorer(fold, f"cv-fold-{k + 1}")
            for ref in test:
                if is_evaluated(ref):
                    stream(ref, scorer)
            log.info("stream fold %d done (%d test runs)", k + 1, len(test))
    out = {}
    for s in shapes:
        figures = score_stream(items[s])
        figures["stall_gates"] = gates
        figures["seconds"] = round(spent[s] if len(shapes) > 1 else time.monotonic() - started, 1)
        out[s] = {name: figures}
    return out


def format_shapes(by_shape: dict[str, dict]) -> str:
    """One row per shape: detection and every top-k, beside the raw lines' row when present."""
    cols = [("F1", "detection", "f1")] + [(f"{lvl[:3]}@{k}", "rca", f"{lvl}_top{k}")
                                          for lvl in ("subsystem", "package", "module") for k in (1, 3)]
    head = f"{'shape':18s}" + "".join(f"{c:>8s}" for c, _, _ in cols) + f"{'inc/run':>9s}{'max|d|':>8s}{'s':>7s}"
    lines = [head]
    ref = next(iter(by_shape.get("raw", {}).values()), None)
    for shape, result in by_shape.items():
        fig = next(iter(result.values()))
        vals = [fig[g][k] for _, g, k in cols]
        diff = max(abs(v - ref[g][k]) for v, (_, g, k) in zip(vals, cols)) if ref is not None else float("nan")
        lines.append(f"{shape:18s}" + "".join(f"{v:8.3f}" for v in vals)
                     + f"{fig['incidents_per_failed_run']:9.2f}{diff:8.3f}{fig['seconds']:7.0f}")
    return "\n".join(lines)


def stall_gate(bundle: ModelBundle) -> float | None:
    """The follow-up gate a bundle's incident windows must reach (engine/rca/followups.py; 0: no
    gate; None: a model fitted before the gate existed)."""
    followups = getattr(bundle.rca_model, "followups", None)
    return None if followups is None else round(followups.threshold, 4)


def format_side_by_side(batch: dict, stream: dict, title: str = "") -> str:
    """Batch and stream figures in two columns (the same metrics), then the incident counts."""
    rows = [("detection precision", "detection", "precision"), ("detection recall", "detection", "recall"),
            ("detection F1", "detection", "f1")]
    rows += [(f"{lvl} top-{k}", "rca", f"{lvl}_top{k}") for lvl in ("subsystem", "package", "module")
             for k in (1, 3)]
    lines = [title] if title else []
    lines.append(f"{'':24s}{'batch':>8s}{'stream':>8s}")
    for name, group, key in rows:
        lines.append(f"{name:24s}{batch[group][key]:8.3f}{stream[group][key]:8.3f}")
    d, s = batch["detection"], stream["detection"]
    lines.append(f"{'tp/fp/fn/tn':24s}{d['tp']}/{d['fp']}/{d['fn']}/{d['tn']:<4d} {s['tp']}/{s['fp']}/{s['fn']}/{s['tn']}")
    lines.append(f"stream: {stream['incidents_per_failed_run']:.2f} incidents per failed run; "
                 f"{stream['fault_free_runs_with_incident']:.1%} of fault-free runs with an incident "
                 f"(n={stream['incidents']} incidents labelled)")
    if stream.get("stall_gates"):
        gates = " ".join("none" if g is None else f"{g:.3f}" for g in stream["stall_gates"])
        lines.append(f"stream: follow-up gate (workflow stall an incident window needs) per model: {gates}")
    return "\n".join(lines)
