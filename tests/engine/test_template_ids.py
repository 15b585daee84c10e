"""Template ids mean the same in every process: a hash of the template, whatever order lines came in."""
from __future__ import annotations

import random

from engine.templates import TemplateMiner, template_id

LINES = [
    "Compute_service record updated for localhost",
    "Compute_service record updated for cp-1.slowvm1.utah",
    "[instance: 9f6ac5a9-3b4e-4c4e-8a8c-0a4b6c1d2e3f] Took 1.52 seconds to spawn the instance on the hypervisor.",
    "[instance: 1b2c3d4e-0000-4c4e-8a8c-0a4b6c1d2e3f] Took 20.05 seconds to spawn the instance on the hypervisor.",
    'GET /v2/abc/servers/detail HTTP/1.1" status: 200 len: 1893 time: 0.247',
    'POST /v2/abc/servers HTTP/1.1" status: 202 len: 733 time: 0.5',
    "Acquired lock compute_resources",
    "Releasing lock compute_resources",
] + [f"Running periodic task ComputeManager.{t} run_periodic_tasks"
     for t in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")]


def final_ids(miner: TemplateMiner, lines: list[str]) -> dict[str, str]:
    got = {line: miner.add(line).template_id for line in lines}
    return {line: miner.resolve(tid) for line, tid in got.items()}


def test_ids_are_hashes_of_the_template_text():
    m = TemplateMiner()
    r = m.add("Took 1.5 seconds to spawn the instance.")
    assert r.template == "Took <*> seconds to spawn the instance."
    assert r.template_id == template_id(r.template) and r.template_id.startswith("T") and len(r.template_id) == 17
    assert TemplateMiner().add("Took 99 seconds to spawn the instance.").template_id == r.template_id


def test_two_miners_fed_in_other_orders_agree_on_every_id():
    """Two workers of a group (or a worker and `rca analyze`) that mine the same templates name them alike."""
    one, two = TemplateMiner(), TemplateMiner()
    shuffled = LINES[:]
    random.Random(7).shuffle(shuffled)
    a, b = final_ids(one, LINES), final_ids(two, shuffled)
    assert one.templates == two.templates
    assert a == b


def test_a_restarted_miner_names_the_templates_it_meets_again_alike():
    """A worker restarted after kill -9 starts without the mined state: ids still agree."""
    first = TemplateMiner()
    before = final_ids(first, LINES)
    restarted = TemplateMiner()
    after = final_ids(restarted, LINES[len(LINES) // 2:] + LINES[: len(LINES) // 2])
    assert after == before


def test_an_id_never_changes_meaning_and_merged_ids_resolve():
    m = TemplateMiner(max_word_variants=4)
    seen: dict[str, str] = {}
    for line in LINES:
        r = m.add(line)
        assert seen.setdefault(r.template_id, r.template) == r.template   # one id, one text, ever
    periodic = m.add("Running periodic task ComputeManager.lambda run_periodic_tasks")
    assert periodic.template == "Running periodic task <*> run_periodic_tasks"
    early = template_id("Running periodic task ComputeManager.alpha run_periodic_tasks")
    assert m.resolve(early) == periodic.template_id and early in m.aliases


def test_state_round_trip_keeps_ids_and_model_ids():
    m = TemplateMiner()
    for line in LINES:
        m.add(line)
    restored = TemplateMiner.load(m.save())
    assert restored.templates == m.templates and restored.aliases == m.aliases
    for line in LINES:
        a, b = m.match(line), restored.match(line)
        assert (a.template_id, a.model_id, a.template) == (b.template_id, b.model_id, b.template)


def test_numbered_state_of_older_bundles_loads_with_hash_ids_and_old_numbers_as_model_ids():
    """A bundle whose LSTM vocabulary and parameter statistics are keyed by the old numbers keeps working."""
    state = {"version": 1, "max_word_variants": 8, "cache_size": 100, "token_cache_size": 100, "next_id": 4,
             "clusters": [[1, ["Took", "<*>", "seconds", "to", "spawn"], 5], [3, ["VM", "Paused"], 2]],
             "aliases": [[2, 1]]}
    m = TemplateMiner.from_state(state)
    r = m.match("Took 3 seconds to spawn")
    assert r.template_id == template_id("Took <*> seconds to spawn") and r.model_id == "1"
    assert m.match("VM Paused").model_id == "3"
    assert m.resolve("2") == m.resolve("1") == r.template_id
    generalised = m.add("Took some seconds to spawn")   # fits as is: the model still knows it as 1
    assert generalised.model_id == "1"


def test_a_template_generalised_in_the_worker_keeps_the_model_key_of_the_bundle():
    trained = TemplateMiner()
    bundle_id = trained.add("Compute_service record updated for localhost").template_id
    worker = TemplateMiner.load(trained.save())
    r = worker.add("Compute_service record updated for cp-1.utah")
    assert r.template_id != bundle_id and worker.resolve(bundle_id) == r.template_id
    assert r.model_id == bundle_id
