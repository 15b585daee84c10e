"""Verdicts' pure parts (consumers/feedback.py): validation and signatures, causes, the split held
back for the gate, precision; and a verdict lesson's bounds (engine/experience.py)."""
from __future__ import annotations

import pytest

import schemas
from config.settings import ControlSettings
from consumers.feedback import (VerdictError, VerdictValidator, check_cause, counts, precision, split_verdicts,
                                to_lessons)
from schemas import control as signing

KEY = b"unit-secret-0123456789"


def verdict(kind="reject", n=0, **fields):
    base = {"schema_version": 1, "verdict_id": f"vrd-{n:012d}", "incident_id": f"inc-{n:024x}", "verdict": kind,
            "by": "test", "at": f"2026-12-05T10:{n:02d}:00Z"}
    return {**base, **fields}


def test_validator_refuses_unsigned_and_forged_only_when_a_secret_is_set():
    open_ = VerdictValidator(ControlSettings())
    assert open_.check(schemas.encode(verdict())).accepted
    strict = VerdictValidator(ControlSettings(secret=KEY.decode()))
    assert "missing signature" in strict.check(schemas.encode(verdict())).reason
    assert "invalid signature" in strict.check(schemas.encode(signing.sign(verdict(), b"other"))).reason
    assert strict.check(schemas.encode(signing.sign(verdict(), KEY))).accepted
    assert strict.check(b"{").reason.startswith("not JSON")
    assert strict.check(schemas.encode(verdict("confirm"))).reason.startswith("schema")   # confirm needs a cause


def test_a_cause_is_a_candidate_a_module_or_a_component():
    assert check_cause("nova.compute.manager", ["neutron.plugins.ml2.managers", "nova.compute.manager"]) == 2
    assert check_cause("cinder.volume.manager", ["nova.compute.manager"]) is None
    assert check_cause("mariadb/galera") is None and check_cause("haproxy:nova_api") is None
    with pytest.raises(VerdictError, match="unknown cause 'bogus'"):
        check_cause("bogus", ["nova.compute.manager"])


def test_the_latest_verdicts_are_held_back_once_there_are_enough():
    cfg = ControlSettings(min_verdicts_to_hold=5, verdict_holdout_fraction=0.2)
    few = [verdict(n=i) for i in range(4)]
    assert split_verdicts(few, cfg) == (few, [])
    many = [verdict(n=i) for i in range(10)]
    learn, held = split_verdicts(many, cfg)
    assert learn == many[:8] and held == many[8:]


def test_precision_counts_and_lessons():
    given = [verdict("confirm", 1, cause="nova.compute.manager"), verdict("reject", 2),
             verdict("missed", 3, incident_id="missed-" + "0" * 24, range={"start": "a", "end": "b"}, host="c-3"),
             verdict("confirm", 4, cause="nova.compute.manager")]
    assert counts(given) == {"confirm": 2, "reject": 1, "missed": 1}
    assert precision(given, 50) == pytest.approx(2 / 3) and precision(given, 1) == 1.0 and precision([], 5) is None
    record = {"message": "Instance failed to spawn", "level": "ERROR", "logger": "nova.compute.manager",
              "timestamp": "2026-12-05T10:00:00Z"}
    lessons = to_lessons([given[0], {**given[1], "evidence": [record]},
                          {**given[3], "evidence": [record] * 3, "stall": 0.4}])
    assert [(le.origin, le.failed, le.cause) for le in lessons] == [("rejected", False, None),
                                                                  ("confirmed", True, "nova.compute.manager")]
    assert len(lessons[1].events) == 1 and lessons[1].stall == 0.4    # the same record once
