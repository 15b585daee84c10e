"""Template miner tests: grouping, stable ids, persistence, bounded growth."""
from __future__ import annotations

import pickle
import random
import uuid

import pytest

from engine.templates import TemplateMiner, extract_params, mask, template_id
from tests.conftest import LOGHUB_DIR


def ids(miner: TemplateMiner, lines: list[str]) -> list[str]:
    """Template id of each line once all are mined (merged ids resolved)."""
    added = [miner.add(line).template_id for line in lines]
    return [miner.resolve(tid) for tid in added]


def test_variables_are_masked_and_returned_as_params():
    m = TemplateMiner()
    r1 = m.add("[instance: 9f6ac5a9-3b4e-4c4e-8a8c-0a4b6c1d2e3f] Took 1.52 seconds to spawn the instance on the hypervisor.")
    r2 = m.add("[instance: 1b2c3d4e-0000-4c4e-8a8c-0a4b6c1d2e3f] Took 20.05 seconds to spawn the instance on the hypervisor.")
    assert r1.template_id == r2.template_id
    assert r2.template == "[instance: <*> Took <*> seconds to spawn the instance on the hypervisor."
    assert r2.params == ["1b2c3d4e-0000-4c4e-8a8c-0a4b6c1d2e3f]", "20.05"]
    assert m.templates == {r1.template_id: r2.template} and len(m) == 1


def test_key_value_keeps_the_key():
    m = TemplateMiner()
    r = m.add("Final resource view: name=cp-1.utah phys_ram=64172MB used_ram=512MB pci_stats=[]")
    assert r.template == "Final resource view: name=<*> phys_ram=<*> used_ram=<*> pci_stats=[]"
    assert r.params == ["cp-1.utah", "64172MB", "512MB"]


def test_paths_and_urls_are_variables():
    assert mask('GET /latest/meta-data/hostname HTTP/1.1" ok') == "GET <*> <*> ok"
    assert mask("fetching https://example.org/a from (/var/lib/x):") == "fetching <*> from <*>"
    assert mask("and/or plain words") == "and/or plain words"


def test_words_that_name_the_event_make_separate_templates():
    m = TemplateMiner()
    lines = [
        f'10.11.10.1 "{verb} /v2/{uuid.uuid4().hex}/servers HTTP/1.1" status: 200 len: 1893 time: 0.247'
        for verb in ("GET", "POST", "DELETE", "GET")
    ] + [f"[instance: {uuid.uuid4()}] VM {s} (Lifecycle Event)" for s in ("Paused", "Resumed", "Started", "Stopped")]
    got = ids(m, lines)
    assert got[0] == got[3]
    assert len(set(got)) == 7 and len(m) == 7


def test_a_generalised_template_gets_a_new_id_and_the_old_one_resolves_to_it():
    """An id stands for one template text for ever: generalising makes a new template (new id);
    the old id is kept as an alias of it, and the model keeps knowing it by its first id."""
    m = TemplateMiner()
    first = m.add("Compute_service record updated for localhost")
    again = m.add("Compute_service record updated for cp-1.slowvm1.utah")
    assert again.template == "Compute_service record updated for <*>"
    assert again.template_id == template_id(again.template) != first.template_id == template_id(first.template)
    assert m.resolve(first.template_id) == again.template_id and m.aliases == {first.template_id: again.template_id}
    assert again.model_id == first.model_id == first.template_id
    assert m.add("Compute_service record updated for localhost").template_id == again.template_id
    assert m.match("Compute_service record updated for host-7").template_id == again.template_id


def test_many_word_variants_merge_into_one_template():
    m = TemplateMiner(max_word_variants=4)
    tasks = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"]
    got = ids(m, [f"Running periodic task ComputeManager.{t} run_periodic_tasks" for t in tasks])
    assert len(m) == 1
    (tid,) = m.templates
    assert set(got) == {tid} and tid == got[0]
    assert m.templates[tid] == "Running periodic task <*> run_periodic_tasks"
    r = m.add("Running periodic task ComputeManager.theta run_periodic_tasks")
    assert r.template_id == tid and r.params == ["ComputeManager.theta"]
    assert m.size_of(tid) == 8


def test_match_does_not_learn():
    m = TemplateMiner()
    assert m.match("never seen 42") is None
    assert len(m) == 0
    tid = m.add("Deleting instance files /var/lib/nova/instances/abc_del").template_id
    assert m.match("Deleting instance files /var/lib/nova/instances/xyz_del").template_id == tid
    assert m.match("Deleting instance rows") is None
    assert len(m) == 1


def test_variable_length_lists_share_one_template():
    m = TemplateMiner()
    a = m.add("Active base files: /var/lib/nova/instances/_base/a1")
    b = m.add("Active base files: /var/lib/nova/instances/_base/a1 /var/lib/nova/instances/_base/b2")
    assert a.template_id == b.template_id and len(m) == 1
    assert b.params == ["/var/lib/nova/instances/_base/a1 /var/lib/nova/instances/_base/b2"]


def test_params_align_around_constants():
    assert extract_params(["a", "<*>", "b", "<*>"], ["a", "x", "y", "b", "z"]) == ["x y", "z"]
    assert extract_params(["k=<*>", "<*>"], ["k=1", "2"]) == ["1", "2"]


def test_empty_message():
    m = TemplateMiner()
    r = m.add("")
    assert r.template == "" and r.params == [] and m.add("   ").template_id == r.template_id


GENERIC = {
    # HDFS-like
    "hdfs-receive": ["Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
                     "Receiving block blk_7503483334202473044 src: /10.251.215.16:55695 dest: /10.251.215.16:50010"],
    "hdfs-responder": ["PacketResponder 1 for block blk_38865049064139660 terminating",
                       "PacketResponder 2 for block blk_-6952295868487656571 terminating"],
    "hdfs-served": ["10.251.91.84:50010 Served block blk_-3724301585839128542 to /10.251.91.84",
                    "10.250.14.224:50010 Served block blk_123 to /10.250.14.224"],
    # Apache error log
    "apache-init": ["workerEnv.init() ok /etc/httpd/conf/workers2.properties",
                    "workerEnv.init() ok /etc/httpd/conf/workers2.properties"],
    "apache-error": ["mod_jk child workerEnv in error state 6", "mod_jk child workerEnv in error state 7"],
    "apache-found": ["jk2_init() Found child 6725 in scoreboard slot 10", "jk2_init() Found child 32405 in scoreboard slot 7"],
    # sshd / syslog
    "ssh-fail": ["Failed password for root from 173.234.31.186 port 38926 ssh2",
                 "Failed password for root from 112.95.230.3 port 50044 ssh2"],
    "ssh-invalid": ["Failed password for invalid user admin from 173.234.31.186 port 38926 ssh2"],
    "pam": ["pam_unix(sshd:session): session opened for user root by (uid=0)",
            "pam_unix(sshd:session): session opened for user root by (uid=0)"],
    "pam-closed": ["pam_unix(sshd:session): session closed for user root"],
    # Java / Spark style
    # units are words: "size 4.2 KB" and "size 384 B" would be two templates
    "spark-stored": ["Block broadcast_2 stored as values in memory (estimated size 4.2 KB, free 317.5 KB)",
                     "Block broadcast_17 stored as values in memory (estimated size 384.0 KB, free 1.1 KB)"],
    "spark-task": ["Finished task 3.0 in stage 1.0 (TID 11). 2087 bytes result sent to driver",
                   "Finished task 0.0 in stage 27.0 (TID 1081). 1959 bytes result sent to driver"],
}


def test_generic_logs_of_other_systems_group_correctly():
    lines, truth = [], []
    for name, group in GENERIC.items():
        for line in group:
            lines.append(line)
            truth.append(name)
    order = list(range(len(lines)))
    random.Random(7).shuffle(order)
    m = TemplateMiner()
    got = dict(zip(order, ids(m, [lines[i] for i in order])))
    got = {i: m.resolve(t) for i, t in got.items()}
    for i in range(len(lines)):
        same_pred = {j for j in range(len(lines)) if got[j] == got[i]}
        same_true = {j for j in range(len(lines)) if truth[j] == truth[i]}
        assert same_pred == same_true, (lines[i], m.templates[got[i]])
    assert len(m) == len(GENERIC)


def _stream(n: int, seed: int = 3):
    rnd = random.Random(seed)
    for i in range(n):
        u = uuid.UUID(int=rnd.getrandbits(128))
        k = i % 5
        if k == 0:
            yield f"[instance: {u}] Took {rnd.random() * 90:.2f} seconds to build instance."
        elif k == 1:
            yield f'10.{rnd.randrange(256)}.0.{rnd.randrange(256)} "GET /v2/{u.hex}/servers/{u}" status: 200 len: {rnd.randrange(9999)} time: {rnd.random():.7f}'
        elif k == 2:
            yield f"Lock \"{u}\" acquired by \"nova.compute.manager.do_{rnd.randrange(10**6)}\" :: waited {rnd.random():.3f}s"
        elif k == 3:
            yield f"Received event network-vif-plugged-{u} for instance {u} 0x{rnd.getrandbits(48):x}"
        else:
            yield f"Final resource view: name=node-{i} phys_ram={rnd.randrange(10**6)}MB used_ram={i}MB pci_stats=[]"


def test_no_template_growth_when_only_variables_change():
    m = TemplateMiner(cache_size=1000, token_cache_size=2000)
    seen = ids(m, list(_stream(20_000)))
    assert len(m) == 5 and len(set(seen)) == 5
    slack = 20  # the cache is checked once per line, not per token
    assert len(m._mask._new) <= 2000 + slack and len(m._mask._old) <= 2000 + slack
    assert m._lookup.cache_info().currsize <= 1000


def test_unbounded_word_values_end_in_one_template():
    rnd = random.Random(5)
    names = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8)) for _ in range(3000)]
    m = TemplateMiner()
    got = ids(m, [f"user {n} logged in from gateway" for n in names] + [f"{n} joined the channel" for n in names])
    assert len(m) == 2 and len(set(got)) == 2
    assert set(m.templates.values()) == {"user <*> logged in from gateway", "<*> joined the channel"}


def test_save_and_load_keep_ids_and_matches():
    m = TemplateMiner(max_word_variants=3)
    lines = list(_stream(500)) + [f"Running periodic task T.{w} run" for w in "abcdefg"] + ["Claim successful", "VM Paused"]
    first = [m.add(line).template_id for line in lines]
    assert len(m) < len(set(first))  # some templates merged: aliases must survive too
    restores = [
        TemplateMiner.load(m.save()),
        TemplateMiner.from_state(pickle.loads(pickle.dumps(m.to_state()))),  # as in a model bundle
        pickle.loads(pickle.dumps(m)),
    ]
    for restored in restores:
        assert restored.templates == m.templates and len(restored) == len(m)
        assert [restored.resolve(t) for t in first] == [m.resolve(t) for t in first]
        for line in lines:
            a, b = m.match(line), restored.match(line)
            assert (a.template_id, a.template, a.params) == (b.template_id, b.template, b.params)
        # learning goes on identically after a restore
        more = list(_stream(50, seed=9)) + ["Claim failed", "VM Resumed", "Running periodic task T.h run"]
        copy = TemplateMiner.load(m.save())
        assert [copy.add(x).template_id for x in more] == [restored.add(x).template_id for x in more]


def test_loghub_grouping_accuracy():
    csv_path = LOGHUB_DIR / "OpenStack_2k.log_structured.csv"
    if not csv_path.is_file():
        pytest.skip(f"shared data not found at {csv_path} (a fresh clone has no ../shared)")
    from bench.parse import grouping_accuracy

    assert grouping_accuracy(csv_path) >= 0.99


def test_benchmarks_run_on_small_inputs(tmp_path):
    from bench.parse import BUILTIN_SEED, bench_memory, bench_parse

    log = tmp_path / "nova-api.log"
    log.write_text("\n".join(BUILTIN_SEED) + "\n")
    result = bench_parse([str(log)], repeat=1, min_pass_lines=100)
    assert result["lines"] == len(BUILTIN_SEED) and result["templates"] == len(BUILTIN_SEED)
    assert result["lines_per_s"] > 0
    assert result["passes"] == 1 and result["new_values_lines_per_s"] > 0
    assert result["lines_per_s"] >= result["slowest_lines_per_s"]
    reports = []
    memory = bench_memory(3000, seed_path=log, report_every=1000, on_report=reports.append)
    assert [r["events"] for r in memory["reports"]] == [1000, 2000, 3000] and len(reports) == 3
    assert memory["templates"] == len(BUILTIN_SEED)  # new values, no new templates
    assert memory["peak_rss_mb"] > 0
