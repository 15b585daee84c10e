"""`rca bench infer`: inference speed of a model bundle on this CPU.

- LSTM batched: windows/s when scoring N windows (h template ids -> next) in one call;
- LSTM single window: p50/p99 latency of scoring one window at a time;
- whole-window analysis (detector + ranker + LSTM + parameters) of stream
  windows built from the input, p50/p99 per window.
Figures only, no asserts.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from engine.baseline import MinedEvent
from engine.bundle import ModelBundle
from engine.scoring import BundleScorer
from engine.sessions import event_session_key
from schemas.log_event import LogEvent


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


def bench_infer(bundle: ModelBundle, events: Sequence[LogEvent], n_windows: int = 20_000,
                single: int = 2_000, window_seconds: float = 60.0) -> dict:
    seq = bundle.sequence_model
    h = seq.config.history
    rng = np.random.default_rng(0)
    vocab = max(len(seq.vocab) + 2, 3)
    x = rng.integers(0, vocab, size=(n_windows, h), dtype=np.int32)
    y = rng.integers(0, vocab, size=n_windows, dtype=np.int32)
    seq.deviations(x[:256], y[:256])  # warm-up
    t0 = time.perf_counter()
    for start in range(0, n_windows, 4096):
        seq.deviations(x[start:start + 4096], y[start:start + 4096])
    batched = n_windows / (time.perf_counter() - t0)
    lat = []
    for i in range(single):
        t = time.perf_counter()
        seq.deviations(x[i:i + 1], y[i:i + 1])
        lat.append((time.perf_counter() - t) * 1000)

    scorer = BundleScorer(bundle)
    windows: dict[tuple[str, float], list[MinedEvent]] = {}
    for e in events:
        r = scorer.miner.add(e.message)
        key = (event_session_key(e), (e.timestamp or 0.0) // window_seconds)
        windows.setdefault(key, []).append(MinedEvent.from_match(e, r))
    per_window = []
    for items in list(windows.values())[:2000]:
        t = time.perf_counter()
        scorer.analyze_window(items)
        per_window.append((time.perf_counter() - t) * 1000)
    return {
        "lstm_batched_windows_per_s": round(batched),
        "lstm_single_window_p50_ms": round(_pct(lat, 50), 3),
        "lstm_single_window_p99_ms": round(_pct(lat, 99), 3),
        "history_h": h, "top_g": seq.config.top_g, "vocabulary": len(seq.vocab),
        "analysis_windows": len(per_window),
        "analysis_window_p50_ms": round(_pct(per_window, 50), 3),
        "analysis_window_p99_ms": round(_pct(per_window, 99), 3),
    }
