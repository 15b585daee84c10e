"""Start, find and stop the stack's background processes.

Each service writes a pid file under the state folder; `down` stops only
processes whose pid file we wrote and whose command line still carries our
marker, so it never kills something that `up` did not start.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A stack service failed to start or become ready."""


def pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / "pids" / f"{name}.pid"


def log_file(state_dir: Path, name: str) -> Path:
    return state_dir / "logs" / f"{name}.log"


def running_pid(state_dir: Path, name: str, marker: str) -> int | None:
    """The pid of our running service `name`, or None."""
    path = pid_file(state_dir, name)
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if marker in cmdline else None


def start(state_dir: Path, name: str, argv: list[str], env: dict[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start `argv` detached (own session), logging to state/logs/<name>.log."""
    log_path = log_file(state_dir, name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_file(state_dir, name).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
        )
    pid_file(state_dir, name).write_text(str(proc.pid))
    log.info("started %s (pid %d)", name, proc.pid)
    return proc.pid


def ensure(state_dir: Path, name: str, marker: str, launch: Callable[[], int], probe: Callable[[], bool],
           timeout: float, port: int | None = None) -> int:
    """Our service `name`: started with `launch()` (which returns its pid) unless it is running;
    its pid once `probe` answers. When ours is not running but something already listens on
    `port` (another checkout's stack), fail: the new process could not bind, while the probe
    would answer from the other one and every command would use a stack it does not own."""
    pid = running_pid(state_dir, name, marker)
    if pid is None:
        if port is not None and port_in_use(port):
            raise ServiceError(f"{name}: 127.0.0.1:{port} is already in use by a process this stack did not start "
                               f"(another checkout's stack? stop it there, or choose other RCA_STACK_*_PORT values)")
        pid = launch()
    wait_ready(name, pid, probe, timeout, log_file(state_dir, name))
    return pid


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def wait_ready(name: str, pid: int, probe: Callable[[], bool], timeout: float, log_path: Path) -> None:
    """Poll `probe` until it answers True; fail fast if the process dies."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise ServiceError(f"{name} exited during start-up; see {log_path}:\n{_tail(log_path)}")
        try:
            if probe():
                return
        except Exception as exc:  # noqa: BLE001 - any probe failure means "not yet"
            log.debug("%s not ready: %s", name, exc)
        time.sleep(delay)  # polling interval of a readiness loop, not a fixed wait
        delay = min(delay * 1.5, 1.0)
    raise ServiceError(f"{name} not ready after {timeout:.0f}s; see {log_path}:\n{_tail(log_path)}")


def stop(state_dir: Path, name: str, marker: str, timeout: float = 20.0) -> bool:
    """Stop our service `name` (SIGTERM, then SIGKILL). True if one was stopped."""
    pid = running_pid(state_dir, name, marker)
    pid_file(state_dir, name).unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    log.info("stopped %s (pid %d)", name, pid)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as dead
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"
