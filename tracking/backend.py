"""Where tracking goes: the MLflow store, the artifact store, and whether they answer.

Resolved once per run from the typed settings:

- tracking URI: MLFLOW_TRACKING_URI, else ``sqlite:///{state_dir}/mlruns.db``
  (a fresh machine works with nothing configured);
- artifact root: RCA_TRACKING_ARTIFACT_ROOT, else ``s3://{bucket}`` when a
  tracking server, an S3 endpoint or RCA_S3_BUCKET is configured, else
  ``{state_dir}/artifacts`` (file://).

``probe`` answers within a few seconds (a /health request with a short
timeout, a head_bucket without retries), so an unreachable server costs one
warning, not minutes of MLflow's HTTP retries.
"""
from __future__ import annotations

import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import S3Settings, Settings, get_settings
from tracking.settings import TrackingSettings
from tracking.storage import ArtifactStore, open_store

log = logging.getLogger(__name__)

SERVER_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Backend:
    tracking_uri: str
    artifact_root: str
    experiment_name: str
    registered_model_name: str
    auto_log: bool
    state_dir: Path
    s3: S3Settings = field(repr=False)
    tracking: TrackingSettings = field(repr=False)

    @classmethod
    def from_env(cls, settings: Settings | None = None, *, tracking: TrackingSettings | None = None,
                 experiment_name: str | None = None, registered_model_name: str | None = None,
                 tracking_uri: str | None = None) -> "Backend":
        settings = settings or get_settings()
        tracking = tracking or TrackingSettings()
        state_dir = Path(settings.stack.state_dir)
        uri = tracking_uri or settings.mlflow.tracking_uri or f"sqlite:///{state_dir / 'mlruns.db'}"
        server = urllib.parse.urlparse(uri).scheme in SERVER_SCHEMES
        if tracking.artifact_root:
            root = tracking.artifact_root
        elif server or settings.s3.endpoint_url or "bucket" in settings.s3.model_fields_set:
            root = f"s3://{settings.s3.bucket}"
        else:
            root = (state_dir / "artifacts").resolve().as_uri()
        return cls(tracking_uri=uri, artifact_root=root,
                   experiment_name=experiment_name or settings.mlflow.experiment_name,
                   registered_model_name=registered_model_name or settings.mlflow.registered_model_name,
                   auto_log=settings.mlflow.auto_log, state_dir=state_dir, s3=settings.s3, tracking=tracking)

    @property
    def is_server(self) -> bool:
        return urllib.parse.urlparse(self.tracking_uri).scheme in SERVER_SCHEMES

    @property
    def model_cache_dir(self) -> Path:
        return self.tracking.model_cache_dir or self.state_dir / "model-cache"

    def signing_key(self) -> bytes | None:
        return self.tracking.signing_key_bytes()

    def store(self) -> ArtifactStore:
        return open_store(self.artifact_root, self.s3, self.tracking.probe_timeout_s)

    def client(self):
        """An MlflowClient for tracking and registry (no global MLflow state is touched)."""
        # Bound MLflow's HTTP retries (default: 7 with exponential backoff, minutes when a server is
        # down); explicit MLFLOW_HTTP_REQUEST_* variables still win.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(self.tracking.http_max_retries))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(self.tracking.http_timeout_s))
        # Command output is ours: our summary line carries the run's link instead of MLflow's banner.
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def probe_tracking(self) -> str | None:
        """None when the tracking store answers, else a one-line reason."""
        if not self.is_server:
            return None
        url = f"{self.tracking_uri.rstrip('/')}/health"
        try:
            with urllib.request.urlopen(url, timeout=self.tracking.probe_timeout_s):  # noqa: S310 - configured URL
                return None
        except urllib.error.HTTPError:
            return None          # it answered (auth-protected or proxied /health): reachable
        except (urllib.error.URLError, OSError, ValueError) as exc:
            why = getattr(exc, "reason", exc)
            return f"MLflow tracking server at {self.tracking_uri} is unreachable ({why})"

    def probe(self) -> str | None:
        """None when both the tracking store and the artifact store answer."""
        return self.probe_tracking() or self.store().probe()

    def experiment_id(self, client) -> str:
        """The experiment's id, created on first use."""
        from mlflow.exceptions import MlflowException

        exp = client.get_experiment_by_name(self.experiment_name)
        if exp is None:
            location = None if self.is_server else self.artifact_root
            try:
                return client.create_experiment(self.experiment_name, artifact_location=location)
            except MlflowException:
                exp = client.get_experiment_by_name(self.experiment_name)   # created concurrently
                if exp is None:
                    raise
        if exp.lifecycle_stage != "active":
            raise RuntimeError(f"MLflow experiment {self.experiment_name!r} is deleted; restore it or set "
                               "RCA_MLFLOW_EXPERIMENT_NAME to another name")
        return exp.experiment_id


__all__ = ["Backend"]
