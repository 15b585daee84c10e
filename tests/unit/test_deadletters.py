"""Dead letters always fit the broker's limit; oversize originals are claim-checked or truncated."""
import base64
import hashlib

import orjson
import pytest

import schemas
from consumers.deadletters import S3ClaimCheck, dead_letter

LIMIT = 900_000


class FakeClaimCheck:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.stored: dict[str, bytes] = {}

    def put(self, data: bytes) -> dict:
        if self.fail:
            raise ConnectionError("Could not connect to the endpoint URL")
        digest = hashlib.sha256(data).hexdigest()
        self.stored[digest] = data
        return {"bucket": "b", "key": f"dlq/2026/01/01/{digest}.bin", "size": len(data), "sha256": digest}


def letter_for(value, claim_check=None, key=b"compute-1:/var/log/nova/nova-compute.log", max_bytes=LIMIT):
    out = dead_letter("oversize", f"{len(value or b'')} bytes > limit", "openstack.logs", 3, 42, key, value,
                      max_bytes=max_bytes, claim_check=claim_check)
    schemas.validate("dead_letter", out)
    assert len(orjson.dumps(out)) <= max_bytes
    return out


def test_a_small_original_is_carried_whole():
    out = letter_for(b"\xff{")
    assert base64.b64decode(out["value_b64"]) == b"\xff{" and out["source_offset"] == 42
    assert "truncated" not in out and "original" not in out
    assert base64.b64decode(out["key_b64"]) == b"compute-1:/var/log/nova/nova-compute.log"


def test_limit_edge_fits_exactly():
    for n in range(LIMIT * 3 // 4 - 400, LIMIT * 3 // 4 + 10, 37):
        letter_for(b"x" * n)


@pytest.mark.parametrize("size", [2_000_000, 10_000_000])
def test_oversize_original_is_claim_checked_whole(size):
    value = bytes(range(256)) * (size // 256)
    check = FakeClaimCheck()
    out = letter_for(value, check)
    digest = hashlib.sha256(value).hexdigest()
    assert out["original"] == {"bucket": "b", "key": f"dlq/2026/01/01/{digest}.bin", "size": len(value),
                               "sha256": digest}
    assert check.stored[digest] == value and out["truncated"] is True
    assert value.startswith(base64.b64decode(out["value_b64"]))


@pytest.mark.parametrize("size", [2_000_000, 10_000_000])
@pytest.mark.parametrize("check", [None, FakeClaimCheck(fail=True)])
def test_without_s3_the_original_is_truncated_with_size_and_sha256(size, check):
    value = b"y" * size
    out = letter_for(value, check, key=b"k" * 5000)
    assert out["truncated"] is True and out["original_size"] == size
    assert out["original_sha256"] == hashlib.sha256(value).hexdigest()
    head = base64.b64decode(out["value_b64"])
    assert value.startswith(head) and len(head) > LIMIT * 0.7   # as much as fits
    assert out["key_size"] == 5000
    assert ("claim_check_error" in out) == (check is not None)


def test_internal_error_with_a_huge_error_text_still_fits():
    out = dead_letter("internal_error", "ValueError: " + "é" * 100_000, "t", 0, 0, None, b"z" * 3_000_000,
                      max_bytes=20_000)
    schemas.validate("dead_letter", out)
    assert len(orjson.dumps(out)) <= 20_000 and out["truncated"]


def test_s3_claim_check_key_layout():
    class Store:
        bucket = "bkt"
        puts = {}

        def put(self, key, data, content_type=None):
            self.puts[key] = data

        def _key(self, key):
            return key

    store = Store()
    ref = S3ClaimCheck(store).put(b"abc")
    digest = hashlib.sha256(b"abc").hexdigest()
    assert ref["bucket"] == "bkt" and ref["size"] == 3 and ref["sha256"] == digest
    parts = ref["key"].split("/")
    assert parts[0] == "dlq" and len(parts[1]) == 4 and parts[4] == f"{digest}.bin" and store.puts[ref["key"]] == b"abc"
