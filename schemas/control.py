"""Signing control commands: HMAC-SHA256 over the canonical JSON without `signature`.

Shared by the sender (`rca retrain`) and the worker's control agent, so both
compute exactly the same bytes: orjson with sorted keys.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson


def canonical(command: dict[str, Any]) -> bytes:
    body = {k: v for k, v in command.items() if k != "signature"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def sign(command: dict[str, Any], key: bytes) -> dict[str, Any]:
    return {**command, "signature": hmac.new(key, canonical(command), hashlib.sha256).hexdigest()}


def verify(command: dict[str, Any], key: bytes) -> bool:
    sig = command.get("signature")
    if not isinstance(sig, str):
        return False
    expected = hmac.new(key, canonical(command), hashlib.sha256).hexdigest()
    return hmac.compare_digest(sig, expected)
