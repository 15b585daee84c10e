"""Server operations other than boot: delete, resize/migrate, reboot, list."""
from __future__ import annotations

from producers.simulator import network
from producers.simulator.background import sync_power_state_race
from producers.simulator.build import INSTANCES_DIR, api_call, claim, fits, select_host
from producers.simulator.cloud import FLAVOR_IDS, Host, Instance
from producers.simulator.core import NO_CTX, Clock
from producers.simulator.world import World


def _request(w: World, t0: int, inst: Instance, method: str, path: str) -> tuple[Clock, object] | None:
    """The clock and user context of an API request on `inst`; None when nova-api is down
    (the outage has logged the failed call)."""
    c = w.clock(t0)
    ctx = w.user_ctx(inst.tenant)
    if w.api_outage(c, "nova-api", ctx, method, path, inst.id):
        return None
    return c, ctx


def server_delete(w: World, t0: int) -> None:
    cl, em, rng = w.cloud, w.em, w.rng
    ready = cl.ready_instances(t0, no_volumes=True)
    if not ready:
        return server_list(w, t0)
    inst = rng.choice(ready)
    path = f"/v2.1/servers/{inst.id}"
    req = _request(w, t0, inst, "DELETE", path)
    if req is None:
        return
    c, ctx = req
    del cl.instances[inst.id]
    api_call(w, c, ctx, "DELETE", path, 204, "ServersController.delete", inst.id, extra=(
        ("DEBUG", "nova.compute.api", "Going to try to terminate instance", "delete:2086"),))
    host, compute = inst.host, inst.host.compute
    c.tick(0.05, 0.3)
    by = "nova.compute.manager.ComputeManager.terminate_instance.<locals>.do_terminate_instance"
    locked = c.tick()
    em.lock_acquired(c, compute, ctx, inst.id, by)
    em.log(c, compute, "INFO", "nova.compute.manager", "Terminating instance", ctx, inst.id)
    em.log(c, compute, "DEBUG", "nova.compute.manager", "Start destroying the instance on the hypervisor.", ctx,
           inst.id, fn="_shutdown_instance:2436")
    destroy = c.t
    c.tick(0.2, 0.9)
    if rng.random() < 0.1:  # libvirt raced the destroy: logged, harmless
        em.log(c, compute, "WARNING", "nova.virt.libvirt.driver",
               f"Error from libvirt while getting description of instance-{inst.number:08x}: [Error Code 42] "
               f"Domain not found: no domain with matching uuid '{inst.id}' (instance-{inst.number:08x})", ctx,
               inst.id)
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", "Instance destroyed successfully.", ctx, inst.id)
    em.log(c, compute, "INFO", "os_vif", f"Successfully unplugged vif {network.vif_repr(inst.port, True)}", ctx)
    network.vif_unplugged(w, c.fork(), inst, host)
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", f"Deleting instance files {INSTANCES_DIR}/{inst.id}_del",
           ctx, inst.id)
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", f"Deletion of {INSTANCES_DIR}/{inst.id}_del complete",
           ctx, inst.id)
    em.log(c, compute, "INFO", "nova.compute.manager",
           f"Took {(c.t - destroy) / 1000:.2f} seconds to destroy the instance on the hypervisor.", ctx, inst.id)
    dealloc = c.t
    em.log(c, compute, "DEBUG", "nova.network.neutronv2.api", "deallocate_for_instance()", ctx, inst.id,
           fn="deallocate_for_instance:1613")
    network.delete_port(w, c, w.user_ctx(inst.tenant), inst.port, host.ip)
    em.log(c, compute, "INFO", "nova.compute.manager",
           f"Took {(c.t - dealloc) / 1000:.2f} seconds to deallocate network for instance.", ctx, inst.id)
    em.lock(c, compute, ctx, "compute_resources", "nova.compute.resource_tracker.ResourceTracker.update_usage")
    c.tick()
    em.lock_released(c, compute, ctx, inst.id, by, (c.t - locked) / 1000)
    # the workload polls until the server is gone
    c.wait(rng.uniform(1.0, 3.0))
    api_call(w, c, ctx, "GET", f"/v2.1/servers/{inst.id}", 404, "ServersController.show", extra=(
        ("INFO", "nova.api.openstack.wsgi", f"HTTP exception thrown: Instance {inst.id} could not be found.", None),))
    if rng.random() < 0.15:
        sync_power_state_race(w, c, inst)


def server_migrate(w: World, t0: int) -> None:
    """Cold migration, or a resize to another flavor, with its confirmation."""
    cl, em, rng = w.cloud, w.em, w.rng
    ready = cl.ready_instances(t0, no_volumes=True)
    if not ready or len(cl.hosts) < 2:
        return server_list(w, t0)
    inst = rng.choice(ready)
    resize = rng.random() < 0.5
    new_flavor = inst.flavor
    if resize:
        new_flavor = rng.choice([f for f in ("m1.tiny", "m1.small", "m1.medium") if f != inst.flavor])
    source = inst.host
    use = cl.usage()
    targets = [h for h in cl.hosts if h is not source and fits(w, h, new_flavor, use[h.name])]
    if not targets:
        return server_list(w, t0)
    path = f"/v2.1/servers/{inst.id}/action"
    req = _request(w, t0, inst, "POST", path)
    if req is None:
        return
    c, ctx = req
    inst.busy_until = t0 + 10 ** 9
    body = (f'{{"resize": {{"flavorRef": "{FLAVOR_IDS[new_flavor]}"}}}}' if resize else '{"migrate": null}')
    action = "ServersController._action_resize" if resize else "MigrateServerController._migrate"
    api_call(w, c, ctx, "POST", path, 202, action, inst.id, body)
    conductor = cl.proc("nova-conductor")
    c.tick(0.02, 0.1)
    migration = w.ids.uuid()
    em.log(c, conductor, "DEBUG", "nova.conductor.tasks.migrate",
           f"Created allocations for migration {migration} on {source.name}", ctx, inst.id,
           fn="replace_allocation_with_migration:71")
    b = dict(inst=inst, ctx=ctx)
    dest = select_host(w, c, b, exclude=source)
    if dest is None:
        inst.busy_until = c.t
        return
    # destination: claim; source: power off and copy the disk
    c.tick(0.05, 0.3)
    old_flavor, inst.flavor = inst.flavor, new_flavor
    claim(w, c, dest, ctx, inst, "resize_claim")
    inst.flavor = old_flavor
    src = source.compute
    c.tick(0.1, 0.4)
    em.log(c, src, "INFO", "nova.compute.manager", "Migrating", ctx, inst.id)
    em.log(c, src, "DEBUG", "nova.virt.libvirt.driver", "Starting migrate_disk_and_power_off", ctx, inst.id,
           fn="migrate_disk_and_power_off:8367")
    off = rng.randint(2, 6)
    c.wait(off)
    em.log(c, src, "INFO", "nova.virt.libvirt.driver", f"Instance shutdown successfully after {off} seconds.", ctx,
           inst.id)
    em.log(c, src, "INFO", "nova.virt.libvirt.driver", "Instance destroyed successfully.", ctx, inst.id)
    em.log(c, src, "INFO", "os_vif", f"Successfully unplugged vif {network.vif_repr(inst.port, True)}", ctx)
    em.cmd(c, src, ctx, f"mv {INSTANCES_DIR}/{inst.id} {INSTANCES_DIR}/{inst.id}_resize", rng.uniform(0.01, 0.05))
    em.cmd(c, src, ctx, f"ssh -o BatchMode=yes {dest.ip} mkdir -p {INSTANCES_DIR}/{inst.id}", rng.uniform(0.1, 0.4))
    em.cmd(c, src, ctx, f"scp -r {INSTANCES_DIR}/{inst.id}_resize/disk {dest.ip}:{INSTANCES_DIR}/{inst.id}/disk",
           rng.uniform(1.0, 6.0))
    _finish_on(w, c, inst, dest, ctx)
    inst.host, inst.flavor, inst.port.host = dest, new_flavor, dest.name
    # the workload confirms
    c.wait(rng.uniform(3.0, 12.0))
    api_call(w, c, ctx, "POST", path, 204, "ServersController._action_confirm_resize", inst.id,
             '{"confirmResize": null}')
    c.tick(0.1, 0.5)
    em.log(c, src, "INFO", "nova.virt.libvirt.driver", f"Deletion of {INSTANCES_DIR}/{inst.id}_resize complete",
           ctx, inst.id)
    em.lock(c, src, ctx, "compute_resources", "nova.compute.resource_tracker.ResourceTracker.drop_move_claim")
    inst.busy_until = c.t


def _finish_on(w: World, c: Clock, inst: Instance, dest: Host, ctx) -> None:
    em = w.em
    c.tick(0.1, 0.5)
    em.log(c, dest.compute, "DEBUG", "nova.virt.libvirt.driver", "Starting finish_migration", ctx, inst.id,
           fn="finish_migration:8565")
    em.log(c, dest.compute, "INFO", "os_vif", f"Successfully plugged vif {network.vif_repr(inst.port, False)}", ctx)
    agent = c.fork()
    agent.tick(0.4, 1.5)
    network.ovs_catch_up(w, agent, dest)
    em.log(agent, dest.ovs, "INFO", network.OVS_AGENT,
           f"Port {inst.port.id} updated. Details: {network.port_details(inst.port)}", dest.ovs_ctx)
    c.tick(0.5, 1.5)
    em.log(c, dest.compute, "INFO", "nova.compute.manager", "VM Started (Lifecycle Event)", NO_CTX, inst.id)
    c.join(agent)
    em.log(c, dest.compute, "INFO", "nova.virt.libvirt.driver", "Instance running successfully.", ctx, inst.id)


def server_reboot(w: World, t0: int) -> None:
    cl, em, rng = w.cloud, w.em, w.rng
    ready = cl.ready_instances(t0)
    if not ready:
        return server_list(w, t0)
    inst = rng.choice(ready)
    path = f"/v2.1/servers/{inst.id}/action"
    req = _request(w, t0, inst, "POST", path)
    if req is None:
        return
    c, ctx = req
    inst.busy_until = t0 + 10 ** 9
    api_call(w, c, ctx, "POST", path, 202, "ServersController._action_reboot", inst.id,
             '{"reboot": {"type": "SOFT"}}')
    compute = inst.host.compute
    c.tick(0.05, 0.3)
    em.log(c, compute, "INFO", "nova.compute.manager", "Rebooting instance", ctx, inst.id)
    c.wait(rng.uniform(2.0, 8.0))
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", "Instance shutdown successfully.", ctx, inst.id)
    em.log(c, compute, "INFO", "nova.compute.manager", "VM Stopped (Lifecycle Event)", NO_CTX, inst.id)
    c.wait(rng.uniform(0.5, 2.0))
    em.log(c, compute, "INFO", "nova.compute.manager", "VM Started (Lifecycle Event)", NO_CTX, inst.id)
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", "Instance soft rebooted successfully.", ctx, inst.id)
    inst.busy_until = c.t


def server_list(w: World, t0: int) -> None:
    cl, rng = w.cloud, w.rng
    c = w.clock(t0)
    tenant = cl.tenant()
    ctx = w.user_ctx(tenant)
    path = "/v2.1/servers/detail"
    if w.api_outage(c, "nova-api", ctx, "GET", path):
        return
    n = sum(1 for i in cl.instances.values() if i.tenant is tenant)
    extra = [("DEBUG", "nova.compute.api", "Searching by: {'deleted': False, 'project_id': "
                                           f"'{tenant.project}'}}", "get_all:2396"),
             ("DEBUG", "nova.compute.api", f"Listing {n} instances in cell 1(cell1)",
              "_get_instances_by_filters_all_cells:2604")]
    if rng.random() < 0.2:
        extra.append(("WARNING", "oslo_db.sqlalchemy.utils", "Unique keys not in sort_keys. The sorting order may "
                                                             "be unstable.", None))
    api_call(w, c, ctx, "GET", path, 200, "ServersController.detail", extra=tuple(extra))
