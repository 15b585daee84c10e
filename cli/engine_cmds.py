"""`rca train`, `rca analyze` and `rca eval`: the engine from the command line."""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from cli.models_cmd import add_mlflow_flags, mlflow_enabled
from cli.output import out as _out

log = logging.getLogger("rca")


# -- train -----------------------------------------------------------------
def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model bundle from logs (tracked in MLflow by default)",
                       description="Train the template miner, the DeepLog LSTM, the parameter model and the RCA "
                                   "model from files/folders, simulator output, or a labelled data set laid out "
                                   "like the fault-injection dev set (with --labels).")
    p.add_argument("--logs", nargs="+", required=True, metavar="PATH")
    p.add_argument("--labels", default=None, metavar="TSV", help="labels.tsv of a labelled data set")
    p.add_argument("--epochs", type=int, default=3, help="LSTM epochs (default 3)")
    p.add_argument("--no-register", action="store_true", help="track the run but do not register a version")
    add_mlflow_flags(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from tqdm import tqdm

    from engine.training import load_inputs, train
    from tracking.api import track_training

    if not 1 <= args.epochs <= 200:
        raise ValueError("--epochs must be between 1 and 200")
    if args.labels and not Path(args.labels).is_file():
        raise ValueError(f"{args.labels}: no such labels file")
    started = time.monotonic()
    data = load_inputs(args.logs, args.labels)
    read_s = time.monotonic() - started
    bar = tqdm(total=100, unit="%", desc="training", disable=not sys.stderr.isatty())

    def progress(stage: str, frac: float) -> None:
        bar.set_description(stage)
        bar.update(max(0, int(frac * 100) - bar.n))
        log.debug("training: %s (%.0f%%)", stage, frac * 100)

    bundle = train(data, epochs=args.epochs, progress=progress)
    bar.close()
    elapsed = time.monotonic() - started
    meta = bundle.metadata
    metrics = {"training_seconds": round(elapsed, 2), "lines": data.lines, "templates": meta["templates"],
               "final_loss": meta["loss_curve"][-1] if meta["loss_curve"] else float("nan")}
    record = track_training(bundle, params={"epochs": args.epochs, "inputs": ",".join(args.logs)[:500],
                                            "labels": args.labels or ""},
                            metrics=metrics, history=meta["loss_curve"], data_summary=data.summary(),
                            threshold=bundle.thresholds.get("sequence_deviation_ratio"),
                            enabled=mlflow_enabled(args), register=not args.no_register)
    _out(f"trained on {data.lines} lines ({len(data.runs)} runs, {sum(len(r) for r in data.runs)} events) "
         f"in {elapsed:.1f}s (reading {read_s:.1f}s): {meta['templates']} templates, "
         f"LSTM vocabulary {meta['vocabulary']}, loss {metrics['final_loss']:.4f}; "
         f"{data.lines / max(elapsed, 1e-9):,.0f} lines/s")
    _out(record.summary())
    return 0


# -- analyze ---------------------------------------------------------------
def add_analyze(sub) -> None:
    p = sub.add_parser("analyze", help="batch RCA over log files and folders",
                       description="One report for the whole input: incidents, ranked root causes with evidence, "
                                   "a timeline. Uses the production model unless --model is given.")
    p.add_argument("--logs", nargs="+", required=True, metavar="PATH")
    p.add_argument("--issue", default=None, help='what the operator saw, e.g. "Volume attach failed"')
    p.add_argument("--fast-mode", action="store_true", help="skip the LSTM (rules + detector only)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--model", default=None, metavar="REF",
                   help="alias, version, s3:// or file:// folder, or a local model folder")
    add_mlflow_flags(p)
    p.set_defaults(func=cmd_analyze)


def _input_files(paths: list[str]) -> list[str]:
    """Files to analyse. A run folder of a labelled data set keeps only its service logs
    (its trigger_log and foreground_wl/ are labels, never input)."""
    from engine.rca.dataset import service_log_files
    from engine.readers import expand

    files: list[str] = []
    for p in paths:
        q = Path(p)
        if q.is_dir() and ((q / "foreground_wl").is_dir() or (q / "trigger_log").exists()):
            files.extend(str(f) for f in service_log_files(q))
        else:
            files.extend(expand([p]))
    return files


def cmd_analyze(args) -> int:
    from engine.readers import InputError
    from engine.training import read_events
    from tracking.api import analysis_run

    events, lines = [], 0
    for f in _input_files(args.logs):
        evs, n = read_events(f)
        events.extend(e for e in evs if e.parse_error is None)
        lines += n
    if not events:
        raise InputError("no OpenStack log records found in the input (unknown format or empty)")
    events.sort(key=lambda e: e.timestamp or 0.0)
    scorer, warning = _scorer_for(args.model, args.logs)
    with analysis_run({"issue": args.issue or "", "fast_mode": args.fast_mode, "inputs": ",".join(args.logs)[:500],
                       "model_version": scorer.version or ""}, enabled=mlflow_enabled(args)) as run:
        report, sig = scorer.analyze(events, issue=args.issue, fast_mode=args.fast_mode)
        out = {**report.to_dict(), "scores": sig.to_dict(), "model_version": scorer.version,
               "fast_mode": args.fast_mode, "issue": args.issue, "lines": lines}
        if args.fast_mode:
            out["notes"] = ["fast mode: the LSTM sequence model was skipped"]
        if warning:
            out.setdefault("notes", []).append(warning)
        run.log_metrics({"events": len(events), "anomaly_score": report.anomaly_score,
                         "incidents": len(report.incidents), "root_causes": len(report.root_causes)})
        run.put_json("report.json", out)
        out["tracking"] = run.summary()
    if args.json:
        _out(json.dumps(out, default=str))
    else:
        _print_report(out)
    return 0


def _scorer_for(ref: str | None, paths: list[str]):
    """(scorer, warning): the requested or production model, else one trained on the input."""
    from engine.scoring import BundleScorer
    from tracking.api import load_model

    try:
        loaded = load_model(ref)
        return BundleScorer(loaded.bundle, str(loaded.version) if loaded.version is not None else loaded.source), None
    except Exception as exc:  # noqa: BLE001 - fall back below, unless the user named a model
        if ref is not None:
            raise RuntimeError(f"cannot load model {ref}: {exc}") from None
        from engine.training import load_inputs, train

        warning = (f"no production model ({str(exc).splitlines()[0][:200]}); trained a model on the input itself: "
                   "treat the ranking as indicative")
        log.warning(warning)
        bundle = train(load_inputs(paths), epochs=1)
        return BundleScorer(bundle, "trained-on-input"), warning


def _print_report(out: dict) -> None:
    _out(f"events: {out['event_count']}  anomaly score: {out['anomaly_score']:.2f}  "
         f"model: {out['model_version']}  {'(fast mode: LSTM skipped)' if out['fast_mode'] else ''}")
    for note in out.get("notes", []):
        _out(f"note: {note}")
    if not out["incidents"]:
        _out("no incident detected")
    for inc in out["incidents"]:
        _out(f"INCIDENT {inc['start']} .. {inc['end']}  services: {', '.join(inc['services'])}")
        _out(f"  {inc['summary']}")
    if out["root_causes"]:
        _out("root causes:")
    for rc in out["root_causes"]:
        _out(f"  #{rc['rank']} {rc['subsystem']:8} {rc.get('service') or '-':16} {rc.get('module') or '-':40} "
             f"{rc['category']:16} score {rc['score']:.2f}  first seen {rc.get('first_seen')}")
        for line in rc["evidence"][:3]:
            _out(f"      | {line[:200]}")
        if rc.get("recommendation"):
            _out(f"      -> {rc['recommendation']}")
    if out.get("timeline"):
        _out("timeline:")
        for t in out["timeline"][:15]:
            _out(f"  {t['time']} {t.get('service') or '-':16} {t.get('level') or '-':8} {t['message'][:120]}")
    _out(f"tracking: {out.get('tracking')}")



# -- eval ------------------------------------------------------------------
def add_eval(sub) -> None:
    p = sub.add_parser("eval", help="detection P/R/F1 and root-cause top-1/top-3 on a labelled data set",
                       description="Analyse every run of a folder laid out like the fault-injection dev set "
                                   "(<Subsystem>/Test_<n>/logs/round_1|round_2) and score it against labels.tsv: "
                                   "run-level failure detection precision/recall/F1 and root-cause top-1/top-3 "
                                   "accuracy at subsystem, package and module level. Without --model: the "
                                   "in-sample figures of a model fitted on the data set and the honest "
                                   "cross-validated ones (folds by test), beside the any-ERROR baseline.")
    p.add_argument("--dataset", required=True, metavar="DIR")
    p.add_argument("--labels", default=None, metavar="TSV", help="default: DIR/labels.tsv or DIR/../labels.tsv")
    p.add_argument("--model", default=None, metavar="REF", help="evaluate this model (held-out use)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds by test (0: none)")
    p.add_argument("--stream", action="store_true",
                   help="also replay every run through the worker's pipeline and incident correlator "
                        "(cross-validated on the same folds, or with --model) and print both side by side")
    p.add_argument("--shape", default=None, metavar="NAME",
                   help="with --stream: re-encode every run as this pipeline ships it before the replay "
                        "(engine/shapes: oslo_json, journald, journald_stdout, kolla_fluentd, fluentbit_docker, "
                        "cri, vector, filebeat, tripleo_rsyslog, rsyslog, syslog_ng, rfc3164, rfc5424, ...); "
                        "several (A,B) or 'all': one table with the raw lines' row (the folds' models are "
                        "trained once)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)


def _labels_for(dataset: Path, given: str | None) -> Path:
    if given:
        path = Path(given)
    else:
        path = next((p for p in (dataset / "labels.tsv", dataset.parent / "labels.tsv",
                                 dataset / "devset" / "labels.tsv") if p.is_file()), dataset / "labels.tsv")
    if not path.is_file():
        raise ValueError(f"no labels.tsv found for {dataset} (use --labels)")
    return path


def cmd_eval(args) -> int:
    from engine.rca.eval import evaluate, format_metrics

    dataset = Path(args.dataset)
    if not dataset.is_dir():
        raise ValueError(f"{dataset}: no such folder")
    labels = _labels_for(dataset, args.labels)
    model = loaded = None
    if args.model:
        from tracking.api import load_model

        loaded = load_model(args.model)
        model = loaded.bundle.rca_model
    if args.stream and not args.model and not args.folds:
        raise ValueError("--stream needs --model or cross-validation folds (--folds > 0)")
    shapes = _shapes_for(args.shape, args.stream)
    started = time.monotonic()
    events: dict = {}
    out = evaluate(dataset, labels, model=model, cv_folds=args.folds or 0, events=events)
    if args.stream:
        from consumers.stream_eval import evaluate_stream_shapes

        by_shape = evaluate_stream_shapes(dataset, labels, shapes, bundle=loaded.bundle if loaded else None,
                                          version=loaded.label if loaded else None, folds=args.folds, events=events)
        if len(shapes) > 1:
            out["stream_by_shape"] = by_shape
        else:
            out.update(by_shape[shapes[0]])
            if args.shape:
                out["stream_shape"] = shapes[0]
    out["seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        _out(json.dumps(out, default=str))
        return 0
    _out(f"{out['runs']} runs of {out['tests']} tests in {out['seconds']}s ({dataset})")
    for key, title in (("baseline", "baseline (any ERROR; first ERROR's logger)"), ("model", "model"),
                       ("in_sample", "in-sample (fitted and scored on this data set)"),
                       ("cross_validated", f"cross-validated ({args.folds} folds by test)")):
        if key in out:
            _out(format_metrics(out[key], title=f"-- {title}"))
    if args.stream and len(shapes) > 1:
        from consumers.stream_eval import format_shapes

        how = f"model {loaded.label}" if loaded else f"cross-validated, the same {args.folds} folds by test"
        _out(f"-- stream per shape ({how}; every run re-encoded as each pipeline ships it; max|d|: the largest "
             f"difference from the raw lines' row)")
        _out(format_shapes(out["stream_by_shape"]))
    elif args.stream:
        from consumers.stream_eval import format_side_by_side

        batch_key, stream_key, how = (("model", "stream", f"model {loaded.label}") if loaded else
                                      ("cross_validated", "stream_cross_validated",
                                       f"cross-validated, the same {args.folds} folds by test"))
        _out(format_side_by_side(out[batch_key], out[stream_key],
                                 title=f"-- batch vs stream ({how}; stream: the worker's pipeline and "
                                       f"incident correlator, one incident = one flagged run"
                                       f"{'; records shipped as ' + shapes[0] if args.shape else ''})"))
    return 0


def _shapes_for(shape: str | None, stream: bool) -> list[str]:
    """The shapes `rca eval --stream` replays: raw lines, one named shape, or every shape (raw first)."""
    from engine.shapes.encode import ENCODED_SHAPES

    if shape is None:
        return ["raw"]
    if not stream:
        raise ValueError("--shape needs --stream")
    if shape == "all":
        return list(ENCODED_SHAPES)
    names = [s.strip() for s in shape.split(",") if s.strip()]
    for name in names:
        if name not in ENCODED_SHAPES:
            raise ValueError(f"unknown shape {name!r}; known: {', '.join(ENCODED_SHAPES)}, all")
    if len(names) > 1 and "raw" not in names:
        names.insert(0, "raw")   # a table of shapes has the raw lines' row to compare with
    return names


REGISTRY = [add_train, add_analyze, add_eval]
