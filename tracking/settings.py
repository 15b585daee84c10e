"""What tracking needs beyond config/settings.py, read from the environment.

Variables use the ``RCA_TRACKING_`` prefix, except the signing key, which has
its own names because workers, trainers and operators all set it:

- ``RCA_MODEL_SIGNING_KEY``: the HMAC-SHA256 key, or
- ``RCA_MODEL_SIGNING_KEY_FILE``: a path to a file that holds it (Docker/K8s
  secrets). Never a default value: without a key, bundles are written
  unsigned and loads verify sha256 only, with a warning.
- ``RCA_TRACKING_ARTIFACT_ROOT``: where run folders go (``s3://bucket[/prefix]``
  or ``file:///path``). Unset: ``s3://{RCA_S3_BUCKET}`` when a tracking server,
  an S3 endpoint or a bucket is configured, else ``{state_dir}/artifacts``.
- ``RCA_TRACKING_PROBE_TIMEOUT_S``, ``RCA_TRACKING_HTTP_TIMEOUT_S``,
  ``RCA_TRACKING_HTTP_MAX_RETRIES``: how long an unreachable server may delay
  a command (the last two become MLflow's MLFLOW_HTTP_REQUEST_* defaults).
- ``RCA_TRACKING_RETRY_INTERVAL_S``: how often the worker retries tracking
  after the server was unreachable.
- ``RCA_TRACKING_MODEL_CACHE_DIR``: verified copies of loaded models, used
  when the registry is unreachable (default ``{state_dir}/model-cache``).
"""
from __future__ import annotations

import logging
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

KEY_ENV = "RCA_MODEL_SIGNING_KEY"
KEY_FILE_ENV = "RCA_MODEL_SIGNING_KEY_FILE"
MIN_KEY_BYTES = 16


class TrackingSettings(BaseSettings):
    """Signing key, artifact root and timeouts for MLflow/S3 tracking."""

    model_config = SettingsConfigDict(env_prefix="RCA_TRACKING_", frozen=True, extra="ignore")

    signing_key: SecretStr | None = Field(None, validation_alias=AliasChoices(KEY_ENV, "RCA_TRACKING_SIGNING_KEY"))
    signing_key_file: Path | None = Field(
        None, validation_alias=AliasChoices(KEY_FILE_ENV, "RCA_TRACKING_SIGNING_KEY_FILE"))
    artifact_root: str | None = None
    probe_timeout_s: float = Field(5.0, gt=0)
    http_timeout_s: int = Field(10, gt=0)
    http_max_retries: int = Field(2, ge=0)
    retry_interval_s: float = Field(60.0, gt=0)
    model_cache_dir: Path | None = None

    @field_validator("signing_key", "signing_key_file", "artifact_root", "model_cache_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        # compose files often pass `VAR=${VAR:-}`: an empty value means "not set".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def signing_key_bytes(self) -> bytes | None:
        """The HMAC key, or None when neither variable is set. Raises ValueError on a bad key file."""
        if self.signing_key is not None and self.signing_key_file is not None:
            raise ValueError(f"set {KEY_ENV} or {KEY_FILE_ENV}, not both")
        if self.signing_key is not None:
            key = self.signing_key.get_secret_value().encode()
        elif self.signing_key_file is not None:
            try:
                key = self.signing_key_file.read_bytes().strip()
            except OSError as exc:
                raise ValueError(
                    f"{KEY_FILE_ENV}={self.signing_key_file}: cannot read the key ({exc.strerror})") from exc
            if not key:
                raise ValueError(f"{KEY_FILE_ENV}={self.signing_key_file}: the file is empty")
        else:
            return None
        if len(key) < MIN_KEY_BYTES:
            log.warning("the model signing key is shorter than %d bytes; use a long random key", MIN_KEY_BYTES)
        return key


def env_names() -> set[str]:
    """Every environment variable name TrackingSettings reads (for compose/docs checks)."""
    from config.settings import env_names as names_of

    return names_of(TrackingSettings)


__all__ = ["TrackingSettings", "env_names", "KEY_ENV", "KEY_FILE_ENV"]
