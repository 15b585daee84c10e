"""`rca bench chaos`: bad flags are one line and a non-zero exit, before any broker starts."""
from __future__ import annotations

import pytest

from bench.chaos import ChaosConfig, summary_lines
from cli.main import main


@pytest.mark.parametrize("argv,needle", [
    (["--events", "0"], "--events must be at least 1"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--kills", "-1"], "--kills must not be negative"),
    (["--broker-restarts", "-2"], "--broker-restarts must not be negative"),
])
def test_bad_flags_are_one_line_errors(capsys, monkeypatch, argv, needle):
    import bench.chaos

    monkeypatch.setattr(bench.chaos, "PrivateBroker", lambda *a: pytest.fail("a broker was started"))
    code = main(["--log-level", "ERROR", "bench", "chaos", *argv])
    err = capsys.readouterr().err
    assert code != 0 and needle in err and len(err.strip().splitlines()) == 1


def test_no_product_module_imports_bench():
    """bench/ owns benchmarks; the product never loads it (cli imports it lazily)."""
    import subprocess
    import sys

    from config.settings import PROJECT_ROOT

    code = ("import sys, cli.main, consumers.app, consumers.pipeline, engine.scoring, tracking.api; "
            "print('bench' in sys.modules or any(m.startswith('bench.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_summary_lines_read_the_figures():
    figures = {"events_published": 10, "events_expected": 9, "dead_letters": 0, "dead_letters_by_reason": {},
               "distinct_window_ids": 3, "ids_published_more_than_once": 1, "ids_whose_copies_differ": 0,
               "ids_whose_copies_differ_in_counts": 0, "ids_whose_copies_differ_in_templates": 0,
               "events_lost": 0, "events_reported": 9, "late_share": 0.0, "distinct_templates": 2,
               "template_texts_with_several_ids": 0, "template_ids_with_several_texts": 0, "drained": True,
               "drain_seconds": 4.2, "final_lag": 0, "lag_over_time": [[0.5, 10], [1.0, None], [4.2, 0]],
               "chaos": [{"t": 1.0, "action": "kill -9 worker"}, {"t": 2.0, "action": "kill -9 broker", "down_s": 5.0}],
               "workers_started": 2, "workers_alive_at_end": 1, "worker_exits": [], "config": {"timeout": 60},
               "log_dir": "/tmp/x"}
    text = "\n".join(summary_lines(figures))
    assert "events lost           0" in text and "1s:-" in text and "down 5.0 s" in text
    with pytest.raises(ValueError):
        ChaosConfig(session_timeout=1.0).check()
