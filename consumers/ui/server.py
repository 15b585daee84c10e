"""`rca ui`: the live incident page.

FastAPI + uvicorn, one static HTML page (no build step) and server-sent events:
- two reader threads (confluent-kafka) fold rca.incidents (latest revision per
  incident) and rca.results (windows that joined an incident, for timelines)
  into an IncidentBook;
- a third thread scrapes the workers' /metrics for the health strip;
- a fourth reads rca.feedback (operators' verdicts; refused ones skipped), so
  each incident shows its verdict and the page the precision of the last
  PRECISION_LAST incidents with one;
- GET /api/state is the whole picture as JSON, GET /api/events streams it
  again (SSE) whenever it changes, GET /healthz answers ok;
- POST /api/verdict gives a verdict from the page's buttons and its missed-fault
  form (consumers/feedback.py prepares, signs when a control secret is set, and
  publishes it, as `rca incidents confirm|reject|missed` does).

All URLs the page uses are relative, so it works behind a reverse proxy under
a path prefix (README: "The incident page").
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.request
from collections import deque
from contextlib import asynccontextmanager
from pathlib import Path

import orjson

from schemas import encode as schemas_encode
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from config.settings import Settings
from consumers.results import CAUGHT_UP, IncidentBook, read_topic

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
METRICS_EVERY = 2.0     # seconds between scrapes of the workers' /metrics
HEARTBEAT = 15.0        # seconds between SSE comments on a quiet stream (keeps proxies from closing it)
PRECISION_LAST = 50     # the page's precision: confirmed share of the last this many incidents with a verdict


class Health:
    """The health strip: figures summed over the workers' /metrics endpoints."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.figures: dict = {"workers": 0, "workers_total": len(urls)}
        self.version = 0
        self._events: deque = deque()   # (monotonic time, events consumed by all workers) of recent scrapes

    def scrape(self) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        agg: dict = {"workers": 0, "workers_total": len(self.urls), "events_per_s": 0.0, "lag": 0,
                     "dead_letters": 0, "open_windows": 0, "events": 0, "incidents_open": 0,
                     "model_version": None, "analyzer": None, "model_loaded_at": None, "errors": []}
        for url in self.urls:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - operator-given URL
                    text = resp.read().decode()
            except Exception as exc:  # noqa: BLE001 - a worker down is a figure, not a crash
                agg["errors"].append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            agg["workers"] += 1
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    self._take(agg, s.name, s.labels, s.value)
        if agg["workers"]:   # events/s over the last ~10 s of scrapes: livelier than the workers' 1-min figure
            now = time.monotonic()
            self._events.append((now, agg["events"]))
            while len(self._events) > 2 and now - self._events[0][0] > 10:
                self._events.popleft()
            (t0, e0), (t1, e1) = self._events[0], self._events[-1]
            if t1 - t0 >= 1.5 and e1 >= e0:
                agg["events_per_s"] = (e1 - e0) / (t1 - t0)
        agg["events_per_s"] = round(agg["events_per_s"], 1)
        if agg != self.figures:
            self.figures = agg
            self.version += 1

    @staticmethod
    def _take(agg: dict, name: str, labels: dict, value: float) -> None:
        sums = {"rca_events_per_second": "events_per_s", "rca_consumer_lag": "lag",
                "rca_dead_letters_total": "dead_letters", "rca_windows_open": "open_windows",
                "rca_events_consumed_total": "events", "rca_incidents_open": "incidents_open"}
        if name in sums:
            agg[sums[name]] += value
        elif name == "rca_model_info":
            agg["model_version"] = agg["model_version"] or labels.get("version") or None
            agg["analyzer"] = agg["analyzer"] or labels.get("analyzer")
        elif name == "rca_model_loaded_timestamp_seconds":
            agg["model_loaded_at"] = max(agg["model_loaded_at"] or 0, value)


class Feed:
    """The page's state, kept current by background threads."""

    def __init__(self, settings: Settings, metrics_urls: list[str] | None = None) -> None:
        self.settings = settings
        self.book = IncidentBook(recent=settings.ui.recent)
        urls = metrics_urls if metrics_urls is not None else settings.ui.metrics_urls.split(",")
        self.health = Health([u.strip() for u in urls if u.strip()])
        self.lock = threading.Lock()
        self.ready = {"incidents": False, "results": False, "feedback": False}
        self.verdicts: dict[str, dict] = {}     # incident id -> its latest accepted verdict, without its records
        self.errors: dict[str, str] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def version(self) -> tuple[int, int, int]:
        return self.book.version, self.health.version, len(self.errors)

    def start(self) -> None:
        topics = self.settings.topics
        for name, target in (("incidents", self._read_incidents), ("results", self._read_results),
                             ("feedback", self._read_feedback), ("metrics", self._scrape)):
            t = threading.Thread(target=self._guard, args=(name, target), name=f"rca-ui-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        log.info("reading %s and %s", topics.incidents, topics.results)

    def stop(self) -> None:
        self._stop.set()

    def _guard(self, name: str, target) -> None:
        """Run a reader; if the broker or topic is missing, say so on the page and retry."""
        while not self._stop.is_set():
            try:
                target()
                self.errors.pop(name, None)
                return
            except Exception as exc:  # noqa: BLE001 - shown on the page, retried
                message = str(exc).splitlines()[0][:300]
                if self.errors.get(name) != message:
                    log.warning("%s reader: %s (retrying)", name, message)
                self.errors[name] = message
                self._stop.wait(5.0)

    def _read(self, topic: str, name: str, take) -> None:
        for item in read_topic(self.settings.kafka, topic, follow=True, group_prefix=f"rca-ui-{name}",
                               stop=self._stop.is_set):
            if item is CAUGHT_UP:
                self.ready[name] = True
                self.book.version += 1
                continue
            with self.lock:
                take(item)
            self.errors.pop(name, None)

    def _read_incidents(self) -> None:
        self._read(self.settings.topics.incidents, "incidents", self.book.add)

    def _read_results(self) -> None:
        self._read(self.settings.topics.results, "results", self.book.add_window)

    def _read_feedback(self) -> None:
        from consumers.feedback import VerdictValidator

        validator = VerdictValidator(self.settings.control)
        self._read(self.settings.topics.feedback, "feedback",
                   lambda v: self.take_verdict(v) if validator.check(schemas_encode(v)).accepted else None)

    def take_verdict(self, verdict: dict) -> None:
        """Keep an accepted verdict (the latest of its incident, by time given)."""
        if not isinstance(verdict, dict) or "incident_id" not in verdict:
            return
        known = self.verdicts.get(verdict["incident_id"])
        if known is None or (verdict.get("at") or "") >= (known.get("at") or ""):
            self.verdicts[verdict["incident_id"]] = {k: v for k, v in verdict.items()
                                                     if k not in ("evidence", "signature")}
            self.book.version += 1

    def verdict_summary(self) -> dict:
        from consumers.feedback import counts, precision

        given = sorted(self.verdicts.values(), key=lambda v: v.get("at") or "")
        return {"counts": counts(given), "precision": precision(given, PRECISION_LAST), "last": PRECISION_LAST,
                "judged": min(sum(1 for v in given if v["verdict"] != "missed"), PRECISION_LAST),
                "missed": [v for v in given if v["verdict"] == "missed"][-20:]}

    def give_verdict(self, body: dict) -> dict:
        """Prepare and publish a verdict from the page (blocking: Kafka reads and a produce)."""
        from config.timeparse import parse_time
        from consumers.feedback import VerdictError, prepare, publish_verdict

        kind = body.get("verdict")
        args = {"by": body.get("by") or "incident page", "note": body.get("note"), "cause": body.get("cause") or None}
        if kind == "missed":
            try:
                args.update(start=parse_time(str(body.get("start") or "")), end=parse_time(str(body.get("end") or "")))
            except ValueError as exc:
                raise VerdictError(str(exc)) from None
            args.update(host=body.get("host") or None, service=body.get("service") or None)
        else:
            iid = str(body.get("incident_id") or "")
            with self.lock:
                incident = self.book.incidents.get(iid)
            args.update(incident_id=iid, incident=incident)
        sent = publish_verdict(self.settings, prepare(self.settings, str(kind), **args))
        with self.lock:
            self.take_verdict(sent)
        return {"ok": True, "verdict_id": sent["verdict_id"], "incident_id": sent["incident_id"],
                "records": len(sent.get("evidence") or []), "signed": "signature" in sent}

    def _scrape(self) -> None:
        while not self._stop.is_set():
            self.health.scrape()
            self._stop.wait(METRICS_EVERY)

    def state(self) -> dict:
        with self.lock:
            incidents = [{**i, "timeline": self.book.timeline(i), "verdict": self.verdicts.get(i["incident_id"])}
                         for i in self.book.ordered()]
            verdicts = self.verdict_summary()
        return {"incidents": incidents, "verdicts": verdicts, "health": self.health.figures, "ready": dict(self.ready),
                "errors": dict(self.errors), "topics": {"incidents": self.settings.topics.incidents,
                                                       "results": self.settings.topics.results},
                "now": time.time()}


def create_app(feed: Feed) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        feed.start()
        yield
        feed.stop()

    app = FastAPI(title="openstack-rca incidents", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    page = (STATIC / "index.html").read_text()

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"ok": True, "ready": feed.ready, "errors": feed.errors}

    @app.get("/api/state")
    async def state() -> Response:
        return Response(orjson.dumps(feed.state()), media_type="application/json")

    @app.post("/api/verdict")
    async def verdict(request: Request) -> JSONResponse:
        from consumers.feedback import VerdictError

        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body is not a JSON object"}, status_code=400)
        try:
            result = await asyncio.get_running_loop().run_in_executor(None, feed.give_verdict, body)
        except VerdictError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except Exception as exc:  # noqa: BLE001 - the broker or MLflow said no: the page shows why
            log.warning("verdict from the page failed: %s", exc)
            return JSONResponse({"error": str(exc).splitlines()[0][:300]}, status_code=502)
        return JSONResponse(result)

    @app.get("/api/events")
    async def events() -> StreamingResponse:
        async def stream():
            sent, quiet = None, 0.0
            while True:
                if feed.version != sent:
                    sent = feed.version
                    quiet = 0.0
                    yield b"event: state\ndata: " + orjson.dumps(feed.state()) + b"\n\n"
                elif quiet >= HEARTBEAT:
                    quiet = 0.0
                    yield b": keep-alive\n\n"
                await asyncio.sleep(0.5)
                quiet += 0.5

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app


def run(settings: Settings, host: str, port: int, metrics_urls: list[str] | None = None) -> None:
    """Serve the page until interrupted (blocking)."""
    import uvicorn

    feed = Feed(settings, metrics_urls)
    # SSE streams never end by themselves: give open pages 2 s on shutdown, then close them
    uvicorn.run(create_app(feed), host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=2)
