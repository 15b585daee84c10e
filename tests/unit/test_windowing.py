"""Event-time windows: watermark, lateness, idleness, capacity, ids."""
from consumers.windowing import WindowStore, window_id
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
    p.handle(line.encode(), None, "t", 0, 0, 1_800_000_000_000, token=0, now=0)
    p.handle(b"this line has no oslo header", None, "t", 0, 1, 1_800_000_000_000, token=1, now=0)
    later = line.replace("10:00:00", "10:00:30")
    assert p.handle(later.encode(), None, "t", 0, 2, 1_800_000_000_000, token=2, now=0) == (None, [])
    assert p.windows.late_total == 0
    assert p.windows.max_event_time < 1_600_000_000
