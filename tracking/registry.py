"""The model registry: versions of one registered model, aliases `production` and `challenger`.

Each trained bundle is a version whose source is its run folder
(``s3://{bucket}/{run name}/artifacts/model``). Aliases are the mechanism
(MLflow stages are deprecated): ``--stage Production`` maps to the alias
``production``, ``Staging`` to ``challenger``, ``Archived`` to archive.
The order in which versions held ``production`` is kept in the registered
model tag ``rca.production_history`` so ``rollback`` can step back through it.
Archived versions carry the version tag ``rca.archived=true`` and no alias.

Every load verifies before unpickling (tracking/bundle_io.py) and keeps a
verified copy in the model cache, used when the registry is unreachable.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from engine import bundle as bundle_mod
from engine.bundle import ModelBundle
from tracking import bundle_io
from tracking.backend import Backend
from tracking.manifest import MODEL_FILE
from tracking.signing import BundleVerificationError
from tracking.storage import FileStore, split_url

log = logging.getLogger(__name__)

PRODUCTION = "production"
CHALLENGER = "challenger"
ALIASES = (PRODUCTION, CHALLENGER)
ARCHIVED_TAG = "rca.archived"
HISTORY_TAG = "rca.production_history"
HISTORY_MAX = 50
STAGES = {"production": PRODUCTION, "staging": CHALLENGER, "challenger": CHALLENGER, "archived": "archived"}


MetricRow = tuple[str, float | None, float | None]


class RegistryUnavailable(RuntimeError):
    """The tracking server (and so the registry) cannot be reached."""


def alias_for(alias: str | None = None, stage: str | None = None) -> str:
    """The alias (or 'archived') for --alias/--stage; stages map as MLflow's migration guide suggests."""
    if stage is not None:
        target = STAGES.get(stage.strip().lower())
        if target is None:
            raise ValueError(f"unknown stage {stage!r} (use Production, Staging or Archived; "
                             "stages map to the aliases production/challenger)")
        if alias is not None and alias.lower() != target:
            raise ValueError(f"--stage {stage} means alias {target!r}, which conflicts with --alias {alias}")
        return target
    target = (alias or PRODUCTION).strip().lower()
    looks_like_version = target == "latest" or re.fullmatch(r"v\d+", target) is not None
    if looks_like_version or not re.fullmatch(r"[a-z][a-z0-9_-]*", target):
        raise ValueError(f"invalid alias {alias!r}")
    return target


def _user_errors(fn):
    """MLflow and S3 failures become RuntimeError with one line (the CLI shows it and exits 1)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as exc:
            first = (exc.message or str(exc)).splitlines()[0]
            raise RuntimeError(first) from exc
        except Exception as exc:
            if type(exc).__module__.startswith(("botocore", "boto3")):
                raise RuntimeError(f"S3: {exc}") from exc
            raise
    return wrapper


@dataclass(frozen=True)
class VersionInfo:
    version: int
    source: str
    run_id: str | None
    run_name: str | None
    aliases: tuple[str, ...]
    archived: bool
    created: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "aliases": list(self.aliases), "archived": self.archived,
                "run_name": self.run_name, "run_id": self.run_id, "source": self.source, "created": self.created,
                "description": self.description, "tags": dict(self.tags)}


class Registry:
    """Operations on one registered model (default: RCA_MLFLOW_REGISTERED_MODEL_NAME)."""

    def __init__(self, backend: Backend | None = None, name: str | None = None) -> None:
        self.backend = backend or Backend.from_env()
        self.name = name or self.backend.registered_model_name
        self._client = None

    @property
    def client(self):
        if self._client is None:
            reason = self.backend.probe_tracking()
            if reason:
                raise RegistryUnavailable(reason)
            self._client = self.backend.client()
        return self._client

    # -- reading -----------------------------------------------------------
    def _aliases(self) -> dict[str, int]:
        from mlflow.exceptions import MlflowException

        try:
            rm = self.client.get_registered_model(self.name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise RuntimeError(f"registered model {self.name!r} does not exist (train a model first)") from exc
            raise
        return {a: int(v) for a, v in (rm.aliases or {}).items()}

    def _info(self, mv, aliases: dict[str, int]) -> VersionInfo:
        v = int(mv.version)
        tags = dict(mv.tags or {})
        created = datetime.fromtimestamp((mv.creation_timestamp or 0) / 1000, timezone.utc)
        created = created.isoformat(timespec="seconds")
        return VersionInfo(version=v, source=mv.source, run_id=mv.run_id or None, run_name=tags.get("run_name"),
                           aliases=tuple(sorted(a for a, av in aliases.items() if av == v)),
                           archived=tags.get(ARCHIVED_TAG) == "true", created=created,
                           description=mv.description or "", tags=tags)

    @_user_errors
    def list(self, include_archived: bool = True) -> list[VersionInfo]:
        aliases = self._aliases()
        name = self.name.replace("'", "\\'")
        versions = self.client.search_model_versions(f"name = '{name}'", max_results=10_000)
        infos = sorted((self._info(mv, aliases) for mv in versions), key=lambda i: i.version, reverse=True)
        return [i for i in infos if include_archived or not i.archived]

    def resolve(self, ref: str | int | None) -> int:
        """Version number for 3, '3', 'v3', 'latest', an alias or a stage name."""
        return self._resolve(ref)[0]

    def _resolve(self, ref: str | int | None) -> tuple[int, dict[str, int] | None]:
        """(version, the model's aliases when they were fetched to resolve ``ref``, else None)."""
        if ref is None:
            ref = PRODUCTION
        if isinstance(ref, int):
            return ref, None
        text = str(ref).strip()
        m = re.fullmatch(r"(?:v|version\s*)?(\d+)", text, re.IGNORECASE)
        if m:
            return int(m.group(1)), None
        if text.lower() == "latest":
            versions = [i.version for i in self.list(include_archived=False)]
            if not versions:
                raise RuntimeError(f"registered model {self.name!r} has no versions")
            return max(versions), None
        alias = STAGES.get(text.lower(), text.lower())
        if alias == "archived":
            raise ValueError("'archived' is not a single version; use a version number")
        aliases = self._aliases()
        version = aliases.get(alias)
        if version is None:
            raise RuntimeError(f"registered model {self.name!r} has no {alias!r} version "
                               f"(`rca models promote --version N --alias {alias}`)")
        return version, aliases

    @_user_errors
    def get(self, ref: str | int | None = PRODUCTION) -> VersionInfo:
        version, aliases = self._resolve(ref)
        mv = self.client.get_model_version(self.name, str(version))
        return self._info(mv, aliases if aliases is not None else self._aliases())

    # -- writing -----------------------------------------------------------
    @_user_errors
    def register(self, *, source: str, run_id: str | None, run_name: str | None, manifest: dict[str, Any],
                 aliases: tuple[str, ...] = (CHALLENGER,), production_if_none: bool = True) -> VersionInfo:
        """A new version for a run folder's model; alias ``challenger`` (and ``production`` if there is none)."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(
                self.name, description="OpenStack RCA model bundles (model.pkl + signed manifest.json)")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        tags = {"run_name": run_name or "", "artifact_folder": source.rsplit("/model", 1)[0] + "/",
                "sha256": manifest.get("sha256", ""), "signed": "true" if manifest.get("signature") else "false"}
        mv = self.client.create_model_version(self.name, source, run_id=run_id, tags=tags,
                                              description=f"run {run_name}; bundle at {source}",
                                              await_creation_for=0)
        version = int(mv.version)
        for alias in aliases:   # the bundle was just written and signed here: no need to read it back
            self.promote(version, alias, verify=False)
        if production_if_none and PRODUCTION not in self._aliases():
            log.info("no production version of %s yet: version %d becomes production", self.name, version)
            self.promote(version, PRODUCTION, verify=False)
        log.info("registered %s version %d (source %s)", self.name, version, source)
        return self.get(version)

    def _history(self) -> list[int]:
        rm = self.client.get_registered_model(self.name)
        try:
            return [int(v) for v in json.loads((rm.tags or {}).get(HISTORY_TAG, "[]"))]
        except (ValueError, TypeError):
            return []

    def _set_history(self, history: list[int]) -> None:
        self.client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history[-HISTORY_MAX:]))

    @_user_errors
    def promote(self, ref: str | int, alias: str | None = PRODUCTION, stage: str | None = None,
                verify: bool = True) -> VersionInfo:
        """Point ``alias`` (or the alias a stage maps to) at a version; archived versions are unarchived.

        The version's bundle is verified first (sha256 and HMAC signature, as the loader does, nothing
        unpickled): a bundle every worker would refuse is never promoted (BundleVerificationError).
        ``verify=False`` only where the bundle was just written and signed by this process."""
        target = alias_for(alias, stage)
        if target == "archived":
            return self.archive(ref)
        version = self.resolve(ref)
        mv = self.client.get_model_version(self.name, str(version))     # must exist
        if verify:
            self.verify(version)
        if (mv.tags or {}).get(ARCHIVED_TAG) == "true":
            log.info("unarchiving %s version %d", self.name, version)
            self.client.delete_model_version_tag(self.name, str(version), ARCHIVED_TAG)
        current = self._aliases().get(target)
        if target == PRODUCTION and current != version:
            history = self._history()
            if current is not None and (not history or history[-1] != current):
                history.append(current)
            history.append(version)
            self._set_history(history)
        self.client.set_registered_model_alias(self.name, target, str(version))
        log.info("%s version %d is now %s (was %s)", self.name, version, target, current)
        return self.get(version)

    @_user_errors
    def rollback(self) -> tuple[VersionInfo, VersionInfo]:
        """Move ``production`` to the version that held it before; returns (from, to).

        The target's bundle is verified first, as ``promote`` does (sha256 and HMAC, nothing
        unpickled): rolling back to a bundle every worker would refuse leaves production where it
        is (BundleVerificationError), and the history is left as it was."""
        aliases = self._aliases()
        current = aliases.get(PRODUCTION)
        if current is None:
            raise RuntimeError(f"registered model {self.name!r} has no production version to roll back")
        history = self._history()
        while history and history[-1] == current:
            history.pop()
        live = {i.version: i for i in self.list(include_archived=True)}
        while history and (history[-1] not in live or live[history[-1]].archived):
            history.pop()
        if not history:
            older = [v for v, i in live.items() if v < current and not i.archived]
            if not older:
                raise RuntimeError(f"no earlier production version of {self.name!r} to roll back to")
            history = [max(older)]
        target = history[-1]
        self.verify(target)
        self._set_history(history)
        self.client.set_registered_model_alias(self.name, PRODUCTION, str(target))
        log.info("rolled %s production back from version %d to %d", self.name, current, target)
        return self.get(current), self.get(target)

    @_user_errors
    def archive(self, ref: str | int) -> VersionInfo:
        """Tag a version archived and remove its aliases (refused for the production version)."""
        version = self.resolve(ref)
        self.client.get_model_version(self.name, str(version))
        for alias, v in self._aliases().items():
            if v != version:
                continue
            if alias == PRODUCTION:
                raise RuntimeError(f"version {version} is production; promote another version or "
                                   "`rca models rollback` first")
            self.client.delete_registered_model_alias(self.name, alias)
        self.client.set_model_version_tag(self.name, str(version), ARCHIVED_TAG, "true")
        log.info("archived %s version %d", self.name, version)
        return self.get(version)

    # -- comparing, exporting, loading -----------------------------------------
    def _metrics(self, info: VersionInfo) -> dict[str, float]:
        if info.run_id:
            try:
                return dict(self.client.get_run(info.run_id).data.metrics)
            except Exception:  # noqa: BLE001 - run deleted: fall back to the manifest
                log.debug("run %s of version %d unavailable", info.run_id, info.version, exc_info=True)
        store, key = split_url(info.source, self.backend.s3)
        return dict(bundle_io.read_manifest(store, key).get("metrics", {}))

    @_user_errors
    def compare(self, a: str | int, b: str | int) -> tuple[VersionInfo, VersionInfo, list[MetricRow]]:
        """Both versions and their metrics side by side: rows (metric, value in a, value in b)."""
        ia, ib = self.get(a), self.get(b)
        ma, mb = self._metrics(ia), self._metrics(ib)
        rows = [(k, ma.get(k), mb.get(k)) for k in sorted(set(ma) | set(mb))]
        return ia, ib, rows

    def _read_verified(self, info: VersionInfo) -> tuple[bytes, dict[str, Any]]:
        store, key = split_url(info.source, self.backend.s3)
        return bundle_io.read_verified(store, key, self.backend.signing_key())

    @_user_errors
    def verify(self, ref: str | int) -> VersionInfo:
        """Check a version's bundle (sha256 + HMAC, nothing unpickled); BundleVerificationError if refused."""
        info = self.get(ref)
        try:
            self._read_verified(info)
        except BundleVerificationError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BundleVerificationError(f"version {info.version} of {self.name} refused: {first}") from exc
        return info

    @_user_errors
    def manifest(self, ref: str | int) -> dict[str, Any]:
        info = self.get(ref)
        store, key = split_url(info.source, self.backend.s3)
        return bundle_io.read_manifest(store, key)

    @_user_errors
    def export(self, ref: str | int, path: str | Path, force: bool = False) -> Path:
        """Verify a version's bundle and write model.pkl + manifest.json into folder ``path``."""
        info = self.get(ref)
        data, manifest = self._read_verified(info)
        out = Path(path).expanduser()
        if (out / MODEL_FILE).exists() and not force:
            raise RuntimeError(f"{out / MODEL_FILE} exists (use --force to overwrite)")
        bundle_io.write_bytes(FileStore(out), "", data, manifest)
        log.info("exported %s version %d to %s", self.name, info.version, out)
        return out

    @_user_errors
    def load(self, ref: str | int | None = PRODUCTION, info: VersionInfo | None = None
             ) -> tuple[ModelBundle, VersionInfo, dict[str, Any]]:
        """(verified bundle, version, manifest); the verified bytes are cached for outages.

        ``info``: what ``get(ref)`` returned, when the caller just asked (saves asking again)."""
        info = info if info is not None else self.get(ref)
        data, manifest = self._read_verified(info)
        bundle = bundle_mod.from_bytes(data)          # _read_verified verified it
        self._cache_put(info, data, manifest, ref)
        return bundle, info, manifest

    # -- cache ---------------------------------------------------------------
    def _cache_root(self) -> Path:
        return self.backend.model_cache_dir / re.sub(r"[^A-Za-z0-9._-]+", "_", self.name)

    def _cache_put(self, info: VersionInfo, data: bytes, manifest: dict[str, Any], ref) -> None:
        try:
            root = self._cache_root()
            store = FileStore(root)
            bundle_io.write_bytes(store, f"v{info.version}", data, manifest)
            pointer = {"version": info.version, "source": info.source}
            named = {str(ref).lower()} if isinstance(ref, str) and not ref.strip().isdigit() else set()
            for alias in {*info.aliases, *named}:
                store.put(f"{alias}.json", orjson.dumps(pointer))
            keep = {f"v{info.version}"} | {f"v{orjson.loads((root / p).read_bytes())['version']}"
                                           for p in store.list("") if p.endswith(".json") and "/" not in p}
            for child in root.iterdir():
                if child.is_dir() and child.name.startswith("v") and child.name not in keep:
                    shutil.rmtree(child, ignore_errors=True)
        except Exception:  # noqa: BLE001 - the cache is a convenience
            log.debug("could not cache %s version %d", self.name, info.version, exc_info=True)

    def load_cached(self, ref: str | int | None = PRODUCTION) -> tuple[ModelBundle, int, dict[str, Any]]:
        """The last verified copy of ``ref`` (alias or version) from the local cache; still verified."""
        root = self._cache_root()
        ref = PRODUCTION if ref is None else ref
        text = str(ref).strip().lower()
        text = STAGES.get(text, text)
        m = re.fullmatch(r"v?(\d+)", text)
        if m:
            version = int(m.group(1))
        else:
            pointer = root / f"{text}.json"
            if not pointer.is_file():
                raise RuntimeError(f"no cached {text!r} copy of {self.name!r} in {root}")
            version = int(orjson.loads(pointer.read_bytes())["version"])
        bundle, manifest = bundle_io.read(FileStore(root), f"v{version}", self.backend.signing_key())
        return bundle, version, manifest


__all__ = ["Registry", "RegistryUnavailable", "VersionInfo", "alias_for", "PRODUCTION", "CHALLENGER",
           "BundleVerificationError"]
