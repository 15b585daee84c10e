"""Results name template ids that a second worker, a restarted worker and `rca analyze` agree on
(pure logic: the worker's Pipeline, no Kafka; tests/integration/test_chaos.py does it with kill -9)."""
from __future__ import annotations

import orjson

from config.settings import WorkerSettings
from consumers.pipeline import Pipeline
from engine.templates import TemplateMiner, template_id
from schemas.log_event import format_timestamp

TASKS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"]


def event(ts: float, text: str, instance: str) -> bytes:
    return orjson.dumps({"schema_version": 1, "timestamp": format_timestamp(ts), "service": "nova-compute", "host": "cmp-1",
                         "level": "INFO", "logger": "nova.compute.manager", "instance_id": instance,
                         "message": text})


def stream(tasks: list[str] = TASKS) -> list[bytes]:
    """Periodic-task lines whose task names merge into one template once enough were seen, then a
    window of a second session with some of them again, then an event that closes it."""
    out = [event(1_600_000_000 + i, f"Running periodic task ComputeManager.{t} run_periodic_tasks", "i-1")
           for i, t in enumerate(tasks)]
    out += [event(1_600_000_100 + i, f"Running periodic task ComputeManager.{t} run_periodic_tasks", "i-2")
            for i, t in enumerate(TASKS[:3])]
    out.append(event(1_600_000_400, "Took 1.5 seconds to spawn the instance.", "i-3"))
    return out


def run(pipeline: Pipeline, messages: list[bytes], first_offset: int = 0) -> list[dict]:
    closed = []
    for offset, value in enumerate(messages[first_offset:], start=first_offset):
        out = pipeline.handle(value, b"cmp-1", 0, offset, None, now=0)
        assert out.rejected == []
        closed.extend(out.closed)
    return pipeline.results(closed)


def templates_by_window(results: list[dict]) -> dict[str, list]:
    return {r["window_id"]: r["templates"] for r in results}


def test_a_window_published_again_after_a_restart_names_the_same_templates():
    """The restarted miner has not seen the early task names, so on its own it would not have
    merged them yet: the rebuilt window names its templates as the first copy did (the record)."""
    messages = stream()
    published: dict[str, dict] = {}
    first = templates_by_window(run(Pipeline(WorkerSettings(), published=published), messages))
    merged = template_id("Running periodic task <*> run_periodic_tasks")
    assert {t["template_id"] for ts in first.values() for t in ts} >= {merged}
    # kill -9 after the second session's window was recorded: everything from offset 11 comes again
    again = templates_by_window(run(Pipeline(WorkerSettings(), published=published), messages, first_offset=11))
    assert again and set(again) <= set(first)
    for wid, templates in again.items():
        assert templates == first[wid]


def test_two_workers_and_rca_analyze_name_a_template_alike():
    """Two processes that mine other lines first still give one template one id, and it is the id
    the template has in a miner trained on the same lines (what `rca analyze` matches against)."""
    messages = stream()
    one = run(Pipeline(WorkerSettings()), messages)
    two = run(Pipeline(WorkerSettings()), stream(TASKS[::-1]))
    names = lambda results: {t["template"]: t["template_id"] for r in results for t in r["templates"]}  # noqa: E731
    a, b = names(one), names(two)
    for text in set(a) & set(b):
        assert a[text] == b[text] == template_id(text)
    trained = TemplateMiner()
    for value in messages:
        trained.add(orjson.loads(value)["message"])
    analyzed = trained.match("Running periodic task ComputeManager.mu run_periodic_tasks")
    assert analyzed.template_id == a["Running periodic task <*> run_periodic_tasks"]
