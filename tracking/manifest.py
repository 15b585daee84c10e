"""What manifest.json says about a bundle (pure; signing is tracking/signing.py).

Fields: manifest_version, file, sha256, size, bundle_format, created_at,
run_name, template_count, data_summary, metrics, thresholds, libraries
(python and the packages that shape the pickle), then signature_alg and
signature added by signing.sign.
"""
from __future__ import annotations

import math
import platform
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from engine.bundle import ModelBundle
from tracking.signing import sha256_hex

MANIFEST_VERSION = 1
MODEL_FILE = "model.pkl"
MANIFEST_FILE = "manifest.json"
LIBRARIES = ("mlflow", "tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "drain3-improved",
             "drain3", "openstack-rca")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a bundle's pickle depends on (without importing them)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def clean_metrics(metrics: dict[str, Any] | None) -> dict[str, float]:
    """Finite numeric metrics only (bools as 0/1); everything else is dropped."""
    out: dict[str, float] = {}
    for k, v in (metrics or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[str(k)] = f
    return out


def build_manifest(data: bytes, bundle: ModelBundle, *, run_name: str | None = None,
                   metrics: dict[str, Any] | None = None, data_summary: dict[str, Any] | None = None,
                   template_count: int | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The unsigned manifest of ``data`` (the pickled ``bundle``)."""
    meta = bundle.metadata or {}
    if template_count is None:
        tc = meta.get("template_count", meta.get("templates"))
        template_count = int(tc) if isinstance(tc, (int, float)) and not isinstance(tc, bool) else None
    return {
        "manifest_version": MANIFEST_VERSION,
        "file": MODEL_FILE,
        "sha256": sha256_hex(data),
        "size": len(data),
        "bundle_format": bundle.format,
        "created_at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "run_name": run_name,
        "template_count": template_count,
        "data_summary": data_summary if data_summary is not None else meta.get("data_summary", {}),
        "metrics": clean_metrics({**(meta.get("metrics") or {}), **(metrics or {})}),
        "thresholds": clean_metrics(bundle.thresholds),
        "libraries": library_versions(),
    }


__all__ = ["build_manifest", "library_versions", "clean_metrics", "MODEL_FILE", "MANIFEST_FILE", "MANIFEST_VERSION"]
