"""How often `rca eval` names the infrastructure component first, per simulated infrastructure fault.

    python -m bench.infra_faults --out /tmp/infra-sim --tests 60 [--folds 5] [--seed 1]
    python -m bench.infra_faults --compare /tmp/devset --labels <dev>/labels.tsv [--folds 5]

Writes a data set of `rca simulate --tests N --faults infra` (each infrastructure fault in turn,
a faulty round 1 and a healthy round 2), runs `rca eval`'s evaluation on it (a model fitted on
the other folds' tests, then each held-out run ranked) and prints, per fault, the runs and how
many named the right component first (and among the first three), with the first names of a
miss. Figures, no asserts (tests/engine_rca/test_infra_causes.py asserts).

``--compare DATASET``: `rca eval`'s evaluation of a labelled data set twice in one process, with
the infrastructure hook off (``rank_with_infrastructure`` returning the module causes) and on, and
whether every run's ranking is the same: on a set without infrastructure events it must be.
"""
from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from pathlib import Path

from engine.rca import infra
from engine.rca.dataset import list_runs, load_run, read_labels
from engine.rca.eval import evaluate, format_metrics
from producers.sim_dataset import make_dataset
from producers.simulate import INFRA_FAULTS

log = logging.getLogger(__name__)


def per_fault(metrics: dict, labels_tsv: Path) -> dict[str, dict]:
    """fault -> {runs, top1, top3, misses: [(run, first names)]} from `evaluate`'s per-run rows."""
    labels = read_labels(labels_tsv)
    out: dict[str, dict] = defaultdict(lambda: {"runs": 0, "top1": 0, "top3": 0, "misses": []})
    for row in metrics["runs"]:
        if not row["label"] or not row["truth"]:
            continue
        subsystem, test, _round = row["run"].split("/")
        fault = labels[(subsystem, test)]["FAULT_TYPE"]
        r = out[fault]
        r["runs"] += 1
        r["top1"] += row["top3"][:1] == [row["truth"]]
        r["top3"] += row["truth"] in row["top3"]
        if row["top3"][:1] != [row["truth"]]:
            r["misses"].append((row["run"], row["top3"]))
    return dict(out)


def table(rows: dict[str, dict]) -> str:
    lines = [f"{'fault':24} {'component':18} {'runs':>4} {'top-1 right':>11} {'top-3 right':>11}"]
    total = right = 0
    for fault in sorted(rows):
        r = rows[fault]
        total, right = total + r["runs"], right + r["top1"]
        lines.append(f"{fault:24} {INFRA_FAULTS[fault].component:18} {r['runs']:4d} {r['top1']:11d} {r['top3']:11d}")
    lines.append(f"{'all':24} {'':18} {total:4d} {right:11d}   ({right / total if total else 0:.3f} top-1)")
    return "\n".join(lines)


def compare(dataset: Path, labels: Path, folds: int, seed: int) -> None:
    """The hook off, then on, on one data set (loaded once); prints both and whether rankings differ."""
    events = {r.run_id: load_run(r.path) for r in list_runs(dataset, labels)}
    real = infra.rank_with_infrastructure
    counts = {"calls": 0, "changed": 0}

    def counting(anomalous, causes, limit):
        counts["calls"] += 1
        out = real(anomalous, causes, limit)
        counts["changed"] += out is not causes
        return out

    results = {}
    try:
        for name, fn in (("hook off", lambda anomalous, causes, limit: causes), ("hook on", counting)):
            infra.rank_with_infrastructure = fn
            results[name] = evaluate(dataset, labels, cv_folds=folds, baseline=False, seed=seed, events=events)
            print(f"== {name}")
            for key in ("in_sample", "cross_validated"):
                print(format_metrics(results[name][key], key))
    finally:
        infra.rank_with_infrastructure = real
    print(f"hook calls {counts['calls']}, rankings changed {counts['changed']}")
    for key in ("in_sample", "cross_validated"):
        same = [(r["run"], r["top3"]) for r in results["hook off"][key]["runs"]] == \
            [(r["run"], r["top3"]) for r in results["hook on"][key]["runs"]]
        print(f"{key}: identical per-run top-3 {same}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="where to write the simulated data set")
    p.add_argument("--compare", type=Path, metavar="DATASET", help="a labelled data set: the hook off and on")
    p.add_argument("--labels", type=Path, help="labels.tsv of --compare")
    p.add_argument("--tests", type=int, default=60)
    p.add_argument("--hosts", type=int, default=3)
    p.add_argument("--minutes", type=float, default=12)
    p.add_argument("--seed", type=int, default=None,
                   help="simulation and fold seed (default 1; with --compare, the folds' seed, default 0 as rca eval)")
    p.add_argument("--folds", type=int, default=5)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.compare is not None:
        if args.labels is None:
            p.error("--compare needs --labels")
        compare(args.compare, args.labels, args.folds, 0 if args.seed is None else args.seed)
        return 0
    if args.out is None:
        p.error("--out or --compare is needed")
    args.seed = 1 if args.seed is None else args.seed
    labels = make_dataset(args.out, tests=args.tests, hosts=args.hosts, minutes=args.minutes, seed=args.seed,
                          faults=list(INFRA_FAULTS))
    metrics = evaluate(args.out, labels, cv_folds=args.folds, baseline=False, seed=args.seed)
    for key in ("in_sample", "cross_validated"):
        if key in metrics:
            print(f"-- {key}")
            rows = per_fault(metrics[key], labels)
            print(table(rows))
            for fault, r in sorted(rows.items()):
                for run, names in r["misses"]:
                    print(f"   miss {fault}: {run}: {names}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
