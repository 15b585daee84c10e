"""Ranking ablation on a labelled data set: batch ranking CV (the folds of `rca eval`) of the
learned ranker with each feature group left out, beside the logistic ranking without a code map.

    RCA_CODE_SOURCE=.cache/sdist-chosen .venv/bin/python scripts/rank_ablation.py \
        /tmp/large/devset ../shared/data/openstack-fault-injection-large/labels.tsv --seeds 5

Each figure is the mean over ``--seeds`` LightGBM seeds (one seed moves a figure by an incident
or two on a hundred incidents). Prints a Markdown table (docs/accuracy.md, "Ranking").
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.rca.codemap import default_code_map, frames_of, python_of  # noqa: E402
from engine.rca.dataset import list_runs  # noqa: E402
from engine.rca.eval import load_for_ranking, ranking_cross_validate  # noqa: E402
from engine.rca.ranker import CANDIDATE_FEATURES, Ranker  # noqa: E402

GROUPS = {
    "frames and position (inner, inner_own_code, depth_score, first_position, log_records)":
        ("inner", "inner_own_code", "depth_score", "first_position", "log_records"),
    "logger of the records and of the first error (is_logger, first_error)": ("is_logger", "first_error"),
    "memory of past incidents (module_prior, assoc_module, co_root, assoc_only)":
        ("module_prior", "assoc_module", "co_root", "assoc_only"),
    "service and request chain (subsystem_order, own_service, upstream, downstream)":
        ("subsystem_order", "own_service", "upstream", "downstream"),
    "seen in fault-free runs (rarity)": ("rarity",),
    "generic helper (helper)": ("helper",),
    "code map features (code_callee, code_calls, code_between, code_only, code_caller)":
        ("code_callee", "code_calls", "code_between", "code_only", "code_caller"),
}
COLS = ("subsystem_top1", "package_top3", "module_top1", "module_top3")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("labels")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    refs = list_runs(args.dataset, args.labels)
    problems, sigs = load_for_ranking(refs)
    events = [e for evs in problems.values() for e in evs]
    cm = default_code_map(frames_of(events), python=python_of(events))
    print("| ranking | " + " | ".join(c.replace("_", " ") for c in COLS) + " |")
    print("|---|" + "---|" * len(COLS))

    def row(name, make, seeds):
        rs = [ranking_cross_validate(refs, problems, sigs, make(s), folds=args.folds) for s in range(seeds)]
        print(f"| {name} | " + " | ".join(f"{statistics.mean(r[c] for r in rs):.3f}" for c in COLS) + " |", flush=True)

    row("logistic, no code map (the ranking before)", lambda s: lambda inc: Ranker().fit(inc), 1)
    row("lambdarank, no code map", lambda s: lambda inc: Ranker().fit(inc, seed=s, learn_to_rank=True), args.seeds)
    if cm is None:
        print("(no code map: set RCA_CODE_SOURCE, or let it be fetched: RCA_CODE_FETCH=pypi)")
        return 0
    row("lambdarank + code map (all features)", lambda s: lambda inc: Ranker().fit(inc, code_map=cm, seed=s), args.seeds)
    for name, drop in GROUPS.items():
        mask = tuple(f for f in CANDIDATE_FEATURES if f not in drop)
        row(f"without {name}", lambda s, mask=mask: lambda inc: Ranker(feature_mask=mask).fit(inc, code_map=cm, seed=s),
            args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
