"""Parse the times users type: '24h', '15m', '2d', or an ISO 8601 time."""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone

_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds for a relative ('24h' ago) or absolute (ISO 8601, UTC default) time."""
    now = time.time() if now is None else now
    m = _REL.match(text.strip())
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read time {text!r}: use e.g. 24h, 15m, 2d or 2026-11-26T15:00:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
