"""Run names: shape, slug, parsing and same-second uniqueness (pure, no I/O)."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from tracking import naming
from tracking.storage import FileStore

T0 = datetime(2025, 7, 19, 20, 33, 15, 123456, tzinfo=timezone.utc)


def test_name_has_the_documented_shape():
    assert naming.format_run_name("openstack_rca_system_staging", T0) == "openstack-rca-system-staging_20250719_203315"
    assert naming.RUN_NAME_RE.match(naming.format_run_name("openstack_rca", T0))


def test_naive_times_are_utc_and_other_zones_are_converted():
    assert naming.format_run_name("x", T0.replace(tzinfo=None)) == "x_20250719_203315"
    cest = timezone(timedelta(hours=2))
    assert naming.format_run_name("x", T0.astimezone(cest)) == "x_20250719_203315"


@pytest.mark.parametrize("name,slug", [("openstack_rca", "openstack-rca"), ("team/exp one", "team-exp-one"),
                                       ("/Users/a@b.c/exp", "Users-a-b.c-exp")])
def test_slug_is_a_single_safe_folder_name(name, slug):
    assert naming.experiment_slug(name) == slug


def test_slug_of_an_unusable_name_is_an_error():
    with pytest.raises(ValueError):
        naming.experiment_slug("___")


def test_parse_round_trips():
    slug, ts = naming.parse_run_name("openstack-rca-system-staging_20250719_203315")
    assert slug == "openstack-rca-system-staging" and ts == T0.replace(microsecond=0)
    assert naming.parse_run_name("a0cb6bd911d74b039ea3bf9d10bf7f09") is None
    assert naming.parse_run_name("x_20251399_999999") is None


def test_a_taken_second_moves_to_the_next_free_second():
    taken = {"exp_20250719_203315", "exp_20250719_203316"}
    assert naming.claim_run_name(lambda n: n not in taken, "exp", T0) == "exp_20250719_203317"


def test_no_free_name_is_an_error():
    with pytest.raises(RuntimeError, match="no free run name"):
        naming.claim_run_name(lambda n: False, "exp", T0, limit=3)


def test_runs_started_in_the_same_second_get_different_names(tmp_path):
    store = FileStore(tmp_path)
    names: list[str] = []
    barrier = threading.Barrier(6)

    def start():
        barrier.wait()
        names.append(naming.claim_run_name(store.claim, "exp_x", T0))

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 6
    assert sorted(names) == [f"exp-x_20250719_2033{s}" for s in range(15, 21)]
