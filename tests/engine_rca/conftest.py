"""Small generated OpenStack-like runs for the RCA engine's tests (no I/O)."""
from __future__ import annotations

import random
import uuid

import pytest

from schemas.log_event import Frame, LogEvent

# (service, logger) of each step of the synthetic workload
_STEPS = [
    ("nova-api", "nova.api.openstack.wsgi", "POST /v2.1/servers accepted"),
    ("nova-scheduler", "nova.scheduler.manager", "Selected host for instance"),
    ("nova-compute", "nova.compute.manager", "Starting instance build"),
    ("neutron-server", "neutron.plugins.ml2.plugin", "Port bound for device"),
    ("nova-compute", "nova.virt.libvirt.driver", "Instance spawned successfully"),
    ("cinder-api", "cinder.api.v2.volumes", "Create volume request"),
    ("cinder-volume", "cinder.volume.manager", "Volume created successfully"),
    ("nova-compute", "nova.compute.manager", "Attaching volume to instance"),
    ("cinder-volume", "cinder.volume.manager", "Volume attached"),
    ("neutron-server", "neutron.db.l3_db", "Floating IP associated"),
    ("nova-compute", "nova.compute.manager", "Detaching volume from instance"),
    ("nova-compute", "nova.compute.manager", "Terminating instance"),
    ("neutron-server", "neutron.plugins.ml2.plugin", "Port deleted for device"),
    ("cinder-volume", "cinder.volume.manager", "Volume deleted"),
]

SITE = "/usr/lib/python2.7/site-packages/"


def _event(t, service, logger, level, message, req=None, inst=None, frames=None, exc=None):
    raw = f"2018-06-28 05:00:00.000 1000 {level} {logger} [{req or '-'}] {message}"
    if frames:
        raw += "".join(f'\n  File "{f.file}", line {f.line}, in {f.function}' for f in frames)
        raw += f"\n{exc}: boom"
    return LogEvent(message=message, raw=raw, timestamp=t, service=service, level=level,
                    logger=logger, request_id=req, instance_id=inst, frames=list(frames or []),
                    exception_type=exc)


def _frames(modules):
    return [Frame(SITE + m.replace(".", "/") + ".py", 10 + i, f"func_{i}") for i, m in enumerate(modules)]


def make_run(rng: random.Random, fault: str | None = None, healthy_error: bool = False,
             stop_at: float = 0.5) -> list[LogEvent]:
    """One run of the workload.

    fault: the module that fails (its service logs a traceback whose innermost
    OpenStack frame is the module, and the workload stops); a neutron fault
    also makes nova-compute log a later error for the same instance (the
    symptom). healthy_error: a periodic error that does not stop anything.
    """
    t = 1_530_000_000.0 + rng.random() * 1000
    inst = str(uuid.UUID(int=rng.getrandbits(128)))
    events: list[LogEvent] = []
    n_steps = len(_STEPS) if fault is None else max(2, int(len(_STEPS) * stop_at))
    for k, (service, logger, text) in enumerate(_STEPS[:n_steps]):
        req = f"req-{uuid.UUID(int=rng.getrandbits(128))}"
        for _ in range(3):  # noise: varying numbers are masked away
            t += rng.random()
            events.append(_event(t, service, "oslo_concurrency.lockutils", "DEBUG",
                                 f"Lock compute_resources held {rng.random():.3f}s", req))
        t += rng.random()
        events.append(_event(t, service, logger, "INFO", f"{text} {inst}", req, inst))
        if healthy_error and k == 3:
            t += 0.5
            events.append(_event(t, "nova-compute", "nova.compute.manager", "ERROR",
                                 "Error updating resources for node localhost: TimeoutError", None, None,
                                 _frames(["nova.compute.manager", "nova.compute.resource_tracker"]),
                                 "TimeoutError"))
    if fault:
        sub = fault.split(".")[0]
        service = {"nova": "nova-compute", "neutron": "neutron-server", "cinder": "cinder-volume"}[sub]
        outer = {"nova": "nova.compute.manager", "neutron": "neutron.plugins.ml2.plugin",
                 "cinder": "cinder.volume.manager"}[sub]
        req = f"req-{uuid.UUID(int=rng.getrandbits(128))}"
        t += 1.0
        events.append(_event(t, service, outer, "ERROR",
                             f"Unexpected failure for instance {inst}: TypeError: bad call",
                             req, inst, _frames([outer, fault]), "TypeError"))
        if sub == "neutron":
            t += 2.0
            events.append(_event(t, "nova-compute", "nova.compute.manager", "ERROR",
                                 "Instance failed to spawn: VirtualInterfaceCreateException", req, inst,
                                 _frames(["nova.compute.manager", "nova.virt.libvirt.driver"]),
                                 "VirtualInterfaceCreateException"))
            t += 1.0
            events.append(_event(t, "nova-conductor", "nova.scheduler.utils", "WARNING",
                                 "Setting instance to ERROR state.: NoValidHost", req, inst))
    return events


FAULTS = ["nova.compute.api", "nova.objects.request_spec", "neutron.db.ipam_backend_mixin",
          "neutron.agent.l3.router_info", "cinder.volume.flows.api.create_volume",
          "cinder.db.sqlalchemy.api"]


@pytest.fixture(scope="session")
def synth():
    """(runs, labels, roots) of a small labelled training set, and a fresh rng."""
    rng = random.Random(7)
    runs, labels, roots = [], [], []
    for i in range(16):
        runs.append(make_run(rng, healthy_error=(i % 5 == 0)))
        labels.append(False)
        roots.append(None)
    for fault in FAULTS * 2:
        runs.append(make_run(rng, fault=fault, stop_at=rng.uniform(0.3, 0.7)))
        labels.append(True)
        roots.append(fault)
    return runs, labels, roots


@pytest.fixture(scope="session")
def fitted(synth):
    from engine.rca import RCAModel

    runs, labels, roots = synth
    return RCAModel().fit(runs, labels, roots)


@pytest.fixture()
def rng():
    return random.Random(1234)
