"""`rca models` against the local stack's registry: aliases, stages, rollback, compare, export, load."""
from __future__ import annotations

import json

import orjson
import pytest

from tracking import api, signing
from tracking.registry import Registry
from tests.tracking.conftest import SIGNING_KEY, tiny_bundle
from tests.tracking.helpers import rca_models

pytestmark = pytest.mark.integration


@pytest.fixture
def three_versions(tracked_env):
    recs = [api.track_training(tiny_bundle(f"v{i}"), metrics={"f1": 0.5 + i / 10, "precision": 0.9},
                               params={"n": i}) for i in (1, 2, 3)]
    assert [r.version for r in recs] == [1, 2, 3]
    return recs


def aliases(reg: Registry) -> dict[str, int]:
    return {a: i.version for i in reg.list() for a in i.aliases}


def test_registry_lifecycle_through_the_cli(three_versions, capsys, tmp_path):
    reg = Registry()
    # first version became production; every new one is the challenger
    assert aliases(reg) == {"production": 1, "challenger": 3}
    assert [i.source for i in reg.list()] == [r.model_url for r in reversed(three_versions)]

    assert rca_models("list") == 0
    out = capsys.readouterr().out
    assert "3 versions" in out and three_versions[0].run_name in out and "production" in out

    assert rca_models("promote", "--version", "2", "--stage", "Production") == 0
    assert "version 2 is now production" in capsys.readouterr().out
    assert aliases(reg)["production"] == 2
    assert rca_models("promote", "3") == 0
    assert aliases(reg)["production"] == 3

    rca_models("compare", "1", "2")
    out = capsys.readouterr().out
    f1 = next(line for line in out.splitlines() if line.startswith("f1 "))
    assert f1.split()[1:4] == ["0.6", "0.7", "0.1"]
    rca_models("compare", "production", "challenger", "--json")
    cmp = json.loads(capsys.readouterr().out)
    assert cmp["a"]["version"] == 3 and cmp["metrics"]["precision"] == {"a": 0.9, "b": 0.9}

    assert rca_models("rollback") == 0
    assert "from version 3 to version 2" in capsys.readouterr().out
    assert rca_models("rollback") == 0
    assert aliases(reg)["production"] == 1
    with pytest.raises(RuntimeError, match="no earlier production version"):
        rca_models("rollback")

    with pytest.raises(RuntimeError, match="is production"):
        rca_models("archive", "1")
    assert rca_models("archive", "--version", "3") == 0
    assert aliases(reg) == {"production": 1}
    assert [i.version for i in reg.list(include_archived=False)] == [2, 1]
    capsys.readouterr()
    rca_models("list", "--json")
    listed = {v["version"]: v for v in json.loads(capsys.readouterr().out)}
    assert listed[3]["archived"] is True and listed[3]["aliases"] == []
    assert rca_models("promote", "3", "--stage", "Staging") == 0       # promoting unarchives
    assert aliases(reg)["challenger"] == 3 and not reg.get(3).archived
    assert rca_models("promote", "2", "--stage", "Archived") == 0
    assert reg.get(2).archived

    out_dir = tmp_path / "export"
    assert rca_models("export", "production", "-o", str(out_dir)) == 0
    manifest = orjson.loads((out_dir / "manifest.json").read_bytes())
    signing.verify((out_dir / "model.pkl").read_bytes(), manifest, SIGNING_KEY.encode())
    assert api.load_model(str(out_dir)).bundle.metadata["tag"] == "v1"
    with pytest.raises(RuntimeError, match="exists"):
        rca_models("export", "1", "-o", str(out_dir))

    capsys.readouterr()
    assert rca_models("load", "challenger", "--json") == 0
    loaded = json.loads(capsys.readouterr().out)
    assert loaded["version"] == 3 and loaded["signed"] is True and loaded["tag"] == "v3"
    assert rca_models("show") == 0
    out = capsys.readouterr().out
    assert "version 1" in out and "signed       yes" in out and "metric       f1 = 0.6" in out


def test_bad_input_is_a_one_line_error(three_versions):
    with pytest.raises(ValueError, match="unknown stage"):
        rca_models("promote", "2", "--stage", "Deployed")
    with pytest.raises(ValueError, match="needs a VERSION"):
        rca_models("promote")
    with pytest.raises(RuntimeError) as e:
        rca_models("show", "42")
    assert "\n" not in str(e.value)
    with pytest.raises(RuntimeError, match="does not exist"):
        rca_models("--name", "no-such-model-xyz", "list")


def test_worker_and_analyze_load_production_and_follow_promotions(three_versions):
    current = api.load_model()                     # production by default
    assert current.version == 1 and current.bundle.metadata["tag"] == "v1"
    same, err = api.reload_model(current)
    assert same is current and err is None
    Registry().promote(2)
    new, err = api.reload_model(current)
    assert err is None and new.version == 2 and new.bundle.metadata["tag"] == "v2"
    assert api.load_model("challenger").version == 3 and api.load_model("v2").version == 2


def test_cached_production_is_used_when_the_registry_is_down(three_versions, monkeypatch):
    from config.settings import get_settings

    assert api.load_model().version == 1                       # caches a verified copy
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    get_settings.cache_clear()
    cached = api.load_model()
    assert cached.from_cache and cached.version == 1 and cached.bundle.metadata["tag"] == "v1"
    with pytest.raises(RuntimeError, match="unreachable"):
        rca_models("list")


def test_local_default_without_any_configuration(clean_env):
    """A fresh machine: sqlite tracking store and artifact folders under the state folder."""
    rec = api.track_training(tiny_bundle("local"), metrics={"f1": 0.5}, history=[1.0, 0.5])
    state = clean_env / "state"
    assert rec.tracked and rec.version == 1
    assert rec.folder == (state / "artifacts" / rec.run_name / "artifacts").as_uri() + "/"
    assert (state / "artifacts" / rec.run_name / "artifacts" / "model" / "model.pkl").is_file()
    assert (state / "mlruns.db").is_file()
    loaded = api.load_model()
    assert loaded.version == 1 and loaded.bundle.metadata["tag"] == "local"
    assert [i.version for i in Registry().list()] == [1]
