"""Compatibility alias: the end-to-end benchmark moved to `bench.e2e` (benchmarks live in `bench/`).

Kept only because bench/chaos.py (another owner's module) still says ``from cli.bench_e2e import
...``; delete this file once it imports ``bench.e2e``. Names resolve lazily (PEP 562), so even
importing this alias loads no benchmark code until a name is asked for.
"""
from __future__ import annotations


def __getattr__(name: str):
    import bench.e2e

    return getattr(bench.e2e, name)
