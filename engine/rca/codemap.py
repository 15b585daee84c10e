"""A map of the OpenStack code the logs come from: who calls whom, built with ``ast`` at training time.

A wrong value made in one module often trips in another: the faulty module is then on no
traceback. The code knows who produced what a failing frame consumed: the modules a frame's
function calls (its *callees*), and the modules between two frames of a traceback (called by the
outer frame's function and calling the inner frame's module). ``CodeMap`` keeps, per module:
its functions (name -> first and last line) and, per function name, the OpenStack modules its
body calls; and the OpenStack modules it imports. Test code is left out. Only what the ranker
needs is kept, so a bundle carries it (a few MB for three services) and needs no network.

Where the source comes from (``default_code_map``): source trees, source distributions
(``.tar.gz`` sdists as PyPI serves them, e.g. ``nova-16.1.6.tar.gz``) or wheels named by the
operator (``RCA_CODE_SOURCE``: paths separated by ``:``); when none is named, the release the
training logs' tracebacks fit best, fetched from PyPI (engine/rca/codefetch.py, unless
``RCA_CODE_FETCH=off``; see docs/accuracy.md, "Which release"). With neither, no code map:
ranking is as without one.

Resolution is static and partial on purpose: names bound by imports (``from nova import
objects``, ``from nova.db import api as db``), attribute chains down to the deepest known module
(``nova.conf``), a class or function name under a package (``objects.Instance`` ->
``nova.objects.instance``, ``db.instance_get`` -> ``nova.db.api``: the one module nearest the
package that defines it at top level), and ``self.x`` attributes assigned
from such a call in the same class (``self.compute_api = compute.API()``). Dynamic dispatch
(drivers loaded by name, RPC) is not followed.
"""
from __future__ import annotations

import ast
import logging
import os
import re
import tarfile
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import CodeSettings
from engine.parsing import PROJECTS

from .modules import module_from_path

log = logging.getLogger(__name__)

SOURCE_ENV = "RCA_CODE_SOURCE"
ARCHIVES = (".tar.gz", ".tgz", ".tar", ".whl", ".zip")   # what an archive of source may be
MAX_FILE_BYTES = 2_000_000
LOCAL_DEPTH = 1   # how deep a function's calls to its own module's functions are followed


@dataclass
class CodeMap:
    """Static call map of OpenStack modules (plain data: dicts, lists, tuples)."""

    # module -> function name -> (first line, last line); methods by their own name
    functions: dict = field(default_factory=dict)
    # module -> function name -> sorted callee modules (other OpenStack modules)
    calls: dict = field(default_factory=dict)
    # module -> sorted OpenStack modules it imports
    imports: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)   # what it was built from (names, not paths)
    # project -> how its release was chosen: {"release", "fit", "tried": {release: fit}, "from"}
    releases: dict = field(default_factory=dict)

    def callees(self, module: str, function: str | None = None) -> list[str]:
        """Modules a function of ``module`` calls (any function of it when ``function`` is None)."""
        fns = self.calls.get(module) or {}
        if function is not None:
            return list(fns.get(function, ()))
        out: set[str] = set()
        for mods in fns.values():
            out.update(mods)
        return sorted(out)

    def callers_of(self, module: str) -> set[str]:
        """Modules with a function that calls ``module`` (built on first use)."""
        rev = getattr(self, "_callers", None)
        if rev is None:
            rev = defaultdict(set)
            for caller, fns in self.calls.items():
                for mods in fns.values():
                    for m in mods:
                        rev[m].add(caller)
            object.__setattr__(self, "_callers", rev)
        return rev.get(module, set())

    def between(self, outer: str, outer_function: str, inner: str) -> list[str]:
        """Modules the outer frame's function calls that themselves call ``inner``: where a value
        may have been made between two frames."""
        return [m for m in self.callees(outer, outer_function)
                if m != inner and m != outer and inner in self.callees(m)]

    def frame_fit(self, frames: Iterable[tuple[str, str, int]]) -> float:
        """Share of (module, function, line) frames of known modules whose line lies in that
        function as this source defines it: how well this release matches the logs."""
        n = hit = 0
        for mod, fn, line in frames:
            fns = self.functions.get(mod)
            if fns is None:
                continue
            n += 1
            span = fns.get(fn)
            hit += bool(span) and span[0] <= line <= span[1]
        return hit / n if n else 0.0

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_callers", None)
        return state

    def __setstate__(self, state):
        # bundles pickled before a field existed load with its default
        self.__dict__.update({"releases": {}, **state})

    @property
    def size(self) -> int:
        return len(self.functions)


def build_code_map(sources: Sequence[str | Path], packages: Iterable[str] = PROJECTS) -> CodeMap | None:
    """A code map from source trees and/or sdists (``.tar.gz``); None when none could be read.

    ``packages``: the top-level packages mapped (OpenStack's services by default); a source
    folder that is itself a package (has ``__init__.py``) is mapped under its own name."""
    packages = frozenset(packages)
    files: list[tuple[str, str]] = []   # (module, source text)
    names = []
    for src in sources:
        src = Path(src)
        got = list(_read_source(src, packages))
        if got:
            names.append(src.name)
            files.extend(got)
        else:
            log.warning("code map: nothing readable in %s", src)
    if not files:
        return None
    cm = CodeMap(sources=names)
    parsed: dict[str, ast.Module] = {}
    for mod, text in files:
        try:
            parsed[mod] = ast.parse(text)
        except (SyntaxError, ValueError):
            continue    # Python 2 only syntax: the module stays unknown
    known = set(parsed)
    pkgs = {m.rsplit(".", 1)[0] for m in known if "." in m} | set(known)
    classes: dict[str, set[str]] = defaultdict(set)   # class or function name -> modules defining it
    for mod, tree in parsed.items():
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                classes[node.name].add(mod)
    resolver = _Resolver(known, pkgs, classes, packages)
    for mod, tree in parsed.items():
        _index_module(cm, mod, tree, resolver)
    log.info("code map: %d modules from %s", len(cm.functions), ", ".join(names))
    return cm


def default_code_map(frames: Sequence[tuple[str, str, int]] = (), python: str | None = None,
                     settings: CodeSettings | None = None) -> CodeMap | None:
    """The code map training uses: of the sources ``RCA_CODE_SOURCE`` names, else of the releases
    fetched from PyPI that ``frames`` fit best (engine/rca/codefetch.py), else None.

    ``frames``: (module, function, line) of the training logs' traceback frames; ``python``: the
    Python version their paths name (``2.7``), if any. Each ``RCA_CODE_SOURCE`` entry is a source
    tree, an archive, or a folder of archives (``nova-16.1.6.tar.gz``, ``nova-17.0.13.tar.gz``,
    ...): of a folder's archives, for each project the release whose functions hold the most of
    ``frames`` is taken, so the logs choose the release. Maps are built once per process.
    """
    settings = settings or CodeSettings()
    paths = settings.source_paths()
    if not paths:
        if settings.fetch == "off":
            return None
        from .codefetch import fetched_code_map   # network code only where it is used
        return fetched_code_map(frames, python, settings)
    chosen: list[CodeMap] = []
    releases: dict[str, dict] = {}
    for entry in paths:
        path = Path(entry)
        archives = sorted(p for p in path.iterdir() if p.name.endswith(ARCHIVES)) if path.is_dir() else []
        if not archives:
            cm = built(path)
            if cm is not None:
                chosen.append(cm)
            continue
        by_project: dict[str, list[Path]] = defaultdict(list)
        for archive in archives:
            by_project[archive_release(archive.name)[0]].append(archive)
        for project, options in sorted(by_project.items()):
            maps = [(cm.frame_fit(frames), a.name, cm) for a in options if (cm := built(a)) is not None]
            if maps:
                fit, name, cm = max(maps, key=lambda t: (t[0], t[1]))
                log.info("code map: %s chosen for %s (frame fit %.3f of %s)", name, project, fit,
                         ", ".join(f"{n} {f:.3f}" for f, n, _ in maps))
                releases[project] = {"release": archive_release(name)[1], "fit": round(fit, 4),
                                     "tried": {archive_release(n)[1]: round(f, 4) for f, n, _ in maps},
                                     "from": SOURCE_ENV}
                chosen.append(cm)
    out = merge(chosen)
    if out is not None:
        out.releases.update(releases)
    return out


def archive_release(name: str) -> tuple[str, str]:
    """(project, version) of an sdist or wheel file name: ``nova-16.1.6.tar.gz``,
    ``nova-16.1.6-py2.py3-none-any.whl`` -> ("nova", "16.1.6")."""
    if name.endswith(".whl") and name.count("-") >= 4:   # {name}-{version}[-{build}]-{py}-{abi}-{platform}.whl
        project, version = name.split("-")[:2]
        return project, version
    stem = name
    for ext in ARCHIVES:
        if stem.endswith(ext):
            stem = stem[:-len(ext)]
            break
    project, _, version = stem.rpartition("-")
    return (project, version) if project else (stem, "")


def python_of(events: Iterable) -> str | None:
    """The Python version the traceback paths of these events name most (``/usr/lib/python2.7/
    site-packages/nova/...`` -> ``2.7``), or None: which releases could have run there."""
    seen: dict[str, int] = defaultdict(int)
    for e in events:
        for f in e.frames:
            m = _PYTHON_PATH.search(f.file or "")
            if m:
                seen[m.group(1)] += 1
    return max(seen, key=lambda v: (seen[v], v)) if seen else None


_PYTHON_PATH = re.compile(r"/python(\d+\.\d+)/")


def merge(maps: Sequence[CodeMap]) -> CodeMap | None:
    """One map of several (separate projects)."""
    maps = [m for m in maps if m is not None]
    if not maps:
        return None
    out = CodeMap()
    for m in maps:
        out.functions.update(m.functions)
        out.calls.update(m.calls)
        out.imports.update(m.imports)
        out.sources.extend(m.sources)
        out.releases.update(m.releases)
    return out


def built(path: Path) -> CodeMap | None:
    """The code map of one source (tree or archive), built once per process."""
    key = str(path.resolve())
    if key not in _CACHE:
        _CACHE[key] = build_code_map([path])
    return _CACHE[key]


_CACHE: dict = {}


def _read_source(src: Path, packages: frozenset) -> Iterator[tuple[str, str]]:
    """(module, text) of every non-test .py file of ``packages`` in a directory, an sdist
    (.tar.gz) or a wheel (.whl, a zip)."""
    if src.is_dir():
        base = src.parent if (src / "__init__.py").is_file() else src
        for path in sorted(src.rglob("*.py")):
            mod = _module_of(str(path.relative_to(base)), packages)
            if mod and path.stat().st_size <= MAX_FILE_BYTES:
                yield mod, path.read_text(encoding="utf-8", errors="replace")
    elif src.is_file() and src.name.endswith(ARCHIVES):
        yield from _read_archive(src, packages, None)


def read_modules(archive: Path, modules: Iterable[str], packages: Iterable[str] = PROJECTS) -> dict[str, str]:
    """Source text of only these modules of an archive (a wheel is read member by member, an sdist
    streamed once): enough to see which release the frames fit, without building a map."""
    return dict(_read_archive(Path(archive), frozenset(packages), frozenset(modules)))


def _read_archive(src: Path, packages: frozenset, wanted: frozenset | None) -> Iterator[tuple[str, str]]:
    def keep(name: str, size: int) -> str | None:
        if not name.endswith(".py") or size > MAX_FILE_BYTES:
            return None
        mod = _module_of(name, packages)
        return mod if mod and (wanted is None or mod in wanted) else None

    if src.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(src) as zf:
            for info in zf.infolist():
                if not info.is_dir() and (mod := keep(info.filename, info.file_size)):
                    yield mod, zf.read(info).decode("utf-8", errors="replace")
        return
    with tarfile.open(src) as tf:
        for member in tf:
            if member.isfile() and (mod := keep(member.name, member.size)):
                fh = tf.extractfile(member)
                if fh is not None:
                    yield mod, fh.read().decode("utf-8", errors="replace")


def function_spans(text: str) -> dict[str, tuple[int, int]] | None:
    """Function name -> (first line with decorators, last line) of a module's source, as a
    ``CodeMap`` keeps them (None: it does not parse)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    return _spans(tree)


def _spans(tree: ast.Module) -> dict[str, tuple[int, int]]:
    functions: dict[str, tuple[int, int]] = {}
    for _, fn in _functions(tree):
        end = getattr(fn, "end_lineno", None) or fn.lineno
        start = min([fn.lineno] + [d.lineno for d in fn.decorator_list])
        old = functions.get(fn.name)
        functions[fn.name] = (min(start, old[0]), max(end, old[1])) if old else (start, end)
    return functions


def _module_of(rel: str, packages: frozenset) -> str | None:
    """Dotted module of a relative source path (an sdist's ``nova-16.1.6/nova/compute/api.py``
    or a tree's ``nova/compute/api.py``): from the last part naming a mapped package."""
    parts = [p for p in rel.replace(os.sep, "/").split("/") if p]
    if not parts or not parts[-1].endswith(".py"):
        return None
    idx = [i for i, p in enumerate(parts[:-1]) if p in packages]
    if not idx:
        return None
    parts = parts[idx[0]:]
    parts[-1] = parts[-1][:-3]
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    mod = ".".join(parts)
    if ".tests" in mod or mod.endswith(".test") or ".hacking" in mod:
        return None
    return mod


class _Resolver:
    def __init__(self, known: set[str], packages: set[str], classes: dict[str, set[str]], roots: frozenset):
        self.known, self.packages, self.classes, self.roots = known, packages, classes, roots

    def mapped(self, name: str) -> bool:
        return bool(name) and name.split(".", 1)[0] in self.roots

    def chain(self, base: str, attrs: Sequence[str]) -> str | None:
        """Deepest known module of ``base`` (a module name) followed by ``attrs``."""
        mod = base
        for a in attrs:
            nxt = f"{mod}.{a}"
            if nxt in self.known or nxt in self.packages:
                mod = nxt
                continue
            # a class or function under a package (re-exported by its __init__, as ``nova.db``
            # re-exports ``nova.db.api``): the module of it nearest the package that defines it
            defs = [m for m in self.classes.get(a, ()) if m.startswith(mod + ".")]
            if defs and mod not in self.classes.get(a, ()):
                depth = min(m.count(".") for m in defs)
                nearest = [m for m in defs if m.count(".") == depth]
                if len(nearest) == 1:
                    mod = nearest[0]
            break
        return mod if (mod in self.known or mod in self.packages) else None


def _index_module(cm: CodeMap, mod: str, tree: ast.Module, resolver: _Resolver) -> None:
    bindings: dict[str, str] = {}     # local name -> module
    package = mod if _is_package_init(mod, resolver) else mod.rsplit(".", 1)[0]
    imports: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if not resolver.mapped(a.name):
                    continue
                target = resolver.chain(a.name.split(".")[0], a.name.split(".")[1:])
                if a.asname:
                    bindings[a.asname] = target or a.name
                else:
                    bindings.setdefault(a.name.split(".")[0], a.name.split(".")[0])
                if target:
                    imports.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([base] if base else []))
            if not resolver.mapped(base):
                continue
            for a in node.names:
                target = resolver.chain(base.split(".")[0], base.split(".")[1:] + [a.name]) or \
                    resolver.chain(base.split(".")[0], base.split(".")[1:])
                if target:
                    bindings[a.asname or a.name] = target
                    imports.add(target)
    imports.discard(mod)
    cm.imports[mod] = sorted(imports)
    functions = _spans(tree)
    calls: dict[str, set[str]] = defaultdict(set)
    local: dict[str, set[str]] = defaultdict(set)   # function -> this module's functions it calls
    for cls, fn in _functions(tree):
        self_attrs = _self_attrs(cls, bindings, resolver) if cls is not None else {}
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                target = _call_target(node.func, bindings, self_attrs, resolver)
                if target and target != mod:
                    calls[fn.name].add(target)
                elif target is None:
                    name = _local_name(node.func)
                    if name and name != fn.name:
                        local[fn.name].add(name)
    # a function's helpers in the same module (``self._db_get(...)``, ``_do(...)``) call for it:
    # their callees count as its own, LOCAL_DEPTH calls deep
    for _ in range(LOCAL_DEPTH):
        grown = {f: calls[f].union(*(calls.get(g, ()) for g in local[f] if g in functions)) for f in list(local)}
        for f, v in grown.items():
            calls[f] = v
    cm.functions[mod] = functions
    cm.calls[mod] = {k: sorted(v) for k, v in calls.items() if v}


def _is_package_init(mod: str, resolver: _Resolver) -> bool:
    """A package's ``__init__`` (its module name is the package's: relative imports start there)."""
    prefix = mod + "."
    return any(k.startswith(prefix) for k in resolver.known)


def _functions(tree: ast.Module):
    """(enclosing class or None, function node) of every def, methods and nested defs included."""
    def walk(node, cls):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from walk(child, child)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield cls, child
                yield from walk(child, cls)
            else:
                yield from walk(child, cls)
    yield from walk(tree, None)


def _flatten(expr: ast.expr) -> list[str] | None:
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Call):     # compute.API().foo(): the class's module
        return _flatten(expr.func)
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return parts[::-1]


def _call_target(func: ast.expr, bindings: dict, self_attrs: dict, resolver: _Resolver) -> str | None:
    parts = _flatten(func)
    if not parts:
        return None
    head, rest = parts[0], parts[1:]
    if head == "self" and rest and rest[0] in self_attrs:
        return self_attrs[rest[0]]
    base = bindings.get(head)
    if base is None:
        return None
    return resolver.chain(base.split(".")[0], base.split(".")[1:] + rest)


def _local_name(func: ast.expr) -> str | None:
    """``f`` of a call ``f(...)``, ``self.f(...)`` or ``cls.f(...)`` (a function of this module)."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
        return func.attr
    return None


_SELF_ATTRS_CACHE: dict = {}


def _self_attrs(cls: ast.ClassDef, bindings: dict, resolver: _Resolver) -> dict[str, str]:
    """``self.x = <call resolving to a module>`` anywhere in the class: x -> that module."""
    key = id(cls)
    hit = _SELF_ATTRS_CACHE.get(key)
    if hit is not None and hit[0] is cls:
        return hit[1]
    out: dict[str, str] = {}
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for t in node.targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                    target = _call_target(node.value.func, bindings, {}, resolver)
                    if target:
                        out[t.attr] = target
    _SELF_ATTRS_CACHE[key] = (cls, out)
    return out


def frames_of(events: Iterable) -> list[tuple[str, str, int]]:
    """(module, function, line) of the OpenStack traceback frames of these events (each once)."""
    out, seen = [], set()
    for e in events:
        if id(e) in seen:
            continue
        seen.add(id(e))
        for f in e.frames:
            mod = module_from_path(f.file)
            if mod:
                out.append((mod, f.function, f.line))
    return out
