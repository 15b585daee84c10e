"""What the RCA engine looks at in a list of LogEvents.

* ``signature(event)``: a stable template key (level, logger, message with
  every token that holds a digit masked). It is independent of the online
  template miner on purpose: the RCA model must give the same key to the
  same kind of line in every run, whatever order lines arrived in.
* ``code_path(event)``: the OpenStack modules a record passed through, from
  its traceback frames (or frames quoted inside the message, as when a
  remote traceback is forwarded), outermost first.
* ``NormalProfile``: how often each signature appears in normal runs, and
  which ones every normal run has (the workflow's expected steps).
* ``run_features``: the numbers the detector decides on.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.parsing import ERROR_LEVELS
from schemas.log_event import LogEvent

from .modules import module_from_path

_INSTANCE = re.compile(r"\[instance: [0-9a-fA-F-]{36}\] ?")
_HAS_DIGIT = re.compile(r"\d")
_QUOTED_FRAME = re.compile(r'File \\?"([^"\\]+)\\?", line (\d+), in ([\w<>]+)')
_MAX_SIG_CHARS = 200


def _mask_token(tok: str) -> str:
    return "<*>" if _HAS_DIGIT.search(tok) else tok


def signature(event: LogEvent) -> str:
    """Template key of an event: 'LEVEL|logger|masked first line'."""
    text = event.message.split("\n", 1)[0]
    if "[instance: " in text:
        text = _INSTANCE.sub("", text)
    masked = " ".join(_mask_token(t) for t in text.split()[:40])
    return f"{event.level}|{event.logger}|{masked[:_MAX_SIG_CHARS]}"


def code_path(event: LogEvent) -> list[str]:
    """OpenStack modules of the event's traceback, outermost first (repeats removed).

    Uses the parsed frames, or frames quoted in the text (a remote traceback
    forwarded in a message, e.g. nova-conductor's "Error from last host").
    """
    files = [f.file for f in event.frames]
    if not files and "File " in event.raw:
        files = [m.group(1) for m in _QUOTED_FRAME.finditer(event.raw)]
    out: list[str] = []
    for path in files:
        mod = module_from_path(path)
        if mod and (not out or out[-1] != mod):
            out.append(mod)
    return out


def code_frames(event: LogEvent) -> list[tuple[str, str]]:
    """(OpenStack module, function) of the event's traceback frames, outermost first (a frame
    repeated in a row kept once): what the code map (engine/rca/codemap.py) looks up."""
    frames = [(f.file, f.function) for f in event.frames]
    if not frames and "File " in event.raw:
        frames = [(m.group(1), m.group(3)) for m in _QUOTED_FRAME.finditer(event.raw)]
    out: list[tuple[str, str]] = []
    for path, function in frames:
        mod = module_from_path(path)
        if mod and (not out or out[-1] != (mod, function)):
            out.append((mod, function))
    return out


def is_error(event: LogEvent) -> bool:
    return event.level in ERROR_LEVELS


@dataclass
class NormalProfile:
    """Signature statistics of normal (fault-free, or not failing) runs."""

    n_runs: int = 0
    doc_freq: Counter = field(default_factory=Counter)  # signature -> runs containing it
    expected: frozenset = frozenset()  # signatures in >= expected_share of runs
    expected_share: float = 0.9

    @classmethod
    def fit(cls, runs: Iterable[Sequence[LogEvent]], expected_share: float = 0.9) -> "NormalProfile":
        prof = cls(expected_share=expected_share)
        for events in runs:
            prof.add_run({signature(e) for e in events})
        prof.finish()
        return prof

    def add_run(self, sigs: set[str]) -> None:
        self.n_runs += 1
        self.doc_freq.update(sigs)

    def finish(self) -> None:
        need = self.expected_share * self.n_runs
        self.expected = frozenset(s for s, n in self.doc_freq.items() if n >= need) if self.n_runs else frozenset()

    def share(self, sig: str, exclude_self: bool = False) -> float:
        """Share of normal runs that contain ``sig`` (optionally leaving one run out)."""
        n = self.n_runs - (1 if exclude_self else 0)
        if n <= 0:
            return 0.0
        df = self.doc_freq.get(sig, 0) - (1 if exclude_self else 0)
        return max(df, 0) / n

    def rarity(self, sig: str, exclude_self: bool = False) -> float:
        """-log of the smoothed share: ~0 for common lines, large for never-seen ones."""
        n = self.n_runs - (1 if exclude_self else 0)
        df = max(self.doc_freq.get(sig, 0) - (1 if exclude_self else 0), 0)
        return -math.log((df + 0.5) / (max(n, 0) + 1.0))


# The detector's features, in order (names are part of the model's metadata).
RUN_FEATURES = (
    "log_errors",            # ERROR/CRITICAL records
    "log_error_sigs_novel",  # distinct error signatures (almost) never seen in normal runs
    "log_tracebacks",        # records with a traceback through OpenStack code
    "log_warn_sigs_novel",   # distinct WARNING signatures never seen in normal runs
    "missing_expected",      # share of the normal workflow's expected signatures absent
    "max_error_rarity",      # rarity of the rarest error signature (0 if none)
)


def run_features(events: Sequence[LogEvent], profile: NormalProfile,
                 exclude_self: bool = False, completeness: bool = True,
                 sigs: Sequence[str] | None = None) -> list[float]:
    """Feature vector (RUN_FEATURES) of one run or window.

    ``exclude_self``: the run is one of the profile's own normal runs (used
    when fitting, so its own lines do not look familiar). ``completeness``:
    compute ``missing_expected`` (only meaningful for a whole run; a window
    gets 0). ``sigs``: ``signature(e)`` of every event, in order, when the
    caller has them already.
    """
    seen = Counter(sigs if sigs is not None else (signature(e) for e in events))
    novel_cut = 0.02  # "novel": in at most 2% of normal runs
    err_sigs = {s for s in seen if s.split("|", 1)[0] in ERROR_LEVELS}
    warn_sigs = {s for s in seen if s.startswith("WARNING|")}
    n_err = sum(1 for e in events if is_error(e))
    n_tb = sum(1 for e in events if e.level in ERROR_LEVELS and code_path(e))
    novel_err = sum(1 for s in err_sigs if profile.share(s, exclude_self) <= novel_cut)
    novel_warn = sum(1 for s in warn_sigs if profile.share(s, exclude_self) <= novel_cut)
    if completeness and profile.expected:
        expected = profile.expected
        if exclude_self:
            # leave-one-out: a signature stays expected only if the others have it too
            need = profile.expected_share * (profile.n_runs - 1)
            expected = frozenset(s for s in expected if profile.doc_freq[s] - (1 if s in seen else 0) >= need)
        missing = sum(1 for s in expected if s not in seen) / max(len(expected), 1)
    else:
        missing = 0.0
    max_rar = max((profile.rarity(s, exclude_self) for s in err_sigs), default=0.0)
    return [
        math.log1p(n_err), math.log1p(novel_err), math.log1p(n_tb),
        math.log1p(novel_warn), missing, max_rar,
    ]
