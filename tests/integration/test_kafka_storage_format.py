"""The local broker's log folder is formatted with any random cluster id.

A KRaft cluster id is URL-safe base64, so 1 in 64 starts with "-"; passed as a separate
argument, Kafka's StorageTool read it as an option and `rca stack up` (and the private brokers
of the chaos bench) failed at random.
"""
from __future__ import annotations

import pytest

from config.settings import StackSettings
from devstack import kafka

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("cluster_id", ["-3nJ0oVhT0mKq8vB1x2y3Q", "MkU3OEVBNTcwNTJENDM2Qk"])
def test_storage_format_takes_an_id_starting_with_a_dash(stack, tmp_path, cluster_id):
    cfg = StackSettings(state_dir=tmp_path)
    data = tmp_path / "data"
    props = tmp_path / "server.properties"
    props.write_text(kafka._properties(cfg, data))
    kafka.format_storage(["java", "-cp", kafka._classpath(cfg)], props, cluster_id)
    assert f"cluster.id={cluster_id}" in (data / "meta.properties").read_text()
