"""Fetching the release the training logs come from (engine/rca/codefetch.py): candidate
releases, the choice by frame fit on small archives served by a local index, the cache, and the
offline fallback."""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import logging
import tarfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from config.settings import CodeSettings
from engine.bundle import ModelBundle
from engine.rca import codefetch
from engine.rca.codefetch import Release, choose, frames_by_project, frames_held, newest_per_series, parse_releases
from engine.rca.codemap import archive_release, default_code_map, function_spans, read_modules
from tracking.api import bundle_params

# -- candidate releases --------------------------------------------------------------------------


def _file(name, kind="sdist", sha="ab" * 32, requires=None, yanked=False, url=None):
    return {"filename": name, "packagetype": kind, "digests": {"sha256": sha}, "requires_python": requires,
            "yanked": yanked, "url": url or f"https://files.example/{name}", "size": 10}


def test_parse_releases_keeps_final_ones_prefers_a_wheel_and_follows_requires_python():
    doc = {"releases": {
        "16.1.6": [_file("nova-16.1.6.tar.gz"), _file("nova-16.1.6-py2.py3-none-any.whl", "bdist_wheel")],
        "16.1.7": [_file("nova-16.1.7.tar.gz", yanked=True)],
        "17.0.0.0rc1": [_file("nova-17.0.0.0rc1.tar.gz")],
        "17.0.13": [_file("nova-17.0.13.tar.gz", url="../../packages/nova-17.0.13.tar.gz")],
        "21.0.0": [_file("nova-21.0.0.tar.gz", requires=">=3.6")],
        "22.0.0": [],
        "not-a-version": [_file("nova-x.tar.gz")],
        "23.0.0": [{**_file("nova-23.0.0.tar.gz"), "digests": {"md5": "00"}}],   # no sha256: nothing to check
    }}
    rel = parse_releases("nova", doc, "https://mirror.example/pypi/nova/json", python="2.7")
    assert [r.version for r in rel] == ["16.1.6", "17.0.13"]
    assert rel[0].filename.endswith("-none-any.whl")
    assert rel[1].url == "https://mirror.example/packages/nova-17.0.13.tar.gz"
    assert "21.0.0" in [r.version for r in parse_releases("nova", doc, python="3.8")]
    assert "21.0.0" in [r.version for r in parse_releases("nova", doc)]


def _rel(v):
    return Release("nova", v, f"nova-{v}.tar.gz", "", "")


PIKE_TO_STEIN = ["15.1.5", "16.1.6", "16.1.7", "16.1.8", "17.0.7", "17.0.12", "17.0.13", "18.0.2", "18.1.0",
                 "18.2.3", "18.3.0", "19.0.0", "19.3.2"]


def test_newest_per_series():
    rel = [_rel(v) for v in PIKE_TO_STEIN]
    assert [r.version for r in newest_per_series(rel, 1)] == ["15.1.5", "16.1.8", "17.0.13", "18.3.0", "19.3.2"]
    assert [r.version for r in newest_per_series(rel, 2)][:4] == ["15.1.5", "16.1.8", "17.0.13", "18.0.2"]


def test_choose_goes_from_major_series_to_the_patch_release_within_the_limit():
    """The newest of each major first, then within the best major, then each patch release of its
    best minor series: an older patch release that fits better is found without trying all."""
    rel = [_rel(v) for v in PIKE_TO_STEIN]
    fit = {"16.1.6": 0.86, "16.1.7": 0.85, "16.1.8": 0.78, "17.0.13": 0.58, "18.3.0": 0.41}
    calls = []

    def score(r):
        calls.append(r.version)
        return (fit.get(r.version, 0.1),)

    best, tried = choose(rel, score, limit=24)
    assert best.version == "16.1.6"
    assert set(calls) == {"19.3.2", "18.3.0", "17.0.13", "16.1.8", "15.1.5", "16.1.7", "16.1.6"}
    assert len(calls) == len(set(calls))          # each release tried once
    best, tried = choose(rel, score, limit=3)     # the limit bounds the downloads
    assert len(tried) == 3


def test_choose_breaks_ties_towards_the_newer_release():
    best, _ = choose([_rel("1.0.0"), _rel("1.0.1")], lambda r: (1,), limit=5)
    assert best.version == "1.0.1"


def test_frames_by_project_and_frames_held():
    frames = [("nova.compute.manager", "build", 12)] * 5 + [("cinder.volume.api", "create", 3)] + \
        [("oslo_messaging.rpc", "call", 1)] * 9
    by = frames_by_project(frames, min_frames=2)
    assert list(by) == ["nova"] and sum(by["nova"].values()) == 5
    spans = function_spans("def build(a):\n    x = 1\n    return x\n\n\n@dec\ndef other():\n    pass\n")
    assert spans == {"build": (1, 3), "other": (6, 8)}
    assert frames_held({"nova.compute.manager": {"build": (10, 20)}}, by["nova"]) == (5, 5)
    assert frames_held({"nova.compute.manager": {"build": (1, 3)}}, by["nova"]) == (0, 5)
    assert frames_held({"nova.compute.manager": None}, by["nova"]) == (0, 0)


# -- small archives on a local index --------------------------------------------------------------

def _manager(pad: int) -> str:
    """nova/compute/manager.py whose ``build`` starts after ``pad`` blank lines, and calls nova.db."""
    return "from nova import db\n" + "\n" * pad + "def build(ctx):\n    db.get(ctx)\n    return 1\n"


FILES = {"nova/__init__.py": "", "nova/db/__init__.py": "def get(ctx):\n    return None\n",
         "nova/tests/test_x.py": "def test():\n    pass\n"}


def _wheel(path: Path, version: str, pad: int) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in {**FILES, "nova/compute/__init__.py": "", "nova/compute/manager.py": _manager(pad)}.items():
            zf.writestr(name, text)
        zf.writestr(f"nova-{version}.dist-info/METADATA", "Name: nova\n")


def _sdist(path: Path, version: str, pad: int) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, text in {**FILES, "nova/compute/__init__.py": "", "nova/compute/manager.py": _manager(pad)}.items():
            data = text.encode()
            info = tarfile.TarInfo(f"nova-{version}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


# frames of nova.compute.manager.build at lines 12-14: in release 2.0.0 (build at 12-14);
# 1.0.0 has build at 3-5, 3.0.0 at 30-32
FRAMES = [("nova.compute.manager", "build", 12), ("nova.compute.manager", "build", 13),
          ("nova.compute.manager", "build", 14)] * 2
PADS = {"1.0.0": 1, "2.0.0": 10, "3.0.0": 28}


@pytest.fixture
def index(tmp_path):
    """A PyPI-like index over HTTP on localhost: /pypi/nova/json and the archives it names
    (wheels for 1.0.0 and 3.0.0, an sdist for 2.0.0, as relative URLs like some mirrors)."""
    root = tmp_path / "index"
    files = root / "files"
    files.mkdir(parents=True)
    releases = {}
    for version, pad in PADS.items():
        if version == "2.0.0":
            name = f"nova-{version}.tar.gz"
            _sdist(files / name, version, pad)
            kind = "sdist"
        else:
            name = f"nova-{version}-py2.py3-none-any.whl"
            _wheel(files / name, version, pad)
            kind = "bdist_wheel"
        sha = hashlib.sha256((files / name).read_bytes()).hexdigest()
        releases[version] = [_file(name, kind, sha=sha, url=f"../../files/{name}")]
    (root / "pypi" / "nova").mkdir(parents=True)
    (root / "pypi" / "nova" / "json").write_text(json.dumps({"releases": releases}))
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    codefetch._RELEASES.clear()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "root": root, "server": server}
    finally:
        server.shutdown()
        server.server_close()
        codefetch._RELEASES.clear()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _settings(index_url, cache, **kw):
    return CodeSettings(source="", fetch="pypi", index_url=index_url, cache_dir=cache, timeout_seconds=5, **kw)


def test_the_release_the_frames_fit_is_chosen_fetched_checked_and_mapped(index, tmp_path):
    settings = _settings(index["url"], tmp_path / "cache")
    cm = codefetch.fetched_code_map(FRAMES, "2.7", settings)
    assert cm is not None
    nova = cm.releases["nova"]
    assert nova["release"] == "2.0.0" and nova["fit"] == 1.0 and nova["held"] == 6
    assert set(nova["tried"]) == {"1.0.0", "2.0.0", "3.0.0"} and nova["from"] == index["url"]
    assert cm.sources == ["nova-2.0.0.tar.gz"]
    assert cm.callees("nova.compute.manager", "build") == ["nova.db"]
    assert "nova.tests.test_x" not in cm.functions
    cached = sorted(p.name for p in (tmp_path / "cache" / "archives").iterdir())
    assert cached == ["nova-1.0.0-py2.py3-none-any.whl", "nova-2.0.0.tar.gz", "nova-3.0.0-py2.py3-none-any.whl"]


def test_a_second_training_reuses_the_choice_and_archive_without_the_index(index, tmp_path):
    settings = _settings(index["url"], tmp_path / "cache")
    assert codefetch.fetched_code_map(FRAMES, "2.7", settings).releases["nova"]["release"] == "2.0.0"
    index["server"].shutdown()
    index["server"].server_close()
    codefetch._RELEASES.clear()
    again = codefetch.fetched_code_map(FRAMES, "2.7", settings)
    assert again is not None and again.releases["nova"]["release"] == "2.0.0"


def test_an_archive_not_matching_its_sha256_gives_no_code_map_and_one_warning(index, tmp_path, caplog):
    doc_path = index["root"] / "pypi" / "nova" / "json"
    doc = json.loads(doc_path.read_text())
    for files in doc["releases"].values():
        files[0]["digests"]["sha256"] = "0" * 64
    doc_path.write_text(json.dumps(doc))
    with caplog.at_level(logging.WARNING, logger="engine.rca.codefetch"):
        assert codefetch.fetched_code_map(FRAMES, "2.7", _settings(index["url"], tmp_path / "cache")) is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "sha256" in warnings[0].getMessage()
    assert not any((tmp_path / "cache" / "archives").iterdir())   # nothing unchecked is kept


def test_an_unreachable_index_gives_no_code_map_quickly(tmp_path, caplog):
    codefetch._RELEASES.clear()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="engine.rca.codefetch"):
        cm = codefetch.fetched_code_map(FRAMES + [("cinder.volume.api", "create", 3)] * 5, "2.7",
                                        _settings("http://127.0.0.1:9", tmp_path / "cache"))
    assert cm is None and time.monotonic() - started < 5
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


def test_a_project_missing_from_the_index_is_left_out(index, tmp_path):
    frames = FRAMES + [("cinder.volume.api", "create", 3)] * 5     # no /pypi/cinder/json: a 404
    cm = codefetch.fetched_code_map(frames, "2.7", _settings(index["url"], tmp_path / "cache"))
    assert cm is not None and list(cm.releases) == ["nova"]


def test_default_code_map_fetches_only_when_no_source_is_named_and_fetch_is_on(index, tmp_path):
    assert default_code_map(FRAMES, "2.7", _settings(index["url"], tmp_path / "c1").model_copy(
        update={"fetch": "off"})) is None
    fetched = default_code_map(FRAMES, "2.7", _settings(index["url"], tmp_path / "c2"))
    assert fetched.releases["nova"]["release"] == "2.0.0"
    # a folder named by RCA_CODE_SOURCE: its archives (wheels too) are chosen among, nothing fetched
    folder = tmp_path / "sources"
    folder.mkdir()
    for v in ("1.0.0", "3.0.0"):
        _wheel(folder / f"nova-{v}-py2.py3-none-any.whl", v, PADS[v])
    cm = default_code_map([("nova.compute.manager", "build", 30)], None,
                          CodeSettings(source=str(folder), index_url="http://127.0.0.1:9"))
    assert cm.releases["nova"]["release"] == "3.0.0" and cm.releases["nova"]["from"] == "RCA_CODE_SOURCE"


def test_settings_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RCA_CODE_SOURCE", f"{tmp_path}/a:{tmp_path}/b")
    monkeypatch.setenv("RCA_CODE_FETCH", "off")
    monkeypatch.setenv("RCA_CODE_INDEX_URL", "https://mirror.example")
    s = CodeSettings()
    assert s.source_paths() == [f"{tmp_path}/a", f"{tmp_path}/b"]
    assert s.fetch == "off" and s.index_url == "https://mirror.example" and s.timeout_seconds == 10


def test_read_modules_reads_only_those_asked_for(tmp_path):
    _wheel(tmp_path / "nova-1.0.0-py2.py3-none-any.whl", "1.0.0", 1)
    _sdist(tmp_path / "nova-2.0.0.tar.gz", "2.0.0", 10)
    for name in ("nova-1.0.0-py2.py3-none-any.whl", "nova-2.0.0.tar.gz"):
        got = read_modules(tmp_path / name, {"nova.compute.manager", "nova.absent"})
        assert list(got) == ["nova.compute.manager"]
    assert archive_release("nova-1.0.0-py2.py3-none-any.whl") == ("nova", "1.0.0")
    assert archive_release("nova-16.1.6.tar.gz") == ("nova", "16.1.6")


def test_the_model_records_the_chosen_releases(synth):
    from engine.rca import RCAModel
    from engine.rca.codemap import CodeMap

    runs, labels, roots = synth[:3]
    releases = {"nova": {"release": "16.1.6", "fit": 0.859, "from": "https://pypi.org"}}
    model = RCAModel().fit(runs, labels, roots, code_map=CodeMap(sources=["nova-16.1.6.tar.gz"], releases=releases))
    assert model.metadata["code_map"]["releases"] == releases
    # no source named and the fetch off (tests/conftest.py): no code map, as before
    assert RCAModel().fit(runs, labels, roots).metadata["code_map"] is None


def test_the_chosen_releases_become_run_parameters():
    code_map = {"sources": ["nova-16.1.6-py2.py3-none-any.whl"], "modules": 925,
                "releases": {"nova": {"release": "16.1.6", "from": "https://pypi.org"}}}
    bundle = ModelBundle(b"", metadata={"rca": {"code_map": code_map}})
    assert bundle_params(bundle) == {"code_map": "nova 16.1.6", "code_map_from": "https://pypi.org"}
    assert bundle_params(ModelBundle(b"", metadata={"rca": {"code_map": None}})) == {"code_map": "none"}
    assert bundle_params(ModelBundle(b"", metadata={})) == {}


# -- the real PyPI ----------------------------------------------------------------------------------

def _pypi_reachable() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/pypi/nova/json", timeout=5).close()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.skipif(not _pypi_reachable(), reason="pypi.org is unreachable from here (offline)")
def test_pypi_lists_nova_pike_with_a_checkable_archive():
    doc = json.loads(codefetch._get("https://pypi.org/pypi/nova/json", 10))
    rel = {r.version: r for r in parse_releases("nova", doc, "https://pypi.org/pypi/nova/json", python="2.7")}
    assert "16.1.6" in rel and len(rel["16.1.6"].sha256) == 64 and rel["16.1.6"].url.startswith("https://")
    assert not any(v.startswith("21.") for v in rel)     # Python 3 only from nova 21 (Ussuri)
