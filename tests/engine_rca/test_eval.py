from pathlib import Path

from engine.rca.dataset import RunRef, list_runs, load_run, service_log_files
from engine.rca.eval import baseline_analyze, evaluate_dataset, format_metrics, score_predictions

HEADER = "SUBSYSTEM\tTEST\tFAULT_TYPE\tCOMPONENT\tCLASS\tFUNCTION\tFAULT_POINT\tROUND_1\tASSERTION_R1\tAPI_R1\tROUND_2\tASSERTION_R2\tAPI_R2\n"


def ref(test, rnd, failure, root=None):
    return RunRef("Nova", test, rnd, Path("."), failure, root)


def test_score_predictions_counts_and_levels():
    items = [
        (ref("T1", "round_1", True, "nova.compute.manager"), True,
         ["nova.compute.utils", "nova.compute.manager"], ["nova.compute.utils", "nova.compute.manager"]),
        (ref("T2", "round_1", True, "nova.virt.libvirt.driver"), False, ["neutron.db.api"], []),
        (ref("T1", "round_2", False), False, [], []),
        (ref("T3", "round_1", False), True, ["nova.api.openstack"], ["nova.api.openstack"]),
        (ref("T4", "round_2", True), True, [], []),  # failing round 2: not evaluated
    ]
    m = score_predictions(items)
    d = m["detection"]
    assert (d["tp"], d["fp"], d["fn"], d["tn"]) == (1, 1, 1, 1)
    assert d["precision"] == d["recall"] == d["f1"] == 0.5
    assert m["incidents"] == 2
    assert m["rca"]["subsystem_top1"] == 0.5  # T1 right (nova), T2 wrong (neutron)
    assert m["rca"]["module_top1"] == 0.0 and m["rca"]["module_top3"] == 0.5
    assert m["rca"]["package_top1"] == 0.5  # nova.compute
    assert m["rca_end_to_end"]["module_top3"] == 0.5
    assert "F1=0.500" in format_metrics(m)


def _line(t, level, logger, msg):
    return f"2018-06-28 05:00:{t:06.3f} 1000 {level} {logger} [req-11111111-2222-3333-4444-555555555555 - - - - -] {msg}\n"


def _write_run(base: Path, error: bool):
    logs = base / "nova"
    logs.mkdir(parents=True)
    lines = [_line(1, "INFO", "nova.compute.manager", "Starting instance")]
    if error:
        lines.append(_line(2, "ERROR", "nova.compute.manager", "Build failed: TypeError: bad"))
        lines.append("2018-06-28 05:00:02.000 1000 ERROR nova.compute.manager Traceback (most recent call last):\n")
        lines.append('2018-06-28 05:00:02.000 1000 ERROR nova.compute.manager   File '
                     '"/usr/lib/python2.7/site-packages/nova/compute/api.py", line 5, in f\n')
        lines.append("2018-06-28 05:00:02.000 1000 ERROR nova.compute.manager TypeError: bad\n")
    (logs / "nova-compute.log.bzip2.out").write_text("".join(lines))
    # labels and workload output sit beside the logs and must not be read
    (base / "trigger_log").write_text("2018-06-28 05:00:02 Injection activated!\n")
    (base / "foreground_wl").mkdir()
    (base / "foreground_wl" / "wl.out.log.bzip2.out").write_text(_line(3, "ERROR", "x", "API ERROR"))


def test_evaluate_dataset_on_a_tiny_layout(tmp_path):
    root = tmp_path / "devset"
    _write_run(root / "Nova" / "Test_1" / "logs" / "round_1", error=True)
    _write_run(root / "Nova" / "Test_1" / "logs" / "round_2", error=False)
    _write_run(root / "Nova" / "Test_2" / "logs" / "round_1", error=False)
    _write_run(root / "Nova" / "Test_2" / "logs" / "round_2", error=False)
    labels = tmp_path / "labels.tsv"
    labels.write_text(HEADER
                      + "Nova\tTest_1\tX\t/nova/compute/api.py\tA\tf\tp\tFAILURE\t\t\tNO_FAILURE\t\t\n"
                      + "Nova\tTest_2\tX\t/nova/compute/api.py\tA\tf\tp\tNO_FAILURE\t\t\tNO_FAILURE\t\t\n")
    runs = list_runs(tmp_path, labels)
    assert [r.run_id for r in runs] == ["Nova/Test_1/round_1", "Nova/Test_1/round_2",
                                        "Nova/Test_2/round_1", "Nova/Test_2/round_2"]
    assert runs[0].failure and runs[0].root_module == "nova.compute.api"
    assert runs[1].root_module is None
    files = service_log_files(runs[0].path)
    assert [f.name for f in files] == ["nova-compute.log.bzip2.out"]
    events = load_run(runs[0].path)
    assert any(e.frames for e in events) and all(e.logger != "x" for e in events)
    m = evaluate_dataset(root, labels, baseline_analyze)
    assert m["detection"]["f1"] == 1.0 and m["incidents"] == 1
    assert m["rca"]["subsystem_top1"] == 1.0
