"""Helpers shared by the tracking tests."""
from __future__ import annotations

import argparse

from cli.models_cmd import add_models


def rca_models(*argv: str) -> int:
    """Run `rca models ...` through the real argument parser and handlers."""
    parser = argparse.ArgumentParser(prog="rca")
    sub = parser.add_subparsers(dest="command", required=True)
    add_models(sub)
    args = parser.parse_args(["models", *argv])
    return int(args.func(args) or 0)


def client():
    from tracking.backend import Backend

    return Backend.from_env().client()
