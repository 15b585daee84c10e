"""The MLflow tracking server: SQLite backend, artifacts on the S3 server."""
from __future__ import annotations

import sys
import urllib.request

from config.settings import StackSettings
from devstack import process, s3

NAME = "mlflow"
MARKER = "mlflow-rca-devstack"


def uri(cfg: StackSettings) -> str:
    return f"http://127.0.0.1:{cfg.mlflow_port}"


def up(cfg: StackSettings, bucket: str) -> int:
    return process.ensure(cfg.state_dir, NAME, MARKER, lambda: _start(cfg, bucket), lambda: _healthy(cfg), 180,
                          port=cfg.mlflow_port)


def _start(cfg: StackSettings, bucket: str) -> int:
    home = cfg.state_dir / "mlflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint(cfg),
        "AWS_ACCESS_KEY_ID": cfg.access_key,
        "AWS_SECRET_ACCESS_KEY": cfg.secret_key.get_secret_value(),
        "AWS_DEFAULT_REGION": "us-east-1",
        "RCA_DEVSTACK_MARKER": MARKER,
    }
    # `-c` with a marker in argv lets `down` recognise our process.
    argv = [
        sys.executable, "-c", f"import sys; sys.argv[0]='mlflow'; from mlflow.cli import cli; cli()  # {MARKER}",
        "server", "--host", "127.0.0.1", "--port", str(cfg.mlflow_port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
        "--artifacts-destination", f"s3://{bucket}/mlflow-artifacts",
    ]
    return process.start(cfg.state_dir, NAME, argv, env=env, cwd=home)


def _healthy(cfg: StackSettings) -> bool:
    with urllib.request.urlopen(f"{uri(cfg)}/health", timeout=2) as resp:
        return resp.status == 200


def down(cfg: StackSettings) -> bool:
    return process.stop(cfg.state_dir, NAME, MARKER)
