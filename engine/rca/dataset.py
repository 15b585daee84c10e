"""Read a fault-injection data set laid out like the dev set.

Layout: ``<root>/<Subsystem>/Test_<n>/logs/round_1|round_2/<project>/*.out``
and a ``labels.tsv`` (SUBSYSTEM TEST ... COMPONENT ... ROUND_1 ... ROUND_2 ...).
Only the service logs are read: ``trigger_log``, ``foreground_wl/`` and
``fip_info.data`` are labels, never analysis input.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from schemas.log_event import LogEvent

from .modules import module_from_component

ROUNDS = ("round_1", "round_2")
INFRA_DIR = "infra"   # <run>/infra/<host>/<the daemon's own path>: infrastructure logs (producers/simulate.py)
# Folders under a round that are NOT service logs (labels or workload output).
_NOT_SERVICE_LOGS = frozenset({"foreground_wl"})
_NOT_SERVICE_FILES = frozenset({"trigger_log", "fip_info.data"})


@dataclass(frozen=True, slots=True)
class RunRef:
    """One run (a round of a test) and its labels."""

    subsystem: str
    test: str
    round: str
    path: Path
    failure: bool | None  # None: unknown (no label row)
    root_module: str | None  # e.g. nova.compute.manager (the injected fault's file)

    @property
    def test_id(self) -> str:
        return f"{self.subsystem}/{self.test}"

    @property
    def run_id(self) -> str:
        return f"{self.subsystem}/{self.test}/{self.round}"


def read_labels(labels_tsv: str | Path) -> dict[tuple[str, str], dict[str, str]]:
    """labels.tsv -> {(SUBSYSTEM, TEST): row}."""
    with open(labels_tsv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return {(r["SUBSYSTEM"].strip(), r["TEST"].strip()): r for r in rows}


def list_runs(dataset_dir: str | Path, labels_tsv: str | Path | None = None) -> list[RunRef]:
    """Every run under ``dataset_dir`` (sorted), with labels when known.

    ``failure`` is True when the round's label is FAILURE. ``root_module`` is
    set only for round 1 of a FAILURE test: a failing round 2 (left-over
    state of round 1) has no known root cause.
    """
    root = Path(dataset_dir)
    if (root / "devset").is_dir() and not any(p.name.startswith("Test_") for p in root.glob("*/*")):
        root = root / "devset"
    labels = read_labels(labels_tsv) if labels_tsv else {}
    runs: list[RunRef] = []
    for test_dir in sorted(root.glob("*/Test_*"), key=lambda p: (p.parent.name, _test_number(p.name))):
        subsystem, test = test_dir.parent.name, test_dir.name
        row = labels.get((subsystem, test))
        for rnd in ROUNDS:
            run_dir = test_dir / "logs" / rnd
            if not run_dir.is_dir():
                continue
            failure = root_module = None
            if row is not None:
                key = "ROUND_1" if rnd == "round_1" else "ROUND_2"
                failure = row.get(key, "").strip() == "FAILURE"
                if failure and rnd == "round_1":
                    root_module = module_from_component(row.get("COMPONENT", ""))
            runs.append(RunRef(subsystem, test, rnd, run_dir, failure, root_module))
    return runs


def _test_number(name: str) -> int:
    try:
        return int(name.split("_", 1)[1])
    except (IndexError, ValueError):
        return 0


def service_log_files(run_dir: str | Path) -> list[Path]:
    """The service log files of one run (labels and workload output excluded)."""
    out = []
    for path in sorted(Path(run_dir).rglob("*")):
        if not path.is_file() or path.name in _NOT_SERVICE_FILES:
            continue
        rel = path.relative_to(run_dir).parts
        if rel and rel[0] in _NOT_SERVICE_LOGS:
            continue
        if len(rel) < 2:  # files directly under the round (trigger_log, ...)
            continue
        out.append(path)
    return out


def load_run(run_dir: str | Path) -> list[LogEvent]:
    """Parse every service log of a run into time-ordered LogEvents."""
    from engine.parsing import parse_lines  # the project's oslo.log parser

    events: list[LogEvent] = []
    for path in service_log_files(run_dir):
        parts = path.relative_to(run_dir).parts
        rel = "/".join(parts)
        # an infrastructure log of `rca simulate` lies at infra/<host>/var/log/...: its host
        host = parts[1] if len(parts) > 3 and parts[0] == INFRA_DIR else None
        with open(path, encoding="utf-8", errors="replace") as fh:
            for e in parse_lines(fh, source=rel):
                if e.parse_error is None:
                    if host is not None and e.host is None:
                        e.host = host
                    events.append(e)
    events.sort(key=lambda e: e.timestamp or 0.0)
    return events
