"""The `rca` command: one entry point, a subcommand per use.

Kept to argument handling and output: each subcommand calls into the
packages (devstack, producers, consumers, engine, tracking). Errors users can
cause (bad paths, bad input, unreachable services) end with one line on
stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import os

# Inference multiplies small matrices (one window at a time): BLAS worker threads only
# add hand-offs there, and on a busy 2-core host their spin-waits cost milliseconds per
# call. Set before NumPy loads; an explicit setting by the user wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib.abc  # noqa: E402
import importlib.util  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402


class QuietTensorFlow(importlib.abc.MetaPathFinder):
    """TensorFlow is imported lazily (training, or unpickling a model bundle) from several places;
    this one hook, installed before any of them, silences what its native libraries print on
    stderr while `import tensorflow` runs ("All log messages before absl::InitializeLog() ...",
    "oneDNN custom operations are on ..."): TF_CPP_MIN_LOG_LEVEL does not reach those lines.
    Python errors of the import still propagate; RCA_TF_VERBOSE=1 keeps the lines."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                with _stderr_to_devnull():
                    run(module)
            spec.loader.exec_module = exec_module
        return spec


@contextlib.contextmanager
def _stderr_to_devnull():
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


if not os.environ.get("RCA_TF_VERBOSE"):
    sys.meta_path.insert(0, QuietTensorFlow())

from cli import commands  # noqa: E402


class BrokerRetries(logging.Filter):
    """Broker connection retries (librdkafka's and aiokafka's "connect failed", "disconnected",
    "unable to request metadata" ...) are logged once, and only when they last: the first
    `patience` seconds of an episode are silent (a broker restarting, a rebalance), then one
    line says the broker has been unreachable that long; an episode ends after `quiet` seconds
    without such a message."""

    PATTERNS = ("connect to ", "connection refused", "unable connect to node", "unable to request metadata",
                "disconnected", "connection reset", "all brokers are down", "all_brokers_down",
                "failed to resolve", "receive failed", "connect call failed", "transport failure",
                "coordinator dead", "coordinator load in progress", "broker transport")

    def __init__(self, patience: float = 10.0, quiet: float = 30.0) -> None:
        super().__init__()
        self.patience, self.quiet = patience, quiet
        self.episodes: dict[str, list] = {}   # logger name -> [first seen, last seen, reported]

    def is_retry(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL or not (record.name.startswith(("aiokafka", "kafka"))
                                                     or "rdkafka" in str(record.msg)
                                                     or record.name.startswith(("producers.", "consumers."))):
            return False
        text = record.getMessage().lower()
        return any(p in text for p in self.PATTERNS)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.is_retry(record):
            return True
        import time

        now = time.monotonic()
        episode = self.episodes.get(record.name)
        if episode is None or now - episode[1] > self.quiet:
            episode = self.episodes[record.name] = [now, now, False]
        episode[1] = now
        if episode[2] or now - episode[0] < self.patience:
            return False
        episode[2] = True
        original = record.getMessage()
        record.msg = f"broker unreachable for {now - episode[0]:.0f} s, still retrying (said once): %s"
        record.args = (original,)
        return True


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rca", description="Streaming root-cause analysis for OpenStack logs.")
    p.add_argument("--log-level", default=os.environ.get("RCA_LOG_LEVEL", "INFO"),
                   help="logging level (default INFO, env RCA_LOG_LEVEL)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in commands.REGISTRY:
        register(sub)
    return p


LEGACY_MODES = ("train", "analyze")


def legacy_argv(argv: list[str]) -> list[str]:
    """The older tool's `--mode train|analyze ...` becomes `train|analyze ...`."""
    if "--mode" in argv:
        i = argv.index("--mode")
        if i + 1 < len(argv) and argv[i + 1] in LEGACY_MODES:
            return [argv[i + 1], *argv[:i], *argv[i + 2:]]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(legacy_argv(list(sys.argv[1:] if argv is None else argv)))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("absl").setLevel(max(logging.ERROR, logging.getLogger().level))  # absl's Python warnings
    for handler in logging.getLogger().handlers:
        handler.addFilter(BrokerRetries())
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:   # `rca results | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except commands.USER_ERRORS as exc:
        print(f"rca {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
