"""Fetch, from a PyPI index, the OpenStack release the training logs come from, for the code map.

The code map (engine/rca/codemap.py) lifts the ranking only when it is of the release the cloud
ran: its functions must hold the logs' traceback frames. An operator rarely knows which
upstream release a distribution package is (RDO's nova 16.1.6-1.el7 is nova 16.1.6 plus
patches), and a plain ``rca train`` names none, so when ``RCA_CODE_SOURCE`` is unset the logs
choose: for each OpenStack project with enough frames, its releases are listed from the index's
JSON API (``{index}/pypi/{project}/json``), and a coarse-to-fine search downloads a bounded
number of them (the newest of each major series first; then, within the best one, the newest
of each minor series; then every patch release of the best minor series) and keeps the release
whose functions hold the most frames. Only the frames' modules are read from each archive (a
wheel member by member), so trying a release costs its download; the map is built of the chosen
release only.

Releases whose ``requires_python`` excludes the Python the frames' paths name
(``/usr/lib/python2.7/site-packages/...``) are left out, which keeps the search short.
Downloads are checked against the sha256 the index gives and kept in a cache folder, with the
choice (keyed by the frames), so a second training, and each fold of ``rca eval``, reuses them,
offline too. Anything failing (no network, a timeout, an HTTP error, a bad hash or archive)
gives one warning and no code map: the ranking is then the one without it, never a failed
training.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from config.settings import CodeSettings
from engine.parsing import PROJECTS

from . import codemap
from .codemap import CodeMap

log = logging.getLogger(__name__)

MIN_FRAMES = 5             # a project with fewer traceback frames is not worth its downloads
MAX_ARCHIVE_BYTES = 200_000_000
SEARCH_VERSION = 1         # part of a cached choice's key: a changed search chooses afresh
PYPI_NAMES = {"placement": "openstack-placement"}   # top-level package -> project on PyPI
USER_AGENT = "openstack-rca (code map; engine/rca/codefetch.py)"


class FetchError(RuntimeError):
    """The index could not give what the search needs (the caller trains without a code map)."""


@dataclass(frozen=True)
class Release:
    """One release of a project and the archive of it the search reads."""

    project: str          # the top-level package (``nova``)
    version: str          # as the index names it (``16.1.6``)
    filename: str
    url: str
    sha256: str
    size: int = 0

    @property
    def numbers(self) -> tuple[int, ...]:
        return Version(self.version).release


# -- the pure parts ---------------------------------------------------------------------------

def parse_releases(project: str, doc: dict, json_url: str = "", python: str | None = None) -> list[Release]:
    """The releases of a PyPI JSON API document the search may choose, oldest first.

    Final releases only (no pre, dev or yanked ones), each with one archive: a pure wheel where
    there is one (a zip: its members are read one by one), else the sdist. ``python``: leave
    out releases whose ``requires_python`` excludes it. Relative file URLs (some mirrors serve
    them) are resolved against ``json_url``."""
    out = []
    for version, files in (doc.get("releases") or {}).items():
        try:
            v = Version(version)
        except InvalidVersion:
            continue
        if v.is_prerelease or v.is_devrelease or not files or any(f.get("yanked") for f in files):
            continue
        f = _archive_of(files)
        if f is None or (python and not _supports(f.get("requires_python"), python)):
            continue
        sha = (f.get("digests") or {}).get("sha256")
        if not sha:
            continue      # nothing to check the download against
        out.append(Release(project, version, f["filename"], urllib.parse.urljoin(json_url, f["url"]), sha,
                           int(f.get("size") or 0)))
    return sorted(out, key=lambda r: Version(r.version))


def _archive_of(files: list[dict]) -> dict | None:
    wheels = [f for f in files if f.get("packagetype") == "bdist_wheel"
              and f.get("filename", "").endswith("-none-any.whl")]
    sdists = [f for f in files if f.get("packagetype") == "sdist"
              and f.get("filename", "").endswith((".tar.gz", ".tgz", ".zip"))]
    return (wheels or sdists or [None])[0]


def _supports(requires_python: str | None, python: str) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True


def newest_per_series(releases: Sequence[Release], depth: int) -> list[Release]:
    """The newest release of each series of ``depth`` version numbers (1: major, 2: minor, ...),
    oldest series first."""
    newest: dict[tuple[int, ...], Release] = {}
    for r in sorted(releases, key=lambda r: Version(r.version)):
        newest[_pad(r.numbers)[:depth]] = r
    return [newest[k] for k in sorted(newest)]


def _pad(numbers: tuple[int, ...]) -> tuple[int, ...]:
    return numbers + (0,) * max(0, 3 - len(numbers))


def choose(releases: Sequence[Release], fit: Callable[[Release], tuple], limit: int) -> tuple[Release | None, dict]:
    """The release with the best ``fit`` (any comparable score, higher better; ties: the newer)
    by a coarse-to-fine search trying at most ``limit`` releases: the newest of each major series
    (the newest ``limit`` series when there are more), then the newest of each minor series of
    the best major, then every release of the best minor series (the newest first while the
    limit lasts). Returns (best, {release: score} of those tried)."""
    tried: dict[Release, tuple] = {}
    best: Release | None = None
    for depth in (1, 2, 3):
        prefix = _pad(best.numbers)[:depth - 1] if best is not None else ()
        pool = [r for r in releases if _pad(r.numbers)[:depth - 1] == prefix]
        for r in reversed(newest_per_series(pool, depth)):
            if len(tried) >= limit:
                break
            if r not in tried:
                tried[r] = fit(r)
        if tried:
            best = max(tried, key=lambda r: (tried[r], Version(r.version)))
    return best, tried


def frames_by_project(frames: Iterable[tuple[str, str, int]], min_frames: int = MIN_FRAMES) -> dict[str, Counter]:
    """Top-level OpenStack package -> Counter of its (module, function, line) frames, for the
    packages with at least ``min_frames`` frames."""
    out: dict[str, Counter] = {}
    for mod, fn, line in frames:
        pkg = mod.split(".", 1)[0]
        if pkg in PROJECTS:
            out.setdefault(pkg, Counter())[(mod, fn, line)] += 1
    return {p: c for p, c in out.items() if sum(c.values()) >= min_frames}


def frames_held(spans: dict[str, dict | None], frames: Counter) -> tuple[int, int]:
    """(frames whose line lies in their function as these modules define it, frames of modules
    present): ``spans`` is module -> function -> (first, last line), None for a module absent."""
    held = present = 0
    for (mod, fn, line), n in frames.items():
        fns = spans.get(mod)
        if fns is None:
            continue
        present += n
        span = fns.get(fn)
        held += n * bool(span and span[0] <= line <= span[1])
    return held, present


# -- the index, the archives and the cache ------------------------------------------------------

def fetched_code_map(frames: Sequence[tuple[str, str, int]], python: str | None = None,
                     settings: CodeSettings | None = None) -> CodeMap | None:
    """The code map of the releases ``frames`` fit best, fetched from the index; None when no
    project has enough frames, or (with one warning) when anything fails."""
    settings = settings or CodeSettings()
    by_project = frames_by_project(frames)
    if not by_project:
        return None
    started = time.monotonic()
    try:
        chosen = [c for project, counts in sorted(by_project.items())
                  if (c := _choose_release(project, counts, python, settings)) is not None]
        fetched = time.monotonic()
        maps, releases = [], {}
        for choice in chosen:
            cm = codemap.built(Path(choice["path"]))
            if cm is None:
                raise FetchError(f"{choice['filename']}: no readable source")
            maps.append(cm)
            releases[choice["project"]] = {k: choice[k] for k in ("release", "fit", "held", "frames", "tried")} | {
                "from": settings.index_url}
    except Exception as exc:  # noqa: BLE001 - a code map is never worth a failed training
        log.warning("code map: fetching the source from %s failed, training without a code map (%s: %s)",
                    settings.index_url, type(exc).__name__, exc)
        return None
    out = codemap.merge(maps)
    if out is not None:
        out.releases.update(releases)
        log.info("code map: %s (fetch and choice %.1f s, building the map %.1f s)",
                 ", ".join(f"{p} {r['release']}" for p, r in sorted(releases.items())), fetched - started,
                 time.monotonic() - fetched)
    return out


def _choose_release(package: str, frames: Counter, python: str | None, settings: CodeSettings) -> dict | None:
    """The chosen release of one project (cached on disk by the frames), its archive downloaded."""
    cache = Path(settings.cache_dir)
    key = hashlib.sha256(json.dumps([SEARCH_VERSION, settings.index_url.rstrip("/"), package, python,
                                     settings.max_releases, sorted(frames.items())]).encode()).hexdigest()
    record = cache / "choices" / f"{package}-{key[:24]}.json"
    if record.is_file():
        try:
            choice = json.loads(record.read_text())
            release = Release(package, choice["release"], choice["filename"], choice["url"], choice["sha256"])
            choice["path"] = str(_download(release, cache, settings.timeout_seconds))
            log.info("code map: %s %s (chosen before, %s)", package, choice["release"], record)
            return choice
        except (OSError, ValueError, KeyError) as exc:
            log.info("code map: cached choice %s unusable (%s); choosing again", record, exc)
    releases = _releases(package, python, settings)
    if not releases:
        return None
    total = sum(frames.values())
    modules = {m for m, _, _ in frames}

    def fit(r: Release) -> tuple:
        # most frames held first: a release lacking a module the logs name holds none of its frames
        held, present = frames_held(_spans(_download(r, cache, settings.timeout_seconds), modules), frames)
        return held, held / present if present else 0.0

    best, tried = choose(releases, fit, settings.max_releases)
    if best is None:
        return None
    held, share = tried[best]
    # "fit" as CodeMap.frame_fit gives it (share of the frames of modules the release has)
    choice = {"project": package, "release": best.version, "filename": best.filename, "url": best.url,
              "sha256": best.sha256, "fit": round(share, 4), "held": held, "frames": total,
              "tried": {r.version: round(tried[r][1], 4) for r in sorted(tried, key=lambda r: Version(r.version))},
              "python": python, "chosen_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    log.info("code map: %s %s chosen from %s (holds %d of %d frames; frame fit of those tried: %s)",
             package, best.version, settings.index_url, held, total,
             ", ".join(f"{v} {f:.3f}" for v, f in choice["tried"].items()))
    _write_json(record, choice)
    choice["path"] = str(_download(best, cache, settings.timeout_seconds))
    return choice


_RELEASES: dict = {}   # (index, package, python) -> releases, once per process
_SPANS: dict = {}      # (archive path, module) -> function spans or None, once per process


def _releases(package: str, python: str | None, settings: CodeSettings) -> list[Release]:
    index = settings.index_url.rstrip("/")
    memo = (index, package, python)
    if memo not in _RELEASES:
        url = f"{index}/pypi/{urllib.parse.quote(PYPI_NAMES.get(package, package))}/json"
        try:
            doc = json.loads(_get(url, settings.timeout_seconds))
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
            log.info("code map: %s is not on %s", package, index)
            doc = {}
        _RELEASES[memo] = parse_releases(package, doc, url, python)
    return _RELEASES[memo]


def _spans(archive: Path, modules: set[str]) -> dict[str, dict | None]:
    missing = {m for m in modules if (str(archive), m) not in _SPANS}
    if missing:
        texts = codemap.read_modules(archive, missing)
        for m in missing:
            _SPANS[(str(archive), m)] = codemap.function_spans(texts[m]) if m in texts else None
    return {m: _SPANS[(str(archive), m)] for m in modules}


def _get(url: str, timeout: float) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:   # noqa: S310 - an https index URL
        return resp.read()


def _download(release: Release, cache: Path, timeout: float) -> Path:
    """The release's archive in the cache folder, downloaded unless already there, its sha256
    checked either way."""
    path = cache / "archives" / release.filename
    if path.is_file():
        if _sha256(path) == release.sha256:
            return path
        log.info("code map: %s in the cache does not match its sha256; downloading it again", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        req = urllib.request.Request(release.url, headers={"User-Agent": USER_AGENT})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            while chunk := resp.read(1 << 20):
                size += len(chunk)
                if size > MAX_ARCHIVE_BYTES:
                    raise FetchError(f"{release.filename}: larger than {MAX_ARCHIVE_BYTES} bytes")
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != release.sha256:
            raise FetchError(f"{release.filename}: sha256 {digest.hexdigest()} is not the index's {release.sha256}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.debug("code map: downloaded %s (%d bytes)", release.filename, size)
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)
