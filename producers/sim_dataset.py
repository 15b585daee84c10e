"""A labelled data set from the simulator, laid out like the fault-injection dev set.

`<out>/<Subsystem>/Test_<n>/logs/round_1/` holds a run with one injected
fault, `round_2/` a healthy run of the same cloud; `<out>/labels.tsv` has the
dev set's columns, with COMPONENT the faulty module's file. `rca eval` then
reports the same figures on simulated faults as on the dev set.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

from producers.simulate import ALL_FAULTS, FAULTS, simulate

COLUMNS = ["SUBSYSTEM", "TEST", "FAULT_TYPE", "COMPONENT", "CLASS", "FUNCTION", "FAULT_POINT",
           "ROUND_1", "ASSERTION_R1", "API_R1", "ROUND_2", "ASSERTION_R2", "API_R2"]


def make_dataset(out: Path, tests: int = 20, hosts: int = 3, minutes: float = 15, seed: int = 0,
                 faults: list[str] | None = None) -> Path:
    """Write `tests` tests (one fault each, fault types in rotation) and labels.tsv; return labels path.

    ``faults``: the fault types to rotate through (default: every fault of ``FAULTS``; infrastructure
    faults by name, e.g. ``INFRA_FAULTS``). An infrastructure fault's COMPONENT is its component
    (``rabbitmq``, ``mariadb/galera``), not a file: ``engine.rca.modules.module_from_component`` keeps it.
    """
    if tests <= 0:
        raise ValueError("tests must be positive")
    rng = random.Random(seed)
    names = sorted(faults) if faults else sorted(FAULTS)
    unknown = [n for n in names if n not in ALL_FAULTS]
    if unknown:
        raise ValueError(f"unknown fault {unknown[0]!r}")
    rows = []
    for n in range(1, tests + 1):
        # named faults: in turn, so each gets its share of the tests; the default: each once, then at random
        fault = names[(n - 1) % len(names)] if faults or n <= len(names) else rng.choice(names)
        spec = ALL_FAULTS[fault]
        subsystem = spec.subsystem.capitalize()
        test_dir = out / subsystem / f"Test_{n}" / "logs"
        simulate(test_dir / "round_1", hosts=hosts, minutes=minutes, seed=seed * 1000 + n, faults=[fault])
        simulate(test_dir / "round_2", hosts=hosts, minutes=minutes, seed=seed * 1000 + n + 500, faults=0)
        rows.append({"SUBSYSTEM": subsystem, "TEST": f"Test_{n}", "FAULT_TYPE": fault,
                     "COMPONENT": (spec.component if spec.kind == "infrastructure"
                                   else "/" + spec.module.replace(".", "/") + ".py"), "CLASS": "", "FUNCTION": "",
                     "FAULT_POINT": "", "ROUND_1": "FAILURE", "ASSERTION_R1": "", "API_R1": "",
                     "ROUND_2": "NO_FAILURE", "ASSERTION_R2": "", "API_R2": ""})
    labels = out / "labels.tsv"
    with open(labels, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    return labels
