"""`rca simulate`: generate labelled multi-service OpenStack logs (files or Kafka)."""
from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from cli.output import out as _out


def _start(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r} (e.g. 2019-08-01T10:00:00)") from None


class _DefaultsHelp(argparse.HelpFormatter):
    """Fills the simulator's defaults into the help text ({default_faults}, {default_start}) only when
    help is printed: importing the simulator while building the parser would slow every `rca` command."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = super()._get_help_string(action)
        if not text or "{default_" not in text:
            return text
        from producers.simulate import DEFAULT_FAULTS, DEFAULT_START

        return text.format(default_faults=DEFAULT_FAULTS, default_start=DEFAULT_START.isoformat())


def add_simulate(sub) -> None:
    p = sub.add_parser(
        "simulate", help="generate realistic OpenStack logs with labelled faults", formatter_class=_DefaultsHelp,
        description="Simulate a cloud of N compute hosts running a workload (servers, volumes, networks, "
                    "images) across nova, neutron, cinder and glance, inject faults, and write one log per "
                    "service (<out>/<subsystem>/<service>.log, oslo.log format) plus the ground truth "
                    "(<out>/ground_truth.json and .tsv), or publish the parsed events to Kafka. The same "
                    "arguments give byte-identical output.")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (required unless --kafka; with --kafka the files are written too)")
    p.add_argument("--hosts", type=int, default=4, metavar="N", help="compute hosts (default 4)")
    p.add_argument("--minutes", type=float, default=30.0, metavar="M", help="simulated minutes (default 30)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--faults", default=None, metavar="N|NAME,...",
                   help="how many faults (distinct, random) or which ones, comma-separated (default "
                        "{default_faults}; 0 for a healthy run; --list-faults shows the names; 'infra' names every "
                        "infrastructure fault, which a count never draws); with --tests: the faults to rotate through")
    p.add_argument("--rate", type=float, default=None, metavar="OPS_PER_MIN",
                   help="workload operations per minute (default 1.5 per host, at least 2)")
    p.add_argument("--start", type=_start, default=None, metavar="ISO",
                   help="simulated start time (default {default_start})")
    p.add_argument("--tests", type=int, default=None, metavar="N",
                   help="write a labelled data set laid out like the fault-injection dev set: N tests, each with a "
                        "faulty round_1 and a healthy round_2, plus labels.tsv (for rca eval)")
    p.add_argument("--kafka", action="store_true", help="publish the parsed events to Kafka (RCA_KAFKA_* settings)")
    p.add_argument("--topic", default=None, help="topic for --kafka (default: RCA_TOPIC_LOGS or openstack.logs)")
    p.add_argument("--batch", type=int, default=1, metavar="N",
                   help="with --kafka: records per message; N > 1 sends batch envelopes "
                        "(schemas/log_batch.schema.json) of up to N records (default 1: one per message)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (--kafka)")
    p.add_argument("--list-faults", action="store_true", help="list the fault catalogue and exit")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args) -> int:
    from producers.simulate import ALL_FAULTS, Simulation, parse_faults, simulate, simulated_events, write_ground_truth

    if args.list_faults:
        for spec in ALL_FAULTS.values():
            _out(f"{spec.name:24} {spec.category:14} {spec.service:26} {spec.module}"
                 + ("  (infrastructure, by name only)" if spec.kind == "infrastructure" else ""))
        return 0
    if args.tests is not None:
        from producers.sim_dataset import make_dataset

        if args.out is None or args.kafka:
            raise ValueError("--tests needs --out DIR (and no --kafka)")
        names = parse_faults(args.faults) if args.faults is not None else None
        if isinstance(names, int):
            raise ValueError("--tests takes fault names with --faults (one fault per test), not a count")
        labels = make_dataset(args.out, tests=args.tests, hosts=args.hosts, minutes=args.minutes, seed=args.seed,
                              faults=names)
        _out(f"wrote {args.tests} tests (round_1 with one fault, round_2 healthy) under {args.out}; labels {labels}")
        return 0
    if args.out is None and not args.kafka:
        raise ValueError("--out DIR is required (or --kafka to publish)")
    if args.topic and not args.kafka:
        raise ValueError("--topic only applies with --kafka")
    if args.batch != 1 and not args.kafka:
        raise ValueError("--batch only applies with --kafka")
    if args.batch < 1:
        raise ValueError("--batch must be at least 1")
    faults = parse_faults(args.faults) if args.faults is not None else None
    if not args.kafka:
        result = simulate(args.out, hosts=args.hosts, minutes=args.minutes, seed=args.seed, faults=faults,
                          rate=args.rate, start=args.start)
        _summary(result)
        return 0

    from config.settings import get_settings
    from producers.publish import publish

    sim = Simulation(args.hosts, args.minutes, args.seed, faults, args.rate, args.start)
    settings = get_settings()
    topic = args.topic or settings.topics.logs
    report = publish(simulated_events(sim, args.out), settings.kafka, topic, progress=not args.no_progress,
                     batch=args.batch)
    result = sim.result(args.out)
    if args.out is not None:
        result.ground_truth = write_ground_truth(args.out, result)
    _summary(result)
    _out(f"published {report.delivered}/{report.events} events to {topic}"
         + (f" in {report.messages} messages" if args.batch > 1 else "")
         + (f" ({report.failed} failed: {'; '.join(report.errors or [])})" if report.failed else ""))
    return 0 if report.failed == 0 else 1


def _summary(result) -> None:
    where = f" to {result.out_dir}" if result.out_dir is not None else ""
    _out(f"simulated {result.hosts} hosts for {result.minutes:g} min (seed {result.seed}): "
         f"{result.total_lines} lines, {result.operations} operations{where}")
    for f in result.faults:
        cause = f"{f.component} on {f.host}" if f.kind == "infrastructure" else f.module
        _out(f"  {f.id:4} {f.time}  {f.name:24} {f.service:26} {cause}")
    if result.ground_truth is not None:
        _out(f"ground truth: {result.ground_truth}")
