"""Operators' verdicts on incidents: checked, read back, and turned into what a retrain learns.

A verdict (schemas/feedback.schema.json) is published to rca.feedback, compacted and keyed by
incident id, so the latest verdict of an incident is the one that counts and the topic itself
is where verdicts are kept (with their evidence records: a retrain weeks later still has
them). When a control secret is configured, a verdict must be signed as control commands are:
the worker's feedback agent refuses unsigned or forged ones with a reason (a `rejected` event
on rca.control.events keyed by the verdict id, as a refused command gets), and every reader
here skips them, so a retrain never learns from one.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

import schemas
from config.settings import ControlSettings, Settings
from schemas import control as signing
from schemas.log_event import parse_timestamp

log = logging.getLogger(__name__)

ORIGIN = {"confirm": "confirmed", "reject": "rejected", "missed": "missed"}   # engine.experience.Lesson.origin


@dataclass(frozen=True)
class Checked:
    verdict: dict | None
    reason: str | None     # None: accepted

    @property
    def accepted(self) -> bool:
        return self.reason is None


class VerdictValidator:
    """Schema, then signature when a secret is configured (the control commands' rule)."""

    def __init__(self, cfg: ControlSettings) -> None:
        self.secret = cfg.secret_bytes()

    def check(self, value: bytes | None) -> Checked:
        try:
            verdict = schemas.decode(value or b"")
        except ValueError as exc:
            return Checked(None, f"not JSON: {exc}")
        try:
            schemas.validate("feedback", verdict)
        except schemas.SchemaError as exc:
            return Checked(verdict if isinstance(verdict, dict) else None, f"schema: {exc}")
        if self.secret is not None and not signing.verify(verdict, self.secret):
            return Checked(verdict, "missing or invalid signature" if "signature" in verdict
                           else "missing signature (a shared secret is configured)")
        return Checked(verdict, None)


def read_verdicts(settings: Settings, timeout: float = 60.0) -> list[dict]:
    """The latest accepted verdict of every incident on the feedback topic, oldest first (by `at`).

    Refused ones (unsigned, forged, not following the schema) are skipped and logged; a later
    valid verdict of the same incident still counts. An absent topic has no verdicts."""
    from producers.kafka import make_consumer

    topic = settings.topics.feedback
    validator = VerdictValidator(settings.control)
    latest: dict[str, dict] = {}
    c = make_consumer(settings.kafka, "rca-feedback-reader", logger=log)
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None:
            return []
        ends: dict[int, int] = {}
        for p in md.partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        if not ends:
            return []
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for msg in c.consume(1000, 0.5):
                if msg.error():
                    continue
                p = msg.partition()
                if msg.value() is not None:          # a tombstone withdraws nothing we rely on
                    checked = validator.check(msg.value())
                    if checked.accepted:
                        latest[checked.verdict["incident_id"]] = checked.verdict
                    else:
                        log.warning("verdict at %s/%d@%d refused: %s", topic, p, msg.offset(), checked.reason)
                if p in ends and msg.offset() + 1 >= ends[p]:
                    del ends[p]
        if ends:
            log.warning("read %s for %.0f s without reaching its end: %d verdicts so far", topic, timeout, len(latest))
    finally:
        c.close()
    return sorted(latest.values(), key=lambda v: (_at(v), v["incident_id"]))


def _at(v: dict) -> float:
    try:
        return parse_timestamp(v["at"])
    except (ValueError, OverflowError, KeyError):
        return 0.0


def split_verdicts(verdicts: Sequence[dict], cfg: ControlSettings) -> tuple[list[dict], list[dict]]:
    """(to learn from, held back for the gate): the latest share, once there are enough of them.
    With fewer, every verdict is learned from (an operator's first verdicts must count)."""
    if len(verdicts) < cfg.min_verdicts_to_hold or cfg.verdict_holdout_fraction <= 0:
        return list(verdicts), []
    n = max(1, round(len(verdicts) * cfg.verdict_holdout_fraction))
    return list(verdicts[:-n]), list(verdicts[-n:])


def to_lessons(verdicts: Iterable[dict]):
    """engine.experience lessons of verdicts (a verdict with no records is kept out: nothing to learn)."""
    from engine.experience import verdict_lesson
    from engine.rca.evidence import unpack

    out = []
    for v in verdicts:
        events = [unpack(d) for d in v.get("evidence") or []]
        if not events:
            log.info("verdict on %s carries no records: nothing to learn from it", v["incident_id"])
            continue
        out.append(verdict_lesson(f"verdict:{v['incident_id']}", ORIGIN[v["verdict"]], events, v.get("cause"),
                                  v.get("stall")))
    return out


def counts(verdicts: Iterable[dict]) -> dict[str, int]:
    out = {k: 0 for k in ORIGIN}
    for v in verdicts:
        out[v["verdict"]] += 1
    return out


def precision(verdicts: Iterable[dict], last: int) -> float | None:
    """Share of confirmed among the last ``last`` incidents that have a verdict (missed faults are
    no incident the service raised); None: no verdict yet."""
    judged = [v for v in verdicts if v["verdict"] in ("confirm", "reject")][-last:]
    if not judged:
        return None
    return sum(1 for v in judged if v["verdict"] == "confirm") / len(judged)


__all__ = ["Checked", "VerdictValidator", "counts", "precision", "read_verdicts", "split_verdicts", "to_lessons"]
