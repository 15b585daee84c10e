"""bench/shapes.py (`rca bench parse --shapes`): figures for every shape from the same records."""
from bench.shapes import bench_shapes, records_of, split_shapes
from engine.shapes.encode import ENCODED_SHAPES

LINES = [
    "2026-12-05 02:07:47.359 26323 INFO nova.compute.manager [req-1 u p - - -] Took 1.2 seconds",
    "2026-12-05 02:07:48.001 26323 ERROR nova.compute.manager [req-2 u p - - -] Instance failed to spawn",
    "2026-12-05 02:07:48.001 26323 ERROR nova.compute.manager Traceback (most recent call last):",
    '2026-12-05 02:07:48.001 26323 ERROR nova.compute.manager   File "/n/manager.py", line 2, in f',
    "2026-12-05 02:07:48.001 26323 ERROR nova.compute.manager RuntimeError: x",
    "2026-12-05 02:07:49.500 26323 DEBUG nova.compute.manager [-] dump:",
    "User-Agent: curl/7.42.1",
]


def test_every_shape_is_measured_on_the_same_records(tmp_path):
    path = tmp_path / "nova" / "nova-compute.log"
    path.parent.mkdir()
    path.write_text("\n".join(LINES * 20) + "\n")
    assert len(records_of([str(path)])) == 60
    out = bench_shapes([str(path)], repeat=1)
    assert set(out["shapes"]) == set(ENCODED_SHAPES) and out["records"] == 60
    for shape, figures in out["shapes"].items():
        assert figures["events"] == 60 and figures["us_per_record"] > 0, shape
    assert out["shapes"]["raw"]["x_raw"] == 1.0 and out["worst_x_raw"] >= 1.0
    split = split_shapes([str(path)], ["kolla_fluentd"], repeat=1)
    assert set(split["shapes"]) == {"raw", "kolla_fluentd"}
    assert split["shapes"]["kolla_fluentd"]["events"] == split["shapes"]["raw"]["events"] == 60
