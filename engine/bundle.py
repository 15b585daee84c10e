"""The model bundle: everything inference needs, in one picklable object.

One format everywhere (DESIGN.md): training writes a ModelBundle, tracking
pickles and signs it (tracking/bundle_io.py), and the worker, `rca analyze`
and the registry load the same object. The engine only defines the type and
a clean save/load boundary as bytes; signing and storage are tracking's job.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

BUNDLE_FORMAT = 1


@dataclass
class ModelBundle:
    """A trained model: template miner state, learned scorers and their metadata."""

    miner_state: bytes
    rca_model: Any = None          # engine.rca model (detector + ranker), picklable
    sequence_model: Any = None     # engine.sequence model (Keras LSTM), picklable
    param_model: Any = None        # per-template numeric parameter/duration statistics
    thresholds: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)   # trained_at, data summary, metrics, versions
    format: int = BUNDLE_FORMAT
    # engine.experience.Experience: the labelled runs and verdicts it learned from, compact, so a
    # retrain extends them (None: trained before bundles kept it, or from unlabelled runs only)
    experience: Any = None

    def summary(self) -> dict[str, Any]:
        """What a manifest or `rca models show` displays."""
        return {"format": self.format, "thresholds": dict(self.thresholds), **self.metadata}

    @property
    def learned_from(self):
        """Its Experience, or None (a bundle pickled before the field existed has no attribute)."""
        return self.__dict__.get("experience")


def to_bytes(bundle: ModelBundle) -> bytes:
    return pickle.dumps(bundle, protocol=pickle.HIGHEST_PROTOCOL)


def from_bytes(data: bytes) -> ModelBundle:
    """Unpickle trusted bytes only: callers outside tests go through tracking's verified loader."""
    obj = pickle.loads(data)  # noqa: S301 - verified by tracking.bundle_io before this call
    if not isinstance(obj, ModelBundle):
        raise TypeError(f"not a model bundle: {type(obj).__name__}")
    return obj
