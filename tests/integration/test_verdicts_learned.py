"""A retrain learns from operators' verdicts (issue 27, tests b and c) on the real stack.

A production bundle trained on generated labelled runs serves a worker. Two stories come in: a
fault whose cause the served model does not rank first, and another run the model raises an
incident for that the operator calls a false alarm (say the cloud's known, harmless trouble).
The operator confirms the fault's true cause and rejects the other with
`rca incidents confirm|reject`; a retrain by control message learns from both; the same two
stories again (a day later, with new ids) give the confirmed cause first and no incident for
the rejected pattern.

Since late context (engine/rca/evidence.py), the generated held-out set has no fault whose
incident names its cause 2nd: the runs batch ranks 2nd, the incident ranks 1st. The test then
confirms that cause and checks it stays first; the move from 2nd to 1st is shown only when a
picked fault's incident names its cause below first (the log line says which ranks it saw).
"""
from __future__ import annotations

import logging
import re
import time
import uuid

import orjson
import pytest

from config.settings import KafkaSettings, get_settings
from engine.experience import problem_records
from engine.rca.dataset import list_runs, load_run
from engine.rca.model import rank_incident
from engine.training import load_inputs, train
from producers.control import build_command, send_command
from producers.publish import publish
from producers.sim_dataset import make_dataset
from schemas.log_event import LogEvent
from tests.integration.kafka_helpers import drain_until
from tests.integration.test_control_plane import _cli, _control_env, _events_of

pytestmark = pytest.mark.integration
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DAY = 86_400.0


def again(events: list[LogEvent], shift: float) -> list[LogEvent]:
    """The same story later: every time moved by ``shift``, every id replaced by a new one (consistently)."""
    fresh: dict[str, str] = {}
    out = []
    for e in events:
        text = UUID.sub(lambda m: fresh.setdefault(m.group(0), str(uuid.uuid4())), orjson.dumps(e.to_dict()).decode())
        copy = LogEvent.from_dict(orjson.loads(text))
        copy.timestamp = (e.timestamp or 0.0) + shift
        out.append(copy)
    return out


def raises_incident(model, events: list[LogEvent]) -> bool:
    """Would the stream call one of the run's windows an incident (the window detector, then the
    stall gate or its rescue, with the stall measured on the run's own activity)?"""
    from engine.experience import window_rows
    from engine.rca.model import window_decision

    threshold = model.detector.scorers["window"].threshold
    for x, stall, anomalous in window_rows(model, events):
        novel = model.detector.probability(list(x), "window") >= threshold
        if anomalous and (window_decision(model, novel, stall) if stall is not None else novel):
            return True
    return False


def pick_runs(test_dir, labels, model) -> tuple[list[tuple[list[LogEvent], str]], list[list[LogEvent]]]:
    """Failed runs of the held-out set the stream should raise an incident for: up to MAX_FAULTS
    whose true cause the model ranks 2nd or 3rd (by the batch analysis the incident stage runs over
    an incident's records), and up to MAX_ALARMS of other subsystems it ranks first (patterns the
    operator will call false alarms: those the stream does raise an incident for). Several faults,
    because an incident is ranked over its windows' records, which can differ from the whole run's
    (late context, say): the test confirms the one whose incident does not name its cause first."""
    seconds, firsts = [], []
    for ref in list_runs(test_dir, labels):
        if ref.failure and ref.round == "round_1" and ref.root_module:
            events = load_run(ref.path)
            if not raises_incident(model, events):
                continue
            names = [rc.module for rc in rank_incident(problem_records(events), model)]
            if len(seconds) < MAX_FAULTS and ref.root_module in names[1:3]:
                seconds.append((events, ref.root_module))
            elif names[:1] == [ref.root_module] and ref.subsystem != "Nova" and len(firsts) < MAX_ALARMS:
                firsts.append(events)
    assert seconds and firsts, "the generated sets changed: no such runs"
    return seconds, firsts


MAX_FAULTS = 3
MAX_ALARMS = 4


def _scored(bootstrap, topic, stories, on_poll):
    """Until every event of the stories is in a published window (and the incident stage done with it)."""
    times = [(min(e.timestamp for e in st), max(e.timestamp for e in st)) for st in stories]
    want = sum(len(st) for st in stories)

    def count(ms):
        return sum(m["value"]["event_count"] for m in ms if any(_within(m["value"], t) for t in times))

    results = drain_until(bootstrap, topic, lambda ms: count(ms) >= want, timeout=300, on_poll=on_poll)
    assert count(results) >= want, (count(results), want)
    return results


def _incidents(bootstrap, topic, until, timeout=240, on_poll=None) -> dict[str, dict]:
    msgs = drain_until(bootstrap, topic, lambda ms: until(_latest(ms)), timeout=timeout, on_poll=on_poll)
    return _latest(msgs)


def _latest(msgs) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for m in msgs:
        v = m["value"]
        if v["incident_id"] not in out or v["revision"] >= out[v["incident_id"]]["revision"]:
            out[v["incident_id"]] = v
    return out


def _within(result: dict, times: tuple[float, float]) -> bool:
    from schemas.log_event import parse_timestamp

    return times[0] - 60 <= parse_timestamp(result["window_start"]) <= times[1]


def _naming(incidents: dict[str, dict], story: list[LogEvent]) -> list[dict]:
    """The incidents of a story: first seen within its time range."""
    from schemas.log_event import parse_timestamp

    lo, hi = min(e.timestamp for e in story) - 60, max(e.timestamp for e in story)
    return [i for i in incidents.values() if lo <= parse_timestamp(i["first_seen"]) <= hi]


def test_b_c_confirmed_cause_ranks_first_and_rejected_pattern_stops_after_a_retrain(stack, topics, start_worker,
                                                                                   monkeypatch, tmp_path):
    from tracking.api import track_training

    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    env = _control_env(stack, topics, f"test-learn-{uuid.uuid4().hex[:8]}")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    train_labels = make_dataset(tmp_path / "train", tests=10, hosts=2, minutes=5, seed=3)
    test_labels = make_dataset(tmp_path / "test", tests=10, hosts=2, minutes=5, seed=4)
    production = train(load_inputs([str(tmp_path / "train")], str(train_labels)), epochs=1)
    record = track_training(production, production_if_none=True)
    faults, candidates = pick_runs(tmp_path / "test", test_labels, production.rca_model)
    # each two hours after the last: separate stories for the correlator
    candidates = [again(run, 2 * 3600 * (k + 1)) for k, run in enumerate(candidates)]
    faults = [(again(run, 2 * 3600 * (len(candidates) + k + 1)), truth) for k, (run, truth) in enumerate(faults)]

    def not_first(incidents: dict, story: list[LogEvent], truth: str) -> dict | None:
        """The story's incident that names ``truth`` but not first (None: there is none)."""
        return next((i for i in _naming(incidents, story) if truth in (names := [c["module"] for c in i["root_causes"]])
                     and names.index(truth) > 0), None)

    worker = start_worker(**env)

    def alive():
        assert worker.proc.poll() is None, worker.log_text()[-3000:]

    def serving(version):
        deadline = time.monotonic() + 120
        while f"serving model {version}" not in worker.log_text():
            alive()
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
            time.sleep(0.5)   # polling the worker's log for the model it serves

    serving(record.version)
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    publish([e for run, _ in faults for e in run] + [e for run in candidates for e in run], kafka, topics.logs,
            progress=False)
    _scored(bootstrap, topics.results, [run for run, _ in faults] + candidates, alive)
    seen = _incidents(bootstrap, topics.incidents,
                      lambda inc: any(truth in [c["module"] for i in _naming(inc, run) for c in i["root_causes"]]
                                      for run, truth in faults), on_poll=alive)
    seen = _latest(drain_until(bootstrap, topics.incidents, lambda ms: False, timeout=5)) or seen
    alarms = [run for run in candidates if _naming(seen, run)]   # the stories the stream raised
    assert alarms, "no pattern to reject raised an incident"
    # the fault whose incident names its cause, but not first: the model does not rank it first. With
    # late context the stream can name every picked fault's cause first already (the generated sets of
    # today: batch ranks it 2nd, the incident 1st); then the confirmed cause must stay first.
    fault, truth = next(((run, truth) for run, truth in faults if not_first(seen, run, truth)), (None, None))
    if fault is not None:
        fault_incident = not_first(seen, fault, truth)
    else:
        fault, truth, fault_incident = next((run, truth, i) for run, truth in faults for i in _naming(seen, run)
                                            if truth in [c["module"] for c in i["root_causes"]])
    before = [c["module"] for c in fault_incident["root_causes"]]
    alarm_incidents = [i for run in alarms for i in _naming(seen, run)]

    confirmed = _cli(env, "incidents", "confirm", fault_incident["incident_id"], "--cause", truth, "--by", "test")
    assert confirmed.returncode == 0, confirmed.stderr
    for inc in alarm_incidents:
        rejected = _cli(env, "incidents", "reject", inc["incident_id"], "--by", "test")
        assert rejected.returncode == 0, rejected.stderr
    listing = _cli(env, "incidents", "--all")
    assert f"confirmed: {truth}"[:12] in listing.stdout and "false alarm" in listing.stdout, listing.stdout

    cmd = send_command(get_settings(), build_command("retrain", {"source": f"topic:{topics.logs}", "since": "1h",
                                                                 "epochs": 1}))
    events = _events_of(bootstrap, topics.control_events, cmd["command_id"],
                        lambda v: v["event"] in ("failed", "finished"), timeout=480, on_poll=alive)
    finished = events[-1]
    assert finished["event"] == "finished", events
    assert finished["promotion"]["promoted"] is True, finished["promotion"]
    assert finished["promotion"]["verdicts"] == {"confirm": 1, "reject": len(alarm_incidents), "missed": 0}
    serving(finished["model_version"])

    fault2, alarms2 = again(fault, DAY), [again(run, DAY) for run in alarms]
    publish([e for run in alarms2 for e in run] + fault2, kafka, topics.logs, progress=False)
    # every window of the stories scored (and the incident stage done with them), then their incidents
    results = _scored(bootstrap, topics.results, [fault2, *alarms2], alive)
    incident_windows = {m["value"]["window_id"] for m in results
                        if _within(m["value"], (min(e.timestamp for e in fault2), max(e.timestamp for e in fault2)))
                        and m["value"].get("incident_id")}
    seen = _incidents(bootstrap, topics.incidents,
                      lambda inc: sum(i["window_count"] for i in _naming(inc, fault2)) >= len(incident_windows),
                      timeout=60, on_poll=alive)
    second = _naming(seen, fault2)
    assert second and any(i["root_causes"] for i in second), "the fault raised no incident the second time"
    main = max(second, key=lambda i: i["window_count"])
    after = [c["module"] for c in main["root_causes"]]
    again_raised = [i for run in alarms2 for i in _naming(seen, run)]
    logging.getLogger(__name__).warning("confirmed cause %s: rank %d before the retrain, rank %d after; the rejected "
                                        "patterns raised %d incident(s) before, %d after", truth,
                                        before.index(truth) + 1, after.index(truth) + 1 if truth in after else -1,
                                        len(alarm_incidents), len(again_raised))
    assert after[0] == truth, (before, after)
    assert not again_raised, [(i["incident_id"], i["root_causes"][:1]) for i in again_raised]
