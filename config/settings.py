"""Typed settings, read from the environment in one place.

Every boundary (Kafka, topics, windows, S3, MLflow, the local stack) has one
frozen pydantic-settings class. Variables use the ``RCA_`` prefix, except the
standard MLflow and AWS variables, which keep their usual names so existing
tooling works. CLI flags override by passing keyword arguments.
Nothing here reads a file from the current directory.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _frozen(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore")


class KafkaSettings(BaseSettings):
    """Connection to the Kafka cluster; feeds confluent-kafka and Faust alike."""

    model_config = _frozen("RCA_KAFKA_")

    bootstrap_servers: str = "127.0.0.1:19092"
    client_id: str = "openstack-rca"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def confluent_config(self) -> dict[str, str]:
        """librdkafka properties for confluent-kafka clients."""
        conf = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile:
            conf["ssl.ca.location"] = self.ssl_cafile
        if self.ssl_certfile:
            conf["ssl.certificate.location"] = self.ssl_certfile
        if self.ssl_keyfile:
            conf["ssl.key.location"] = self.ssl_keyfile
        return conf


class TopicSettings(BaseSettings):
    """Topic names (DESIGN.md defaults) and their partition counts."""

    model_config = _frozen("RCA_TOPIC_")

    logs: str = "openstack.logs"
    results: str = "rca.results"
    control: str = "rca.control"
    control_events: str = "rca.control.events"
    dlq: str = "openstack.logs.dlq"
    incidents: str = "rca.incidents"   # keyed by incident id, compacted (latest state per incident)
    # incident windows on their way to the correlator: one partition, so one agent sees every
    # worker's incident windows (consumers/incidents.py says where that stops scaling)
    correlation: str = "rca.correlation"
    feedback: str = "rca.feedback"     # operators' verdicts, keyed by incident id, compacted (consumers/feedback.py)

    def partitions(self) -> dict[str, int]:
        return {self.logs: 6, self.results: 6, self.control: 1, self.control_events: 1, self.dlq: 1,
                self.incidents: 6, self.correlation: 1, self.feedback: 1}

    def compacted(self) -> frozenset[str]:
        """Topics whose latest message per key is the state (cleanup.policy=compact)."""
        return frozenset({self.incidents, self.feedback})


class WorkerSettings(BaseSettings):
    """Windowing and worker behaviour (DESIGN.md, 'Windows and sessions')."""

    model_config = _frozen("RCA_WORKER_")

    app_id: str = "openstack-rca-worker"
    window_seconds: float = Field(60.0, gt=0)
    # true: each session key's windows start at its own offset in the period (engine/sessions.py
    # window_offset), so windows do not all close at once; false (default): aligned to the epoch
    window_staggered: bool = False
    allowed_lateness_seconds: float = Field(30.0, ge=0)
    idle_timeout_seconds: float = Field(5.0, gt=0)
    max_open_windows: int = Field(10_000, gt=0)
    max_events_per_window: int = Field(5_000, gt=0)
    max_message_bytes: int = Field(1_000_000, gt=0)
    model_poll_seconds: float = Field(5.0, gt=0)  # how often the worker checks for a new production model
    session_timeout_seconds: float = Field(30.0, ge=6.0)  # how soon a crashed worker's partitions move
    broker_wait_seconds: float = Field(300.0, ge=0)  # a starting worker waits this long for Kafka, then exits
    min_event_time: datetime = datetime(2000, 1, 1, tzinfo=timezone.utc)  # older event times: timestamp_out_of_range
    max_future_seconds: float = Field(86_400.0, ge=0)  # event times further ahead of the wall clock: out of range
    continuation_keys: int = Field(10_000, gt=0)  # Kafka keys whose last record orphan continuation lines can join
    max_dead_letter_bytes: int = Field(900_000, ge=10_000)  # a dead letter's encoded size; under Kafka's 1 MB default
    metrics_host: str = "127.0.0.1"   # Prometheus /metrics (consumers/metrics.py); 0.0.0.0 to be scraped from elsewhere
    metrics_port: int = Field(9464, ge=0, le=65535)  # 0 turns the endpoint off
    # allocations between young-generation garbage collections (CPython's default 700); see consumers/app.py
    gc_young_threshold: int = Field(50_000, ge=100)
    # comma list of oslo.messaging notification topics to read too (notifications.error,
    # versioned_notifications.error, ...): each becomes an event on the logs topic
    # (consumers/notifications.py); empty (default): off
    notification_topics: str = ""

    def notification_topic_names(self) -> list[str]:
        return [t.strip() for t in self.notification_topics.split(",") if t.strip()]


class S3Settings(BaseSettings):
    """S3 endpoint and bucket; credentials only through boto3's standard chain."""

    model_config = _frozen("RCA_S3_")

    endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("RCA_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
    )
    region: str = "us-east-1"
    bucket: str = "openstack-rca"


class MLflowSettings(BaseSettings):
    """Tracking: standard MLflow variables plus experiment/model names."""

    model_config = _frozen("RCA_MLFLOW_")

    tracking_uri: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "RCA_MLFLOW_TRACKING_URI")
    )
    experiment_name: str = "openstack_rca"
    registered_model_name: str = "openstack-rca"
    auto_log: bool = True


class StackSettings(BaseSettings):
    """The local development stack started by `rca stack up`."""

    model_config = _frozen("RCA_STACK_")

    state_dir: Path = PROJECT_ROOT / ".state"
    cache_dir: Path = PROJECT_ROOT / ".cache"
    kafka_version: str = "4.1.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    s3proxy_version: str = "2.6.0"
    s3_port: int = 19000
    mlflow_port: int = 15000
    access_key: str = "rca-local"
    secret_key: SecretStr = SecretStr("rca-local-secret")


class ControlSettings(BaseSettings):
    """The control plane: who may retrain, from where, within which bounds."""

    model_config = _frozen("RCA_CONTROL_")

    secret: SecretStr | None = None          # HMAC key for control commands; when set, unsigned ones are rejected
    secret_file: Path | None = None
    allowed_sources: str = "topic:openstack.logs"   # comma list of prefixes: topic:NAME, s3://bucket/prefix, /folder
    max_epochs: int = Field(50, gt=0)
    max_range_hours: float = Field(24 * 7, gt=0)
    when_busy: Literal["queue", "reject"] = "queue"
    max_queue: int = Field(5, ge=0)
    promotion_margin: float = Field(0.01, ge=0)    # challenger must beat production by this much
    max_command_age_seconds: float = Field(300.0, gt=0)     # older issued_at: rejected (a replayed capture)
    max_command_future_seconds: float = Field(60.0, ge=0)   # issued_at further ahead (clock skew): rejected
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    eval_dataset: Path | None = None   # optional labelled set (dev-set layout) the gate also scores
    eval_labels: Path | None = None
    # the latest verdicts held back from a retrain for the gate (a share, once there are enough of them)
    verdict_holdout_fraction: float = Field(0.2, ge=0, lt=1)
    min_verdicts_to_hold: int = Field(5, ge=1)

    def secret_bytes(self) -> bytes | None:
        if self.secret is not None and self.secret_file is not None:
            raise ValueError("set RCA_CONTROL_SECRET or RCA_CONTROL_SECRET_FILE, not both")
        if self.secret_file is not None:
            return self.secret_file.read_bytes().strip() or None
        return self.secret.get_secret_value().encode() if self.secret and self.secret.get_secret_value() else None

    def source_prefixes(self) -> list[str]:
        return [p.strip() for p in self.allowed_sources.split(",") if p.strip()]


class UISettings(BaseSettings):
    """`rca ui`, the live incident page (consumers/ui/)."""

    model_config = _frozen("RCA_UI_")

    host: str = "127.0.0.1"           # loopback by default: put a reverse proxy with auth in front (README)
    port: int = Field(8765, ge=0, le=65535)
    metrics_urls: str = "http://127.0.0.1:9464/metrics"  # comma list of workers' /metrics for the health strip
    recent: int = Field(50, gt=0)     # resolved incidents kept on the page besides the open ones


class CodeSettings(BaseSettings):
    """Where the code map of the OpenStack source comes from at training time (engine/rca/codemap.py,
    engine/rca/codefetch.py; docs/accuracy.md, "Which release")."""

    model_config = _frozen("RCA_CODE_")

    # source trees, sdists, wheels or folders of them (os.pathsep-separated); set: used as given, nothing fetched
    source: str = ""
    # unset source: "pypi" fetches the release the training logs' tracebacks fit best from the index; "off": no code map
    fetch: Literal["pypi", "off"] = "pypi"
    index_url: str = "https://pypi.org"          # a PyPI mirror serving the JSON API (/pypi/{project}/json)
    cache_dir: Path = PROJECT_ROOT / ".cache" / "code-source"   # downloaded archives and the releases chosen
    timeout_seconds: float = Field(10.0, gt=0)   # per request; a slower index counts as offline
    max_releases: int = Field(24, ge=1)          # archives tried per project, at most

    def source_paths(self) -> list[str]:
        return [p for p in self.source.split(os.pathsep) if p.strip()]


# Every part of Settings: attribute name -> class, in the order `rca config show` lists them.
PARTS: dict[str, type[BaseSettings]] = {
    "kafka": KafkaSettings,
    "topics": TopicSettings,
    "worker": WorkerSettings,
    "s3": S3Settings,
    "mlflow": MLflowSettings,
    "stack": StackSettings,
    "control": ControlSettings,
    "ui": UISettings,
    "code": CodeSettings,
}


class Settings:
    """All boundaries together; each part is read from the environment once."""

    kafka: KafkaSettings
    topics: TopicSettings
    worker: WorkerSettings
    s3: S3Settings
    mlflow: MLflowSettings
    stack: StackSettings
    control: ControlSettings
    ui: UISettings
    code: CodeSettings

    def __init__(self) -> None:
        # control is read (and validated) first, then the others in PARTS order
        for name in sorted(PARTS, key=lambda n: n != "control"):
            setattr(self, name, PARTS[name]())

    def masked(self) -> dict[str, dict[str, object]]:
        """Everything, with secrets shown as '**********' (for `rca config show`)."""
        out: dict[str, dict[str, object]] = {}
        for name in PARTS:
            part = getattr(self, name)
            out[name] = {
                k: ("**********" if isinstance(v, SecretStr) else (str(v) if isinstance(v, Path) else v))
                for k, v in part.model_dump().items()
            }
        return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings. Tests that change the environment call cache_clear()."""
    return Settings()


def env_names(*classes: type[BaseSettings]) -> set[str]:
    """Every environment variable name the given settings classes read (default: all of these)."""
    names: set[str] = set()
    for cls in classes or tuple(PARTS.values()):
        prefix = cls.model_config.get("env_prefix", "")
        for fname, finfo in cls.model_fields.items():
            alias = finfo.validation_alias
            if isinstance(alias, AliasChoices):
                names.update(str(a) for a in alias.choices)
            else:
                names.add(f"{prefix}{fname}".upper())
    return names


__all__ = ["Settings", "get_settings", "env_names", "PROJECT_ROOT"]
