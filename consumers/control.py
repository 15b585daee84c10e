"""Validation of control commands (pure logic, no Kafka).

A command is accepted only if it follows control_command.schema.json, names
an allowed command, reads from an allowed source (an allow-list of topics,
S3 prefixes and local folders), stays within the parameter bounds, carries a
valid HMAC signature when a shared secret is configured, and was not seen
before (duplicate command ids are ignored, not re-run).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import schemas
from config.settings import ControlSettings
from config.timeparse import time_range
from schemas import control as signing
from schemas.log_event import format_timestamp

DUPLICATE = "duplicate"
REMEMBER_COMMANDS = 10_000   # command ids kept for duplicate detection


def control_event(command_id: str, event: str, worker: str, **fields) -> dict:
    """A control event message (validated against control_event.schema.json)."""
    msg = {"schema_version": 1, "command_id": command_id, "event": event,
           "at": format_timestamp(time.time()), "worker": worker, **fields}
    schemas.validate("control_event", msg)
    return msg


@dataclass(frozen=True)
class Verdict:
    command: dict | None
    reason: str | None  # None: accepted; DUPLICATE: ignore silently; else: rejected with this reason

    @property
    def accepted(self) -> bool:
        return self.reason is None


class CommandValidator:
    def __init__(self, cfg: ControlSettings) -> None:
        self.cfg = cfg
        self.secret = cfg.secret_bytes()
        self._seen: OrderedDict[str, None] = OrderedDict()

    def check(self, value: bytes | None, now: float | None = None) -> Verdict:
        try:
            command = schemas.decode(value or b"")
        except ValueError as exc:
            return Verdict(None, f"not JSON: {exc}")
        try:
            schemas.validate("control_command", command)
        except schemas.SchemaError as exc:
            return Verdict(command if isinstance(command, dict) else None, f"schema: {exc}")
        if self.secret is not None and not signing.verify(command, self.secret):
            return Verdict(command, "missing or invalid signature" if "signature" in command
                           else "missing signature (a shared secret is configured)")
        cid = command["command_id"]
        if cid in self._seen:
            return Verdict(command, DUPLICATE)
        reason = self._check_params(command, time.time() if now is None else now)
        if reason is None:
            self._seen[cid] = None
            if len(self._seen) > REMEMBER_COMMANDS:
                self._seen.popitem(last=False)
        return Verdict(command, reason)

    def _check_params(self, command: dict, now: float) -> str | None:
        if command["command"] != "retrain":
            return None
        params = command["params"]
        source = params.get("source")
        if not source:
            return "params.source is required for retrain"
        if not self.source_allowed(source):
            return f"source not allowed: {source}"
        epochs = params.get("epochs", 3)
        if epochs > self.cfg.max_epochs:
            return f"epochs {epochs} above the limit {self.cfg.max_epochs}"
        if source.startswith("topic:"):
            if "since" not in params:
                return "params.since is required for a topic source"
            try:
                since, until = time_range(params, now)
            except ValueError as exc:
                return str(exc)
            if until <= since:
                return "params.until must be after params.since"
            if (until - since) / 3600 > self.cfg.max_range_hours:
                return f"time range above the limit of {self.cfg.max_range_hours:g} hours"
        return None

    def source_allowed(self, source: str) -> bool:
        for prefix in self.cfg.source_prefixes():
            if source.startswith("topic:") or prefix.startswith("topic:"):
                if source == prefix:
                    return True
            elif source.startswith("s3://") or prefix.startswith("s3://"):
                if source.startswith(prefix.rstrip("/") + "/") or source == prefix:
                    return True
            else:
                try:
                    if Path(source).resolve().is_relative_to(Path(prefix).resolve()):
                        return True
                except (OSError, ValueError):
                    continue
        return False
