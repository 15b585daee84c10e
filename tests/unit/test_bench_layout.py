"""Benchmarks live in bench/ only (issue 22, item 3): the product's packages hold no benchmark
module and never import one, so an installed worker never loads benchmark code.

This reads the source (ast) rather than importing it, so a lazy import inside a function is
caught too; tests/unit/test_bench_chaos.py checks the same at run time for the main entry points.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT

PRODUCT_PACKAGES = ("consumers", "engine", "producers", "tracking")
BENCH_MODULES = ("e2e", "faust_app", "offline", "parse", "infer", "chaos")


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (Path(PROJECT_ROOT) / package).rglob("*.py") if ".venv" not in p.parts)


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", PRODUCT_PACKAGES)
def test_no_product_module_is_a_benchmark(package):
    offenders = [str(p.relative_to(PROJECT_ROOT)) for p in _modules(package) if p.name.startswith("bench")]
    assert offenders == []


@pytest.mark.parametrize("package", PRODUCT_PACKAGES)
def test_no_product_module_imports_a_benchmark(package):
    offenders = {}
    for path in _modules(package):
        bad = sorted(n for n in _imported(path)
                     if n == "bench" or n.startswith("bench.") or n.rsplit(".", 1)[-1].startswith("bench_"))
        if bad:
            offenders[str(path.relative_to(PROJECT_ROOT))] = bad
    assert offenders == {}


def test_benchmarks_are_in_bench():
    present = {p.stem for p in (Path(PROJECT_ROOT) / "bench").glob("*.py")}
    assert set(BENCH_MODULES) <= present


def test_cli_imports_benchmarks_lazily():
    """cli/ may run a benchmark, but only inside the `rca bench` command functions."""
    for path in _modules("cli"):
        tree = ast.parse(path.read_text())
        for node in tree.body:   # module level only
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(m == "bench" or m.startswith("bench.") for m in mods), (path, mods)
