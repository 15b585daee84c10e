"""`rca eval --stream` on a small subset of the large fault-injection set (skipped without ../shared).

The yardstick is the large set's 5-fold cross-validation (README, docs); this test
runs the same command on a few of its tests, picked by their labels (the first
failed and fault-free tests of each subsystem in labels.tsv order), so that
the command, its folds and its side-by-side figures are checked in CI.
"""
from __future__ import annotations

import csv
import json
import tarfile
from pathlib import Path

import pytest

from cli.main import main
from tests.conftest import SHARED

LARGE = SHARED / "data" / "openstack-fault-injection-large"
FAILED_PER_SUBSYSTEM = 2
FAULT_FREE_PER_SUBSYSTEM = 1


@pytest.fixture(scope="module")
def large_subset(tmp_path_factory) -> tuple[Path, Path]:
    if not (LARGE / "devset.tar.xz").is_file() or not (LARGE / "labels.tsv").is_file():
        pytest.skip(f"large fault-injection set not found under {LARGE} (../shared is absent in a user's clone)")
    with open(LARGE / "labels.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    picked, counts = [], {}
    for row in rows:
        kind = "failed" if row["ROUND_1"] == "FAILURE" else "free"
        need = FAILED_PER_SUBSYSTEM if kind == "failed" else FAULT_FREE_PER_SUBSYSTEM
        key = (row["SUBSYSTEM"], kind)
        if counts.get(key, 0) < need:
            counts[key] = counts.get(key, 0) + 1
            picked.append(row)
    out = tmp_path_factory.mktemp("large-subset")
    prefixes = tuple(f"devset/{r['SUBSYSTEM']}/{r['TEST']}/" for r in picked)
    with tarfile.open(LARGE / "devset.tar.xz", "r|xz") as tar:   # one pass over the stream
        for member in tar:
            if member.name.startswith(prefixes):
                tar.extract(member, out, filter="data")
    labels = out / "labels.tsv"
    with open(labels, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(picked)
    return out / "devset", labels


def test_rca_eval_stream_on_a_subset_of_the_large_set(large_subset, capsys):
    data, labels = large_subset
    code = main(["--log-level", "ERROR", "eval", "--dataset", str(data), "--labels", str(labels),
                 "--folds", "2", "--stream", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    batch, stream = out["cross_validated"], out["stream_cross_validated"]
    assert out["tests"] == 3 * (FAILED_PER_SUBSYSTEM + FAULT_FREE_PER_SUBSYSTEM)
    assert stream["incidents"] == batch["incidents"] == 3 * FAILED_PER_SUBSYSTEM
    for key in ("subsystem_top1", "package_top3", "module_top1", "module_top3"):
        assert key in stream["rca"] and 0.0 <= stream["rca"][key] <= 1.0
    # the stream finds failures on tests it was not trained on, and is not an alarm for every run
    assert stream["detection"]["tp"] >= 1
    assert stream["incidents_per_failed_run"] <= 3.0
    assert stream["detection"]["fp"] <= stream["detection"]["tn"] + stream["detection"]["fp"] - 1
