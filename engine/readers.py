"""Read log lines from files, folders, compressed files and stdin.

Plain, .gz, .bz2 and .xz files are opened with the standard library (their
magic bytes decide, not their suffix: the dev set's `.bzip2.out` files are
plain text). `-` reads stdin. With `follow`, a file is tailed for new lines
after its end, like `tail -F`.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from schemas.log_event import LogEvent

_MAGIC = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))


class InputError(ValueError):
    """A path that cannot be read as logs (missing, empty folder, binary)."""


def expand(paths: list[str]) -> list[str]:
    """Files of `paths` (folders walked in sorted order); '-' stays as stdin."""
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
            if not files:
                raise InputError(f"{p}: folder has no files")
            out.extend(str(f) for f in files)
        elif path.is_file():
            out.append(str(path))
        else:
            raise InputError(f"{p}: no such file or folder")
    return out


def open_text(path: str) -> io.TextIOBase:
    """Open a log file as text, decompressing by magic bytes; refuse binary data."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return opener(path, "rt", encoding="utf-8", errors="replace")
    if b"\x00" in head:
        raise InputError(f"{path}: binary file (not text logs, nor gzip/bz2/xz)")
    return open(path, encoding="utf-8", errors="replace")


def read_lines(path: str, follow: bool = False, poll: float = 0.25) -> Iterator[str]:
    """Lines of one input without their newline; with `follow`, wait for more."""
    with open_text(path) as fh:
        while True:
            line = fh.readline()
            if line:
                yield line.rstrip("\r\n")
                continue
            if not follow or path == "-":
                return
            time.sleep(poll)  # tail -F polling interval while waiting for the file to grow
            if _rotated(path, fh):
                return


def _rotated(path: str, fh) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(fh.fileno()).st_ino
    except (OSError, io.UnsupportedOperation):
        return False


def file_events(path: str, follow: bool = False, stats: dict[str, int] | None = None) -> Iterator[LogEvent]:
    """Parsed records of one input (tracebacks grouped), the service taken from the file
    name when a line does not say it. `stats["lines"]` counts the lines read."""
    from engine.parsing import RecordGrouper

    # RecordGrouper(path) already falls back to the service named by the file name
    grouper = RecordGrouper(None if path == "-" else path)
    lines = 0
    for line in read_lines(path, follow=follow):
        lines += 1
        yield from grouper.feed(line)
    yield from grouper.flush()
    if stats is not None:
        stats["lines"] = stats.get("lines", 0) + lines
