"""Event-time windows: watermark, lateness, idleness, capacity, ids."""
import orjson

from consumers.windowing import DUPLICATE, WindowStore, published_key, window_id
from engine.sessions import session_key


def store(**kw):
    base = dict(size=60.0, lateness=10.0, idle_timeout=5.0, max_open=100, max_items=1000)
    base.update(kw)
    return WindowStore(**base)


def test_window_closes_when_watermark_passes_its_end():
    s = store()
    assert s.add("k", 5.0, "a", 1, now=0) == []
    assert s.add("k", 65.0, "b", 2, now=0) == []          # watermark 55 < end 60
    closed = s.add("k", 71.0, "c", 3, now=0)              # watermark 61 >= 60
    assert [(w.key, w.start, w.items, w.tokens, w.closed_by) for w in closed] == [("k", 0.0, ["a"], [1], "watermark")]
    assert len(s) == 1


def test_windows_are_per_key():
    s = store()
    s.add("a", 1.0, 1, 1, now=0)
    s.add("b", 2.0, 2, 2, now=0)
    closed = s.add("a", 200.0, 3, 3, now=0)
    assert sorted(w.key for w in closed) == ["a", "b"]


def test_late_event_goes_to_next_open_window_of_its_key_and_is_counted():
    s = store()
    s.add("k", 5.0, "a", 1, now=0)
    s.add("k", 125.0, "b", 2, now=0)   # closes [0,60)
    s.add("k", 7.0, "late", 3, now=0)  # its window is closed -> open window [120,180)
    closed = s.close_all("shutdown")
    assert [(w.start, w.items, w.late_count, w.event_count) for w in closed] == [(120.0, ["b", "late"], 1, 2)]
    assert s.late_total == 1


def test_late_event_without_open_window_never_reuses_a_closed_id():
    s = store()
    s.add("k", 5.0, "a", 1, now=0)
    first = s.add("other", 500.0, "x", 2, now=0)
    assert [w.key for w in first] == ["k"]
    s.add("k", 6.0, "late", 3, now=0)
    ids = {w.id for w in first} & {w.id for w in s.close_all("shutdown")}
    assert ids == set()


def test_idle_timeout_closes_everything_only_after_quiet_period():
    s = store()
    s.add("k", 5.0, "a", 1, now=100.0)
    assert s.expire_idle(now=104.0) == []
    closed = s.expire_idle(now=105.5)
    assert [w.closed_by for w in closed] == ["idle"] and len(s) == 0


def test_capacity_flushes_oldest_first():
    s = store(max_open=2, lateness=10_000)
    s.add("a", 1.0, 1, 1, now=0)
    s.add("b", 61.0, 2, 2, now=0)
    closed = s.add("c", 121.0, 3, 3, now=0)
    assert [(w.key, w.closed_by) for w in closed] == [("a", "capacity")]


def test_items_are_capped_but_every_event_is_counted_and_acked():
    s = store(max_items=2)
    for i in range(5):
        s.add("k", float(i), i, i, now=0)
    (w,) = s.close_all("shutdown")
    assert w.items == [0, 1] and w.event_count == 5 and w.tokens == [0, 1, 2, 3, 4]


def test_window_id_is_deterministic_and_distinct():
    assert window_id("k", 60.0) == window_id("k", 60.0)
    assert window_id("k", 60.0) != window_id("k", 120.0) != window_id("j", 60.0)
    assert window_id("k", 0.0).startswith("w-") and len(window_id("k", 0.0)) == 26


def test_session_key_prefers_instance_then_request_then_service_host():
    assert session_key("i", "r", "s", "h") == "i"
    assert session_key(None, "r", "s", "h") == "r"
    assert session_key(None, None, "nova-api", None) == "nova-api@unknown"


def test_events_without_time_join_the_stream_present_not_the_wall_clock():
    from config.settings import WorkerSettings
    from consumers.pipeline import Pipeline

    line = "2019-08-01 10:00:00.000 1 INFO nova.compute.manager [-] Starting instance"
    p = Pipeline(WorkerSettings(window_seconds=60, allowed_lateness_seconds=5))
    p.handle(line.encode(), None, 0, 0, 1_800_000_000_000, now=0)
    p.handle(b"this line has no oslo header", None, 0, 1, 1_800_000_000_000, now=0)
    later = line.replace("10:00:00", "10:00:30")
    out = p.handle(later.encode(), None, 0, 2, 1_800_000_000_000, now=0)
    assert (out.rejected, out.closed) == ([], [])
    assert p.windows.late_total == 0
    assert p.windows.stream_time(0) < 1_600_000_000


# -- partitions: each has its own stream time, so interleaving never changes a window -------

def test_a_partition_behind_the_others_is_not_late():
    s = store()
    s.add("k", 1000.0, "p0", 1, now=0, partition=0)
    s.add("k", 5.0, "p1", 2, now=0, partition=1)       # far behind partition 0: not late in its own partition
    assert s.late_total == 0
    assert s.watermark == 5.0 - 10.0                     # the minimum over partitions, for metrics
    closed = s.close_all("shutdown")
    assert sorted((w.partition, w.start) for w in closed) == [(0, 960.0), (1, 0.0)]
    assert closed[0].id != closed[1].id


def test_idle_timeout_closes_only_the_quiet_partition():
    s = store()
    s.add("k", 5.0, "a", 1, now=100.0, partition=0)
    s.add("k", 5.0, "b", 2, now=104.0, partition=1)
    closed = s.expire_idle(now=105.5)
    assert [(w.partition, w.closed_by) for w in closed] == [(0, "idle")] and len(s) == 1


def _windows_of(store_, arrivals):
    out = []
    for partition, offset, key, ts in arrivals:
        out.extend(store_.add(key, ts, (partition, offset), (partition, offset), now=0, partition=partition,
                              offset=offset))
    out.extend(store_.close_all("shutdown"))
    return {(w.id, tuple(w.items), w.late_count) for w in out}


def _partitioned_streams(draw_events):
    """Per-partition event lists (offset order) from a list of (partition, key, ts)."""
    streams: dict[int, list] = {}
    for partition, key, ts in draw_events:
        streams.setdefault(partition, []).append((partition, len(streams.get(partition, [])), key, ts))
    return streams


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

EVENTS = st.lists(st.tuples(st.integers(0, 3), st.sampled_from("abc"), st.floats(0, 240, allow_nan=False)),
                  max_size=40)


@hsettings(max_examples=200, deadline=None)
@given(EVENTS, st.randoms(use_true_random=False))
def test_backlog_interleaving_gives_the_same_windows_as_an_in_order_pass(events, rnd):
    """A backlog read partition by partition, in any interleaving, equals one partition after
    another: the windows (ids, contents in order, late counts) never depend on the interleaving."""
    streams = _partitioned_streams(events)
    in_order = [e for p in sorted(streams) for e in streams[p]]
    cursors = {p: 0 for p in streams}
    shuffled = []
    while cursors:
        p = rnd.choice(sorted(cursors))
        shuffled.append(streams[p][cursors[p]])
        cursors[p] += 1
        if cursors[p] == len(streams[p]):
            del cursors[p]
    assert _windows_of(store(max_open=10_000), shuffled) == _windows_of(store(max_open=10_000), in_order)


@hsettings(max_examples=300, deadline=None)
@given(EVENTS, st.data())
def test_after_a_crash_every_event_is_in_exactly_one_window_and_an_id_always_means_the_same(events, data):
    """Crash at any point. Windows closed before it were recorded (the changelog-backed table),
    though a record may not have reached the broker; of the recorded ones, some results got out
    (their inputs acked), some not. Kafka re-delivers every offset after the commit (the first not
    acked) to a fresh worker. In the end every event is in exactly one window id, and a window id
    published twice stands for the same events."""
    streams = _partitioned_streams(events)
    arrivals = [e for p in sorted(streams) for e in streams[p]]
    published: dict[str, dict] = {}
    s1 = store(published=published)
    crash_at = data.draw(st.integers(0, len(arrivals)))
    closed = []
    clock = [0.0]

    def tick(s) -> list:
        """Wall-clock time passes between events (a busy worker, a broker outage): idle partitions
        close their windows, whatever is being rebuilt."""
        clock[0] += data.draw(st.sampled_from([0.0, 0.0, 1.0, 6.0]))
        return s.expire_idle(clock[0])

    for partition, offset, key, ts in arrivals[:crash_at]:
        closed.extend(tick(s1))
        closed.extend(s1.add(key, ts, (partition, offset), None, now=clock[0], partition=partition, offset=offset))
    lost = set()
    for w in closed:   # a record that never reached the broker: its result was not sent either
        if data.draw(st.booleans()) and data.draw(st.booleans()):
            del published[published_key(w.partition, w.id)]
            lost.add(w.id)
    delivered = [w for w in closed if w.id not in lost and data.draw(st.booleans())]
    acked = {(p, o) for w in delivered for p, o in w.items}
    commit = {p: next((o for _, o, _, _ in streams[p] if (p, o) not in acked), len(streams[p])) for p in streams}
    s2 = store(published=published)
    second = []
    for partition, offset, key, ts in arrivals:
        if offset >= commit[partition]:
            second.extend(tick(s2))
            r = s2.add(key, ts, (partition, offset), None, now=clock[0], partition=partition, offset=offset)
            if r is not DUPLICATE:
                second.extend(r)
    second.extend(s2.close_all("shutdown"))
    contents: dict[str, set] = {}
    for w in delivered + second:
        contents.setdefault(w.id, set()).add(tuple(sorted(w.items)))
    assert all(len(c) == 1 for c in contents.values()), "an id always stands for the same events"
    seen = sorted(item for c in contents.values() for items in c for item in items)
    assert seen == sorted((p, o) for p, o, _, _ in arrivals)


def test_a_recorded_window_comes_back_the_same_after_a_crash_and_an_acked_one_is_a_duplicate():
    published: dict[str, dict] = {}
    s1 = store(published=published)
    s1.add("a", 65.0, "a", None, now=0, offset=0)        # window [60,120), stays open
    s1.add("b", 59.0, "b", None, now=0, offset=1)        # window [0,60)
    (b,) = s1.add("c", 75.0, "c", None, now=0, offset=2)  # closes b's window only: recorded
    # crash: offset 0 was never acked, so Kafka re-delivers 0, 1 and 2 to a fresh worker
    s2 = store(published=published)
    assert s2.add("a", 65.0, "a", None, now=0, offset=0) == []
    (again,) = s2.add("b", 59.0, "b", None, now=0, offset=1)   # b's window, rebuilt at once
    assert (again.id, again.items, again.closed_by) == (b.id, ["b"], "watermark")
    s2.add("c", 75.0, "c", None, now=0, offset=2)
    s2.add("b", 59.5, "b-new", None, now=0, offset=3)     # a new event of that window: late, another id
    rest = s2.close_all("shutdown")
    assert b.id not in {w.id for w in rest}
    assert sorted(i for w in rest for i in w.items) == ["a", "b-new", "c"]
    # had b's window been acked (its offsets below the commit, here 2), a re-read offset is a duplicate
    acked = {published_key(0, b.id): {**published[published_key(0, b.id)], "offsets": [[1, 1], [4, 4]]}}
    s3 = store(published=acked)
    s3.add("x", 1.0, "x", None, now=0, offset=2)
    assert s3.add("b", 59.0, "b", None, now=0, offset=4) is DUPLICATE


def test_a_new_event_of_a_recorded_window_before_any_stream_time_goes_to_the_next_window():
    """After a restart the partition has no stream time yet; an event whose window was recorded
    before the crash (and whose offset is not in it) opens the next window (found by Hypothesis:
    this overflowed on -inf)."""
    published: dict[str, dict] = {}
    s1 = store(published=published)
    s1.add("b", 0.0, "b", None, now=0, offset=0)
    (b,) = s1.add("c", 130.0, "c", None, now=0, offset=1)   # closes b's window [0,60): recorded
    s2 = store(published=published)
    assert s2.add("b", 0.0, "b-new", None, now=0, offset=2) == []
    (w,) = [w for w in s2.close_all("shutdown") if w.items == ["b-new"]]
    assert w.id != b.id and w.start == 60.0


def test_pipeline_turns_an_unexpected_failure_into_an_internal_error_and_goes_on(monkeypatch):
    from config.settings import WorkerSettings
    from consumers.pipeline import Pipeline

    p = Pipeline(WorkerSettings())
    line = b"2019-08-01 10:00:00.000 1 INFO nova.compute.manager [-] Starting instance"
    monkeypatch.setattr(p.miner, "add", lambda message: 1 / 0)
    out = p.handle(line, None, 0, 7, None, now=0)
    assert [(r.reason, raw) for r, raw in out.rejected] == [("internal_error", line)]
    assert "ZeroDivisionError" in out.rejected[0][0].error
    monkeypatch.undo()
    assert p.handle(line, None, 0, 8, None, now=0).rejected == []
    assert p.counters.dead_letters["internal_error"] == 1


class _Event:
    acked = 0

    def ack(self):
        self.acked += 1


def test_a_message_is_acked_once_after_all_its_windows_and_letters_are_released():
    from config.settings import WorkerSettings
    from consumers.pipeline import Pipeline

    p = Pipeline(WorkerSettings())
    lines = [f"2019-08-01 10:00:0{i}.000 1 INFO nova.compute.manager [req-{i}] hello {i}" for i in range(3)]
    envelope = orjson.dumps({"schema_version": 1, "records": lines + ["", "\x00"]})
    ev = _Event()
    out = p.handle(envelope, None, 0, 0, None, event=ev, now=0)
    assert len(out.rejected) == 2
    out.token.release()                                   # the handler's own hold
    for _ in out.rejected:
        assert ev.acked == 0
        out.token.release()                               # a dead letter delivered
    windows = p.windows.close_all("shutdown")
    assert len(windows) == 3
    for w in windows:
        assert ev.acked == 0
        for t in w.tokens:
            t.release()
    assert ev.acked == 1


def test_a_traceback_sent_line_by_line_is_one_event_acked_with_its_window():
    from config.settings import WorkerSettings
    from consumers.pipeline import Pipeline
    from tests.unit.test_ingest import KEY, TRACEBACK

    p = Pipeline(WorkerSettings())
    events = []
    for offset, line in enumerate(TRACEBACK.splitlines()[:7]):
        ev = _Event()
        events.append(ev)
        out = p.handle(line.encode(), KEY, 0, offset, None, event=ev, now=0)
        assert (out.rejected, out.closed) == ([], [])
        out.token.release()
    (window,) = p.windows.close_all("shutdown")
    (item,) = window.items
    assert window.event_count == 1 and item.event.exception_type and len(item.event.frames) == 2
    assert not any(e.acked for e in events)
    for t in window.tokens:
        t.release()
    assert all(e.acked == 1 for e in events)


def test_a_line_by_line_traceback_redelivered_after_a_crash_comes_back_the_same():
    from config.settings import WorkerSettings
    from consumers.pipeline import Pipeline
    from tests.unit.test_ingest import KEY, TRACEBACK

    lines = TRACEBACK.splitlines()[:7]
    published: dict[str, dict] = {}
    first = Pipeline(WorkerSettings(), published=published)
    for offset, line in enumerate(lines):
        first.handle(line.encode(), KEY, 0, offset, None, now=0)
    (window,) = first.windows.close_all("shutdown")
    again = Pipeline(WorkerSettings(), published=published)     # restart: all offsets come again
    closed = []
    for offset, line in enumerate(lines):
        out = again.handle(line.encode(), KEY, 0, offset, None, now=0)
        assert out.rejected == []
        closed.extend(out.closed)
    (rebuilt,) = closed
    assert rebuilt.id == window.id and rebuilt.event_count == 1 and len(rebuilt.tokens) == 7
    assert rebuilt.items[0].event.frames == window.items[0].event.frames
    assert len(again.windows) == 0


def test_messages_are_acked_in_offset_order_per_partition():
    """faust-streaming commits the first run of acked offsets even past a gap when nothing was
    committed yet; acking in order per partition keeps every commit below the open windows."""
    from consumers.pipeline import AckGate, AckToken

    order = []

    class Ev:
        def __init__(self, name):
            self.name = name

        def ack(self):
            order.append(self.name)

    gate = AckGate()
    a, b, c = (AckToken(Ev(n), gate, 0) for n in "abc")
    other = AckToken(Ev("x"), gate, 1)
    c.release()                 # the newest is done first: nothing may be acked yet
    b.release()
    assert order == []
    other.release()             # another partition does not wait for this one
    a.release()
    assert order == ["x", "a", "b", "c"]


# -- staggered windows (RCA_WORKER_WINDOW_STAGGERED): each key's windows start at its own offset ----
from engine.sessions import window_offset, window_start  # noqa: E402


@given(st.text(min_size=1, max_size=40), st.floats(0, 4e9), st.sampled_from([1.0, 10.0, 60.0, 300.0]))
def test_a_staggered_window_holds_its_time_and_tiles_its_key(key, ts, size):
    start = window_start(key, ts, size, staggered=True)
    assert start <= ts < start + size * (1 + 1e-12)
    assert 0.0 <= window_offset(key, size) < size
    # the next window of the key starts where this one ends
    assert abs(window_start(key, start + size + size / 2, size, staggered=True) - (start + size)) < 1e-6 * max(1.0, start)
    assert window_start(key, ts, size) == (ts // size) * size


def test_offsets_spread_keys_over_the_period():
    offsets = {window_offset(f"req-{i}", 60.0) for i in range(200)}
    assert len(offsets) > 150
    assert min(offsets) < 6.0 and max(offsets) > 54.0


def test_staggered_windows_of_different_keys_close_at_different_watermarks():
    s = store(staggered=True, lateness=0.0)
    keys = [f"req-{i}" for i in range(50)]
    for i, k in enumerate(keys):
        s.add(k, 1000.0 + i * 1e-3, k, i, now=0)
    closes = []
    t = 1000.1
    while len(s) and t < 1200:
        closed = s.add("tick", t, "t", -1, now=0)
        closes.extend((t, w.key) for w in closed if w.key != "tick")
        t += 1.0
    assert sorted(k for _, k in closes) == sorted(keys)
    assert len({round(at) for at, _ in closes}) > 20   # not all at one boundary
    for at, key in closes:                              # each when the watermark passed its own end
        end = window_start(key, 1000.0, 60.0, staggered=True) + 60.0
        assert end <= at < end + 1.0


@given(st.text(min_size=1, max_size=20), st.floats(1e9, 2e9), st.integers(1, 5))
def test_a_late_event_joins_the_staggered_window_that_holds_its_slot(key, ts, later):
    """A late event and an on-time event of the same slot share one window: one id, one window."""
    s = store(staggered=True, lateness=0.0)
    first = window_start(key, ts, 60.0, staggered=True)
    s.add(key, first + 60.0 * later + 1.0, "now", 1, now=0)          # opens a later window of the key
    s.add("other", first + 60.0 * (later + 1) + 30.0, "x", 2, now=0)  # the watermark passes it ...
    s.add(key, first + 1.0, "late", 3, now=0)                         # ... so this one is late
    s.add(key, first + 60.0 * (later + 1) + 40.0, "on time", 4, now=0)
    windows = s.close_all("shutdown")
    ids = [w.id for w in windows]
    assert len(ids) == len(set(ids)), [(w.key, repr(w.start), w.items) for w in windows]


def test_a_rebuild_slower_than_the_idle_timeout_goes_out_once_whole_and_as_recorded():
    """After a crash a worker reads back thousands of recorded offsets; rebuilding one window can
    take longer than the idle timeout while new windows of its partition are open. It is published
    once, with all its events and its record (it went out early from part of its events, and again
    from the rest, each copy naming other templates: one way to the differing copies the chaos
    test once found)."""
    published: dict[str, dict] = {}
    s1 = store(published=published, describe=lambda w: {"templates": sorted(w.items)})
    s1.add("a", 65.0, "a", None, now=0, offset=0)           # [60,120), open at the crash
    s1.add("b", 59.0, "b1", None, now=0, offset=1)          # [0,60)
    s1.add("b", 59.5, "b2", None, now=0, offset=2)
    (b,) = s1.add("c", 75.0, "c", None, now=0, offset=3)    # closes b's window: recorded
    s2 = store(published=published, describe=lambda w: {"templates": sorted(w.items)})
    assert s2.add("a", 65.0, "a", "t0", now=0, offset=0) == []
    assert s2.add("b", 59.0, "b1", "t1", now=6, offset=1) == []   # the rebuild starts, 6 s in
    assert s2.expire_idle(now=10) == []        # input keeps coming: no partition is idle
    assert [w.id for w in s2.expire_idle(now=30)] == [window_id("a", 60.0)]   # idle: not the rebuild
    (again,) = s2.add("b", 59.5, "b2", "t2", now=31, offset=2)
    assert (again.id, again.items, again.event_count, again.record) == (b.id, ["b1", "b2"], 2,
                                                                         published[published_key(0, b.id)])
    assert all(w.id != b.id for w in s2.close_all("shutdown"))


def test_a_rebuild_whose_missing_offsets_were_passed_goes_out_as_recorded():
    """A partition is read in order: once it was read past a rebuilt window's last offset, what is
    missing never comes (retention, a skipped record); the window goes out as its record says,
    so its copy equals the first, and the inputs that came back are acked."""
    published: dict[str, dict] = {}
    s1 = store(published=published)
    s1.add("b", 59.0, "b1", None, now=0, offset=1)
    s1.add("b", 59.5, "b2", None, now=0, offset=2)
    (b,) = s1.add("c", 75.0, "c", None, now=0, offset=3)
    s2 = store(published=published)
    s2.add("b", 59.0, "b1", "t1", now=0, offset=1)          # offset 2 never comes back
    assert s2.expire_idle(now=1) == []                     # not passed yet: it waits
    s2.add("c", 75.0, "c", "t3", now=1, offset=3)
    (again,) = [w for w in s2.expire_idle(now=1) if w.id == b.id]
    assert (again.event_count, again.tokens, again.record) == (2, ["t1"], published[published_key(0, b.id)])


def test_after_a_rebalance_a_traceback_read_again_is_one_event_again_and_acked():
    """Faust seeks back to the commit at a rebalance; a traceback open then comes again line by
    line and must make the window a fresh worker makes (it joined the dropped window's record:
    no event, messages never acked, the partition's commit stuck)."""
    from config.settings import WorkerSettings
    from consumers.pipeline import Pipeline
    from tests.unit.test_ingest import KEY, TRACEBACK

    lines = TRACEBACK.splitlines()[:7]
    p = Pipeline(WorkerSettings())
    for offset, line in enumerate(lines):
        p.handle(line.encode(), KEY, 0, offset, None, event=_Event(), now=0).token.release()
    assert len(p.windows) == 1
    assert len(p.rebalance()) == 1                  # the open window is dropped; its events come again
    events = []
    for offset, line in enumerate(lines):
        events.append(ev := _Event())
        p.handle(line.encode(), KEY, 0, offset, None, event=ev, now=0).token.release()
    (window,) = p.windows.close_all("shutdown")
    fresh = Pipeline(WorkerSettings())
    for offset, line in enumerate(lines):
        fresh.handle(line.encode(), KEY, 0, offset, None, now=0)
    (expected,) = fresh.windows.close_all("shutdown")
    assert (window.id, window.event_count, len(window.items[0].event.frames)) == \
        (expected.id, expected.event_count, len(expected.items[0].event.frames))
    for t in window.tokens:
        t.release()
    assert all(e.acked == 1 for e in events)
