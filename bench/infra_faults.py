"""How often `rca eval` names the infrastructure component first, per simulated infrastructure fault.

    python -m bench.infra_faults --out /tmp/infra-sim --tests 60 [--folds 5] [--seed 1]

Writes a data set of `rca simulate --tests N --faults infra` (each infrastructure fault in turn,
a faulty round 1 and a healthy round 2), runs `rca eval`'s evaluation on it (a model fitted on
the other folds' tests, then each held-out run ranked) and prints, per fault, the runs and how
many named the right component first (and among the first three), with the first names of a
miss. Figures, no asserts (tests/engine_rca/test_infra_causes.py asserts).
"""
from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from pathlib import Path

from engine.rca.dataset import read_labels
from engine.rca.eval import evaluate
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tests", type=int, default=60)
    p.add_argument("--hosts", type=int, default=3)
    p.add_argument("--minutes", type=float, default=12)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--folds", type=int, default=5)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
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
