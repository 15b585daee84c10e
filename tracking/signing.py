"""sha256 and HMAC-SHA256 over a bundle's manifest; verification before any unpickling.

A pickle is code. Whoever can write the bucket must not be able to run code
in our workers, so the manifest next to ``model.pkl`` holds the pickle's
sha256 and size, and an HMAC-SHA256 signature over the whole manifest
(canonical JSON, keys sorted, without the signature field). The key comes
from the environment (tracking/settings.py), never from the bucket.

``verify`` is pure (no I/O, no unpickling): callers unpickle only after it
returned. Without a key it checks sha256/size and warns that the origin is
unverified; with a key an unsigned or mis-signed manifest is refused.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import orjson

log = logging.getLogger(__name__)

SIGNATURE_ALG = "HMAC-SHA256"
_warned_unsigned = False


class BundleVerificationError(RuntimeError):
    """model.pkl does not match its manifest or signature; it was not unpickled."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalize(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as it will read back from JSON (datetimes, numpy scalars -> JSON types)."""
    return orjson.loads(orjson.dumps(manifest, default=str,
                                     option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS))


def canonical(manifest: dict[str, Any]) -> bytes:
    """The signed bytes: the manifest without 'signature', keys sorted at every level."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return orjson.dumps(body, default=str,
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def signature(manifest: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical(manifest), hashlib.sha256).hexdigest()


def sign(manifest: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """A normalized copy of ``manifest`` with 'signature_alg' and 'signature' (None without a key)."""
    out = normalize({k: v for k, v in manifest.items() if k != "signature"})
    out["signature_alg"] = SIGNATURE_ALG
    out["signature"] = signature(out, key) if key else None
    if not key:
        log.warning("no model signing key (RCA_MODEL_SIGNING_KEY): the bundle manifest is unsigned")
    return out


def verify(data: bytes, manifest: Any, key: bytes | None, where: str = "model.pkl") -> None:
    """Raise BundleVerificationError unless ``data`` is the bundle ``manifest`` describes (and signed)."""
    global _warned_unsigned
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
        raise BundleVerificationError(f"{where}: manifest has no sha256; refusing to unpickle")
    size = manifest.get("size")
    if size is not None and size != len(data):
        raise BundleVerificationError(
            f"{where}: size {len(data)} does not match the manifest ({size}); refusing to unpickle")
    actual = sha256_hex(data)
    if not hmac.compare_digest(actual, manifest["sha256"]):
        raise BundleVerificationError(
            f"{where}: sha256 {actual[:16]}... does not match the manifest ({manifest['sha256'][:16]}...); "
            "refusing to unpickle")
    sig = manifest.get("signature")
    if key:
        if not sig:
            raise BundleVerificationError(
                f"{where}: the manifest is unsigned but a signing key is configured; refusing to unpickle")
        if manifest.get("signature_alg", SIGNATURE_ALG) != SIGNATURE_ALG:
            raise BundleVerificationError(
                f"{where}: unsupported signature algorithm {manifest.get('signature_alg')!r}; refusing to unpickle")
        if not isinstance(sig, str) or not hmac.compare_digest(signature(manifest, key), sig):
            raise BundleVerificationError(
                f"{where}: HMAC signature mismatch (tampered, or signed with another key); refusing to unpickle")
        return
    if not _warned_unsigned:
        _warned_unsigned = True
        log.warning("no model signing key (RCA_MODEL_SIGNING_KEY): %s verified by sha256 only, origin unchecked",
                    where)


__all__ = ["BundleVerificationError", "sha256_hex", "canonical", "sign", "verify", "normalize", "SIGNATURE_ALG"]
