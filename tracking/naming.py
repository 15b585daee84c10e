"""Run names: ``{experiment with '_' -> '-'}_{YYYYmmdd_HHMMSS}``, unique per artifact store.

The name is also the run's folder (``{root}/{run name}/artifacts/``), so two
runs must never share it, even when they start in the same second, in
different processes or on different machines. We keep the exact shape
(no suffix) and take the first free second at or after the start time:
a candidate is claimed atomically in the artifact store (see
``ArtifactStore.claim``); when it is taken we try the next second.
Timestamps are UTC, so names sort the same on every machine.
"""
from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

TIME_FORMAT = "%Y%m%d_%H%M%S"
RUN_NAME_RE = re.compile(r"^(?P<slug>[A-Za-z0-9.-]+)_(?P<ts>\d{8}_\d{6})$")
MAX_TRIES = 600


def experiment_slug(experiment_name: str) -> str:
    """'openstack_rca_system_staging' -> 'openstack-rca-system-staging'.

    Characters that do not belong in an S3 folder name ('/', spaces, ...) also
    become '-', so a workspace-style experiment name cannot nest folders.
    """
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", experiment_name.replace("_", "-")).strip("-.")
    if not slug:
        raise ValueError(f"experiment name {experiment_name!r} has no characters usable in a run name")
    return slug


def format_run_name(experiment_name: str, when: datetime) -> str:
    """The run name for a start time (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return f"{experiment_slug(experiment_name)}_{when.astimezone(timezone.utc).strftime(TIME_FORMAT)}"


def parse_run_name(name: str) -> tuple[str, datetime] | None:
    """(slug, UTC start second) of a run name, or None if it is not one."""
    m = RUN_NAME_RE.match(name)
    if not m:
        return None
    try:
        ts = datetime.strptime(m["ts"], TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return m["slug"], ts


def candidates(experiment_name: str, start: datetime, limit: int = MAX_TRIES) -> Iterator[str]:
    """Names for start, start + 1 s, start + 2 s, ..."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    start = start.replace(microsecond=0)
    for i in range(limit):
        yield format_run_name(experiment_name, start + timedelta(seconds=i))


def claim_run_name(claim: Callable[[str], bool], experiment_name: str, now: datetime | None = None,
                   limit: int = MAX_TRIES) -> str:
    """The first candidate name that ``claim(name)`` accepts.

    ``claim`` must be atomic across processes (it is the artifact store's
    claim); a lost race costs a short random pause so that two claimants in
    lock-step do not keep colliding.
    """
    start = now or datetime.now(timezone.utc)
    for name in candidates(experiment_name, start, limit):
        if claim(name):
            return name
        time.sleep(random.uniform(0.0, 0.02))
    raise RuntimeError(f"no free run name in {limit} seconds after {format_run_name(experiment_name, start)}")


__all__ = ["experiment_slug", "format_run_name", "parse_run_name", "candidates", "claim_run_name", "RUN_NAME_RE"]
