"""JSON Schemas of every message (the single source of truth) and orjson codecs.

``validate(name, obj)`` checks a decoded message against ``<name>.schema.json``;
``encode``/``decode`` use orjson everywhere, so there is one JSON library in
the project.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import orjson
from jsonschema import Draft202012Validator

SCHEMA_NAMES = ("log_event", "rca_result", "control_command", "control_event", "dead_letter")


class SchemaError(ValueError):
    """A message does not follow its schema; the text says where and why."""


@lru_cache(maxsize=None)
def schema(name: str) -> dict[str, Any]:
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return orjson.loads(resources.files(__package__).joinpath(f"{name}.schema.json").read_bytes())


@lru_cache(maxsize=None)
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name))


def validate(name: str, obj: Any) -> None:
    """Raise SchemaError with the first problem found (path and message)."""
    error = next(iter(_validator(name).iter_errors(obj)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise SchemaError(f"{name}: {where}: {error.message}")


def is_valid(name: str, obj: Any) -> bool:
    return _validator(name).is_valid(obj)


def encode(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def decode(data: bytes | str) -> Any:
    return orjson.loads(data)


def examples(name: str, kind: str = "valid") -> list[Any]:
    """The shipped examples of a schema (kind 'valid' or 'invalid')."""
    return orjson.loads(resources.files(__package__).joinpath(f"examples/{name}.{kind}.json").read_bytes())
