"""The retraining job, run in its own process by the worker's control agent.

`python -m consumers.trainer '<command JSON>'` reads the requested data,
trains a bundle, tracks and registers it as `challenger`, compares it with
`production` on the same held-back slice (the latest `holdout_fraction` of
the range, by event time), promotes it if it is better by the configured
margin (or when `auto_promote` says so), and publishes each step to
rca.control.events. A topic source is read by timestamp (offsets for times),
never from files left on disk.
"""
from __future__ import annotations

import logging
import sys
import tempfile
import time
import traceback
from pathlib import Path

from confluent_kafka import TopicPartition

import schemas
from config.settings import Settings, get_settings
from config.timeparse import parse_time, time_range
from consumers.control import control_event
from consumers.ingest import decode_value
from producers.kafka import make_consumer, make_producer
from schemas.log_event import LogEvent

log = logging.getLogger("rca.trainer")

FAILED_AND_REPORTED = 3  # exit code: the job failed and already published its 'failed' event


class Events:
    """Publishes this command's control events (synchronously: a step is out before the next starts)."""

    def __init__(self, settings: Settings, command_id: str) -> None:
        self.topic = settings.topics.control_events
        self.command_id = command_id
        self.producer = make_producer(settings.kafka, logger=log)

    def send(self, event: str, **fields) -> None:
        msg = control_event(self.command_id, event, "trainer", **fields)
        self.producer.produce(self.topic, key=self.command_id.encode(), value=schemas.encode(msg))
        self.producer.flush(30)


def read_topic(settings: Settings, topic: str, since: float, until: float) -> list[LogEvent]:
    """Events of `topic` with broker timestamps in [since, until), found by offsets_for_times."""
    c = make_consumer(settings.kafka, "rca-trainer", logger=log)
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None:
            raise RuntimeError(f"topic {topic} not found")
        parts = list(md.partitions)
        starts = c.offsets_for_times([TopicPartition(topic, p, int(since * 1000)) for p in parts], timeout=10)
        ends = c.offsets_for_times([TopicPartition(topic, p, int(until * 1000)) for p in parts], timeout=10)
        stop: dict[int, int] = {}
        for tp_end in ends:
            if tp_end.offset < 0:  # no message at or after `until`: read to the current end
                _, high = c.get_watermark_offsets(TopicPartition(topic, tp_end.partition), timeout=10)
                stop[tp_end.partition] = high
            else:
                stop[tp_end.partition] = tp_end.offset
        assign = [tp for tp in starts if tp.offset >= 0 and tp.offset < stop[tp.partition]]
        events: list[LogEvent] = []
        if not assign:
            return events
        c.assign(assign)
        remaining = {tp.partition for tp in assign}
        deadline = time.monotonic() + 600
        while remaining and time.monotonic() < deadline:
            for msg in c.consume(5000, 1.0):
                if msg.error() or msg.partition() not in remaining:
                    continue
                if msg.offset() >= stop[msg.partition()]:
                    remaining.discard(msg.partition())
                    continue
                ev = decode_value(msg.value(), settings.worker.max_message_bytes)
                if isinstance(ev, LogEvent) and ev.parse_error is None:
                    events.append(ev)
                if msg.offset() + 1 >= stop[msg.partition()]:
                    remaining.discard(msg.partition())
        return events
    finally:
        c.close()


def read_source(settings: Settings, params: dict, now: float) -> list[LogEvent]:
    from engine.training import load_inputs

    source = params["source"]
    if source.startswith("topic:"):
        since, until = time_range(params, now)
        return read_topic(settings, source.split(":", 1)[1], since, until)
    if source.startswith("s3://"):
        return _read_s3(settings, source)
    data = load_inputs([source])
    return [e for run in data.runs for e in run]


def _read_s3(settings: Settings, url: str) -> list[LogEvent]:
    from engine.training import load_inputs
    from tracking.storage import open_store

    bucket, _, prefix = url[5:].partition("/")
    store = open_store(f"s3://{bucket}", settings.s3)
    with tempfile.TemporaryDirectory() as tmp:
        keys = store.list(prefix)            # folder markers (keys ending in '/') are left out
        if not keys:
            raise RuntimeError(f"no objects under {url}")
        for key in keys:
            (Path(tmp) / key.replace("/", "_")).write_bytes(store.get(key))
        data = load_inputs([tmp])
    return [e for run in data.runs for e in run]


def holdout_split(events: list[LogEvent], fraction: float) -> tuple[list[LogEvent], list[LogEvent]]:
    events = sorted(events, key=lambda e: e.timestamp or 0.0)
    cut = int(len(events) * (1 - fraction))
    return events[:cut], events[cut:]


def deviation_ratio(bundle, events: list[LogEvent]) -> float:
    """Share of held-back events the bundle's LSTM did not expect (lower is better)."""
    from engine.scoring import BundleScorer

    report, sig = BundleScorer(bundle).analyze(events, scope="window")
    return float(sig.sequence_ratio or 0.0)


def labelled_score(settings: Settings, bundle) -> float | None:
    """Detection F1 + root-cause module top-3 on the configured labelled set (higher is better)."""
    cfg = settings.control
    if cfg.eval_dataset is None:
        return None
    from engine.rca.eval import evaluate

    labels = cfg.eval_labels or cfg.eval_dataset / "labels.tsv"
    m = evaluate(cfg.eval_dataset, labels, model=bundle.rca_model, cv_folds=0, baseline=False)["model"]
    return float(m["detection"]["f1"]) + float(m["rca"]["module_top3"])


def run(command: dict, settings: Settings) -> int:
    from engine.training import TrainingData, train
    from tracking.api import load_model, track_training
    from tracking.registry import Registry

    params = command["params"]
    events = Events(settings, command["command_id"])
    events.send("started", detail=f"source {params['source']}")
    try:
        data = read_source(settings, params, parse_time(command["issued_at"]))
        if len(data) < 50:
            raise RuntimeError(f"only {len(data)} log events in the requested source; need at least 50")
        fit, held = holdout_split(data, settings.control.holdout_fraction)
        events.send("progress", progress=0.1, detail=f"{len(data)} events ({len(held)} held back)")
        epochs = params.get("epochs", 3)

        def progress(stage: str, frac: float) -> None:
            events.send("progress", progress=round(0.1 + 0.7 * frac, 3), detail=stage)

        bundle = train(TrainingData(runs=[fit], names=[params["source"]], labels=[False], root_causes=[None],
                                    lines=len(fit)), epochs=epochs, progress=progress)
        challenger = deviation_ratio(bundle, held)
        try:
            production = load_model("production")
            champion = deviation_ratio(production.bundle, held)
            champion_version = production.version
        except Exception as exc:  # noqa: BLE001 - no production yet: the challenger wins by default
            log.info("no production model to compare with: %s", exc)
            champion, champion_version = None, None
        margin = settings.control.promotion_margin
        better = champion is None or challenger + margin <= champion
        metrics = {"holdout_deviation_ratio": challenger, "events": float(len(data)), "epochs": float(epochs)}
        if champion is not None:
            metrics["production_holdout_deviation_ratio"] = champion
            labelled = labelled_score(settings, bundle)
            if labelled is not None:  # the labelled set decides when one is configured
                champion_labelled = labelled_score(settings, production.bundle)
                metrics.update(labelled_score=labelled, production_labelled_score=champion_labelled)
                better = labelled >= champion_labelled + margin
        promote = bool(params.get("auto_promote")) or better
        record = track_training(bundle, params={"command_id": command["command_id"], "source": params["source"],
                                                "epochs": epochs},
                                metrics=metrics, history=bundle.metadata.get("loss_curve"),
                                production_if_none=False)
        if record.version is None:
            raise RuntimeError(f"the model was not registered ({record.skipped_reason or 'tracking failed'})")
        reason = ("auto_promote" if params.get("auto_promote") and not better else
                  "no production model" if champion is None else
                  f"labelled-set score {metrics['labelled_score']:.4f} vs production "
                  f"{metrics['production_labelled_score']:.4f} (margin {margin})" if "labelled_score" in metrics else
                  f"holdout deviation {challenger:.4f} vs production {champion:.4f} (margin {margin})")
        if promote:
            Registry().promote(record.version)
        decision = {"promoted": promote, "reason": reason, "challenger_version": record.version,
                    "production_version": champion_version}
        _record_decision(record.run_id, decision)
        events.send("finished", run_id=record.run_id or "", run_name=record.run_name,
                    model_version=str(record.version), metrics=metrics, promotion=decision)
        return 0
    except Exception as exc:  # noqa: BLE001 - every failure becomes a 'failed' event
        log.error("retrain failed: %s\n%s", exc, traceback.format_exc())
        events.send("failed", reason=str(exc).splitlines()[0][:1000] if str(exc) else type(exc).__name__)
        return FAILED_AND_REPORTED


def _record_decision(run_id: str | None, decision: dict) -> None:
    if not run_id:
        return
    try:
        from tracking.backend import Backend

        client = Backend.from_env().client()
        client.set_tag(run_id, "promotion.promoted", str(decision["promoted"]).lower())
        client.set_tag(run_id, "promotion.reason", decision["reason"][:500])
    except Exception as exc:  # noqa: BLE001 - the decision is in the finished event anyway
        log.warning("could not tag the run with the promotion decision: %s", exc)


def main(argv: list[str]) -> int:
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = schemas.decode(argv[0])
    return run(command, get_settings())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
