"""What every flow needs: the cloud, the emitter, the rng, and the outages.

An *outage* (database, message queue) is planned before any log is
generated, so each operation can ask whether it runs inside one and fail the
way it would (``World.api_outage``); the fault module supplies the failure
(``Outage.api_failure``) so the flows never import the fault catalogue.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Protocol

from producers.simulator.cloud import Cloud
from producers.simulator.core import Clock, Ctx, Emitter, Proc, Timeline

KEYSTONE_CACHE_WARNING = (
    "Using the in-process token cache is deprecated as of the 4.2.0 release and may be removed in the "
    "5.0.0 release or the 'O' development cycle. The in-process cache causes inconsistent results and "
    "high memory usage. When the feature is removed the auth_token middleware will not cache tokens by "
    "default which may result in performance issues. It is recommended to use  memcache for the "
    "auth_token token cache by setting the memcached_servers option.")


class ApiFailure(Protocol):
    def __call__(self, w: "World", c: Clock, proc: Proc, ctx: Ctx, method: str, path: str,
                 inst: str | None = None) -> None: ...


@dataclass
class Outage:
    """A window [start, end) in ms during which a shared dependency is down."""

    kind: str  # "database" or "message-queue"
    start: int
    end: int
    services: frozenset[str]  # APIs whose requests fail during the window
    api_failure: ApiFailure
    # what nova-compute's resource audit logs when it cannot reach the conductor
    periodic_failure: Callable[["World", Clock, object], None] = lambda w, c, host: None

    def covers(self, t: int) -> bool:
        return self.start <= t < self.end


@dataclass
class World:
    rng: random.Random
    timeline: Timeline
    cloud: Cloud
    em: Emitter
    outages: list[Outage] = field(default_factory=list)
    _warm: set[int] = field(default_factory=set)

    @property
    def ids(self):
        return self.cloud.ids

    def clock(self, t: int) -> Clock:
        return Clock(t, self.rng)

    def outage(self, t: int, service: str) -> Outage | None:
        """The outage that breaks a request to ``service`` at time t, if any."""
        for o in self.outages:
            if o.covers(t) and service in o.services:
                return o
        return None

    def api_outage(self, c: Clock, service: str, ctx: Ctx, method: str, path: str, inst: str | None = None,
                   proc: Proc | None = None) -> bool:
        """True when a request to ``service`` at the clock's time falls in an outage; the outage
        has then logged the failed call (on ``proc``, else a worker picked now)."""
        o = self.outage(c.t, service)
        if o is None:
            return False
        o.api_failure(self, c, proc if proc is not None else self.cloud.proc(service), ctx, method, path, inst)
        return True

    def first_request(self, c: Clock, proc: Proc) -> None:
        """keystonemiddleware's deprecation warning on a worker's first request."""
        if proc.pid in self._warm or proc.service not in ("nova-api", "cinder-api"):
            return
        self._warm.add(proc.pid)
        self.em.log(c, proc, "WARNING", "keystonemiddleware.auth_token", KEYSTONE_CACHE_WARNING,
                    Ctx(self.ids.req()))

    def user_ctx(self, tenant) -> Ctx:
        return Ctx(self.ids.req(), tenant.user, tenant.project)
