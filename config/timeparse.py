"""Parse the times users type: '24h', '15m', '2d', or an ISO 8601 time."""
from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from schemas.log_event import parse_timestamp

_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds for a relative ('24h' ago) or absolute (ISO 8601, UTC default) time."""
    now = time.time() if now is None else now
    m = _REL.match(text.strip())
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    try:
        return parse_timestamp(text.strip())
    except ValueError:
        raise ValueError(f"cannot read time {text!r}: use e.g. 24h, 15m, 2d or 2026-11-26T15:00:00Z") from None


def time_range(params: Mapping[str, Any], now: float) -> tuple[float, float]:
    """(since, until) of a command's params: ``since`` is required, ``until`` defaults to ``now``."""
    since = parse_time(params["since"], now)
    until = parse_time(params["until"], now) if params.get("until") else now
    return since, until
