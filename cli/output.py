"""Command output (not logging): one line on stdout, flushed at once."""
from __future__ import annotations

import sys


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
