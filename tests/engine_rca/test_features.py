from schemas.log_event import Frame, LogEvent

from engine.rca.features import NormalProfile, code_path, run_features, signature, RUN_FEATURES


def ev(msg, level="INFO", logger="nova.compute.manager", **kw):
    return LogEvent(message=msg, raw=msg, level=level, logger=logger, **kw)


def test_signature_masks_tokens_with_digits_and_instance_prefix():
    a = signature(ev("[instance: 0a9deb62-4fb2-432d-82da-9bdfab90e7bc] Took 12.5 seconds to spawn"))
    b = signature(ev("Took 3.1 seconds to spawn"))
    assert a == b == "INFO|nova.compute.manager|Took <*> seconds to spawn"
    assert signature(ev("x", level="ERROR")) != signature(ev("x", level="INFO"))


def test_code_path_from_frames_and_quoted_remote_traceback():
    site = "/usr/lib/python2.7/site-packages/"
    e = ev("boom", frames=[Frame(site + "nova/compute/manager.py", 1, "a"),
                           Frame(site + "nova/compute/manager.py", 2, "b"),
                           Frame(site + "oslo_messaging/rpc/client.py", 3, "c"),
                           Frame(site + "nova/virt/libvirt/driver.py", 4, "d")])
    assert code_path(e) == ["nova.compute.manager", "nova.virt.libvirt.driver"]
    quoted = ev("Error from last host: [u'Traceback (most recent call last):\\n', u'  File "
                '"/usr/lib/python2.7/site-packages/nova/compute/manager.py", line 1, in f\\n\']')
    assert code_path(quoted) == ["nova.compute.manager"]


def test_profile_expected_and_missing_share():
    runs = [[ev("step one"), ev("step two")] for _ in range(10)]
    prof = NormalProfile.fit(runs)
    assert prof.expected == {signature(ev("step one")), signature(ev("step two"))}
    assert prof.share(signature(ev("step one"))) == 1.0
    assert prof.rarity(signature(ev("never seen"))) > prof.rarity(signature(ev("step one")))
    x = dict(zip(RUN_FEATURES, run_features([ev("step one")], prof)))
    assert x["missing_expected"] == 0.5
    w = dict(zip(RUN_FEATURES, run_features([ev("step one")], prof, completeness=False)))
    assert w["missing_expected"] == 0.0


def test_novel_errors_counted_once_per_signature():
    prof = NormalProfile.fit([[ev("ok")]] * 5)
    errs = [ev("disk 1 failed", level="ERROR"), ev("disk 2 failed", level="ERROR")]
    x = dict(zip(RUN_FEATURES, run_features(errs, prof)))
    assert x["log_error_sigs_novel"] == __import__("math").log1p(1)
    assert x["log_errors"] == __import__("math").log1p(2)
