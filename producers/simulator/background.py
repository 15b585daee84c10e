"""Periodic tasks and healthy noise.

A healthy cloud is not silent and not error-free: agents loop every few
seconds, nova-compute audits its resources every minute, and WARNING and even
ERROR lines appear without any incident (a message-queue connection that
drops and reconnects at once, a periodic task racing a delete, the DHCP
agent reloading a network that was just removed). Detectors must not flag
these; they are never labelled.
"""
from __future__ import annotations

from producers.simulator import infra_noise, network
from producers.simulator.build import RERAISE
from producers.simulator.cloud import CONTROLLER, HOST_DISK_GB, HOST_RAM_MB, Host, Instance, Network
from producers.simulator.core import NO_CTX, Agenda, Clock, Ctx, Frame, traceback_lines
from producers.simulator.network import OVS_AGENT
from producers.simulator.world import World

RPC_SERVICES = ("nova-conductor", "nova-scheduler", "nova-compute", "neutron-server", "neutron-openvswitch-agent",
                "neutron-dhcp-agent", "cinder-scheduler", "cinder-volume")


def start(w: World, agenda: Agenda, end: int) -> None:
    """Schedule every periodic task and the noise processes up to ``end`` (ms)."""
    rng = w.rng

    def every(period: float, first: float, task) -> None:
        def run(t: int) -> None:
            task(t)
            nxt = t + round(period * 1000 * rng.uniform(0.98, 1.02))
            if nxt < end:
                agenda.at(nxt, run)
        agenda.at(round(first * 1000), run)

    for host in w.cloud.hosts:
        every(2.0, rng.uniform(0, 2), lambda t, h=host: rpc_loop(w, t, h))
        every(60.0, rng.uniform(0, 60), lambda t, h=host: update_available_resource(w, t, h))
        every(60.0, rng.uniform(0, 60), lambda t, h=host: heal_info_cache(w, t, h))
        every(600.0, rng.uniform(0, 600), lambda t, h=host: sync_power_states(w, t, h))
        every(600.0, rng.uniform(0, 600), lambda t, h=host: scheduler_sync(w, t, h))
    every(60.0, rng.uniform(0, 60), lambda t: cinder_stats(w, t))

    def blip(t: int) -> None:
        amqp_blip(w, t)
        nxt = t + round(rng.expovariate(1 / 600) * 1000)  # one every ~10 minutes
        if nxt < end:
            agenda.at(nxt, blip)
    first = round(rng.expovariate(1 / 600) * 1000)
    if first < end:
        agenda.at(first, blip)


def rpc_loop(w: World, t: int, host: Host) -> None:
    if t < host.ovs_broken_until:
        return
    host.rpc_iteration += 1
    c = w.clock(t)
    n = host.rpc_iteration
    w.em.log(c, host.ovs, "DEBUG", OVS_AGENT, f"Agent rpc_loop - iteration:{n} started", host.ovs_ctx,
             fn="rpc_loop:2066")
    elapsed = w.rng.uniform(0.005, 0.06)
    c.wait(elapsed)
    w.em.log(c, host.ovs, "DEBUG", OVS_AGENT, f"Agent rpc_loop - iteration:{n} completed. Processed ports "
             "statistics: {'regular': {'added': 0, 'updated': 0, 'removed': 0}}. " f"Elapsed:{elapsed:.3f}",
             host.ovs_ctx, fn="loop_count_and_wait:1804")


def update_available_resource(w: World, t: int, host: Host) -> None:
    em, c, ctx, p = w.em, w.clock(t), host.periodic, host.compute
    ram, disk, cpus = w.cloud.used(host)
    em.log(c, p, "DEBUG", "nova.compute.resource_tracker",
           f"Auditing locally available compute resources for {host.name} (node: {host.name})", ctx,
           fn="update_available_resource:704")
    o = w.outage(c.t, "nova-conductor")
    if o:
        o.periodic_failure(w, c, host)
        return
    em.log(c, p, "DEBUG", "nova.compute.resource_tracker",
           f"Hypervisor/Node resource view: name={host.name} free_ram={HOST_RAM_MB - ram - w.rng.randint(0, 900)}MB "
           f"free_disk={HOST_DISK_GB - disk - 5}GB free_vcpus={8 - cpus} pci_devices=None", ctx,
           fn="_report_hypervisor_resource_view:858")
    by = "nova.compute.resource_tracker.ResourceTracker._update_available_resource"
    acquired = c.tick()
    em.lock_acquired(c, p, ctx, "compute_resources", by)
    c.wait(w.rng.uniform(0.2, 0.9))
    em.log(c, p, "DEBUG", "nova.compute.resource_tracker", f"Total usable vcpus: 8, total allocated vcpus: {cpus}",
           ctx, fn="_report_final_resource_view:874")
    em.log(c, p, "INFO", "nova.compute.resource_tracker",
           f"Final resource view: name={host.name} phys_ram={HOST_RAM_MB}MB used_ram={ram}MB "
           f"phys_disk={HOST_DISK_GB}GB used_disk={disk}GB total_vcpus=8 used_vcpus={cpus} pci_stats=[]", ctx)
    c.wait(w.rng.uniform(0.1, 0.5))
    em.log(c, p, "DEBUG", "nova.compute.resource_tracker",
           f"Compute_service record updated for {host.name}:{host.name}", ctx, fn="_update_available_resource:796")
    em.lock_released(c, p, ctx, "compute_resources", by, (c.t - acquired) / 1000)


def heal_info_cache(w: World, t: int, host: Host) -> None:
    em, c, ctx, p = w.em, w.clock(t), host.periodic, host.compute
    em.log(c, p, "DEBUG", "nova.compute.manager", "Starting heal instance info cache", ctx,
           fn="_heal_instance_info_cache:6994")
    em.log(c, p, "DEBUG", "nova.compute.manager", "Rebuilding the list of instances to heal", ctx,
           fn="_heal_instance_info_cache:6998")
    mine = [i for i in w.cloud.instances.values() if i.host is host and i.ready <= t]
    if not mine:
        em.log(c, p, "DEBUG", "nova.compute.manager", "Didn't find any instances for network info cache update.", ctx,
               fn="_heal_instance_info_cache:7070")
        return
    inst = w.rng.choice(mine)
    em.semaphore(c, p, ctx, f"refresh_cache-{inst.id}", True)
    neutron_ctx = Ctx(w.ids.req(), ctx.user, ctx.project)  # neutron logs its own request id
    network.neutron_call(w, c, neutron_ctx, host.ip, "GET", f"/v2.0/ports?tenant_id={inst.tenant.project}&"
                                                            f"device_id={inst.id}", 200)
    em.log(c, p, "DEBUG", "nova.network.base_api",
           f"Updating instance_info_cache with network_info: {network.network_info(inst.port, True)}", ctx, inst.id,
           fn="update_instance_cache_with_nw_info:48")
    em.semaphore(c, p, ctx, f"refresh_cache-{inst.id}", False)
    em.log(c, p, "DEBUG", "nova.compute.manager", "Updated the network info_cache for instance", ctx, inst.id,
           fn="_heal_instance_info_cache:7066")


def sync_power_states(w: World, t: int, host: Host) -> None:
    em, c, ctx, p = w.em, w.clock(t), host.periodic, host.compute
    mine = [i for i in w.cloud.instances.values() if i.host is host]
    building = [i for i in mine if i.ready > t]
    if building or w.rng.random() < 0.1:
        em.log(c, p, "WARNING", "nova.compute.manager",
               f"While synchronizing instance power states, found {len(mine)} instances in the database and "
               f"{max(0, len(mine) - max(1, len(building)))} instances on the hypervisor.", ctx)
    for inst in mine:
        em.log(c, p, "DEBUG", "nova.compute.manager", f"Triggering sync for uuid {inst.id}", ctx,
               fn="_sync_power_states:7474")


def scheduler_sync(w: World, t: int, host: Host) -> None:
    c = w.clock(t)
    w.em.log(c, w.cloud.proc("nova-scheduler"), "INFO", "nova.scheduler.host_manager",
             f"Successfully synced instances from host '{host.name}'.", host.periodic)


def cinder_stats(w: World, t: int) -> None:
    em, c, cl = w.em, w.clock(t), w.cloud
    vp, ctx = cl.proc("cinder-volume"), cl.cinder_periodic
    o = w.outage(c.t, "cinder-scheduler")
    em.cmd(c, vp, ctx, "sudo cinder-rootwrap /etc/cinder/rootwrap.conf env LC_ALL=C vgs --noheadings --unit=g -o "
                       "name,size,free,lv_count,uuid --separator : --nosuffix stack-volumes-lvmdriver-1",
           w.rng.uniform(0.05, 0.2))
    used = sum(v.size for v in cl.volumes.values())
    em.log(c, vp, "DEBUG", "cinder.manager", "Notifying Schedulers of capabilities ...", ctx,
           fn="_publish_service_capabilities:194")
    if o:
        return
    c.tick(0.01, 0.05)
    em.log(c, cl.proc("cinder-scheduler"), "DEBUG", "cinder.scheduler.host_manager",
           "Received volume service update from controller@lvmdriver-1: {'volume_backend_name': 'lvmdriver-1', "
           "'vendor_name': 'Open Source', 'driver_version': '3.0.0', 'storage_protocol': 'iSCSI', 'pools': "
           f"[{{'pool_name': 'lvmdriver-1', 'total_capacity_gb': 28.5, 'free_capacity_gb': {28.5 - used * 0.1:.2f}, "
           "'reserved_percentage': 0, 'thin_provisioning_support': True}]}", ctx,
           fn="update_service_capabilities:563")


# -- noise: errors and warnings of a healthy cloud ------------------------------------


def rpc_processes(w: World):
    cl = w.cloud
    for svc in RPC_SERVICES:
        if svc == "nova-compute":
            yield from (h.compute for h in cl.hosts)
        elif svc == "neutron-openvswitch-agent":
            yield from (h.ovs for h in cl.hosts)
        else:
            yield from cl.procs[svc]


def amqp_blip(w: World, t: int) -> None:
    """A message-queue connection drops and reconnects within seconds (retried, harmless)."""
    if any(o.covers(t) for o in w.outages):
        return
    procs = list(rpc_processes(w))
    proc = w.rng.choice(procs)
    c = w.clock(t)
    conn = w.ids.uuid()
    infra_noise.amqp_blip(w, t, proc)   # RabbitMQ's side (its own random numbers: these stay the same)
    w.em.log(c, proc, "ERROR", "oslo.messaging._drivers.impl_rabbit",
             f"[{conn}] AMQP server on {CONTROLLER}:5672 is unreachable: timed out. Trying again in 1 seconds.: "
             "socket.timeout: timed out", NO_CTX)
    c.wait(w.rng.uniform(1.0, 1.6))
    w.em.log(c, proc, "INFO", "oslo.messaging._drivers.impl_rabbit",
             f"[{conn}] Reconnected to AMQP server on {CONTROLLER}:5672 via [amqp] client with port "
             f"{w.rng.randint(33000, 60999)}.", NO_CTX)


def sync_power_state_race(w: World, c: Clock, inst: Instance) -> None:
    """The power-state sync looks up an instance a delete just removed (logged, harmless)."""
    host = inst.host
    c.tick(0.5, 20.0)
    w.em.log(c, host.compute, "DEBUG", "nova.compute.manager", f"Triggering sync for uuid {inst.id}",
             host.periodic, fn="_sync_power_states:7474")
    frames = (
        Frame("nova.compute.manager", 7496, "_sync", "query_driver_power_state_and_sync()"),
        Frame("oslo_concurrency.lockutils", 274, "inner", "return f(*args, **kwargs)"),
        Frame("nova.compute.manager", 7493, "query_driver_power_state_and_sync", "db_instance, vm_power_state, "
              "use_slave=True)"),
        Frame("nova.compute.manager", 7524, "_sync_instance_power_state", "db_instance.refresh(use_slave=use_slave)"),
        Frame("nova.objects.instance", 875, "refresh", "use_slave=use_slave)"),
        Frame("nova.db.sqlalchemy.api", 1301, "_instance_get_by_uuid", "raise exception.InstanceNotFound("
              "instance_id=uuid)"),
    )
    exc = f"nova.exception.InstanceNotFound: Instance {inst.id} could not be found."
    w.em.log(c, host.compute, "ERROR", "nova.compute.manager", "Periodic sync_power_state task had an error while "
             f"processing an instance.: {exc}", host.periodic, inst.id, tb=traceback_lines(frames, exc))


def dhcp_network_gone(w: World, c: Clock, net: Network) -> None:
    """The DHCP agent reloads a network deleted meanwhile (logged, harmless)."""
    frames = (
        Frame("neutron.agent.dhcp.agent", 163, "call_driver", "getattr(driver, action)(**action_kwargs)"),
        Frame("neutron.agent.linux.dhcp", 529, "reload_allocations", "self._output_hosts_file()"),
        *RERAISE,
        Frame("neutron.agent.linux.dhcp", 651, "_output_hosts_file", "for port in self.network.ports:"),
        Frame("neutron.agent.dhcp.agent", 112, "_get_network", "raise n_exc.NetworkNotFound(net_id=network_id)"),
    )
    exc = f"neutron_lib.exceptions.NetworkNotFound: Network {net.id} could not be found."
    c.tick(0.05, 0.5)
    w.em.log(c, w.cloud.proc("neutron-dhcp-agent"), "ERROR", "neutron.agent.dhcp.agent",
             f"Unable to reload_allocations dhcp for {net.id}.: {exc}", w.cloud.dhcp_ctx,
             tb=traceback_lines(frames, exc))
