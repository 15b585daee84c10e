"""Dead letters that always fit the broker's limit (DESIGN.md, 'Delivery').

A dead letter carries the reason, the error, where the message came from and
the original bytes (base64). Base64 grows a value by a third, so a value
near the broker's limit (an ``oversize`` one above it) would give a letter
the broker refuses, and the worker would retry the same message forever.
`dead_letter` therefore returns a letter whose orjson encoding is at most
``max_bytes``:

- an original that fits is carried whole in ``value_b64``;
- one that does not is stored whole in S3 by a *claim check* (anything with
  ``put(data: bytes) -> dict``, e.g. :class:`S3ClaimCheck`) and the letter
  says where: ``original: {bucket, key, size, sha256}``, with the first bytes
  in ``value_b64`` as a preview;
- without a claim check, or when the S3 put fails, the letter carries as much
  of the original as fits plus ``original_size``, ``original_sha256`` and
  ``truncated: true`` (and ``claim_check_error`` when the put failed).

Either way the size and sha256 of the original are in the letter, so nothing
is lost silently. The S3 put blocks: call this in an executor for oversize
values.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import time
from typing import Protocol

import orjson

from config.settings import S3Settings
from schemas.log_event import format_timestamp

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
MAX_KEY_BYTES = 1024     # a longer key is cut in key_b64 (key_size gives its length)
PREVIEW_BYTES = 4096     # the head of a claim-checked original kept in value_b64
_SLACK = 64              # room for the fields added after the size was computed


class ClaimCheck(Protocol):
    def put(self, data: bytes) -> dict:
        """Store ``data`` whole; return {"bucket", "key", "size", "sha256"}."""


def dead_letter(reason: str, error: str, topic: str, partition: int, offset: int, key: bytes | None,
                value: bytes | None, *, max_bytes: int, claim_check: ClaimCheck | None = None) -> dict:
    """The dead-letter message for one rejected input; its orjson encoding is <= max_bytes."""
    value = value or b""
    letter: dict = {
        "schema_version": 1,
        "reason": reason,
        "error": error[:MAX_ERROR_CHARS],
        "source_topic": topic,
        "source_partition": max(partition, 0),
        "source_offset": max(offset, 0),
        "key_b64": None,
        "value_b64": "",
        "received_at": format_timestamp(time.time()),
    }
    if key is not None:
        letter["key_b64"] = base64.b64encode(key[:MAX_KEY_BYTES]).decode()
        if len(key) > MAX_KEY_BYTES:
            letter["key_size"] = len(key)
    room = max_bytes - len(orjson.dumps(letter))
    if _b64_len(len(value)) <= room:
        letter["value_b64"] = base64.b64encode(value).decode()
        return letter

    digest = hashlib.sha256(value).hexdigest()
    if claim_check is not None:
        try:
            where = claim_check.put(value)
            letter["original"] = {"bucket": str(where["bucket"]), "key": str(where["key"]),
                                  "size": len(value), "sha256": digest}
            letter["truncated"] = True
            return _fill(letter, value, max_bytes, PREVIEW_BYTES)
        except Exception as exc:  # noqa: BLE001 - S3 down: keep a truncated original instead
            log.warning("claim check of a %d-byte dead letter failed (%s); keeping it truncated",
                        len(value), str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
            letter["claim_check_error"] = (str(exc) or type(exc).__name__)[:500]
    letter["original_size"] = len(value)
    letter["original_sha256"] = digest
    letter["truncated"] = True
    return _fill(letter, value, max_bytes, len(value))


def _b64_len(n: int) -> int:
    return 4 * ((n + 2) // 3)


def _fill(letter: dict, value: bytes, max_bytes: int, limit: int) -> dict:
    """Put as many leading bytes of ``value`` (at most ``limit``) in value_b64 as fit in ``max_bytes``."""
    letter["value_b64"] = ""
    room = max_bytes - len(orjson.dumps(letter)) - _SLACK
    if room < 0 and len(letter["error"]) > 200:      # only a tiny max_bytes gets here
        letter["error"] = letter["error"][:200]
        room = max_bytes - len(orjson.dumps(letter)) - _SLACK
    n = min(limit, max(room, 0) // 4 * 3)
    letter["value_b64"] = base64.b64encode(value[:n]).decode()
    return letter


class S3ClaimCheck:
    """Keeps oversize dead-letter originals whole in S3 under ``dlq/YYYY/MM/DD/{sha256}.bin``."""

    def __init__(self, store, prefix: str = "dlq") -> None:
        self.store = store      # tracking.storage.S3Store (boto3, standard credential chain)
        self.prefix = prefix.strip("/")

    @classmethod
    def from_settings(cls, s3: S3Settings, prefix: str = "dlq") -> "S3ClaimCheck":
        from tracking.storage import S3Store

        return cls(S3Store(s3.bucket, settings=s3), prefix)

    def put(self, data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        key = f"{self.prefix}/{time.strftime('%Y/%m/%d', time.gmtime())}/{digest}.bin"
        self.store.put(key, data, content_type="application/octet-stream")
        return {"bucket": self.store.bucket, "key": self.store._key(key), "size": len(data), "sha256": digest}
