"""`rca stack up|down|status|env`: the local stack on loopback.

Kafka (KRaft), s3proxy and an MLflow server, with logs and data under one
state folder. `up` is idempotent and returns only when every service answers
its readiness probe; `down` stops only what `up` started.
"""
from __future__ import annotations

import logging

from config.settings import Settings
from devstack import kafka, mlflow_server, process, s3

log = logging.getLogger(__name__)

SERVICES = (kafka, s3, mlflow_server)   # start order; stopped in reverse


def bootstrap(settings: Settings) -> str:
    return f"127.0.0.1:{settings.stack.kafka_port}"


def up(settings: Settings) -> dict[str, int]:
    cfg = settings.stack
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    pids = {kafka.NAME: kafka.up(cfg, bootstrap(settings))}
    kafka.ensure_topics(bootstrap(settings), settings.topics)
    pids[s3.NAME] = s3.up(cfg, settings.s3.bucket)
    pids[mlflow_server.NAME] = mlflow_server.up(cfg, settings.s3.bucket)
    env_file = cfg.state_dir / "stack.env"
    env_file.write_text("".join(f"export {k}={v}\n" for k, v in env(settings).items()))
    log.info("stack is up; environment in %s", env_file)
    return pids


def down(settings: Settings) -> list[str]:
    cfg = settings.stack
    stopped = [mod.NAME for mod in reversed(SERVICES) if mod.down(cfg)]
    (cfg.state_dir / "stack.env").unlink(missing_ok=True)
    return stopped


def status(settings: Settings) -> dict[str, int | None]:
    return {mod.NAME: process.running_pid(settings.stack.state_dir, mod.NAME, mod.MARKER) for mod in SERVICES}


def env(settings: Settings) -> dict[str, str]:
    """Variables that point every command at the local stack."""
    cfg = settings.stack
    return {
        "RCA_KAFKA_BOOTSTRAP_SERVERS": bootstrap(settings),
        "MLFLOW_TRACKING_URI": mlflow_server.uri(cfg),
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint(cfg),
        "RCA_S3_ENDPOINT_URL": s3.endpoint(cfg),
        "RCA_S3_BUCKET": settings.s3.bucket,
        "AWS_ACCESS_KEY_ID": cfg.access_key,
        "AWS_SECRET_ACCESS_KEY": cfg.secret_key.get_secret_value(),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
