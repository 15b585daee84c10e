"""Chaos: a 30,000-message backlog, three kill -9 of workers, one hard-killed broker, two workers
in one group for most of it (bench/chaos.py, on a broker of its own: the shared one is left alone).

Asserted: no event lost, the copies of one window id identical (counts and templates), the
group's lag 0 at the end; and template ids that every worker, before and after each kill,
agrees on: one id per template text, the hash of that text (what `rca analyze` names it too).
Bounded: about 2-4 minutes on 2 cores; the run gives up after 6 minutes.
"""
from __future__ import annotations

import json
import logging

import pytest

from bench.chaos import ChaosConfig, run

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)


def test_kills_and_a_broker_restart_lose_nothing_and_copies_are_identical(stack, tmp_path):
    figures = run(ChaosConfig(events=30_000, kills=3, broker_restarts=1, workers=2, seed=19,
                              timeout=360.0, log_dir=tmp_path / "logs"))
    log.info("chaos figures: %s", json.dumps({k: v for k, v in figures.items() if k != "lag_over_time"}))
    where = f"(worker logs in {figures['log_dir']})"
    assert figures["drained"] and figures["final_lag"] == 0, f"lag not 0: {figures['final_lag']} {where}"
    actions = [a["action"] for a in figures["chaos"]]
    assert actions.count("kill -9 worker") == 3 and actions.count("kill -9 broker") == 1, figures["chaos"]
    assert figures["events_lost"] == 0, where
    assert figures["events_reported_beyond_input"] == 0, where
    assert figures["ids_published_more_than_once"] > 0     # the kills did strike mid-stream
    assert figures["template_texts_with_several_ids"] == 0
    assert figures["template_ids_with_several_texts"] == 0
    assert figures["template_ids_not_the_hash_of_their_text"] == 0
    assert figures["dead_letters"] == 0, figures["dead_letters_by_reason"]
    assert figures["ids_whose_copies_differ"] == 0, (
        f"{figures['ids_whose_copies_differ']} window ids' copies differ (counts "
        f"{figures['ids_whose_copies_differ_in_counts']}, templates {figures['ids_whose_copies_differ_in_templates']}): "
        f"{figures['differing_examples'][:3]} {where}")
