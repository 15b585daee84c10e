"""Faults of the infrastructure below the services, with the symptoms the services really log.

Each fault writes the failing daemon's own lines first, in its own format and
file (``infra_logs``), then lets the OpenStack services fail the way they do
when that daemon fails: oslo.messaging's reconnection errors and
MessagingTimeout (RabbitMQ), oslo.db's DBConnectionError (Galera), neutron's
"Switch connection timeout" and nova's VIF plugging timeout (Open vSwitch),
nova's libvirtError (libvirtd), nova's "Instance shutdown by itself" (the
OOM killer), neutron's failed notifications to nova behind a 503 (HAProxy).

The ground truth names the cause's kind (``infrastructure``), its component
(``rabbitmq``, ``mariadb/galera``, ``ovs-vswitchd``, ``libvirtd``, ``kernel/oom``,
``haproxy:nova_api``) and its host.
"""
from __future__ import annotations

from producers.simulator import build, outages
from producers.simulator.cloud import CLIENT_IP, CONTROLLER, CONTROLLER_IP
from producers.simulator.core import NO_CTX, Clock, Ctx, Frame, Proc, traceback_lines
from producers.simulator.faults import TPOOL, _max_retries, _spawn_failed, _vif_timeout
from producers.simulator.infra_logs import OF_CONTROLLER, RABBIT_PORT, infra_log
from producers.simulator.labels import FaultSpec, Injection
from producers.simulator.network import OVS_AGENT
from producers.simulator.world import Outage, World

OFSWITCH = "neutron.plugins.ml2.drivers.openvswitch.agent.openflow.native.ofswitch"
RABBIT_PEERS = ("controller-2", "controller-3")   # the other nodes of the RabbitMQ and Galera clusters


def _spec(name: str, category: str, service: str, component: str, description: str, outage: bool = False):
    return FaultSpec(name, category, "infrastructure", service, component, description, scope="infrastructure",
                     outage=outage, kind="infrastructure", component=component)


CATALOGUE: dict[str, FaultSpec] = {s.name: s for s in (
    _spec("rabbitmq_partition", "message-queue", "rabbitmq", "rabbitmq",
          "the RabbitMQ node on the controller is partitioned from its cluster (pause_minority): it stops and "
          "closes every AMQP connection; RPC clients log reconnection errors and API requests time out "
          "(MessagingTimeout)", outage=True),
    _spec("galera_non_primary", "database", "mariadb", "mariadb/galera",
          "the Galera node on the controller loses the primary component (network partition): it refuses "
          "queries and connections until it rejoins; every service logs DBConnectionError", outage=True),
    _spec("ovs_controller_lost", "network", "ovs-vswitchd", "ovs-vswitchd",
          "ovs-vswitchd on a compute host loses its OpenFlow controller (the agent's tcp:127.0.0.1:6633): "
          "the agent's flows time out (Switch connection timeout), ports are never wired and builds on the "
          "host time out waiting for network-vif-plugged (VirtualInterfaceCreateException)"),
    _spec("libvirtd_killed", "hypervisor", "libvirtd", "libvirtd",
          "libvirtd on a compute host is killed (SIGKILL) during a build: nova-compute's connection is reset "
          "(libvirtError: Cannot recv data), the spawn fails and nova-conductor sets the instance to ERROR"),
    _spec("qemu_oom_kill", "hypervisor", "kernel", "kernel/oom",
          "the kernel's OOM killer kills a guest's qemu process on a compute host: libvirt sees the monitor "
          "close, nova-compute finds the instance shut down by itself and stops it"),
    _spec("haproxy_backend_down", "api", "haproxy", "haproxy:nova_api",
          "HAProxy marks the nova_api backend down (Layer4 connection refused): the Compute API answers 503, "
          "neutron cannot notify nova of plugged ports and builds time out waiting for network-vif-plugged",
          outage=True),
)}


def run(name: str, w: World, t: int, lab: Injection) -> None:
    """Inject one infrastructure fault at t (ms); fills the label as it logs."""
    _RUNNERS[name](w, t, lab)


def register(w: World, name: str, start: int, end: int, lab: Injection) -> Outage:
    """Plan an outage window of an infrastructure fault, so the workload's requests inside it fail."""
    if name == "haproxy_backend_down":
        return _register_haproxy(w, start, end, lab)
    return outages.register(w, name, start, end, lab)


# -- RabbitMQ -------------------------------------------------------------------------------


def _erl(w: World) -> str:
    return f"<0.{w.rng.randint(200, 9999)}.0>"


def rabbitmq_partition(w: World, t: int, lab: Injection) -> None:
    log, host = infra_log(w), CONTROLLER
    node, peer = f"rabbit@{host}", f"rabbit@{RABBIT_PEERS[0]}"
    o = next(o for o in w.outages if o.start == t and o.kind == "message-queue")
    mon, mnesia, pause = _erl(w), _erl(w), _erl(w)
    ms = log.rabbit(t, host, "info", mon, f"rabbit on node {peer} down")
    lab.origin(ms, host)
    ms = log.rabbit(t + 4, host, "error", mnesia, f"Mnesia({node}): ** ERROR ** mnesia_event got "
                    f"{{inconsistent_database, running_partitioned_network, {peer}}}")
    lab.origin(ms, host, "inconsistent_database")
    log.rabbit(t + 9, host, "warning", pause, "Cluster minority/secondary status detected - awaiting recovery")
    log.rabbit(t + 15, host, "info", pause, "Stopping RabbitMQ applications and awaiting recovery")
    log.rabbit(t + 21, host, "warning", _erl(w), f"Closing all connections in vhost '/' on node '{node}' because "
               "the vhost is stopping")
    clients = [CONTROLLER_IP, *(h.ip for h in w.cloud.hosts[:4])]
    for k, ip in enumerate(clients):
        conn = _erl(w)
        log.rabbit(t + 30 + 7 * k, host, "warning", conn, f"closing AMQP connection {conn} ({ip}:"
                   f"{w.rng.randint(33000, 60999)} -> {CONTROLLER_IP}:{RABBIT_PORT}, vhost: '/', user: 'openstack'):"
                   "\nclient unexpectedly closed TCP connection")
    # the services: reconnection errors from 100 ms on, API requests time out
    outages.rabbit_outage(w, t, lab)
    end = o.end
    log.rabbit(end - 900, host, "info", mon, f"rabbit on node {peer} up")
    log.rabbit(end - 600, host, "info", pause, "Starting RabbitMQ applications after partition recovery")
    for ip in clients:
        conn = _erl(w)
        log.rabbit(end + w.rng.randint(50, 900), host, "info", conn, f"accepting AMQP connection {conn} ({ip}:"
                   f"{w.rng.randint(33000, 60999)} -> {CONTROLLER_IP}:{RABBIT_PORT})")


# -- MariaDB / Galera ---------------------------------------------------------------------------


def galera_non_primary(w: World, t: int, lab: Injection) -> None:
    log, host = infra_log(w), CONTROLLER
    o = next(o for o in w.outages if o.start == t and o.kind == "database")
    me, others = w.ids.uuid(), [w.ids.uuid() for _ in RABBIT_PEERS]
    group, seqno = w.ids.uuid(), w.rng.randint(100_000, 9_000_000)
    view = w.rng.randint(3, 40)
    ms = log.mariadb(t, host, "Note", f"WSREP: evs::proto({me[:8]}, OPERATIONAL, view_id(REG,{me[:8]},{view})) "
                     f"suspecting node: {others[0][:8]}")
    lab.origin(ms, host)
    log.mariadb(t + 3, host, "Note", f"WSREP: evs::proto({me[:8]}, OPERATIONAL, view_id(REG,{me[:8]},{view})) "
                f"suspecting node: {others[1][:8]}")
    ms = log.mariadb(t + 8, host, "Warning", f"WSREP: evs::proto({me[:8]}, GATHER, view_id(REG,{me[:8]},{view})) "
                     "install timer expired")
    lab.origin(ms, host, "NON_PRIM")
    members = "\n".join(f"\t{u[:8]}-{u[9:13]},0" for u in others)
    log.mariadb(t + 12, host, "Note", f"WSREP: view(view_id(NON_PRIM,{me[:8]},{view + 1}) memb {{\n"
                f"\t{me[:8]}-{me[9:13]},0\n}} joined {{\n}} left {{\n}} partitioned {{\n{members}\n}})")
    log.mariadb(t + 14, host, "Note", "WSREP: New COMPONENT: primary = no, bootstrap = no, my_idx = 0, memb_num = 1")
    log.mariadb(t + 16, host, "Note", "WSREP: Received NON-PRIMARY.")
    log.mariadb(t + 17, host, "Note", f"WSREP: Shifting SYNCED -> OPEN (TO: {seqno})")
    log.mariadb(t + 19, host, "Warning", "WSREP: Send action {(nil), 328, TORDERED} returned -107 (Transport "
                "endpoint is not connected)")
    log.mariadb(t + 21, host, "Note", f"WSREP: New cluster view: global state: {group}:{seqno}, view# -1: "
                "non-Primary, number of nodes: 1, my index: 0, protocol version 3")
    outages.db_outage(w, t, lab)
    end = o.end
    log.mariadb(end - 700, host, "Note", f"WSREP: New cluster view: global state: {group}:{seqno}, view# "
                f"{view + 2}: Primary, number of nodes: 3, my index: 0, protocol version 3")
    log.mariadb(end - 650, host, "Note", f"WSREP: Shifting OPEN -> PRIMARY (TO: {seqno + 1})")
    log.mariadb(end - 400, host, "Note", f"WSREP: Shifting JOINED -> SYNCED (TO: {seqno + 1})")
    log.mariadb(end - 399, host, "Note", "WSREP: Synchronized with group, ready for connections")


# -- Open vSwitch ------------------------------------------------------------------------------------


def ovs_controller_lost(w: World, t: int, lab: Injection) -> None:
    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        if stage != "vif":
            return False
        inst, host, ctx, em = b["inst"], b["host"], b["ctx"], w.em
        port, log = inst.port, infra_log(w)
        lab.affect(ctx.request_id, inst.id, port.id)
        t0 = c.t
        host.ovs_broken_until = t0 + 330_000
        # ovs-vswitchd: the controller stops answering, then refuses connections; backoff up to 8 s
        first = None
        for br in ("br-int", "br-tun"):
            ms = log.ovs(t0 + (0 if br == "br-int" else 3), host.name, "rconn", "ERR",
                         f"{br}<->{OF_CONTROLLER}: no response to inactivity probe after 5 seconds, disconnecting")
            first = ms if first is None else first
        lab.origin(first, host.name, "rconn")
        tick, wait, k = t0 + 10, 1, 0
        bridges = ("br-int", "br-tun")
        while tick < host.ovs_broken_until:   # each step logged for both bridges, in time order
            last = k >= 4
            steps = (("INFO", "connecting..."), ("WARN", "connection failed (Connection refused)"),
                     ("INFO", "continuing to retry connections in the background but suppressing further logging"
                      if last else f"waiting {wait * 2} seconds before reconnect"))
            for j, (level, text) in enumerate(steps):
                for i, br in enumerate(bridges):
                    log.ovs(tick + 2 * j + i, host.name, "rconn", level, f"{br}<->{OF_CONTROLLER}: {text}")
            if last:
                break
            tick += wait * 2000 + 5
            wait, k = min(wait * 2, 4), k + 1
        # the agent: its OpenFlow requests time out while the port waits
        a = w.clock(t0 + 5_000)
        exc = "RuntimeError: Switch connection timeout"
        tb = traceback_lines((
            Frame(OVS_AGENT, 2139, "rpc_loop", "port_info, provisioning_needed)"),
            Frame(OVS_AGENT, 1703, "process_network_ports", "failed_devices['added'] |= "
                  "self.treat_devices_added_or_updated(devices_added_updated, provisioning_needed)"),
            Frame(OVS_AGENT, 1628, "treat_devices_added_or_updated", "self.port_bound(port, details['network_id'], "
                  "details['network_type'], details['physical_network'], details['segmentation_id'], "
                  "details['fixed_ips'], details['device_owner'], provisioning_needed)"),
            Frame("neutron.plugins.ml2.drivers.openvswitch.agent.openflow.native.br_int", 118, "install_flows",
                  "self.install_instructions(table_id=0, priority=3, match=match, instructions=instructions)"),
            Frame(OFSWITCH, 98, "_send_msg", "raise RuntimeError(m)"),
        ), exc)
        while a.t < host.ovs_broken_until - 20_000:
            em.log(a, host.ovs, "ERROR", OFSWITCH, "Switch connection timeout", host.ovs_ctx)
            ms = em.log(a, host.ovs, "ERROR", OVS_AGENT, "Error while processing VIF ports", host.ovs_ctx, tb=tb)
            lab.touch(ms)
            a.wait(30.0 + w.rng.uniform(0.0, 1.0))
        _vif_timeout(w, b["clock"], b, lab, t0)

        def victim(w: World, c2: Clock, b2: dict) -> bool:
            """Another build on this host while the switch has no controller: it times out too."""
            lab.affect(b2["ctx"].request_id, b2["inst"].id, b2["inst"].port.id)
            if c2.t + 300_000 < host.ovs_broken_until:
                _vif_timeout(w, b2["clock"], b2, lab, c2.t)
                return True
            return False

        host.ovs_victim = victim
        return True

    build.server_create(w, t, hook, flavor="m1.tiny")


# -- libvirtd ------------------------------------------------------------------------------------------


def libvirtd_killed(w: World, t: int, lab: Injection) -> None:
    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        if stage != "spawn":
            return False
        inst, host, ctx, em = b["inst"], b["host"], b["ctx"], w.em
        log = infra_log(w)
        lab.affect(ctx.request_id, inst.id)
        c.tick(0.1, 0.4)
        ms = log.syslog(c.t, host.name, "systemd", "libvirtd.service: Main process exited, code=killed, "
                        "status=9/KILL", pid=1)
        lab.origin(ms, host.name, "SIGKILL")
        log.syslog(c.t + 1, host.name, "systemd", "libvirtd.service: Failed with result 'signal'.", pid=1)
        c.tick(0.002, 0.01)
        err = "Cannot recv data: Connection reset by peer"
        exc = f"libvirt.libvirtError: {err}"
        em.log(c, host.compute, "ERROR", "nova.virt.libvirt.driver", f"Failed to start libvirt guest: {exc}", ctx,
               inst.id)
        frames = (
            Frame("nova.virt.libvirt.driver", 5666, "_create_domain_and_network",
                  "post_xml_callback=post_xml_callback)"),
            Frame("nova.virt.libvirt.driver", 5601, "_create_domain", "guest.launch(pause=pause)"),
            Frame("nova.virt.libvirt.guest", 139, "launch", "return self._domain.createWithFlags(flags)"),
            *TPOOL,
            Frame("libvirt", 1099, "createWithFlags",
                  "if ret == -1: raise libvirtError ('virDomainCreateWithFlags() failed', dom=self)"),
        )
        _spawn_failed(w, c, b, lab, frames, exc)
        # the host loses its hypervisor connection until libvirtd is back
        h = c.fork()
        h.tick(0.01, 0.05)
        em.log(h, host.compute, "ERROR", "nova.virt.libvirt.host", f"Connection to libvirt failed: {err}",
               NO_CTX)
        em.log(h, host.compute, "WARNING", "nova.virt.libvirt.host", "Connection to libvirt lost: 1", NO_CTX)
        back = c.t + round(w.rng.uniform(2.0, 4.0) * 1000)
        log.syslog(back, host.name, "systemd", "libvirtd.service: Scheduled restart job, restart counter is at 1.",
                   pid=1)
        log.syslog(back + 2, host.name, "systemd", "Stopped Virtualization daemon.", pid=1)
        log.syslog(back + 4, host.name, "systemd", "Starting Virtualization daemon...", pid=1)
        pid = w.rng.randint(3000, 60000)
        log.libvirtd(back + 150, host.name, pid, "info", "", "libvirt version: 8.0.0, package: 1ubuntu7.10 "
                     "(Ubuntu)")
        log.libvirtd(back + 151, host.name, pid, "info", "", f"hostname: {host.name}")
        log.syslog(back + 300, host.name, "systemd", "Started Virtualization daemon.", pid=1)
        lab.touch(back + 300)
        _max_retries(w, c, b, lab, err)
        return True

    build.server_create(w, t, hook, flavor="m1.tiny")


# -- the OOM killer ------------------------------------------------------------------------------------------


def qemu_oom_kill(w: World, t: int, lab: Injection) -> None:
    cl, em, log = w.cloud, w.em, infra_log(w)
    running = [i for i in cl.instances.values() if i.ready <= t and i.busy_until <= t]
    if not running:   # nothing runs yet: boot one first, then kill it
        b = build.server_create(w, t, flavor="m1.tiny")
        inst = b["inst"] if b and b.get("host") is not None and b["inst"].id in cl.instances else None
        if inst is None:
            return
        t = max(t, inst.ready) + 5_000
    else:
        inst = w.rng.choice(running)
    host = inst.host
    inst.busy_until = 10 ** 12   # shut off: the workload leaves it alone
    lab.affect(None, inst.id)
    c = w.clock(t)
    domain = f"instance-{inst.number:08x}"
    dom_id = w.rng.randint(1, 40)
    scope = f"machine-qemu\\x2d{dom_id}\\x2d{domain.replace('-', chr(92) + 'x2d')}.scope"
    pid, rss = w.rng.randint(3000, 60000), 4_194_304 + w.rng.randint(0, 1 << 20)
    ms = log.kernel(c.t, host.name, "qemu-system-x86 invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), "
                    "order=0, oom_score_adj=0")
    lab.origin(ms, host.name, "oom-kill")
    log.kernel(c.t + 1, host.name, f"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
               f"global_oom,task_memcg=/machine.slice/{scope},task=qemu-system-x86,pid={pid},uid=64055")
    log.kernel(c.t + 2, host.name, f"Out of memory: Killed process {pid} (qemu-system-x86) total-vm:"
               f"{rss + 1_500_000}kB, anon-rss:{rss}kB, file-rss:0kB, shmem-rss:0kB, UID:64055 "
               f"pgtables:{w.rng.randint(8000, 12000)}kB oom_score_adj:0")
    log.kernel(c.t + 30, host.name, f"oom_reaper: reaped process {pid} (qemu-system-x86), now anon-rss:0kB, "
               "file-rss:0kB, shmem-rss:0kB")
    log.syslog(c.t + 35, host.name, "systemd", f"{scope}: A process of this unit has been killed by the OOM "
               "killer.", pid=1)
    libvirtd_pid = w.rng.randint(1000, 3000)
    log.libvirtd(c.t + 40, host.name, libvirtd_pid, "error", "qemuMonitorIO:620",
                 "internal error: End of file from qemu monitor")
    log.qemu(c.t + 45, host.name, domain, "shutting down, reason=crashed")
    log.syslog(c.t + 60, host.name, "systemd", f"{scope}: Succeeded.", pid=1)
    # nova-compute: the lifecycle event, then the power-state sync stops the instance
    c.wait(w.rng.uniform(0.3, 1.2))
    ms = em.log(c, host.compute, "INFO", "nova.compute.manager", "VM Stopped (Lifecycle Event)", NO_CTX, inst.id)
    sync = Ctx(w.ids.req())
    c.tick(0.02, 0.2)
    em.log(c, host.compute, "INFO", "nova.compute.manager", "During _sync_instance_power_state the DB power_state "
           "(1) does not match the vm_power_state from the hypervisor (4). Updating power_state in the DB to match "
           "the hypervisor.", sync, inst.id)
    ms = em.log(c, host.compute, "WARNING", "nova.compute.manager", "Instance shutdown by itself. Calling the stop "
                "API. Current vm_state: active, current task_state: None, original DB power_state: 1, current VM "
                "power_state: 4", sync, inst.id)
    lab.symptom("nova-compute", ms, "Instance shutdown by itself", None)
    api = w.cloud.proc("nova-api")
    start = c.tick(0.05, 0.2)
    em.nova_wsgi(c, api, sync, host.ip, "POST", f"/v2.1/servers/{inst.id}/action", 202, start)
    c.tick(0.3, 1.0)
    ms = em.log(c, host.compute, "INFO", "nova.compute.manager", "Instance is already powered off in the hypervisor "
                "when stop is called.", sync, inst.id)
    lab.touch(ms)


# -- HAProxy --------------------------------------------------------------------------------------------------

HAPROXY_DOWN_DELAY = 8_000   # the backend fails this long after the build that suffers it started


def _register_haproxy(w: World, start: int, end: int, lab: Injection) -> Outage:
    """nova_api behind HAProxy is down: a request to the Compute API gets a 503 from HAProxy (logged by
    HAProxy alone: nova-api never sees it)."""
    down = start + HAPROXY_DOWN_DELAY

    def api_failure(w: World, c: Clock, proc: Proc, ctx: Ctx, method: str, path: str,
                    inst: str | None = None) -> None:
        lab.affect(ctx.request_id, inst)
        ms = _haproxy_503(w, c, CLIENT_IP, method, path)
        lab.touch(ms)

    outage = Outage("api-backend", down, end, frozenset({"nova-api"}), api_failure)
    w.outages.append(outage)
    return outage


_HAPROXY_PID = 2345


def _haproxy_503(w: World, c: Clock, client: str, method: str, path: str) -> int:
    c.tick(0.001, 0.005)
    d = w.timeline.datetime(c.t)
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    when = f"{d.day:02d}/{months[d.month - 1]}/{d.year}:{d:%H:%M:%S}.{c.t % 1000:03d}"
    return infra_log(w).syslog(c.t, CONTROLLER, "haproxy", f"{client}:{w.rng.randint(33000, 60999)} [{when}] "
                               f"nova_api nova_api/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 "
                               f"\"{method} {path} HTTP/1.1\"", pid=_HAPROXY_PID)


def haproxy_backend_down(w: World, t: int, lab: Injection) -> None:
    o = next(o for o in w.outages if o.kind == "api-backend" and o.start == t + HAPROXY_DOWN_DELAY)
    log = infra_log(w)
    ms = log.syslog(o.start, CONTROLLER, "haproxy", "Server nova_api/controller is DOWN, reason: Layer4 connection "
                    "problem, info: \"Connection refused\", check duration: 0ms. 0 active and 0 backup servers left. "
                    "0 sessions active, 0 requeued, 0 remaining in queue.", pid=_HAPROXY_PID)
    lab.origin(ms, CONTROLLER, "Layer4 connection problem")
    log.syslog(o.start + 1, CONTROLLER, "haproxy", "backend nova_api has no server available!", pid=_HAPROXY_PID)
    ms = log.syslog(o.end, CONTROLLER, "haproxy", "Server nova_api/controller is UP, reason: Layer4 check passed, "
                    "check duration: 0ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in "
                    "queue.", pid=_HAPROXY_PID)
    lab.touch(ms)

    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        if stage != "vif":
            return False
        inst, host, ctx, em = b["inst"], b["host"], b["ctx"], w.em
        port = inst.port
        lab.affect(ctx.request_id, inst.id, port.id)
        c.t = max(c.t, o.start + 400)
        server = w.cloud.proc("neutron-server")
        nctx = Ctx(w.ids.req())
        event = (f"{{'server_uuid': '{inst.id}', 'name': 'network-vif-plugged', 'status': 'completed', "
                 f"'tag': '{port.id}'}}")
        em.log(c, server, "DEBUG", "neutron.notifiers.nova", f"Sending events: [{event}]", nctx, fn="send_events:242")
        _haproxy_503(w, c, CONTROLLER_IP, "POST", "/v2.1/os-server-external-events")
        exc = "novaclient.exceptions.ClientException: Unknown Error (HTTP 503)"
        ms = em.log(c, server, "ERROR", "neutron.notifiers.nova", f"Failed to notify nova on events: [{event}]", nctx,
                    tb=traceback_lines((
                        Frame("neutron.notifiers.nova", 245, "send_events", "batched_events)"),
                        Frame("novaclient.v2.server_external_events", 38, "create", "return_raw=True)"),
                        Frame("novaclient.base", 363, "_create", "resp, body = self.api.client.post(url, body=body)"),
                        Frame("keystoneauth1.adapter", 392, "post", "return self.request(url, 'POST', **kwargs)"),
                        Frame("novaclient.client", 78, "request", "raise exceptions.from_response(resp, body, url, "
                              "method)"),
                    ), exc))
        lab.symptom("neutron-server", ms, "Failed to notify nova on events", "novaclient.exceptions.ClientException")
        _vif_timeout(w, b["clock"], b, lab, b["clock"].t)
        return True

    build.server_create(w, t, hook, flavor="m1.tiny")


_RUNNERS = {
    "rabbitmq_partition": rabbitmq_partition, "galera_non_primary": galera_non_primary,
    "ovs_controller_lost": ovs_controller_lost, "libvirtd_killed": libvirtd_killed,
    "qemu_oom_kill": qemu_oom_kill, "haproxy_backend_down": haproxy_backend_down,
}
