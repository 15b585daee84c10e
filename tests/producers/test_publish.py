"""`rca publish --batch N` / `rca simulate --kafka --batch N`: envelopes built right (no broker: a fake producer)."""
from __future__ import annotations

import orjson
import pytest

import producers.publish as pub
import schemas
from config.settings import KafkaSettings
from consumers.envelope import split_records
from consumers.ingest import decode_value
from schemas.log_event import LogEvent


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self._pending = []

    def produce(self, topic, value=None, key=None, on_delivery=None):
        self.sent.append((topic, key, value))
        self._pending.append(on_delivery)

    def poll(self, _timeout=0):
        while self._pending:
            self._pending.pop(0)(None, None)

    def flush(self, _timeout=None):
        self.poll()
        return 0


@pytest.fixture
def producer(monkeypatch):
    fake = FakeProducer()
    monkeypatch.setattr(pub, "make_producer", lambda cfg, **kw: fake)
    return fake


def events(n: int, services=("nova-api", "nova-compute")) -> list[LogEvent]:
    return [LogEvent(message=f"event {i}", raw=f"event {i}", timestamp=1_564_653_600.0 + i,
                     service=services[i % len(services)], host="ctl", level="INFO", logger="nova.x")
            for i in range(n)]


def test_encode_batch_is_a_valid_envelope():
    recs = [orjson.dumps(e.to_dict()) for e in events(3)] + [orjson.dumps("2019-08-01 10:00:00.000 1 INFO a.b [-] x")]
    value = pub.encode_batch(recs)
    obj = orjson.loads(value)
    schemas.validate("log_batch", obj)
    assert split_records(value) == [orjson.dumps(r) if isinstance(r, dict) else r.encode() for r in obj["records"]]


def test_batch_one_sends_one_record_per_message(producer):
    report = pub.publish(events(5), KafkaSettings(), "t", progress=False)
    assert report.events == report.delivered == report.messages == 5 and report.failed == 0
    for _topic, _key, value in producer.sent:
        assert split_records(value) is None
        assert isinstance(decode_value(value, 1_000_000), LogEvent)


def test_batches_group_records_per_key_in_order(producer):
    evs = events(25)
    report = pub.publish(evs, KafkaSettings(), "t", progress=False, batch=4)
    assert report.events == report.delivered == 25 and report.failed == 0
    assert report.messages == len(producer.sent) == 7  # nova-api 13 -> 4+4+4+1, nova-compute 12 -> 4+4+4
    by_key: dict[bytes, list[str]] = {}
    for _topic, key, value in producer.sent:
        obj = orjson.loads(value)
        schemas.validate("log_batch", obj)
        assert 1 <= len(obj["records"]) <= 4
        decoded = [decode_value(r, 1_000_000) for r in split_records(value)]
        assert all(isinstance(e, LogEvent) and pub.message_key(e) == key for e in decoded)
        by_key.setdefault(key, []).extend(e.message for e in decoded)
    assert by_key[b"ctl:nova-api"] == [e.message for e in evs if e.service == "nova-api"]
    assert by_key[b"ctl:nova-compute"] == [e.message for e in evs if e.service == "nova-compute"]
    assert sum(len(v) for v in by_key.values()) == 25


def test_envelope_never_passes_the_byte_limit():
    batcher = pub.Batcher(1000, max_bytes=200)
    out = []
    for i in range(20):
        full = batcher.add(b"k", orjson.dumps({"message": "x" * 30, "i": i}))
        if full:
            out.append(full)
    out.extend(batcher.drain())
    assert sum(n for _k, _v, n in out) == 20
    assert all(len(v) <= 200 for _k, v, _n in out) and len(out) > 1
    assert [r["i"] for _k, v, _n in out for r in orjson.loads(v)["records"]] == list(range(20))


def test_batch_size_must_be_positive(producer):
    with pytest.raises(ValueError, match="batch"):
        pub.publish(events(1), KafkaSettings(), "t", progress=False, batch=0)


def test_failed_delivery_counts_every_record_of_the_envelope(monkeypatch):
    class Failing(FakeProducer):
        def poll(self, _timeout=0):
            while self._pending:
                self._pending.pop(0)("broker down", None)

    monkeypatch.setattr(pub, "make_producer", lambda cfg, **kw: Failing())
    report = pub.publish(events(10, services=("nova-api",)), KafkaSettings(), "t", progress=False, batch=5)
    assert report.messages == 2 and report.failed == 10 and report.delivered == 0 and report.errors


def _cli(argv):
    """The `rca` parser and handler, errors raised (cli.main turns them into one line and an exit code)."""
    from cli.main import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


def test_cli_publish_batch(tmp_path, producer, capsys):
    log = tmp_path / "nova-api.log"
    log.write_text("".join(f"2019-08-01 10:00:{i:02d}.000 1 INFO nova.api.wsgi [-] request {i}\n" for i in range(30)))
    assert _cli(["publish", str(log), "--batch", "10", "--topic", "t", "--no-progress"]) == 0
    assert len(producer.sent) == 3
    records = [r for _t, _k, v in producer.sent for r in split_records(v)]
    assert [decode_value(r, 1_000_000).message for r in records] == [f"request {i}" for i in range(30)]
    assert "30 of 30 events" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--batch"):
        _cli(["publish", str(log), "--batch", "0"])


def test_cli_simulate_kafka_batch(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_publish(evs, cfg, topic, **kwargs):
        seen.update(kwargs, n=len(list(evs)))
        return pub.PublishReport(events=seen["n"], delivered=seen["n"], messages=1)

    monkeypatch.setattr(pub, "publish", fake_publish)
    assert _cli(["simulate", "--kafka", "--batch", "100", "--hosts", "1", "--minutes", "1", "--faults", "0",
                 "--no-progress"]) == 0
    assert seen["batch"] == 100 and seen["n"] > 0
    with pytest.raises(ValueError, match="--batch"):
        _cli(["simulate", "--out", str(tmp_path), "--batch", "10"])
