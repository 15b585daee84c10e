"""One retraining at a time, each in its own process (off the worker's event loop).

The control agent submits accepted commands; a timer calls `poll()`, which
notices a finished process and starts the next queued command. Commands that
arrive while one is running are queued (up to `max_queue`) or rejected,
as configured (RCA_CONTROL_WHEN_BUSY).
"""
from __future__ import annotations

import logging
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field

import schemas
from config.settings import PROJECT_ROOT, ControlSettings

log = logging.getLogger(__name__)


@dataclass
class Job:
    command: dict
    proc: subprocess.Popen | None = None


@dataclass
class JobRunner:
    cfg: ControlSettings
    running: Job | None = None
    queue: deque = field(default_factory=deque)

    def submit(self, command: dict) -> str | None:
        """None if started or queued; else the rejection reason."""
        if self.running is None:
            self._start(Job(command))
            return None
        if self.cfg.when_busy == "reject" or len(self.queue) >= self.cfg.max_queue:
            return f"busy: retraining {self.running.command['command_id']} is running"
        self.queue.append(Job(command))
        return None

    def poll(self) -> tuple[Job, int] | None:
        """(finished job, exit code) when the running one ended; starts the next queued job."""
        if self.running is None:
            return None
        code = self.running.proc.poll()
        if code is None:
            return None
        done, self.running = self.running, None
        if self.queue:
            self._start(self.queue.popleft())
        return done, code

    def _start(self, job: Job) -> None:
        job.proc = subprocess.Popen([sys.executable, "-m", "consumers.trainer", schemas.encode(job.command).decode()],
                                    cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL)
        self.running = job
        log.info("retraining %s started (pid %d)", job.command["command_id"], job.proc.pid)
