"""Imports point one way (DESIGN.md, "Packages"): cli/bench -> consumers/producers ->
tracking -> engine -> config -> schemas.

The source is parsed (ast), not imported, so an import inside a function counts as much as
one at the top of a module. Each package's ``__init__`` docstring says the same rule in
words; docs/architecture.md draws it.

Rules (besides the package itself, the standard library and third-party packages):

- ``schemas`` imports nothing of ours: it is the contract every other package shares;
- ``config`` (typed settings, a leaf every package may read) imports only ``schemas``;
- ``engine`` (pure analysis, no Kafka) imports ``schemas`` and ``config``;
- ``tracking`` (MLflow, S3, the bundle on disk) imports ``engine`` (the bundle type) and below;
- ``producers`` and ``consumers`` import ``tracking``, ``engine`` and below, not each other,
  except for the exceptions listed in ``EXCEPTIONS``;
- ``devstack`` (the local stack) imports only ``config``;
- ``bench`` may import every product package (not ``cli``, except as listed);
- ``cli`` may import everything;
- no product package imports ``bench``, ``cli`` or ``devstack``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT
from tests.unit.test_bench_layout import _imported, _modules   # the same source reading (ast)

OURS = ("schemas", "config", "engine", "tracking", "producers", "consumers", "devstack", "bench", "cli")

ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "config": frozenset({"schemas"}),
    "engine": frozenset({"schemas", "config"}),
    "tracking": frozenset({"engine", "schemas", "config"}),
    "producers": frozenset({"tracking", "engine", "schemas", "config"}),
    "consumers": frozenset({"tracking", "engine", "schemas", "config"}),
    "devstack": frozenset({"config"}),
    "bench": frozenset({"consumers", "producers", "tracking", "engine", "schemas", "config", "devstack"}),
    "cli": frozenset(OURS),
}

# (importing package, imported module or a prefix of it) -> why it is allowed
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("consumers", "producers.kafka"):
        "the one module that makes Kafka clients and reads a topic by time range (DESIGN.md, Style); "
        "the worker, the control agent, the trainer and the results reader use it as producers do",
}


def _imports(path: Path) -> set[str]:
    """Names of our modules that `path` imports (relative imports stay inside its package)."""
    return {n for n in _imported(path) if n.split(".")[0] in OURS}


def _violations(package: str) -> dict[str, list[str]]:
    allowed = ALLOWED[package] | {package}
    excepted = [module for (importer, module) in EXCEPTIONS if importer == package]
    found: dict[str, list[str]] = {}
    for path in _modules(package):
        bad = sorted(name for name in _imports(path)
                     if name.split(".")[0] not in allowed
                     and not any(name == m or name.startswith(m + ".") for m in excepted))
        if bad:
            found[str(path.relative_to(PROJECT_ROOT))] = bad
    return found


@pytest.mark.parametrize("package", OURS)
def test_imports_point_one_way(package):
    assert _modules(package), f"no modules found under {package}/"
    assert _violations(package) == {}, (
        f"{package} may import only {sorted(ALLOWED[package])} (tests/unit/test_import_direction.py)")


def test_every_package_docstring_states_its_imports():
    """Each package's opening docstring says what it owns and what it may import."""
    for package in OURS + ("engine/rca",):
        doc = ast.get_docstring(ast.parse((Path(PROJECT_ROOT) / package / "__init__.py").read_text()))
        assert doc, f"{package}/__init__.py has no docstring"
        assert "import" in doc.lower(), f"{package}/__init__.py does not say what it may import"

