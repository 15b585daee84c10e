"""Artifact stores: one interface, implementations chosen by URL scheme.

``s3://bucket[/prefix]`` -> :class:`S3Store` (boto3; endpoint, region from
config.settings.S3Settings; credentials from boto3's standard chain).
``file:///path`` or a plain path -> :class:`FileStore` (a local folder; the
no-configuration default under the state folder).

Keys are '/'-separated paths relative to the store's root. ``claim`` makes a
run folder name exclusive across processes (see tracking/naming.py).
"""
from __future__ import annotations

import abc
import functools
import logging
import os
import threading
import tempfile
import urllib.parse
import uuid
from pathlib import Path

from config.settings import S3Settings

log = logging.getLogger(__name__)


class ArtifactNotFound(FileNotFoundError):
    """The key does not exist in the store."""


class ArtifactStore(abc.ABC):
    """Where run folders live."""

    root_url: str

    @abc.abstractmethod
    def put(self, key: str, data: bytes, content_type: str | None = None) -> str:
        """Write ``data`` at ``key``; returns its URL."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes at ``key``; raises ArtifactNotFound."""

    @abc.abstractmethod
    def list(self, prefix: str, limit: int | None = None) -> list[str]:
        """Keys under ``prefix`` (sorted)."""

    @abc.abstractmethod
    def claim(self, folder: str) -> bool:
        """Atomically take ``folder`` (no '/' inside); False if it exists or another claimant won."""

    @abc.abstractmethod
    def probe(self) -> str | None:
        """None when usable, else a one-line reason."""

    def url_for(self, key: str) -> str:
        return f"{self.root_url.rstrip('/')}/{key.lstrip('/')}"

    def link_for(self, key: str) -> str:
        """A URL a person can open (defaults to url_for)."""
        return self.url_for(key)


class FileStore(ArtifactStore):
    """A local folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root_url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key.lstrip("/")).resolve()
        if path != self.root and self.root not in path.parents:
            raise ValueError(f"artifact key {key!r} leaves the store root {self.root}")
        return path

    def put(self, key: str, data: bytes, content_type: str | None = None) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.url_for(key)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ArtifactNotFound(self.url_for(key)) from exc

    def list(self, prefix: str, limit: int | None = None) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        keys = sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
        return keys[:limit] if limit else keys

    def claim(self, folder: str) -> bool:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._path(folder).mkdir()      # atomic: exactly one process creates it
        except FileExistsError:
            return False
        return True

    def probe(self) -> str | None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"artifact folder {self.root} is not writable ({exc.strerror})"
        return None if os.access(self.root, os.W_OK) else f"artifact folder {self.root} is not writable"


class S3Store(ArtifactStore):
    """A bucket (and optional key prefix) on AWS S3 or any S3-compatible server."""

    CLAIMS = ".claims"

    def __init__(self, bucket: str, prefix: str = "", settings: S3Settings | None = None,
                 probe_timeout_s: float = 2.0) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.settings = settings or S3Settings()
        self.probe_timeout_s = probe_timeout_s
        self.root_url = f"s3://{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self._client = None

    def _make_client(self, timeout: float | None = None, attempts: int = 3):
        return _s3_client(self.settings.endpoint_url, self.settings.region, timeout or 0, attempts,
                          os.environ.get("AWS_PROFILE"), os.environ.get("AWS_ACCESS_KEY_ID"))

    @property
    def client(self):
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _key(self, key: str) -> str:
        key = key.lstrip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str | None = None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
        return self.url_for(key)

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise ArtifactNotFound(self.url_for(key)) from exc
            raise

    def list(self, prefix: str, limit: int | None = None) -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=self._key(prefix)):
            # keys ending in '/' are folder markers (s3proxy's filesystem backend lists its directories)
            keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []) if not obj["Key"].endswith("/"))
            if limit and len(keys) >= limit:
                break
        keys.sort()
        return keys[:limit] if limit else keys

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def claim(self, folder: str) -> bool:
        """Write a claim object, then win only if it is the folder's only object.

        S3 (and s3proxy) offer no portable create-if-absent, so: each claimant
        writes ``{folder}/.claims/{token}`` and lists ``{folder}/``. With S3's
        read-after-write consistency, of two overlapping claimants the later
        lister always sees both, so at most one sees only its own claim; losers
        delete their claim. The winner's claim stays as the folder's marker.
        """
        mine = f"{folder}/{self.CLAIMS}/{uuid.uuid4().hex}"
        self.put(mine, b"", content_type="text/plain")
        found = self.list(f"{folder}/", limit=2)
        if found == [mine]:
            return True
        try:
            self.delete(mine)
        except Exception:  # noqa: BLE001 - a stale losing claim only blocks its own name
            log.debug("could not remove losing claim %s", mine, exc_info=True)
        return False

    def probe(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        where = self.settings.endpoint_url or "AWS S3"
        try:
            self._make_client(self.probe_timeout_s, attempts=1).head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            return f"S3 bucket {self.bucket} at {where} is not usable ({code})"
        except (BotoCoreError, OSError) as exc:
            return f"S3 at {where} is unreachable ({type(exc).__name__})"
        return None

    def link_for(self, key: str) -> str:
        full = self._key(key)
        if self.settings.endpoint_url:
            return f"{self.settings.endpoint_url.rstrip('/')}/{self.bucket}/{urllib.parse.quote(full)}"
        return (f"https://s3.console.aws.amazon.com/s3/buckets/{self.bucket}"
                f"?region={self.settings.region}&prefix={urllib.parse.quote(full)}")


_session_lock = threading.Lock()


@functools.lru_cache(maxsize=16)
def _s3_client(endpoint_url: str | None, region: str, timeout: float, attempts: int,
               _profile: str | None, _access_key: str | None):
    """A cached boto3 S3 client (creating one costs ~0.5 s; clients are thread-safe).

    The profile and access key are part of the cache key so a changed credential
    environment gets a new client.
    """
    import boto3
    from botocore.config import Config

    # Checksums only when the operation requires them: S3-compatible servers (s3proxy, older
    # MinIO/Ceph) refuse the flexible-checksum headers newer boto3 sends by default.
    cfg = Config(connect_timeout=timeout or 10, read_timeout=timeout or 60,
                 retries={"max_attempts": attempts, "mode": "standard"},
                 request_checksum_calculation="when_required", response_checksum_validation="when_required")
    with _session_lock:
        return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=cfg)


def open_store(url: str, s3: S3Settings | None = None, probe_timeout_s: float = 2.0) -> ArtifactStore:
    """The store for a root URL, chosen by scheme."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"{url!r}: an s3:// URL needs a bucket")
        return S3Store(parsed.netloc, parsed.path, s3, probe_timeout_s)
    if parsed.scheme == "file":
        return FileStore(urllib.parse.unquote(parsed.path))
    if parsed.scheme == "" and url:
        return FileStore(url)
    raise ValueError(f"{url!r}: unsupported artifact URL (use s3://bucket[/prefix] or file:///path)")


def split_url(url: str, s3: S3Settings | None = None) -> tuple[ArtifactStore, str]:
    """(store, key) for a full artifact URL such as s3://bucket/run/artifacts/model."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "s3":
        return open_store(f"s3://{parsed.netloc}", s3), parsed.path.lstrip("/")
    if parsed.scheme in ("file", ""):
        path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme else url).expanduser().resolve()
        return FileStore(path.parent), path.name
    raise ValueError(f"{url!r}: unsupported artifact URL (use s3://... or a local path)")


__all__ = ["ArtifactStore", "ArtifactNotFound", "FileStore", "S3Store", "open_store", "split_url"]
