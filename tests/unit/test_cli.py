"""The `rca` command's contract: one-line errors for bad input, help on every subcommand."""
from __future__ import annotations

import pytest

from cli.main import build_parser, legacy_argv, main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--log-level", "ERROR", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("make,needle", [
    (lambda d: d / "empty", "folder has no files"),
    (lambda d: d / "missing.log", "no such file or folder"),
    (lambda d: (d / "blob.bin").write_bytes(b"\x00\x01\x02binary\x00") and d / "blob.bin", "binary file"),
    (lambda d: (d / "notes.txt").write_text("just some\nplain text\n") and d / "notes.txt",
     "no OpenStack log records"),
])
def test_analyze_bad_input_is_one_line_error(tmp_path, capsys, make, needle):
    (tmp_path / "empty").mkdir()
    path = make(tmp_path)
    code, out, err = run(capsys, "analyze", "--disable-mlflow", "--logs", str(path))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("rca analyze: error:") and needle in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv,needle", [
    (["train", "--logs", "/nonexistent", "--disable-mlflow"], "no such file or folder"),
    (["train", "--logs", "/tmp", "--epochs", "0"], "--epochs"),
    (["publish", "--rate", "-1", "/tmp"], "--rate"),
    (["retrain", "--source", "topic:openstack.logs"], "--since"),
    (["retrain", "--source", "topic:openstack.logs", "--since", "last tuesday"], "cannot read time"),
    (["eval", "--dataset", "/nonexistent"], "no such folder"),
])
def test_other_bad_input_is_one_line_error(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 1 and needle in err and "Traceback" not in err


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([name, "--help"])
        assert exc.value.code == 0
    assert {"stack", "publish", "worker", "results", "incidents", "ui", "simulate", "train", "analyze", "eval",
            "models", "retrain", "bench"} <= set(sub.choices)


def test_legacy_mode_words_still_work():
    assert legacy_argv(["--mode", "analyze", "--issue", "x", "--fast-mode"]) == ["analyze", "--issue", "x",
                                                                                 "--fast-mode"]
    assert legacy_argv(["--mode", "train", "--disable-mlflow"]) == ["train", "--disable-mlflow"]
    assert legacy_argv(["results"]) == ["results"]


def test_config_show_masks_secrets(capsys, monkeypatch):
    from config.settings import get_settings

    monkeypatch.setenv("RCA_KAFKA_SASL_PASSWORD", "hunter2-very-secret")
    monkeypatch.setenv("RCA_CONTROL_SECRET", "control-plane-secret")
    get_settings.cache_clear()
    try:
        code, out, _ = run(capsys, "config", "show")
    finally:
        get_settings.cache_clear()
    assert code == 0 and "hunter2" not in out and "control-plane-secret" not in out and "**********" in out


# -- quiet, terminal-sized output -------------------------------------------------
def test_table_fits_the_terminal_and_clips_the_flexible_column():
    from cli.output import Column, Table

    table = Table([Column("id", 10), Column("cause", 20, flexible=True), Column("n", 4, ">")], width=50,
                  colour=False)
    row = table.row(["inc-1", "neutron.plugins.ml2.managers (vif plugging, 0.87) and more", "3"])
    assert len(row) <= 50 and "…" in row and row.endswith("   3")
    assert len(table.header()) <= 50


def test_colour_only_on_a_terminal(monkeypatch):
    import io

    from cli.output import paint, use_colour

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour(Tty()) and not use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Tty())
    assert paint("x", "red", False) == "x" and paint("x", "red", True) == "\033[31mx\033[0m"


@pytest.mark.parametrize("argv", [["results", "--last", "0"], ["incidents", "-n", "-3"]])
def test_limits_must_be_positive(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 1 and "--last must be positive" in err


def test_broker_retries_are_said_once_and_only_when_they_last(monkeypatch):
    import logging
    import time

    from cli.main import BrokerRetries

    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    f = BrokerRetries(patience=10, quiet=30)

    def record(msg, name="producers.kafka", level=logging.ERROR):
        return logging.LogRecord(name, level, __file__, 1, msg, None, None)

    retry = "FAIL [rdkafka#producer-1] [thrd:x]: Connect to ipv4#127.0.0.1:19092 failed: Connection refused"
    assert not f.filter(record(retry))              # a blip: silent
    clock[0] += 5
    assert not f.filter(record(retry))
    clock[0] += 6                                   # 11 s of retries: said once
    r = record(retry)
    assert f.filter(r) and "unreachable for 11 s" in r.getMessage() and "Connection refused" in r.getMessage()
    clock[0] += 5
    assert not f.filter(record(retry))              # not again
    assert f.filter(record("something else failed"))   # other lines pass
    clock[0] += 60                                  # a new episode later starts silent again
    assert not f.filter(record(retry))
    assert not f.filter(record("Unable connect to node with id 1: [Errno 111]", name="aiokafka"))


def test_tensorflow_import_hook_is_installed_before_any_import():
    import sys

    from cli.main import QuietTensorFlow

    assert any(isinstance(f, QuietTensorFlow) for f in sys.meta_path) or "tensorflow" in sys.modules
    assert QuietTensorFlow().find_spec("numpy", None) is None   # only tensorflow is touched
