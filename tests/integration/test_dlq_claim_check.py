"""An oversize dead letter's original is kept whole in the real S3 (s3proxy), with its sha256."""
import hashlib
import os

import orjson
import pytest

import schemas
from config.settings import S3Settings
from consumers.deadletters import S3ClaimCheck, dead_letter

pytestmark = pytest.mark.integration


def test_claim_checked_original_in_s3_has_the_right_sha256(stack, s3, monkeypatch):
    for k, v in stack.items():
        monkeypatch.setenv(k, v)
    settings = S3Settings()
    value = os.urandom(2_500_000)
    letter = dead_letter("oversize", "2500000 bytes > limit 1000000", "openstack.logs", 0, 1, b"compute-1", value,
                         max_bytes=900_000, claim_check=S3ClaimCheck.from_settings(settings))
    schemas.validate("dead_letter", letter)
    assert len(orjson.dumps(letter)) <= 900_000
    ref = letter["original"]
    assert ref["bucket"] == settings.bucket and ref["key"].startswith("dlq/") and ref["size"] == len(value)
    stored = s3.get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == ref["sha256"] == hashlib.sha256(value).hexdigest()
    s3.delete_object(Bucket=ref["bucket"], Key=ref["key"])
