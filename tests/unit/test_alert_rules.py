"""The alert rules in deploy/ are valid and behave as their unit tests say (promtool, from
Debian's `prometheus`, which scripts/install.sh installs; skipped with the reason without it)."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from config.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus; "
                                                             "scripts/install.sh does it as root)")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60)


@needs_promtool
def test_rules_pass_promtool_check():
    done = promtool("check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_rules_pass_their_promtool_unit_tests():
    done = promtool("test", "rules", "alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_prometheus_config_passes_promtool_check(tmp_path):
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["rule_files"] = [str(DEPLOY / "alerts.yml")]    # the compose mount point, here
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_the_issue_names_is_shipped_and_tested():
    rules = {r["alert"] for g in yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"] for r in g["rules"]}
    assert {"RCAIncidentOpen", "RCAConsumerLagGrowing", "RCADeadLetters", "RCAModelRefused", "RCAModelNotReloaded",
            "RCAWorkerDown"} <= rules
    tested = {t["alertname"] for case in yaml.safe_load((DEPLOY / "alerts.test.yml").read_text())["tests"]
              for t in case["alert_rule_test"]}
    assert tested == rules
