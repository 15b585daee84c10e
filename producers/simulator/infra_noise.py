"""The infrastructure's routine noise in every run, healthy or not.

Real daemons log warnings and errors without any incident: RabbitMQ closes a
connection whose client missed its heartbeats (at ``[error]``) whenever a
service's connection blips, MariaDB notes aborted connections now and then.
A ranker that names every daemon that logged an error would name RabbitMQ for
a transient blip; these lines are here so it is tested against them.

Everything random here comes from the world's *noise* generator, never the
simulation's own: a seed's service logs stay byte-identical to what they were
before the infrastructure was simulated.
"""
from __future__ import annotations

import random

from producers.simulator.cloud import CONTROLLER, CONTROLLER_IP
from producers.simulator.core import Agenda, Proc
from producers.simulator.infra_logs import RABBIT_PORT, InfraLog
from producers.simulator.world import World


def noise_log(w: World) -> InfraLog:
    """The noise writer, with its own random generator (``World.noise_rng``, seeded by the simulation)."""
    log = getattr(w, "_noise_log", None)
    if log is None:
        log = InfraLog(w.timeline, getattr(w, "noise_rng", None) or random.Random(0))
        w._noise_log = log
    return log


def _ip(w: World, proc: Proc) -> str:
    if proc.host == CONTROLLER:
        return CONTROLLER_IP
    return next((h.ip for h in w.cloud.hosts if h.name == proc.host), CONTROLLER_IP)


def amqp_blip(w: World, t: int, proc: Proc) -> None:
    """RabbitMQ's side of a service's connection blip: the missed heartbeats, then the new connection."""
    log = noise_log(w)
    rng = log.rng
    conn = f"<0.{rng.randint(200, 9999)}.0>"
    log.rabbit(t, CONTROLLER, "error", conn, f"closing AMQP connection {conn} ({_ip(w, proc)}:"
               f"{rng.randint(33000, 60999)} -> {CONTROLLER_IP}:{RABBIT_PORT}):\nmissed heartbeats from client, "
               "timeout: 60s")
    conn = f"<0.{rng.randint(200, 9999)}.0>"
    log.rabbit(t + rng.randint(1100, 1700), CONTROLLER, "info", conn, f"accepting AMQP connection {conn} "
               f"({_ip(w, proc)}:{rng.randint(33000, 60999)} -> {CONTROLLER_IP}:{RABBIT_PORT})")


def start(w: World, agenda: Agenda, end: int) -> None:
    """MariaDB's aborted connections, one every ~8 minutes (a client that went away mid-connection)."""
    log = noise_log(w)
    rng = log.rng

    def aborted(t: int) -> None:
        host = rng.choice([CONTROLLER_IP, *(h.ip for h in w.cloud.hosts)])
        db = rng.choice(("nova", "nova_api", "neutron", "cinder", "glance"))
        log.mariadb(t, CONTROLLER, "Warning", f"Aborted connection {rng.randint(1000, 99999)} to db: '{db}' user: "
                    f"'{db.split('_')[0]}' host: '{host}' (Got an error reading communication packets)",
                    thread=rng.randint(10, 9999))
        nxt = t + round(rng.expovariate(1 / 480) * 1000)
        if nxt < end:
            agenda.at(nxt, aborted)

    first = round(rng.expovariate(1 / 480) * 1000)
    if first < end:
        agenda.at(first, aborted)
