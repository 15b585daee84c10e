"""Expected follow-ups (engine/rca/followups.py) on crafted runs: pure logic, no data set."""
from __future__ import annotations

import pickle

from engine.rca.detector import calibrate_threshold
from engine.rca.followups import Activity, FollowUps

H = 30.0


def workflow(t0: float, steps=("create", "attach", "detach", "delete"), gap: float = 12.0):
    """One pass of a workflow whose steps come `gap` seconds apart."""
    return [(t0 + k * gap, s) for k, s in enumerate(steps)]


def normal_runs(n: int = 5):
    return [workflow(1000.0 * i) + workflow(1000.0 * i + 300) + [(1000.0 * i + 150, "rare" if i == 0 else "tick")]
            for i in range(n)]


def test_learns_the_steps_that_always_follow_soon():
    fu = FollowUps.fit(normal_runs(), horizon=H)
    idx = fu.index
    assert "rare" not in idx                             # in 1 of 5 runs: not a workflow step
    followers = {fu.signatures[a]: {fu.signatures[b] for b in bs} for a, bs in fu.followers.items()}
    assert followers["create"] == {"attach", "detach"}   # delete comes 36 s later: past the horizon
    assert followers["attach"] == {"detach", "delete"}
    assert "delete" not in followers                      # nothing follows the last step


def test_a_step_that_is_sometimes_not_followed_has_no_follower():
    runs = normal_runs()
    runs[0] = [(t, s) for t, s in runs[0] if not (s == "detach" and t < 100)]   # once, attach without detach
    fu = FollowUps.fit(runs, horizon=H, min_follow_share=0.95)
    attach = fu.index["attach"]
    assert fu.index["detach"] not in fu.followers[attach]


def test_stall_is_low_when_the_workflow_goes_on_and_high_when_it_stops():
    fu = FollowUps.fit(normal_runs(), horizon=H)
    went_on = Activity.of_run(len(fu.signatures), ((t, fu.index[s]) for t, s in workflow(0.0)))
    stopped = Activity.of_run(len(fu.signatures), ((t, fu.index[s]) for t, s in workflow(0.0)[:2]))
    error_at = 13.0                                      # just after "attach"
    assert fu.stall(went_on, error_at) == 0.0
    # due: create -> attach, detach; attach -> detach, delete. Only attach came.
    assert fu.stall(stopped, error_at) == 0.75
    assert fu.stall(went_on, -100.0) is None             # no step before the error: nothing was due


def test_activity_keeps_order_and_retention():
    act = Activity(1, retention=60.0)
    for ts in (10.0, 5.0, 10.4, 30.0, 20.0):             # out of event-time order
        act.add(0, ts)
    assert act.times[0] == [5.0, 10.0, 10.4, 20.0, 30.0]
    assert act.last_between(0, 0.0, 25.0) == 20.0 and act.last_between(0, 21.0, 25.0) is None
    assert act.any_between(0, 20.0, 30.0) and not act.any_between(0, 30.0, 100.0)
    before = act.times[0]
    act.add(0, 100.0)                                    # 5..30 are now older than 60 s
    assert act.times[0] == [100.0]
    assert before[:5] == [5.0, 10.0, 10.4, 20.0, 30.0]   # a reader holding the old list never sees it shrink


def test_it_pickles_without_its_index():
    fu = FollowUps.fit(normal_runs(), horizon=H)
    assert fu.index
    again = pickle.loads(pickle.dumps(fu))
    assert "_index" not in again.__dict__ and again.index == fu.index and again.followers == fu.followers


def test_calibration_counts_runs_that_never_flag_as_misses():
    # stalls of the flagged windows of 4 runs; None: the run flagged no window at all
    cut = calibrate_threshold([0.6, 0.4, 0.02, None], [True, True, False, True], bounds=(0.0, 0.25))
    assert 0.02 < cut <= 0.25
    assert calibrate_threshold([0.6, 0.4, None], [True, True, True], bounds=(0.0, 0.25)) == 0.0   # no negative
