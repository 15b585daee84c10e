"""`rca models` argument handling and the stage -> alias mapping (no servers needed)."""
from __future__ import annotations

import argparse

import pytest

from cli.models_cmd import add_models
from tracking.registry import alias_for
from tests.tracking.helpers import rca_models

ACTIONS = ["list", "show", "promote", "rollback", "archive", "compare", "export", "load"]


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_has_help(action, capsys):
    with pytest.raises(SystemExit) as e:
        rca_models(action, "--help")
    assert e.value.code == 0
    assert f"models {action}" in capsys.readouterr().out


def test_models_help_lists_the_actions(capsys):
    parser = argparse.ArgumentParser(prog="rca")
    add_models(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["models", "--help"])
    out = capsys.readouterr().out
    assert all(a in out for a in ACTIONS) and "--stage Production" in out


@pytest.mark.parametrize("alias,stage,expected", [
    (None, None, "production"), ("challenger", None, "challenger"), (None, "Production", "production"),
    (None, "staging", "challenger"), (None, "Archived", "archived"), ("Production", "Production", "production")])
def test_stages_map_to_aliases(alias, stage, expected):
    assert alias_for(alias, stage) == expected


@pytest.mark.parametrize("alias,stage", [(None, "Deployed"), ("challenger", "Production"), ("latest", None),
                                         ("v2", None), ("bad alias", None)])
def test_bad_alias_or_stage(alias, stage):
    with pytest.raises(ValueError):
        alias_for(alias, stage)


def test_conflicting_versions_are_refused():
    with pytest.raises(ValueError, match="two versions"):
        rca_models("archive", "2", "--version", "3")
