"""An S3-compatible server: s3proxy (Apache-2.0) with its filesystem backend.

Chosen over SeaweedFS because it comes from Maven Central like Kafka (one JDK,
one resolver, no Go build of a large module tree), and over MinIO for its
licence. It speaks the real S3 API over HTTP, so boto3 and MLflow use it as
they would use AWS.
"""
from __future__ import annotations

from config.settings import StackSettings
from devstack import maven, process

NAME = "s3proxy"
MARKER = "org.gaul.s3proxy.Main"


def endpoint(cfg: StackSettings) -> str:
    return f"http://127.0.0.1:{cfg.s3_port}"


def up(cfg: StackSettings, bucket: str) -> int:
    return process.ensure(cfg.state_dir, NAME, MARKER, lambda: _start(cfg), lambda: _ensure_bucket(cfg, bucket), 90,
                          port=cfg.s3_port)


def _start(cfg: StackSettings) -> int:
    home = cfg.state_dir / "s3"
    lib = maven.resolve(f"s3proxy-{cfg.s3proxy_version}", [f"org.gaul:s3proxy:{cfg.s3proxy_version}"],
                        cfg.cache_dir)
    (home / "data").mkdir(parents=True, exist_ok=True)
    conf = home / "s3proxy.conf"
    conf.write_text(
        f"s3proxy.endpoint={endpoint(cfg)}\n"
        "s3proxy.authorization=aws-v2-or-v4\n"
        f"s3proxy.identity={cfg.access_key}\n"
        f"s3proxy.credential={cfg.secret_key.get_secret_value()}\n"
        "jclouds.provider=filesystem\n"
        f"jclouds.filesystem.basedir={home / 'data'}\n"
    )
    return process.start(cfg.state_dir, NAME,
                         ["java", "-Xmx256m", "-cp", f"{lib}/*", MARKER, "--properties", str(conf)])


def client(cfg: StackSettings):
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint(cfg), region_name="us-east-1",
        aws_access_key_id=cfg.access_key, aws_secret_access_key=cfg.secret_key.get_secret_value(),
    )


def _ensure_bucket(cfg: StackSettings, bucket: str) -> bool:
    s3 = client(cfg)
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in names:
        s3.create_bucket(Bucket=bucket)
    return True


def down(cfg: StackSettings) -> bool:
    return process.stop(cfg.state_dir, NAME, MARKER)
