"""The retraining job, run in its own process by the worker's control agent.

`python -m consumers.trainer '<command JSON>'` reads the requested data and the operators'
verdicts (rca.feedback), trains a bundle, tracks and registers it as `challenger`, lets the
gate (tracking/gate.py) compare it with `production`, promotes it unless it is worse (or when
`auto_promote` says so), and publishes each step to rca.control.events. A topic source is read
by timestamp (offsets for times), never from files left on disk.

A retrain never starts from nothing while there is a production bundle: it extends what that
bundle learned (engine.training.retrain: its labelled runs and past verdicts, kept in the
bundle) with the verdicts given since, and refreshes what normal looks like from the requested
events. Trained from the events alone (every one taken as fault-free), a bundle detects nothing
(dev set: detection F1 1.000 -> 0.000); `fresh: true` still asks for that, and the gate judges it.
The latest verdicts are held back for the gate once there are enough of them
(RCA_CONTROL_MIN_VERDICTS_TO_HOLD, RCA_CONTROL_VERDICT_HOLDOUT_FRACTION).
"""
from __future__ import annotations

import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
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
    from engine.training import TrainingData, retrain, train
    from tracking.api import load_model, track_training
    from tracking.gate import decide
    from tracking.registry import Registry

    from consumers.feedback import counts, read_verdicts, split_verdicts, to_lessons

    params = command["params"]
    events = Events(settings, command["command_id"])
    events.send("started", detail=f"source {params['source']}")
    try:
        data = read_source(settings, params, parse_time(command["issued_at"]))
        if len(data) < 50:
            raise RuntimeError(f"only {len(data)} log events in the requested source; need at least 50")
        fit, held = holdout_split(data, settings.control.holdout_fraction)
        try:
            production = load_model("production")
        except Exception as exc:  # noqa: BLE001 - no production yet: the challenger wins by default
            log.info("no production model to compare with: %s", exc)
            production = None
        verdicts = read_verdicts(settings)
        learn, held_back = split_verdicts(verdicts, settings.control)
        events.send("progress", progress=0.1, detail=f"{len(data)} events ({len(held)} held back), "
                                                     f"{len(verdicts)} verdicts ({len(held_back)} held back)")
        epochs = params.get("epochs", 3)

        def progress(stage: str, frac: float) -> None:
            events.send("progress", progress=round(0.1 + 0.7 * frac, 3), detail=stage)

        fresh = bool(params.get("fresh")) or production is None
        if fresh:
            learn = []
            bundle = train(TrainingData(runs=[fit], names=[params["source"]], labels=[False], root_causes=[None],
                                        lines=len(fit)), epochs=epochs, progress=progress)
        else:
            learn = [v for v in learn if v.get("evidence")]     # a verdict without records teaches nothing
            learned = to_lessons(learn)
            bundle = retrain(production.bundle, fit, learned, epochs=epochs, progress=progress)
        challenger = deviation_ratio(bundle, held)
        champion = deviation_ratio(production.bundle, held) if production is not None else None
        labelled = None
        if production is not None and (score := labelled_score(settings, bundle)) is not None:
            labelled = (score, labelled_score(settings, production.bundle))
        margin = settings.control.promotion_margin
        decision = decide(bundle, production.bundle if production is not None else None, to_lessons(held_back),
                          margin, (challenger, champion), labelled)
        metrics = {"holdout_deviation_ratio": challenger, "events": float(len(data)), "epochs": float(epochs),
                   **decision.metrics()}
        if labelled is not None:
            metrics.update(labelled_score=labelled[0], production_labelled_score=labelled[1])
        n_learn, n_held = counts(learn), counts(held_back)
        run_params = {"command_id": command["command_id"], "source": params["source"], "epochs": epochs,
                      "warm_start": not fresh,
                      "base_model_version": production.version if production is not None and not fresh else None,
                      **{f"verdicts_{k}": n for k, n in n_learn.items()},
                      **{f"verdicts_held_{k}": n for k, n in n_held.items()}}
        metrics.update({f"verdicts_{k}": float(n) for k, n in n_learn.items()})
        promote = bool(params.get("auto_promote")) or decision.promote
        record = track_training(bundle, params=run_params, metrics=metrics,
                                history=bundle.metadata.get("loss_curve"), production_if_none=False)
        if record.version is None:
            raise RuntimeError(f"the model was not registered ({record.skipped_reason or 'tracking failed'})")
        reason = ("auto_promote (" + decision.reason + ")" if params.get("auto_promote") and not decision.promote
                  else decision.reason)
        if promote:
            Registry().promote(record.version)
        result = {"promoted": promote, "reason": reason, "challenger_version": record.version,
                  "production_version": production.version if production is not None else None,
                  "warm_start": not fresh, "verdicts": n_learn, "verdicts_held": n_held}
        _record_decision(record.run_id, result, learned_ids=[v["incident_id"] for v in learn],
                         held_ids=[v["incident_id"] for v in held_back])
        events.send("finished", run_id=record.run_id or "", run_name=record.run_name,
                    model_version=str(record.version), metrics=metrics, promotion=result)
        return 0
    except Exception as exc:  # noqa: BLE001 - every failure becomes a 'failed' event
        log.error("retrain failed: %s\n%s", exc, traceback.format_exc())
        events.send("failed", reason=str(exc).splitlines()[0][:1000] if str(exc) else type(exc).__name__)
        return FAILED_AND_REPORTED


MAX_TAG_CHARS = 5000   # MLflow keeps tag values up to 8000 characters


def _record_decision(run_id: str | None, decision: dict, learned_ids: Sequence[str] = (),
                     held_ids: Sequence[str] = ()) -> None:
    """Tag the run with the decision and the incidents whose verdicts it learned from (and those
    held back for the gate): what this model version learned, read with `rca models show`."""
    if not run_id:
        return
    try:
        from tracking.backend import Backend

        client = Backend.from_env().client()
        client.set_tag(run_id, "promotion.promoted", str(decision["promoted"]).lower())
        client.set_tag(run_id, "promotion.reason", decision["reason"][:500])
        client.set_tag(run_id, "learned.verdict_incidents", _id_list(learned_ids))
        client.set_tag(run_id, "learned.held_back_incidents", _id_list(held_ids))
    except Exception as exc:  # noqa: BLE001 - the decision is in the finished event anyway
        log.warning("could not tag the run with the promotion decision: %s", exc)


def _id_list(ids: Sequence[str]) -> str:
    text = ",".join(ids)
    if len(text) <= MAX_TAG_CHARS:
        return text
    cut = text[:MAX_TAG_CHARS].rsplit(",", 1)[0]
    return f"{cut},... ({len(ids)} in all)"


def main(argv: list[str]) -> int:
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = schemas.decode(argv[0])
    return run(command, get_settings())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
