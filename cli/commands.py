"""Subcommands of `rca`. Each `add_*` registers one subcommand and its handler."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from cli.engine_cmds import REGISTRY as ENGINE
from cli.models_cmd import add_mlflow_flags, add_models, mlflow_enabled
from cli.output import out as _out
from cli.simulate_cmd import add_simulate
from cli.verdicts_cmd import add_verdict_commands, verdict_label
from config.settings import get_settings

# engine.readers.InputError and schemas.SchemaError are ValueErrors, so they are caught too.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, RuntimeError, OSError)


# -- stack -----------------------------------------------------------------
def add_stack(sub) -> None:
    p = sub.add_parser("stack", help="start/stop the local Kafka + S3 + MLflow stack",
                       description="Local stack on loopback: Kafka (KRaft), s3proxy, MLflow server.")
    p.add_argument("action", choices=["up", "down", "status", "env"])
    p.set_defaults(func=cmd_stack)


def cmd_stack(args) -> int:
    from devstack import stack

    settings = get_settings()
    if args.action == "up":
        pids = stack.up(settings)
        _out(" ".join(f"{k}={v}" for k, v in pids.items()))
        _out(f"environment: source {settings.stack.state_dir / 'stack.env'}")
    elif args.action == "down":
        stopped = stack.down(settings)
        _out("stopped: " + (", ".join(stopped) or "nothing was running"))
    elif args.action == "status":
        status = stack.status(settings)
        for name, pid in status.items():
            _out(f"{name:8} {'running (pid %d)' % pid if pid else 'stopped'}")
        return 0 if all(status.values()) else 3
    else:
        for k, v in stack.env(settings).items():
            _out(f"export {k}={v}")
    return 0


# -- config ----------------------------------------------------------------
def add_config(sub) -> None:
    p = sub.add_parser("config", help="show the effective settings (secrets masked)")
    p.add_argument("action", choices=["show"])
    p.set_defaults(func=lambda a: _out(json.dumps(get_settings().masked(), indent=2, default=str)))


# -- publish ---------------------------------------------------------------
def add_publish(sub) -> None:
    p = sub.add_parser("publish", help="publish log files to openstack.logs",
                       description="Read files/folders (plain, .gz, .bz2, .xz; '-' for stdin), parse oslo.log "
                                   "records and produce them as log events.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--follow", action="store_true", help="keep reading files as they grow")
    p.add_argument("--rate", type=float, default=None, help="at most N events per second")
    p.add_argument("--topic", default=None, help="topic (default: RCA_TOPIC_LOGS or openstack.logs)")
    p.add_argument("--batch", type=int, default=1, metavar="N",
                   help="records per message: N > 1 sends batch envelopes (schemas/log_batch.schema.json) of up "
                        "to N records of one key (default 1: one record per message)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_publish)


def cmd_publish(args) -> int:
    from producers.publish import events_from_paths, publish

    if args.rate is not None and args.rate <= 0:
        raise ValueError("--rate must be positive")
    if args.batch < 1:
        raise ValueError("--batch must be at least 1")
    settings = get_settings()
    topic = args.topic or settings.topics.logs
    report = publish(events_from_paths(args.paths, follow=args.follow), settings.kafka, topic,
                     rate=args.rate, progress=not args.no_progress, batch=args.batch)
    _out(f"published {report.delivered} of {report.events} events to {topic}"
         + (f" in {report.messages} messages" if args.batch > 1 else ""))
    if report.failed:
        print(f"rca publish: error: {report.failed} deliveries failed: {'; '.join(report.errors)}", file=sys.stderr)
        return 1
    return 0


# -- worker ----------------------------------------------------------------
def add_worker(sub) -> None:
    p = sub.add_parser("worker", help="run the streaming worker (Faust app)",
                       description="Consume openstack.logs, window events, publish RCA results to rca.results.")
    p.add_argument("--window", type=float, default=None, help="window size in seconds (default 60)")
    p.add_argument("--lateness", type=float, default=None, help="allowed lateness in seconds (default 30)")
    p.add_argument("--idle-timeout", type=float, default=None, help="close windows after N quiet seconds")
    p.add_argument("--model", default=None, metavar="REF", help="model to serve (default: the production alias)")
    p.add_argument("--baseline", action="store_true", help="serve the baseline analyzer, no model")
    add_mlflow_flags(p)
    p.set_defaults(func=cmd_worker)


def cmd_worker(args) -> int:
    from consumers.app import run_worker
    from consumers.pipeline import Pipeline

    settings = get_settings()
    overrides = {k: v for k, v in (("window_seconds", args.window), ("allowed_lateness_seconds", args.lateness),
                                   ("idle_timeout_seconds", args.idle_timeout)) if v is not None}
    if overrides:
        settings.worker = settings.worker.model_copy(update=overrides)
    run_worker(settings, Pipeline(settings.worker), model_ref=args.model, track=mlflow_enabled(args),
               serve_models=not args.baseline)
    return 0


# -- results and incidents -------------------------------------------------
def add_results(sub) -> None:
    p = sub.add_parser("results", help="read RCA results (one per window) from rca.results",
                       description="A table of the newest window results (or JSON lines); incidents, which "
                                   "group windows, are in `rca incidents`.")
    p.add_argument("--follow", action="store_true", help="keep waiting for new results")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.add_argument("--since", default=None, help="only results produced after T (e.g. 1h, 2026-11-26T15:00Z)")
    p.add_argument("--incidents", action="store_true", help="only windows judged to be incidents")
    _add_limit_flags(p, "results")
    p.set_defaults(func=cmd_results)


def _add_limit_flags(p, what: str) -> None:
    p.add_argument("-n", "--last", type=int, default=20, metavar="N", help=f"show the newest N {what} (default 20)")
    p.add_argument("--all", action="store_true", help=f"show every {what[:-1]}")


def _limit(args) -> int | None:
    if args.last <= 0:
        raise ValueError("--last must be positive")
    return None if args.all else args.last


def cmd_results(args) -> int:
    import heapq

    from config.timeparse import parse_time
    from consumers.results import CAUGHT_UP, read_topic

    from cli.output import Column, Table

    settings = get_settings()
    since_ms = int(parse_time(args.since) * 1000) if args.since else None
    table = Table([Column("window start", 19), Column("session key", 24), Column("events", 6, ">"),
                   Column("status", 8), Column("score", 5, ">"), Column("top root cause", 30, flexible=True)])

    def show(r: dict) -> None:
        if args.json:
            _out(json.dumps(r))
            return
        incident = bool(r.get("is_incident"))
        _out(table.row([r["window_start"][:19].replace("T", " "), r["session_key"], str(r["event_count"]),
                        "INCIDENT" if incident else "ok", f"{r['anomaly_score']:.2f}", _cause(r)],
                       [None, None, None, "red" if incident else "green", None, None]))

    limit = _limit(args)
    # A window's result can come again (re-delivery, or republished once its incident is known):
    # the backlog keeps the latest message per window id, then the newest `limit` windows by end.
    latest: dict[str, dict] | None = {}

    def backlog() -> list[dict]:
        key = lambda r: (r.get("window_end") or "", r.get("window_id") or "")  # noqa: E731
        chosen = latest.values() if limit is None else heapq.nlargest(limit, latest.values(), key=key)
        return sorted(chosen, key=key)

    for r in read_topic(settings.kafka, settings.topics.results, follow=args.follow, since_ms=since_ms,
                        group_prefix="rca-results-reader"):
        if r is CAUGHT_UP:
            _print_backlog(args, table, backlog(), len(latest), "results", show)
            latest = None
            continue
        if args.incidents and not r.get("is_incident"):
            continue
        if latest is None:
            show(r)
        else:
            latest[r.get("window_id") or str(len(latest))] = r
    if latest is not None:
        _print_backlog(args, table, backlog(), len(latest), "results", show)
    return 0


def _print_backlog(args, table, backlog, total: int, what: str, show) -> None:
    if not args.json:
        _out(table.header())
    for item in backlog:
        show(item)
    if not args.json:
        shown = f"the newest {len(backlog)} of {total} {what} (--all for every one)" if len(backlog) < total \
            else f"{total} {what}"
        _out(shown + (", following…" if args.follow else ""))


def _cause(item: dict) -> str:
    from consumers.results import top_cause

    return top_cause(item)


def add_incidents(sub) -> None:
    p = sub.add_parser("incidents", help="read incidents (correlated windows) from rca.incidents",
                       description="The latest state of each incident: id, state, first seen, top root cause, "
                                   "services, windows. --follow prints every change as it comes.")
    p.add_argument("--follow", action="store_true", help="keep printing incidents as they open, change, resolve")
    p.add_argument("--json", action="store_true", help="print JSON lines (the incident messages) instead of a table")
    p.add_argument("--open", action="store_true", help="only incidents not yet resolved")
    _add_limit_flags(p, "incidents")
    p.set_defaults(func=cmd_incidents)
    add_verdict_commands(p)   # rca incidents confirm|reject|missed (cli/verdicts_cmd.py)


STATE_COLOURS = {"open": "red", "updated": "yellow", "resolved": "green"}


def cmd_incidents(args) -> int:
    from consumers.results import CAUGHT_UP, IncidentBook, read_topic

    from cli.output import Column, Table

    settings = get_settings()
    limit = _limit(args)
    book = IncidentBook(recent=10**9)
    table = Table([Column("incident", 28), Column("state", 8), Column("first seen", 19),
                   Column("top root cause", 30, flexible=True), Column("services", 24), Column("windows", 7, ">"),
                   Column("verdict", 12, flexible=True)])
    verdicts = _verdicts(settings)

    def show(i: dict) -> None:
        if args.json:
            _out(json.dumps({**i, "verdict": verdicts.get(i["incident_id"])}))
            return
        _out(table.row([i["incident_id"], i["state"], i["first_seen"][:19].replace("T", " "), _cause(i),
                        ",".join(i.get("services") or []) or "-", str(i.get("window_count", 0)),
                        verdict_label(verdicts.get(i["incident_id"]))],
                       [None, STATE_COLOURS.get(i["state"]), None, None, None, None, None]))

    def keep(i: dict) -> bool:
        return not args.open or i.get("state") != "resolved"

    caught_up = False
    for item in read_topic(settings.kafka, settings.topics.incidents, follow=args.follow,
                           group_prefix="rca-incidents-reader"):
        if item is CAUGHT_UP:
            caught_up = True
            latest = _oldest_first(book, keep)
            _print_backlog(args, table, latest[-limit:] if limit else latest, len(latest), "incidents", show)
            continue
        if book.add(item) and caught_up and keep(item):
            show(item)
    if not caught_up:
        latest = _oldest_first(book, keep)
        _print_backlog(args, table, latest[-limit:] if limit else latest, len(latest), "incidents", show)
    return 0


def _verdicts(settings) -> dict[str, dict]:
    """incident id -> its latest accepted verdict (rca.feedback), without the records it carries."""
    import logging

    from consumers.feedback import read_verdicts

    try:
        given = read_verdicts(settings)
    except Exception as exc:  # noqa: BLE001 - the incidents are still worth listing; reading them says why
        logging.getLogger("rca.cli").warning("verdicts not read from %s: %s", settings.topics.feedback, exc)
        given = []
    return {v["incident_id"]: {k: x for k, x in v.items() if k not in ("evidence", "signature")} for v in given}


def _oldest_first(book, keep) -> list[dict]:
    return sorted((i for i in book.incidents.values() if keep(i)), key=lambda i: i.get("first_seen") or "")


def add_ui(sub) -> None:
    p = sub.add_parser("ui", help="serve the live incident page (http://127.0.0.1:8765/ by default)",
                       description="A web page of open and recent incidents (rca.incidents) with their ranked "
                                   "root causes, evidence and timelines, and the workers' health (their /metrics). "
                                   "Loopback only by default: put a reverse proxy with authentication in front "
                                   "to share it (README).")
    p.add_argument("--host", default=None, help="address to listen on (default RCA_UI_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default RCA_UI_PORT or 8765)")
    p.add_argument("--metrics-url", action="append", default=None, metavar="URL",
                   help="a worker's /metrics URL for the health strip (repeatable; default RCA_UI_METRICS_URLS)")
    p.set_defaults(func=cmd_ui)


def cmd_ui(args) -> int:
    from consumers.ui.server import run

    settings = get_settings()
    host = args.host or settings.ui.host
    port = settings.ui.port if args.port is None else args.port
    _out(f"incident page on http://{host}:{port}/ (reading {settings.topics.incidents}); Ctrl-C stops it")
    run(settings, host, port, metrics_urls=args.metrics_url)
    return 0


# -- bench -----------------------------------------------------------------
def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks that print figures (no asserts)")
    bsub = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    e2e = bsub.add_parser(
        "e2e", help="the worker beside a bare consumer and a bare Faust agent on one broker and topic",
        description="In one run on the same broker and input topic: a bare confluent-kafka consumer, a bare Faust "
                    "agent, the worker with the baseline analyzer, the worker serving a model (trained on the input "
                    "unless --model), its backlog and steady-stream latency, batched messages, and --workers N "
                    "in one group. Figures only, no asserts.")
    e2e.add_argument("--events", type=int, default=20_000, help="messages of input (default 20000; with --logs: "
                                                                "at most this many, 0 for all)")
    e2e.add_argument("--logs", nargs="+", default=None, metavar="PATH",
                     help="replay these OpenStack log files/folders instead of the simulator")
    e2e.add_argument("--format", choices=["mixed", "raw", "json"], default="mixed",
                     help="how sources ship: raw lines, JSON log events, or half of the sources each (default)")
    e2e.add_argument("--window", type=float, default=10.0, help="window size (s) for the run (default 10)")
    e2e.add_argument("--lateness", type=float, default=2.0, help="allowed lateness (s) (default 2)")
    e2e.add_argument("--idle-timeout", type=float, default=5.0, help="idle timeout (s) (default 5, the worker's)")
    e2e.add_argument("--partitions", type=int, default=6, help="partitions of the input topic (default 6)")
    e2e.add_argument("--workers", type=int, default=1, metavar="N",
                     help="also run N model-serving workers in one consumer group (total and per-worker rates)")
    e2e.add_argument("--batch", type=int, default=100, metavar="N", help="records per envelope (default 100)")
    e2e.add_argument("--model", default=None, metavar="REF", help="serve this model (default: train one on the input)")
    e2e.add_argument("--epochs", type=int, default=1, help="epochs when training on the input (default 1)")
    e2e.add_argument("--steady-seconds", type=float, default=30.0, help="length of the steady stream (default 30)")
    e2e.add_argument("--profile", default=None, metavar="OUT.svg",
                     help="py-spy the model-serving worker during its backlog: flame graph (.svg) or speedscope "
                          "(.json) at OUT, raw stacks beside it, top frames in the figures (pip install .[bench])")
    e2e.add_argument("--profile-batched", default=None, metavar="OUT.svg",
                     help="the same, during the batched phase (figures under batched.profile)")
    e2e.add_argument("--timeout", type=float, default=900.0, help="give up on a phase after N s (default 900)")
    e2e.add_argument("--json", action="store_true", help="print the summary as JSON")
    e2e.set_defaults(func=cmd_bench_e2e)
    parse = bsub.add_parser("parse", help="parse + template mining lines/s on one core")
    parse.add_argument("files", nargs="*", metavar="FILE", help="log files (default: the Loghub sample)")
    parse.add_argument("--repeat", type=int, default=20,
                       help="timed passes of about 20,000 lines each; the best one is the figure (default 20)")
    parse.add_argument("--accuracy", metavar="STRUCTURED_CSV", help="also print Loghub grouping accuracy")
    parse.add_argument("--memory", type=int, metavar="N", default=0,
                       help="also stream N synthetic lines with ever-new values and report memory")
    parse.add_argument("--infra", action="store_true",
                       help="benchmark a generated corpus of infrastructure lines (libvirt, OVS, RabbitMQ, "
                            "MariaDB, Apache, nginx, uWSGI) instead of FILEs")
    parse.add_argument("--shapes", nargs="?", const="all", default=None, metavar="A,B",
                       help="instead: what a record of FILEs costs the worker's decoder (+ mining) raw and in "
                            "each pipeline shape (engine/shapes; comma-separated, default all), per record and "
                            "as x raw (bench/shapes.py)")
    parse.set_defaults(func=cmd_bench_parse)
    infer = bsub.add_parser("infer", help="model inference: LSTM windows/s batched, single-window p99, "
                                          "whole-window analysis latency")
    infer.add_argument("--model", default=None, metavar="REF",
                       help="model to measure (default production; without one, a model trained on simulated logs)")
    infer.add_argument("--logs", nargs="*", default=None, metavar="PATH", help="logs to build windows from")
    infer.add_argument("--windows", type=int, default=20_000)
    infer.set_defaults(func=cmd_bench_infer)
    chaos = bsub.add_parser(
        "chaos", help="a backlog under kill -9 of workers and of the broker: lost events, window copies, lag",
        description="On a private broker (free ports, temporary data; the shared stack is left alone): publish a "
                    "backlog of simulated messages, SIGKILL workers at random moments (a new one takes each one's "
                    "place), hard-kill and restart the broker, wait until the group's lag is 0, then print events "
                    "published, dead letters, distinct window ids, ids published more than once, ids whose copies "
                    "differ, events lost, late share, drain time and lag over time. Figures only, no asserts.")
    chaos.add_argument("--events", type=int, default=30_000, help="messages of backlog (default 30000)")
    chaos.add_argument("--kills", type=int, default=3, help="workers killed with SIGKILL (default 3)")
    chaos.add_argument("--broker-restarts", type=int, default=1, help="broker hard kills and restarts (default 1)")
    chaos.add_argument("--workers", type=int, default=1, metavar="W", help="workers in the group (default 1)")
    chaos.add_argument("--live-events", type=int, default=0, metavar="N",
                       help="also keep publishing N messages while the faults go on (default 0)")
    chaos.add_argument("--live-rate", type=float, default=2000.0, help="their rate, messages/s (default 2000)")
    chaos.add_argument("--seed", type=int, default=1, help="input and fault moments (default 1)")
    chaos.add_argument("--window", type=float, default=60.0, help="window size (s) (default 60)")
    chaos.add_argument("--lateness", type=float, default=30.0, help="allowed lateness (s) (default 30)")
    chaos.add_argument("--idle-timeout", type=float, default=2.0, help="idle timeout (s) (default 2)")
    chaos.add_argument("--broker-down", type=float, default=3.0, help="seconds the broker stays down (default 3)")
    chaos.add_argument("--timeout", type=float, default=900.0, help="give up waiting for lag 0 after N s (default 900)")
    chaos.add_argument("--log-dir", default=None, metavar="DIR", help="worker logs here (default: a temporary folder)")
    chaos.add_argument("--json", action="store_true", help="print the figures as JSON")
    chaos.set_defaults(func=cmd_bench_chaos)


def cmd_bench_chaos(args) -> int:
    from pathlib import Path

    from bench.chaos import ChaosConfig, run, summary_lines

    cfg = ChaosConfig(events=args.events, kills=args.kills, broker_restarts=args.broker_restarts,
                      workers=args.workers, seed=args.seed, window=args.window, lateness=args.lateness,
                      idle_timeout=args.idle_timeout, broker_down=args.broker_down, live_events=args.live_events,
                      live_rate=args.live_rate, timeout=args.timeout,
                      log_dir=Path(args.log_dir) if args.log_dir else None)
    cfg.check()   # bad flags: one line before anything starts
    figures = run(cfg)
    if args.json:
        _out(json.dumps(figures))
    else:
        for line in summary_lines(figures):
            _out(line)
    return 0


def cmd_bench_e2e(args) -> int:
    from bench.e2e import run, summary_lines, to_json

    if args.events < 0 or (args.events == 0 and not args.logs):
        raise ValueError("--events must be positive")
    for name in ("workers", "batch", "partitions", "epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1")
    summary = run(events=args.events, logs=args.logs, fmt=args.format, window=args.window, lateness=args.lateness,
                  idle=args.idle_timeout, partitions=args.partitions, workers=args.workers, batch=args.batch,
                  model=args.model, epochs=args.epochs, steady_seconds=args.steady_seconds, profile=args.profile,
                  profile_batched=args.profile_batched,
                  timeout=args.timeout, say=lambda text: print(f"bench e2e: {text}", file=sys.stderr, flush=True))
    if args.json:
        _out(to_json(summary))
    else:
        for line in summary_lines(summary):
            _out(line)
    return 0


def cmd_bench_infer(args) -> int:
    import tempfile

    from bench.infer import bench_infer
    from engine.training import load_inputs, train

    with tempfile.TemporaryDirectory() as tmp:
        paths = args.logs
        if not paths:
            from producers.simulate import simulate

            simulate(Path(tmp) / "sim", hosts=4, minutes=20, seed=3)
            paths = [str(Path(tmp) / "sim")]
        data = load_inputs(paths)
        events = [e for run in data.runs for e in run]
        source = "trained on the input (1 epoch)"
        try:
            from tracking.api import load_model

            loaded = load_model(args.model)
            bundle, source = loaded.bundle, f"model {loaded.describe()}"
        except Exception as exc:  # noqa: BLE001 - measure a fresh model instead
            if args.model:
                raise RuntimeError(f"cannot load model {args.model}: {exc}") from None
            bundle = train(data, epochs=1)
        out = bench_infer(bundle, events, n_windows=args.windows)
    _out(json.dumps({"model": source, **out}, indent=2))
    return 0


def cmd_bench_parse(args) -> int:
    from bench.parse import LOGHUB_SAMPLE, bench_memory, bench_parse, grouping_accuracy
    from engine.readers import InputError

    if getattr(args, "shapes", None) is not None:
        from bench.shapes import bench_shapes, main_files, split_shapes

        files = main_files(args.files or [str(LOGHUB_SAMPLE)])
        for f in files:
            if not Path(f).is_file():
                raise InputError(f"{f}: no such file")
        shapes = None if args.shapes == "all" else [s.strip() for s in args.shapes.split(",") if s.strip()]
        _out(json.dumps({"shapes": bench_shapes(files, shapes, repeat=min(args.repeat, 5)),
                         "split": split_shapes(files, shapes, repeat=min(args.repeat, 3))}, indent=2))
        return 0
    if getattr(args, "infra", False):
        import tempfile

        from bench.infra_corpus import write_corpus
        with tempfile.TemporaryDirectory() as tmp:
            out = {"parse": bench_parse(write_corpus(tmp), repeat=args.repeat)}
    else:
        files = args.files or [str(LOGHUB_SAMPLE)]
        for f in files:
            if not Path(f).is_file():
                raise InputError(f"{f}: no such file")
        out = {"parse": bench_parse(files, repeat=args.repeat)}
    if args.accuracy:
        out["grouping_accuracy"] = round(grouping_accuracy(args.accuracy), 4)
    if args.memory:
        out["memory"] = bench_memory(args.memory, seed_path=None if getattr(args, "infra", False) else files[0])
    _out(json.dumps(out, indent=2))
    return 0


# -- retrain ---------------------------------------------------------------
def add_retrain(sub) -> None:
    p = sub.add_parser("retrain", help="ask the workers to retrain (a message on rca.control)",
                       description="Send a retrain command. Sources: topic:openstack.logs with --since/--until, "
                                   "s3://bucket/prefix, or a folder the workers can read (all must be allowed by "
                                   "the workers' RCA_CONTROL_ALLOWED_SOURCES).")
    p.add_argument("--source", required=True, help="topic:NAME, s3://bucket/prefix or PATH")
    p.add_argument("--since", default=None, help="start of a topic range, e.g. 24h or an ISO time")
    p.add_argument("--until", default=None, help="end of a topic range (default: now)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--auto-promote", action="store_true", help="promote even if not better than production")
    p.add_argument("--fresh", action="store_true",
                   help="train from the source alone, not from what production learned (its labelled runs and "
                        "verdicts); the gate still compares it with production")
    p.add_argument("--wait", action="store_true", help="follow the command's events until it finishes")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait with --wait")
    p.set_defaults(func=cmd_retrain)


def cmd_retrain(args) -> int:
    from tqdm import tqdm

    from config.timeparse import parse_time
    from producers.control import build_command, events_end, follow_events, send_command

    params: dict = {"source": args.source}
    if args.source.startswith("topic:") and not args.since:
        raise ValueError("--since is required for a topic source")
    for name in ("since", "until"):
        value = getattr(args, name)
        if value:
            parse_time(value)  # a clear error now rather than a rejection later
            params[name] = value
    if args.epochs is not None:
        params["epochs"] = args.epochs
    if args.auto_promote:
        params["auto_promote"] = True
    if args.fresh:
        params["fresh"] = True
    settings = get_settings()
    start = events_end(settings) if args.wait else None
    command = send_command(settings, build_command("retrain", params))
    _out(f"sent {command['command_id']} to {settings.topics.control}")
    if not args.wait:
        return 0
    bar = tqdm(total=100, unit="%", disable=not sys.stderr.isatty())
    final = None
    for event in follow_events(settings, command["command_id"], start, args.timeout):
        if "progress" in event:
            bar.update(max(0, int(event["progress"] * 100) - bar.n))
        bar.set_description(event["event"])
        final = event
        if event["event"] in ("accepted", "started", "rejected", "failed", "finished"):
            _out(json.dumps(event))
    bar.close()
    return 0 if final and final["event"] == "finished" else 1


REGISTRY = [add_stack, add_config, add_publish, add_worker, add_results, add_incidents, add_ui, add_simulate,
            *ENGINE, add_models, add_retrain, add_bench]
