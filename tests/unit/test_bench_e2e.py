"""`rca bench e2e` helpers that need no broker: re-timed records, percentiles, JSON, py-spy frames."""
import json

import orjson

from bench.e2e import Record, _retime, _weighted_percentile, synthetic, to_json, top_frames
from consumers.envelope import split_records
from consumers.ingest import decode_value
from producers.publish import encode_batch

LINE = "2018-06-28 16:08:53.054 31547 INFO nova.compute.manager [req-1 - - - - -] Took 1.5 seconds to spawn"


def test_retime_moves_the_oslo_timestamp_only():
    moved = _retime(LINE, 1_600_000_000.25)
    assert moved.startswith("2020-09-13 12:26:40.250 31547 INFO")
    assert decode_value(moved.encode(), 10**6).timestamp == 1_600_000_000.25
    assert _retime("no header here", 1_600_000_000.0) == "no header here"


def test_records_decode_at_their_new_time_alone_and_in_envelopes():
    raw = Record(0.0, b"h:nova/nova-compute.log", line=LINE)
    event = Record(0.0, b"h", event={"schema_version": 1, "timestamp": "2018-06-28T16:08:53.054Z",
                                     "service": "nova-api", "message": "hello"})
    for r in (raw, event):
        assert decode_value(r.value(1_600_000_000.0), 10**6).timestamp == 1_600_000_000.0
    records = split_records(encode_batch([raw.batch_item(1_600_000_001.0), event.batch_item(1_600_000_002.0)]))
    assert [decode_value(x, 10**6).timestamp for x in records] == [1_600_000_001.0, 1_600_000_002.0]


def test_synthetic_input_is_mixed_multi_service_and_in_time_order():
    recs = synthetic(3000, hosts=3)
    assert len(recs) == 3000
    assert [r.ts for r in recs] == sorted(r.ts for r in recs)
    assert any(r.line for r in recs) and any(r.event for r in recs)
    services = {decode_value(r.value(), 10**6).service for r in recs if r.event}
    assert len(services) >= 3


def test_weighted_percentile_counts_each_event():
    pairs = [(1.0, 98), (10.0, 1), (100.0, 1)]
    assert _weighted_percentile(pairs, 0.5) == 1.0
    assert _weighted_percentile(pairs, 0.99) == 10.0
    assert _weighted_percentile(pairs, 1.0) == 100.0
    assert _weighted_percentile([], 0.5) is None


def test_to_json_keeps_short_lists_on_one_line():
    obj = {"lag": [[0.5, 10], [1.0, 0]], "text": "a ] b [ c", "n": 1}
    text = to_json(obj)
    assert json.loads(text) == obj and "[0.5, 10]" in text


def test_top_frames_of_collapsed_stacks(tmp_path):
    raw = tmp_path / "p.collapsed.txt"
    raw.write_text("main (cli/main.py:1);handle (consumers/pipeline.py:9);parse (engine/parsing.py:5) 3\n"
                   "main (cli/main.py:1);_drain (faust/transport/consumer.py:1) 1\n")
    out = top_frames(str(raw))
    assert out["samples"] == 4
    assert out["self"][0] == ["parse (engine/parsing.py:5)", 75.0]
    assert ["handle (consumers/pipeline.py:9)", 75.0] in out["inclusive_ours"]
    assert out["inclusive_framework"] == [["_drain (faust/transport/consumer.py:1)", 25.0]]
    assert orjson.dumps(out)


def test_cost_breakdown_splits_a_message_into_layers():
    from bench.e2e import cost_breakdown

    rates = {"faust_events_per_s": 10_000.0, "faust_handle_events_per_s": 5_000.0,
             "faust_send_events_per_s": 4_000.0, "faust_score_events_per_s": 4_000.0,
             "worker_events_per_s": 2_000.0}
    assert cost_breakdown(rates) == {"faust": 100.0, "handle": 100.0, "faust_sends": 50.0, "scoring_inline": 50.0,
                                     "rest": 200.0, "worker_total": 500.0, "faust_own": 150.0}
    assert cost_breakdown({**rates, "faust_send_events_per_s": None}) is None


def test_budgets_set_what_the_targets_leave_beside_what_our_code_costs_alone():
    from bench.e2e import budgets

    summary = {"faust_events_per_s": 10_000.0,
               "offline": {"single": {"events_per_s": 20_000.0, "us_per_message": 50.0},
                           "batched": {"events_per_s": 25_000.0}}}
    assert budgets(summary) == {"ours_per_message_for_0.8x_faust": 25.0, "ours_alone_per_message": 50.0,
                                "per_record_for_30k_batched": 33.3, "ours_alone_per_batched_record": 40.0}
    assert budgets({**summary, "offline": {"error": "timed out"}}) is None


def test_offline_pipeline_times_every_record_of_both_inputs(tmp_path):
    """bench_offline runs the worker's own per-message code: every record decoded once, in
    one-record messages and in envelopes alike, every window closed and reported."""
    from config.settings import WorkerSettings
    from bench import offline as bench_offline
    from consumers.models import Serving
    from bench.e2e import envelopes as make_envelopes

    recs = synthetic(1500, hosts=2)
    envelopes = make_envelopes(recs, 100)
    path = tmp_path / "in.ndjson"
    bench_offline.write_input(path, [(r.key, r.value()) for r in recs], [(k, v) for k, v, _n in envelopes])
    messages = bench_offline.read_input(str(path))
    assert len(messages) == len(recs) + len(envelopes) and sum(b for _k, _v, b in messages) == len(envelopes)

    out = bench_offline.run(messages, Serving(), WorkerSettings())
    assert out["analyzer"] == "baseline"
    lines = sum(1 for r in recs if r.line is not None)
    for name, n in (("single", len(recs)), ("batched", len(envelopes))):
        part = out[name]
        assert part["messages"] == n
        # every JSON event, and every raw line that is not a continuation of the line before
        assert len(recs) - lines < part["events"] <= len(recs)
        assert part["results"] > 0 and part["events_per_s"] > 0 and part["us_per_message"] > 0
