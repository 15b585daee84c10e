"""The incident page's verdict buttons and missed-fault form in a real headless Chromium (issue 27, test e).

`rca ui` reads this test's topics; the operator confirms a candidate of one incident, rejects
another as a false alarm, tries an unknown cause (refused with the reason) and reports a missed
fault. The verdicts land on rca.feedback with the incident's records, and the page shows each
incident's verdict and the precision of the incidents with one.
"""
from __future__ import annotations

import pytest

from config.settings import get_settings
from tests.browser.test_incident_page import incident, produce, ui, window_results  # noqa: F401 - ui is a fixture

pytestmark = [pytest.mark.integration, pytest.mark.browser]

RECORD = {"message": "Instance failed to spawn: VirtualInterfaceCreateException", "level": "ERROR",
          "logger": "nova.compute.manager", "service": "nova-compute", "host": "compute-2",
          "timestamp": "2026-11-29T10:00:08.540Z", "instance_id": "3f9a7c1e-2b4d-4e6f-8a1c-9d7e5b3a1c2f", "frames": []}


def test_e_verdict_buttons_and_missed_fault_form(stack, topics, ui, browser, monkeypatch):
    from playwright.sync_api import expect

    from consumers.feedback import read_verdicts

    url, _ = ui
    bootstrap = stack["RCA_KAFKA_BOOTSTRAP_SERVERS"]
    tag = topics.incidents
    live = incident(tag, 1, "open", 2)
    old = incident(tag, 3, "resolved", 1, resolved=True, n=1)
    results = window_results(live)
    for r in results:
        r["evidence_events"] = [RECORD]
    produce(bootstrap, topics.results, results, "window_id")
    produce(bootstrap, topics.incidents, [old, live], "incident_id")

    page = browser.new_page()
    page.goto(url)
    card = page.locator(f'[data-incident-id="{live["incident_id"]}"]')
    expect(card).to_be_visible(timeout=60_000)
    card.locator('tr[data-cause="nova.compute.manager"] button.confirm-cause').click()
    expect(page.locator("#verdict-status")).to_contain_text("verdict recorded (1 records kept", timeout=60_000)
    expect(card.locator(".verdict")).to_have_text("confirmed: nova.compute.manager", timeout=30_000)

    card.locator("input.other-cause").fill("bogus")
    card.locator("button.confirm-other").click()
    expect(page.locator("#verdict-status")).to_contain_text("verdict refused: unknown cause 'bogus'", timeout=30_000)

    resolved = page.locator(f'[data-incident-id="{old["incident_id"]}"]')
    resolved.locator("summary").click()
    resolved.locator("button.reject").click()
    expect(resolved.locator(".verdict")).to_have_text("false alarm", timeout=60_000)
    expect(page.locator("#precision")).to_have_text("0.50", timeout=30_000)

    form = page.locator("#missed-form")
    form.locator('input[name="start"]').fill("2026-11-29T11:00:00Z")
    form.locator('input[name="end"]').fill("2026-11-29T11:10:00Z")
    form.locator('input[name="host"]').fill("compute-3")
    form.locator('input[name="cause"]').fill("libvirtd")
    form.locator("button").click()
    expect(page.locator("#verdicts")).to_contain_text("1 missed", timeout=60_000)

    for k, v in {**stack, **topics.env()}.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    given = {v["verdict"]: v for v in read_verdicts(get_settings())}
    assert set(given) == {"confirm", "reject", "missed"}
    assert given["confirm"]["cause"] == "nova.compute.manager" and given["confirm"]["cause_rank"] == 2
    assert given["confirm"]["evidence"][0]["message"] == RECORD["message"]
    assert given["missed"]["host"] == "compute-3" and given["missed"]["cause"] == "libvirtd"
