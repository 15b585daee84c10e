"""Booting a server: nova-api -> conductor -> scheduler -> nova-compute.

One nova request id flows through nova-api, nova-conductor, nova-scheduler
and nova-compute; neutron, glance and cinder log their own request ids and
are tied to it by the instance, port and image ids. Faults break a build at
named stages through a hook: ``schedule`` (scheduler), ``bind`` (port
binding in neutron-server), ``image`` (image download), ``spawn`` (the
hypervisor) and ``vif`` (the OVS agent never reports the port up).
"""
from __future__ import annotations

from producers.simulator import network
from producers.simulator.cloud import (CLIENT_IP, CONTROLLER_IP, FLAVOR_IDS, FLAVORS, HOST_DISK_GB, HOST_RAM_MB, Host,
                                       Instance)
from producers.simulator.core import NO_CTX, Clock, Ctx, Frame
from producers.simulator.network import Hook, no_hook
from producers.simulator.world import World

FILTERS = ("RetryFilter", "AvailabilityZoneFilter", "ComputeFilter", "ComputeCapabilitiesFilter",
           "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter")
CELL0 = "00000000-0000-0000-0000-000000000000"
GET_CELL = "nova.context.set_target_cell.<locals>.get_or_set_cached_cell_and_set_connections"
BUILD_LOCK = "nova.compute.manager.ComputeManager.build_and_run_instance.<locals>._locked_do_build_and_run_instance"
FETCH_LOCK = "nova.virt.libvirt.imagebackend.Image.cache.<locals>.fetch_func_sync"  # held while an image downloads
INSTANCES_DIR = "/opt/stack/data/nova/instances"

# the frames every "Instance failed to spawn" traceback starts with
BUILD_FRAMES = (
    Frame("nova.compute.manager", 2389, "_build_resources", "yield resources"),
    Frame("nova.compute.manager", 2153, "_build_and_run_instance", "block_device_info=block_device_info)"),
    Frame("nova.virt.libvirt.driver", 3143, "spawn", "destroy_disks_on_failure=True)"),
)
RERAISE = (
    Frame("oslo_utils.excutils", 220, "__exit__", "self.force_reraise()"),
    Frame("oslo_utils.excutils", 196, "force_reraise", "six.reraise(self.type_, self.value, self.tb)"),
)


def fits(w: World, host: Host, flavor: str, used: tuple[int, int, int] | None = None) -> bool:
    """Whether the flavor fits on the host (``used``: its usage, when the caller has it at hand)."""
    ram, disk, _cpus = used if used is not None else w.cloud.used(host)
    r, d, _v = FLAVORS[flavor]
    return ram + r <= HOST_RAM_MB * 1.5 and disk + d <= HOST_DISK_GB


def host_state(w: World, host: Host, used: tuple[int, int, int]) -> str:
    ram, disk, _ = used
    n = sum(1 for i in w.cloud.instances.values() if i.host is host)
    return (f"({host.name}, {host.name}) ram: {HOST_RAM_MB - ram}MB disk: {(HOST_DISK_GB - disk) * 1024}MB "
            f"io_ops: 0 instances: {n}")


def api_call(w: World, c: Clock, ctx: Ctx, method: str, path: str, status: int, action: str,
             inst: str | None = None, body: str = "", extra: tuple[tuple[str, str, str, str | None], ...] = ()) -> int:
    """A nova-api request: its DEBUG chatter and the access line; returns when it answered."""
    em = w.em
    api = w.cloud.proc("nova-api")
    start = c.tick(0.001, 0.01)
    w.first_request(c, api)
    controller, method_name = action.split(".")
    if body:
        verb = method_name if method_name in ("create", "delete", "update") else "action"
        em.log(c, api, "DEBUG", "nova.api.openstack.wsgi",
               f"Action: '{verb}', calling method: <bound method {controller}.{method_name} of "
               f"<nova.api.openstack.compute.{controller.lower()} object at 0x7f3c2a1d4e48>>, body: {body}", ctx,
               fn="_process_stack:520")
    else:
        em.log(c, api, "DEBUG", "nova.api.openstack.wsgi",
               f"Calling method '<bound method {controller}.{method_name} of <nova.api.openstack.compute."
               f"{controller.lower()} object at 0x7f3c2a1d4e48>>'", ctx, fn="_process_stack:604")
    em.lock(c, api, ctx, CELL0, GET_CELL, held=w.rng.uniform(0.0, 0.002))
    for level, logger, msg, fn in extra:
        em.log(c, api, level, logger, msg, ctx, inst, fn=fn)
    c.tick(0.01, 0.25)
    return em.nova_wsgi(c, api, ctx, CLIENT_IP, method, path, status, start)


def poll_server(w: World, c: Clock, inst: Instance, after: float) -> None:
    """The workload polls the server until it settles."""
    c.wait(after)
    ctx = w.user_ctx(inst.tenant)
    api_call(w, c, ctx, "GET", f"/v2.1/servers/{inst.id}", 200, "ServersController.show")


def select_host(w: World, c: Clock, b: dict, hook: Hook = no_hook, exclude: Host | None = None) -> Host | None:
    """nova-scheduler's filters and weighers; None when a fault took over."""
    em, cl, inst, ctx = w.em, w.cloud, b["inst"], b["ctx"]
    sched = cl.proc("nova-scheduler")
    b["scheduler"] = sched
    em.log(c, sched, "DEBUG", "nova.scheduler.manager", f"Starting to schedule for instances: ['{inst.id}']", ctx,
           fn="select_destinations:117")
    if len(cl.hosts) <= 8:
        for h in cl.hosts:
            em.lock(c, sched, ctx, f"({h.name}, {h.name})", "nova.scheduler.host_manager.HostState._locked_update",
                    held=w.rng.uniform(0.001, 0.006))
    if hook("schedule", w, c, b):
        return None
    use = cl.usage()
    hosts = [h for h in cl.hosts if h is not exclude]
    em.log(c, sched, "DEBUG", "nova.filters", f"Starting with {len(hosts)} host(s)", ctx, fn="get_filtered_objects:70")
    for f in FILTERS:
        em.log(c, sched, "DEBUG", "nova.filters", f"Filter {f} returned {len(hosts)} host(s)", ctx,
               fn="get_filtered_objects:104")
    weighed = sorted([h for h in hosts if fits(w, h, inst.flavor, use[h.name])] or hosts or cl.hosts,
                     key=lambda h: (use[h.name][0], h.name))
    shown = ", ".join(f"WeighedHost [host: {host_state(w, h, use[h.name])}, "
                      f"weight: {1.0 - k / max(1, len(weighed)):.1f}]" for k, h in enumerate(weighed[:4]))
    em.log(c, sched, "DEBUG", "nova.scheduler.filter_scheduler", f"Weighed [{shown}]", ctx,
           fn="_get_sorted_hosts:454")
    host = weighed[0]
    em.log(c, sched, "DEBUG", "nova.scheduler.filter_scheduler",
           f"Selected host: WeighedHost [host: {host_state(w, host, use[host.name])}, weight: 1.0]", ctx, inst.id,
           fn="_consume_selected_host:346")
    em.lock(c, sched, ctx, f"({host.name}, {host.name})",
            "nova.scheduler.host_manager.HostState.consume_from_request")
    return host


def claim(w: World, c: Clock, host: Host, ctx: Ctx, inst: Instance, kind: str = "instance_claim") -> None:
    em, compute = w.em, host.compute
    ram_used, disk_used, cpu_used = w.cloud.used(host)
    r, d, v = FLAVORS[inst.flavor]
    if w.cloud.instances.get(inst.id) is inst and inst.host is host:  # usage before this claim
        ram_used, disk_used, cpu_used = ram_used - r, disk_used - d, cpu_used - v
    by = f"nova.compute.resource_tracker.ResourceTracker.{kind}"
    acquired = c.tick()
    em.lock_acquired(c, compute, ctx, "compute_resources", by)
    for msg in (f"Attempting claim on node {host.name}: memory {r} MB, disk {d} GB, vcpus {v} CPU",
                f"Total memory: {HOST_RAM_MB} MB, used: {ram_used:.2f} MB",
                f"memory limit: {HOST_RAM_MB * 1.5:.2f} MB, free: {HOST_RAM_MB * 1.5 - ram_used:.2f} MB",
                f"Total disk: {HOST_DISK_GB} GB, used: {disk_used:.2f} GB",
                f"disk limit: {HOST_DISK_GB:.2f} GB, free: {HOST_DISK_GB - disk_used:.2f} GB",
                f"Total vcpu: 8 VCPU, used: {cpu_used:.2f} VCPU",
                "vcpu limit not specified, defaulting to unlimited",
                f"Claim successful on node {host.name}"):
        em.log(c, compute, "INFO", "nova.compute.claims", msg, ctx, inst.id)
    c.tick(0.005, 0.05)
    em.lock_released(c, compute, ctx, "compute_resources", by, (c.t - acquired) / 1000)


def fetch_image(w: World, c: Clock, b: dict, hook: Hook, slow: float, force: bool) -> bool:
    """Image cache of the host; a miss downloads from glance and converts to raw."""
    em, inst, host, ctx = w.em, b["inst"], b["host"], b["ctx"]
    compute, image = host.compute, inst.image
    cache = (image.checksum + image.id.replace("-", ""))[:40]  # a 40-hex name in _base, stable per image
    acquired = c.tick()
    em.lock_acquired(c, compute, ctx, cache, FETCH_LOCK)
    if force or image.id not in host.cached_images:
        glance = w.cloud.proc("glance-api")
        gctx = w.user_ctx(inst.tenant)
        start = c.tick(0.01, 0.05)
        b.update(glance=glance, glance_ctx=gctx, cache=cache)
        if hook("image", w, c, b):
            return False
        c.wait(image.size / 80e6 + w.rng.uniform(0.05, 0.3))
        em.glance_wsgi(c, glance, gctx, host.ip, "GET", f"/v2/images/{image.id}/file", 200, start, image.size)
        b["convert_at"] = em.log(c, compute, "DEBUG", "nova.virt.images", f"{image.id} was qcow2, converting to raw",
                                 ctx, fn="fetch_to_raw:142")
        seconds = slow or (image.size / 120e6 + w.rng.uniform(0.2, 0.9))
        em.cmd(c, compute, ctx, f"qemu-img convert -t none -O raw -f qcow2 {INSTANCES_DIR}/_base/{cache}.part "
                                f"{INSTANCES_DIR}/_base/{cache}.converted", seconds)
        host.cached_images.add(image.id)
    c.tick()
    em.lock_released(c, compute, ctx, cache, FETCH_LOCK, (c.t - acquired) / 1000)
    em.cmd(c, compute, ctx, f"qemu-img create -f qcow2 -o backing_file={INSTANCES_DIR}/_base/{cache} "
                            f"{INSTANCES_DIR}/{inst.id}/disk {FLAVORS[inst.flavor][1]}G", w.rng.uniform(0.02, 0.08))
    em.log(c, compute, "DEBUG", "nova.virt.disk.api",
           f"Checking if we can resize image {INSTANCES_DIR}/{inst.id}/disk. size={FLAVORS[inst.flavor][1] << 30}",
           ctx, fn="can_resize_image:216")
    return True


def guest_xml(inst: Instance) -> list[str]:
    r, _d, v = FLAVORS[inst.flavor]
    return ['<domain type="kvm">', f"  <uuid>{inst.id}</uuid>", f"  <name>instance-{inst.number:08x}</name>",
            f"  <memory>{r * 1024}</memory>", f"  <vcpu>{v}</vcpu>", "  <devices>",
            f'    <disk type="file" device="disk"><source file="{INSTANCES_DIR}/{inst.id}/disk"/></disk>',
            f'    <interface type="bridge"><mac address="{inst.port.mac}"/><target dev="tap{inst.port.id[:11]}"/>'
            "</interface>", "  </devices>", "</domain>"]


def server_create(w: World, t0: int, hook: Hook = no_hook, slow: float = 0.0, flavor: str | None = None,
                  force_download: bool = False) -> dict | None:
    """Boot one server; returns the build's context (ids, times) for labels."""
    cl, em, rng = w.cloud, w.em, w.rng
    c = w.clock(t0)
    first = next((h for h in cl.hosts if fits(w, h, flavor or "m1.medium")), None)
    if flavor is None and first is None:
        return None  # the cloud is full: the workload deletes first
    # nova-api picks the instance id; the scheduler picks the host later
    inst = cl.new_instance(t0, first if first is not None else cl.hosts[0], flavor=flavor)
    ctx = w.user_ctx(inst.tenant)
    b = dict(inst=inst, ctx=ctx, host=None)
    if w.api_outage(c, "nova-api", ctx, "POST", "/v2.1/servers", inst.id):
        cl.ports.pop(inst.port.id, None)
        return b
    body = (f'{{"server": {{"name": "{inst.name}", "imageRef": "{inst.image.id}", "flavorRef": '
            f'"{FLAVOR_IDS[inst.flavor]}", "networks": [{{"uuid": "{inst.port.network.id}"}}]}}}}')
    glance_start = c.fork()
    gctx = w.user_ctx(inst.tenant)
    em.glance_wsgi(glance_start, cl.proc("glance-api"), gctx, CONTROLLER_IP, "GET", f"/v2/images/{inst.image.id}",
                   200, glance_start.t - rng.randint(5, 30))
    api_call(w, c, ctx, "POST", "/v2.1/servers", 202, "ServersController.create", inst.id, body, extra=(
        ("DEBUG", "nova.compute.api", "Going to run 1 instances...", "_provision_instances:870"),
        ("DEBUG", "nova.compute.api",
         f"block_device_mapping [BlockDeviceMapping(boot_index=0,delete_on_termination=True,destination_type='local',"
         f"device_type='disk',image_id='{inst.image.id}',source_type='image',volume_id=None,volume_size=None)]",
         "_bdm_validate_set_size_and_instance:1340"),
    ))
    c.join(glance_start)
    conductor = cl.proc("nova-conductor")
    b["conductor"] = conductor
    c.tick(0.02, 0.15)
    em.lock(c, conductor, ctx, CELL0, GET_CELL, held=rng.uniform(0.0, 0.002))
    sched_start = c.t
    chosen = select_host(w, c, b, hook)
    if chosen is None:
        cl.ports.pop(inst.port.id, None)
        return b
    em.log(c, conductor, "DEBUG", "nova.conductor.manager",
           f"Took {(c.t - sched_start) / 1000 + 0.01:.2f} seconds to select destinations for 1 instance(s).", ctx,
           fn="schedule_and_build_instances:1237")
    inst.host = chosen
    inst.port.host = chosen.name
    b["host"] = chosen
    cl.instances[inst.id] = inst
    inst.ready = inst.busy_until = t0 + 10 ** 9  # not usable until the build ends
    poll_server(w, c.fork(), inst, rng.uniform(1.0, 2.5))
    ok = _build_on_host(w, c, b, hook, slow, force_download)
    if ok:
        inst.ready = inst.busy_until = c.t
        poll_server(w, c, inst, rng.uniform(0.5, 2.0))
    else:
        cl.instances.pop(inst.id, None)
        cl.ports.pop(inst.port.id, None)
    return b


def _build_on_host(w: World, c: Clock, b: dict, hook: Hook, slow: float, force_download: bool) -> bool:
    em, inst, host, ctx = w.em, b["inst"], b["host"], b["ctx"]
    compute = host.compute
    c.tick(0.05, 0.3)
    b["lock_at"] = c.tick()
    em.lock_acquired(c, compute, ctx, inst.id, BUILD_LOCK)
    em.log(c, compute, "DEBUG", "nova.compute.manager", "Starting instance...", ctx, inst.id,
           fn="_do_build_and_run_instance:1934")
    claim(w, c, host, ctx, inst)
    em.log(c, compute, "DEBUG", "nova.compute.manager", "Start building networks asynchronously for instance.", ctx,
           inst.id, fn="_build_resources:2236")
    net = c.fork()
    net_ok = network.allocate_port(w, net, b, hook)
    em.log(c, compute, "DEBUG", "nova.compute.manager", "Start building block device mappings for instance.", ctx,
           inst.id, fn="_build_resources:2272")
    spawn_start = c.tick(0.05, 0.4)
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", "Creating image", ctx, inst.id, tick=False)
    if not net_ok:
        c.join(net)
        hook("network_failed", w, c, b)
        return False
    if not fetch_image(w, c, b, hook, slow, force_download):
        return False
    c.join(net)
    em.log(c, compute, "DEBUG", "nova.virt.libvirt.driver",
           f"Start _get_guest_xml network_info={network.network_info(inst.port)} image_meta=ImageMeta("
           f"id={inst.image.id},disk_format='qcow2',name='{inst.image.name}') rescue=None", ctx, inst.id,
           fn="_get_guest_xml:5370")
    xml = guest_xml(inst)
    em.log(c, compute, "DEBUG", "nova.virt.libvirt.driver", f"End _get_guest_xml xml={xml[0]}", ctx, inst.id,
           fn="_get_guest_xml:5373", tail=xml[1:])
    em.log(c, compute, "DEBUG", "nova.compute.manager",
           f"Preparing to wait for external event network-vif-plugged-{inst.port.id}", ctx, inst.id,
           fn="prepare_for_instance_event:325")
    c.tick(0.05, 0.3)
    em.log(c, compute, "INFO", "os_vif", f"Successfully plugged vif {network.vif_repr(inst.port, False)}", ctx)
    if hook("spawn", w, c, b):
        return False
    agent = c.fork()
    b["clock"] = c
    if not network.vif_plugged(w, agent, b, hook):
        return False
    c.tick(0.3, 1.0)
    em.log(c, compute, "INFO", "nova.compute.manager", "VM Started (Lifecycle Event)", NO_CTX, inst.id)
    c.join(agent)
    c.tick(0.1, 0.6)
    em.log(c, compute, "INFO", "nova.compute.manager", "VM Resumed (Lifecycle Event)", NO_CTX, inst.id)
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", "Instance spawned successfully.", ctx, inst.id)
    b["spawn_msg"] = f"Took {(c.t - spawn_start) / 1000:.2f} seconds to spawn the instance on the hypervisor."
    b["spawned_at"] = em.log(c, compute, "INFO", "nova.compute.manager", b["spawn_msg"], ctx, inst.id)
    em.log(c, compute, "DEBUG", "nova.compute.manager", "Checking state", ctx, inst.id, fn="_get_power_state:1185")
    em.log(c, compute, "INFO", "nova.compute.manager",
           f"Took {(c.t - b['lock_at']) / 1000 + 0.4:.2f} seconds to build instance.", ctx, inst.id)
    release_build_lock(w, c, b)
    return True


def release_build_lock(w: World, c: Clock, b: dict) -> None:
    c.tick()
    w.em.lock_released(c, b["host"].compute, b["ctx"], b["inst"].id, BUILD_LOCK, (c.t - b["lock_at"]) / 1000)


def failed_build_cleanup(w: World, c: Clock, b: dict) -> None:
    """What nova-compute does after a failed spawn: destroy, unplug, free the port."""
    em, inst, host, ctx = w.em, b["inst"], b["host"], b["ctx"]
    compute = host.compute
    c.tick(0.01, 0.1)
    em.log(c, compute, "INFO", "nova.compute.manager", "Terminating instance", ctx, inst.id)
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", "Instance destroyed successfully.", ctx, inst.id)
    em.log(c, compute, "INFO", "os_vif", f"Successfully unplugged vif {network.vif_repr(inst.port, False)}", ctx)
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", f"Deleting instance files {INSTANCES_DIR}/{inst.id}_del",
           ctx, inst.id)
    em.log(c, compute, "INFO", "nova.virt.libvirt.driver", f"Deletion of {INSTANCES_DIR}/{inst.id}_del complete",
           ctx, inst.id)
    em.log(c, compute, "DEBUG", "nova.compute.manager", "Deallocating network for instance", ctx, inst.id,
           fn="_deallocate_network:1830")
    network.delete_port(w, c, w.user_ctx(inst.tenant), inst.port, host.ip)
    em.log(c, compute, "INFO", "nova.compute.manager",
           f"Took {w.rng.uniform(0.3, 1.2):.2f} seconds to deallocate network for instance.", ctx, inst.id)


def set_error_state(w: World, c: Clock, b: dict, reason: str, exc: str) -> None:
    """nova-conductor gives up on the build (max attempts 1) and sets ERROR."""
    conductor, inst, ctx = b.get("conductor") or w.cloud.proc("nova-conductor"), b["inst"], b["ctx"]
    c.tick(0.05, 0.3)
    w.em.log(c, conductor, "WARNING", "nova.scheduler.utils",
             f"Failed to compute_task_build_instances: {reason}: {exc}", ctx, inst.id)
    w.em.log(c, conductor, "WARNING", "nova.scheduler.utils", "Setting instance to ERROR state.", ctx, inst.id)
