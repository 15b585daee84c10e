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
    assert {"stack", "publish", "worker", "results", "simulate", "train", "analyze", "eval", "models",
            "retrain", "bench"} <= set(sub.choices)


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
