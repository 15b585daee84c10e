"""Ground truth: what was injected, where it started, what it touched.

``time`` is the first log line the fault itself caused (in the origin
service); ``end`` the last line it caused anywhere. ``symptoms`` are the
places the error shows up later (often in another service: a neutron fault
surfaces in nova-compute as "Instance failed to spawn").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

# ms -> datetime, supplied by the simulation (labels know no clock of their own)
ToDatetime = Callable[[int], datetime]


@dataclass(frozen=True)
class FaultSpec:
    """One entry of the fault catalogue."""

    name: str
    category: str
    subsystem: str
    service: str
    module: str
    description: str
    scope: str = "request"  # or "infrastructure": a shared dependency, many services affected
    outage: bool = False
    # what the cause is: "module" (the Python module ``module`` is at fault) or "infrastructure" (a daemon
    # below the services: ``component`` such as ``rabbitmq``, ``mariadb/galera``, ``haproxy:nova_api``)
    kind: str = "module"
    component: str | None = None


@dataclass
class Injection:
    """A fault being injected: filled in while its log lines are generated."""

    id: str
    spec: FaultSpec
    planned: int
    time: int | None = None
    end: int | None = None
    host: str = "controller"
    exception_type: str | None = None
    request_ids: list[str] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)
    resource_ids: list[str] = field(default_factory=list)
    symptoms: list[tuple[str, int, str, str | None]] = field(default_factory=list)

    def origin(self, ms: int, host: str | None = None, exception_type: str | None = None) -> None:
        if self.time is None or ms < self.time:
            self.time = ms
        if host:
            self.host = host
        if exception_type and not self.exception_type:
            self.exception_type = exception_type
        self.touch(ms)

    def touch(self, ms: int) -> None:
        self.end = ms if self.end is None else max(self.end, ms)

    def symptom(self, service: str, ms: int, message: str, exception_type: str | None = None) -> None:
        self.symptoms.append((service, ms, message, exception_type))
        self.touch(ms)

    def affect(self, request: str | None = None, instance: str | None = None, *resources: str) -> None:
        if request and request not in self.request_ids:
            self.request_ids.append(request)
        if instance and instance not in self.instance_ids:
            self.instance_ids.append(instance)
        for r in resources:
            if r and r not in self.resource_ids:
                self.resource_ids.append(r)

    def label(self, to_datetime: ToDatetime) -> "FaultLabel":
        start = self.time if self.time is not None else self.planned
        end = self.end if self.end is not None else start
        s = self.spec
        return FaultLabel(
            id=self.id, name=s.name, category=s.category, subsystem=s.subsystem, service=s.service,
            module=s.module, scope=s.scope, host=self.host, description=s.description,
            kind=s.kind, component=s.component if s.component is not None else s.module,
            time=iso_ms(to_datetime(start)), timestamp=_epoch(to_datetime(start)),
            end_time=iso_ms(to_datetime(end)), end_timestamp=_epoch(to_datetime(end)),
            exception_type=self.exception_type, request_ids=list(self.request_ids),
            instance_ids=list(self.instance_ids), resource_ids=list(self.resource_ids),
            symptoms=[{"service": svc, "time": iso_ms(to_datetime(ms)), "timestamp": _epoch(to_datetime(ms)),
                       "message": msg, "exception_type": exc} for svc, ms, msg, exc in sorted(
                           self.symptoms, key=lambda x: x[1])],
        )


@dataclass(frozen=True)
class FaultLabel:
    """One row of ground_truth.json (timestamps: epoch seconds, log times read as UTC)."""

    id: str
    name: str
    category: str
    subsystem: str
    service: str
    module: str
    scope: str
    host: str
    description: str
    time: str
    timestamp: float
    end_time: str
    end_timestamp: float
    exception_type: str | None
    request_ids: list[str]
    instance_ids: list[str]
    resource_ids: list[str]
    symptoms: list[dict[str, Any]]
    kind: str = "module"          # "module" or "infrastructure"
    component: str | None = None  # the module, or the infrastructure component (``rabbitmq``) on ``host``

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def affected_ids(self) -> list[str]:
        return [*self.request_ids, *self.instance_ids, *self.resource_ids]


def iso_ms(d: datetime) -> str:
    """'YYYY-MM-DD HH:MM:SS.mmm', the log lines' own time format."""
    return d.strftime("%Y-%m-%d %H:%M:%S.") + f"{d.microsecond // 1000:03d}"


def _epoch(d: datetime) -> float:
    return round(d.replace(tzinfo=timezone.utc).timestamp(), 3)
