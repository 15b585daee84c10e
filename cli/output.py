"""Command output (not logging): lines on stdout, flushed at once; tables that fit the terminal;
colour only when stdout is a terminal (and NO_COLOR is unset)."""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass

COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "dim": "2", "bold": "1"}


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ \
        and os.environ.get("TERM") != "dumb"


def paint(text: str, colour: str | None, enabled: bool) -> str:
    return f"\033[{COLOURS[colour]}m{text}\033[0m" if enabled and colour else text


def terminal_width(default: int = 160) -> int:
    """The terminal's width (COLUMNS wins); `default` when stdout is not a terminal."""
    if "COLUMNS" in os.environ or sys.stdout.isatty():
        return max(shutil.get_terminal_size((default, 24)).columns, 40)
    return default


@dataclass(frozen=True)
class Column:
    title: str
    width: int              # preferred width; the flexible column takes what is left
    align: str = "<"
    flexible: bool = False


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class Table:
    """Fixed columns plus one flexible column that takes (and is clipped to) the rest of the line."""

    def __init__(self, columns: Sequence[Column], width: int | None = None, colour: bool | None = None) -> None:
        self.columns = list(columns)
        self.width = width or terminal_width()
        self.colour = use_colour() if colour is None else colour
        fixed = sum(c.width for c in self.columns if not c.flexible) + 2 * (len(self.columns) - 1)
        self.widths = [max(self.width - fixed, 12) if c.flexible else c.width for c in self.columns]

    def header(self) -> str:
        return paint(self._line([c.title for c in self.columns]), "bold", self.colour)

    def row(self, cells: Sequence[str], colours: Sequence[str | None] | None = None) -> str:
        return self._line([str(c) for c in cells], colours)

    def _line(self, cells: Sequence[str], colours: Sequence[str | None] | None = None) -> str:
        parts = []
        for i, (col, width, text) in enumerate(zip(self.columns, self.widths, cells)):
            text = clip(text, width)
            last = i == len(self.columns) - 1
            cell = text if last and col.align == "<" else f"{text:{col.align}{width}}"
            parts.append(paint(cell, colours[i] if colours else None, self.colour))
        return "  ".join(parts).rstrip()
