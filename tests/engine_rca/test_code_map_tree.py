"""The code map's static resolution on a small source tree (engine/rca/codemap.py)."""
from engine.rca.codemap import build_code_map


def test_a_package_reexport_and_a_local_helper_resolve_to_the_defining_module(tmp_path):
    """``from nova import db; db.instance_get()`` is nova.db.api's function (re-exported by the
    package's __init__), and a function's call through its own module's helper counts as its own."""
    pkg = tmp_path / "nova"
    for d in (pkg, pkg / "db", pkg / "db" / "sqlalchemy", pkg / "objects"):
        d.mkdir(parents=True, exist_ok=True)
        (d / "__init__.py").write_text("")
    (pkg / "db" / "__init__.py").write_text("from nova.db.api import *  # noqa\n")
    (pkg / "db" / "api.py").write_text("def instance_get(ctx, uuid):\n    return IMPL.instance_get(ctx, uuid)\n")
    (pkg / "db" / "sqlalchemy" / "api.py").write_text("def instance_get(ctx, uuid):\n    return None\n")
    (pkg / "objects" / "instance.py").write_text(
        "from nova import db\n\nclass Instance(object):\n"
        "    @staticmethod\n    def _db_get(ctx, uuid):\n        return db.instance_get(ctx, uuid)\n\n"
        "    @classmethod\n    def get_by_uuid(cls, ctx, uuid):\n        return cls._db_get(ctx, uuid)\n")
    cm = build_code_map([tmp_path])
    assert cm.callees("nova.objects.instance", "_db_get") == ["nova.db.api"]
    assert cm.callees("nova.objects.instance", "get_by_uuid") == ["nova.db.api"]
    assert "nova.objects.instance" in cm.callers_of("nova.db.api")
    assert cm.imports["nova.objects.instance"] == ["nova.db"]
