"""The one model format: ModelBundle -> model.pkl + signed manifest.json, and back, verified.

Every load (registry, worker, `rca analyze`, export) goes through
``read_verified``/``load``: bytes and manifest are fetched, checked by
tracking/signing.verify, and only then handed to engine.bundle.from_bytes.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson

from engine import bundle as bundle_mod
from engine.bundle import ModelBundle
from tracking import signing
from tracking.manifest import MANIFEST_FILE, MODEL_FILE, build_manifest
from tracking.storage import ArtifactNotFound, ArtifactStore, FileStore
from tracking.signing import BundleVerificationError

log = logging.getLogger(__name__)


def dump(bundle: ModelBundle, key: bytes | None, **manifest_fields: Any) -> tuple[bytes, dict[str, Any]]:
    """(pickle bytes, signed manifest)."""
    data = bundle_mod.to_bytes(bundle)
    return data, signing.sign(build_manifest(data, bundle, **manifest_fields), key)


def load(data: bytes, manifest: Any, key: bytes | None, where: str = MODEL_FILE) -> ModelBundle:
    """Verify, then unpickle. Raises BundleVerificationError before touching pickle on any mismatch."""
    signing.verify(data, manifest, key, where)
    return bundle_mod.from_bytes(data)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def write_bytes(store: ArtifactStore, folder: str, data: bytes, manifest: dict[str, Any]) -> None:
    """Write pickle bytes and their manifest as ``{folder}/model.pkl`` then ``{folder}/manifest.json``
    (``folder`` '' is the store's root)."""
    prefix = f"{folder.rstrip('/')}/" if folder.rstrip("/") else ""
    store.put(f"{prefix}{MODEL_FILE}", data, "application/octet-stream")
    store.put(f"{prefix}{MANIFEST_FILE}", manifest_bytes(manifest), "application/json")


def write(store: ArtifactStore, folder: str, bundle: ModelBundle, key: bytes | None,
          **manifest_fields: Any) -> dict[str, Any]:
    """Write ``{folder}/model.pkl`` then ``{folder}/manifest.json``; returns the manifest."""
    data, manifest = dump(bundle, key, **manifest_fields)
    folder = folder.rstrip("/")
    write_bytes(store, folder, data, manifest)
    log.info("model bundle written to %s (%d bytes, sha256 %s..., %s)", store.url_for(folder), len(data),
             manifest["sha256"][:12], "signed" if manifest.get("signature") else "UNSIGNED")
    return manifest


def read_manifest(store: ArtifactStore, folder: str) -> dict[str, Any]:
    folder = folder.rstrip("/")
    where = store.url_for(f"{folder}/{MANIFEST_FILE}")
    try:
        raw = store.get(f"{folder}/{MANIFEST_FILE}")
    except ArtifactNotFound as exc:
        raise BundleVerificationError(f"{where} is missing; refusing to unpickle {MODEL_FILE}") from exc
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BundleVerificationError(f"{where} is not valid JSON; refusing to unpickle") from exc
    if not isinstance(manifest, dict):
        raise BundleVerificationError(f"{where} is not a JSON object; refusing to unpickle")
    return manifest


def read_verified(store: ArtifactStore, folder: str, key: bytes | None) -> tuple[bytes, dict[str, Any]]:
    """(pickle bytes, manifest), verified but not unpickled (for export and caching)."""
    folder = folder.rstrip("/")
    manifest = read_manifest(store, folder)
    where = store.url_for(f"{folder}/{MODEL_FILE}")
    try:
        data = store.get(f"{folder}/{MODEL_FILE}")
    except ArtifactNotFound as exc:
        raise BundleVerificationError(f"{where} is missing") from exc
    signing.verify(data, manifest, key, where)
    return data, manifest


def read(store: ArtifactStore, folder: str, key: bytes | None) -> tuple[ModelBundle, dict[str, Any]]:
    """The verified bundle in ``folder`` and its manifest."""
    data, manifest = read_verified(store, folder, key)
    return bundle_mod.from_bytes(data), manifest


def save_dir(path: str | Path, bundle: ModelBundle, key: bytes | None, **manifest_fields: Any) -> dict[str, Any]:
    """model.pkl + manifest.json in a local folder."""
    path = Path(path)
    return write(FileStore(path.parent), path.name, bundle, key, **manifest_fields)


def load_dir(path: str | Path, key: bytes | None) -> tuple[ModelBundle, dict[str, Any]]:
    """The verified bundle from a local folder holding model.pkl + manifest.json (or the model.pkl itself)."""
    path = Path(path).expanduser().resolve()
    if path.name == MODEL_FILE:
        path = path.parent
    return read(FileStore(path.parent), path.name, key)


__all__ = ["dump", "load", "write", "write_bytes", "read", "read_verified", "read_manifest", "save_dir", "load_dir",
           "manifest_bytes", "BundleVerificationError"]
