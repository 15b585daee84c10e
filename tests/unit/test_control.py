"""Control commands: schema, signatures, sources, bounds, duplicates."""
import orjson
import pytest

from config.settings import ControlSettings
from consumers.control import DUPLICATE, CommandValidator
from schemas import control as signing

NOW = 1_800_000_000.0


def cmd(cid="cmd-0000000001", **params):
    return {"schema_version": 1, "command_id": cid, "command": "retrain", "issued_at": "2027-01-15T08:00:00Z",
            "params": {"source": "topic:openstack.logs", "since": "2h", **params}}


def check(validator, command):
    return validator.check(orjson.dumps(command), now=NOW)


def test_valid_command_is_accepted_once_then_ignored_as_duplicate():
    v = CommandValidator(ControlSettings())
    assert check(v, cmd()).accepted
    assert check(v, cmd()).reason == DUPLICATE


@pytest.mark.parametrize("command,reason", [
    (cmd(source="topic:secrets"), "source not allowed"),
    (cmd(source="/etc"), "source not allowed"),
    (cmd(source="s3://other-bucket/x"), "source not allowed"),
    (cmd(epochs=80), "above the limit"),
    (cmd(since="30d"), "time range above the limit"),
    (cmd(since="1h", until="2h"), "until must be after"),
    (cmd(since="yesterday"), "cannot read time"),
    ({**cmd(), "command": "format-disk"}, "schema"),
    ({**cmd(), "params": {"source": "topic:openstack.logs", "since": "1h", "epochs": 100000}}, "schema"),
])
def test_bad_commands_are_rejected_with_a_reason(command, reason):
    verdict = check(CommandValidator(ControlSettings()), command)
    assert not verdict.accepted and reason in verdict.reason


def test_not_json_is_rejected():
    assert "not JSON" in CommandValidator(ControlSettings()).check(b"\xff{", now=NOW).reason


def test_allowed_folder_and_s3_prefix(tmp_path):
    cfg = ControlSettings(allowed_sources=f"s3://logs-bucket/prod,{tmp_path}")
    v = CommandValidator(cfg)
    assert v.source_allowed("s3://logs-bucket/prod/2026-11-25/")
    assert not v.source_allowed("s3://logs-bucket/production-secrets")
    assert v.source_allowed(str(tmp_path / "sub"))
    assert not v.source_allowed(str(tmp_path / ".." / "elsewhere"))


def test_signature_required_when_a_secret_is_configured():
    v = CommandValidator(ControlSettings(secret="s3cret-s3cret-s3cret"))
    assert "missing signature" in check(v, cmd("cmd-unsigned-1")).reason
    forged = signing.sign(cmd("cmd-forged-01"), b"wrong-key")
    assert "invalid signature" in check(v, forged).reason
    tampered = signing.sign(cmd("cmd-tamper-01"), b"s3cret-s3cret-s3cret")
    tampered["params"]["epochs"] = 40
    assert "invalid signature" in check(v, tampered).reason
    assert check(v, signing.sign(cmd("cmd-signed-01"), b"s3cret-s3cret-s3cret")).accepted


@pytest.mark.parametrize("issued_at,accepted,reason", [
    ("2027-01-15T07:55:01Z", True, None),             # 299 s old
    ("2027-01-15T08:01:00Z", True, None),             # 60 s ahead: clock skew allowed
    ("2027-01-15T07:54:59Z", False, "s old, more than the 300 s allowed"),
    ("2026-11-26T15:00:00Z", False, "s old"),
    ("2027-01-15T08:01:01Z", False, "in the future"),
    ("9999-12-31T23:59:59Z", False, "in the future"),
    ("yesterday", False, "not an ISO 8601 time"),
    ("+10000-01-01T00:00:00", False, "not an ISO 8601 time"),
])
def test_issued_at_must_be_recent(issued_at, accepted, reason):
    verdict = check(CommandValidator(ControlSettings()), {**cmd(), "issued_at": issued_at})
    assert verdict.accepted is accepted
    assert accepted or reason in verdict.reason


def test_command_age_is_configurable_and_signed():
    v = CommandValidator(ControlSettings(max_command_age_seconds=3600, max_command_future_seconds=0,
                                         secret="s3cret-s3cret-s3cret"))
    signed = signing.sign({**cmd("cmd-old-000001"), "issued_at": "2027-01-15T07:10:00Z"}, b"s3cret-s3cret-s3cret")
    assert check(v, signed).accepted
    refreshed = {**signed, "command_id": "cmd-old-000002", "issued_at": "2027-01-15T08:00:00Z"}
    assert "invalid signature" in check(v, refreshed).reason   # issued_at is covered by the signature
    ahead = signing.sign({**cmd("cmd-ahead-0001"), "issued_at": "2027-01-15T08:00:01Z"}, b"s3cret-s3cret-s3cret")
    assert "in the future" in check(v, ahead).reason


def test_remembered_ids_are_duplicates_before_any_other_check():
    v = CommandValidator(ControlSettings())
    v.remember(["cmd-0000000001", "cmd-0000000002"])
    assert check(v, cmd()).reason == DUPLICATE
    assert check(v, {**cmd("cmd-0000000002"), "issued_at": "2020-01-01T00:00:00Z"}).reason == DUPLICATE
    assert check(v, cmd("cmd-0000000003")).accepted


def test_watermarks_are_asked_again_while_a_new_partition_has_no_leader():
    """`rca retrain --wait` right after the topics were created: the broker answers
    NOT_LEADER_FOR_PARTITION for a moment; any other error is raised at once."""
    import time

    import pytest
    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    from producers.kafka import watermarks

    class Consumer:
        def __init__(self, errors):
            self.errors, self.calls = list(errors), 0

        def get_watermark_offsets(self, tp, timeout):
            self.calls += 1
            if self.errors:
                raise KafkaException(KafkaError(self.errors.pop(0)))
            return 0, 42

    tp = TopicPartition("rca.control.events", 0)
    c = Consumer([KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE])
    assert watermarks(c, tp, time.monotonic() + 10) == (0, 42) and c.calls == 3
    with pytest.raises(KafkaException):
        watermarks(Consumer([KafkaError._TRANSPORT]), tp, time.monotonic() + 10)
    with pytest.raises(KafkaException):   # past the deadline: the last error is raised
        watermarks(Consumer([KafkaError.NOT_LEADER_FOR_PARTITION] * 3), tp, time.monotonic() - 1)
