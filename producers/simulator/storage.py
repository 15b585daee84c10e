"""Cinder volumes (create, attach, detach, delete) and glance images.

cinder-api, cinder-scheduler and cinder-volume share cinder's request id; a
call from nova-compute opens a new one. Faults break a flow at ``lvm``
(creating the logical volume) or ``attach`` (exporting the volume to the
host).
"""
from __future__ import annotations

from producers.simulator.build import api_call
from producers.simulator.cloud import CLIENT_IP, CONTROLLER_IP, Image, Instance, Volume
from producers.simulator.core import Clock, Ctx
from producers.simulator.network import Hook, no_hook
from producers.simulator.world import World

VG = "stack-volumes-lvmdriver-1"
ROOTWRAP = "sudo cinder-rootwrap /etc/cinder/rootwrap.conf"


def cinder_api(w: World, c: Clock, ctx: Ctx, client: str, method: str, path: str, status: int,
               logs: tuple[tuple[str, str, str, str | None], ...] = ()) -> int:
    """A cinder-api request: request line, chatter, 'returned with HTTP', access line."""
    em = w.em
    api = w.cloud.proc("cinder-api")
    start = c.tick(0.001, 0.01)
    w.first_request(c, api)
    url = f"http://{CONTROLLER_IP}:8776{path}"
    em.log(c, api, "INFO", "cinder.api.openstack.wsgi", f"{method} {url}", ctx)
    for level, logger, msg, fn in logs:
        c.tick(0.005, 0.1)
        em.log(c, api, level, logger, msg, ctx, fn=fn)
    c.tick(0.02, 0.3)
    em.log(c, api, "INFO", "cinder.api.openstack.wsgi", f"{url} returned with HTTP {status}", ctx)
    return em.eventlet_wsgi(c, api, ctx, "eventlet.wsgi.server", client, method, path, status, start)


def _user(w: World, vol: Volume) -> Ctx:
    return w.user_ctx(vol.tenant)


def volume_create(w: World, t0: int, hook: Hook = no_hook) -> dict | None:
    cl, em, rng = w.cloud, w.em, w.rng
    c = w.clock(t0)
    vol = Volume(w.ids.uuid(), rng.choice((1, 1, 2, 5)), cl.tenant(), status="creating")
    ctx = _user(w, vol)
    path = f"/v3/{vol.tenant.project}/volumes"
    b = dict(vol=vol, ctx=ctx)
    if w.api_outage(c, "cinder-api", ctx, "POST", path):
        return b
    logs = [("INFO", "cinder.api.v3.volumes", f"Create volume of {vol.size} GB", None),
            ("INFO", "cinder.volume.api", "Availability Zones retrieved successfully.", None)]
    if rng.random() < 0.1:
        logs.append(("WARNING", "cinder.quota", "Deprecated: Default quota for resource: gigabytes_lvmdriver-1 is "
                     "set by the default quota flag: quota_gigabytes_lvmdriver-1, it is now deprecated. Please use "
                     "the default quota class for default quota.", None))
    logs.append(("INFO", "cinder.volume.api", "Create volume request issued successfully.", None))
    cinder_api(w, c, ctx, CLIENT_IP, "POST", path, 202, tuple(logs))
    sched = cl.proc("cinder-scheduler")
    c.tick(0.02, 0.2)
    for f in ("AvailabilityZoneFilter", "CapacityFilter", "CapabilitiesFilter"):
        em.log(c, sched, "DEBUG", "cinder.scheduler.base_filter", f"Filter {f} returned 1 host(s)", ctx,
               fn="get_filtered_objects:125")
    vp = cl.proc("cinder-volume")
    c.tick(0.05, 0.3)
    b["proc"] = vp
    em.log(c, vp, "INFO", "cinder.volume.flows.manager.create_volume",
           f"Volume {vol.id}: being created as raw with specification: {{'status': 'creating', "
           f"'volume_name': 'volume-{vol.id}', 'volume_size': {vol.size}}}", ctx)
    b["lvcreate"] = (f"{ROOTWRAP} env LC_ALL=C lvcreate -T -V {vol.size}g -n volume-{vol.id} "
                     f"{VG}/{VG}-pool")
    if hook("lvm", w, c, b):
        return b
    em.cmd(c, vp, ctx, b["lvcreate"], rng.uniform(0.3, 1.2))
    em.log(c, vp, "INFO", "cinder.volume.flows.manager.create_volume",
           f"Volume volume-{vol.id} ({vol.id}): created successfully", ctx)
    em.log(c, vp, "INFO", "cinder.volume.manager", "Created volume successfully.", ctx)
    vol.status = "available"
    cl.volumes[vol.id] = vol
    c.wait(rng.uniform(0.5, 2.0))
    volume_show(w, c, vol)
    return b


def volume_show(w: World, c: Clock, vol: Volume) -> None:
    cinder_api(w, c, _user(w, vol), CLIENT_IP, "GET", f"/v3/{vol.tenant.project}/volumes/{vol.id}", 200,
               (("INFO", "cinder.volume.api", "Volume info retrieved successfully.", None),))


def _volume_action(w: World, c: Clock, ctx: Ctx, client: str, vol: Volume, action: str, msg: str | None) -> int:
    logs = (("INFO", "cinder.volume.api", msg, None),) if msg else ()
    return cinder_api(w, c, ctx, client, "POST", f"/v3/{vol.tenant.project}/volumes/{vol.id}/action", 202 if
                      action in ("os-reserve",) else 200, logs)


def volume_attach(w: World, t0: int, hook: Hook = no_hook, inst: Instance | None = None,
                  vol: Volume | None = None) -> dict | None:
    """nova-api -> nova-compute -> cinder-api -> cinder-volume -> os-brick."""
    cl, em, rng = w.cloud, w.em, w.rng
    if inst is None or vol is None:
        insts, vols = cl.ready_instances(t0), cl.available_volumes(t0)
        insts = [i for i in insts if len(i.volumes) < 3]
        if not insts or not vols:
            return volume_create(w, t0)
        inst, vol = rng.choice(insts), rng.choice(vols)
    c = w.clock(t0)
    ctx = w.user_ctx(inst.tenant)
    path = f"/v2.1/servers/{inst.id}/os-volume_attachments"
    b = dict(inst=inst, vol=vol, ctx=ctx, host=inst.host)
    if w.api_outage(c, "nova-api", ctx, "POST", path, inst.id):
        return b
    inst.busy_until = vol.busy_until = t0 + 10 ** 9
    device = f"/dev/vd{'bcdefg'[len(inst.volumes)]}"
    host, compute = inst.host, inst.host.compute
    reserve = c.fork()
    reserve.tick(0.05, 0.2)
    by = "nova.compute.manager.ComputeManager.reserve_block_device_name.<locals>.do_reserve"
    em.lock(reserve, compute, ctx, inst.id, by)
    if rng.random() < 0.3:
        em.log(reserve, compute, "WARNING", "nova.virt.libvirt.driver", f"Ignoring supplied device name: {device}",
               ctx, inst.id)
    api_call(w, c, ctx, "POST", path, 200, "VolumeAttachmentController.create", inst.id,
             f'{{"volumeAttachment": {{"volumeId": "{vol.id}"}}}}')
    c.join(reserve)
    _volume_action(w, c, w.user_ctx(inst.tenant), CONTROLLER_IP, vol, "os-reserve",
                   "Reserve volume completed successfully.")
    c.tick(0.1, 0.4)
    em.log(c, compute, "INFO", "nova.compute.manager", f"Attaching volume {vol.id} to {device}", ctx, inst.id)
    # initialize_connection: cinder exports the volume over iSCSI
    cctx = w.user_ctx(inst.tenant)
    b.update(cinder_ctx=cctx, device=device)
    api = cl.proc("cinder-api")
    vp = cl.proc("cinder-volume")
    url = f"http://{CONTROLLER_IP}:8776/v3/{inst.tenant.project}/volumes/{vol.id}/action"
    start = c.tick(0.01, 0.05)
    em.log(c, api, "INFO", "cinder.api.openstack.wsgi", f"POST {url}", cctx)
    c.tick(0.05, 0.2)
    em.log(c, vp, "INFO", "cinder.volume.targets.lio", f"Creating iscsi_target for volume: volume-{vol.id}", cctx)
    b.update(cinder_api=api, cinder_volume=vp, url=url, api_start=start)
    if hook("attach", w, c, b):
        inst.busy_until = vol.busy_until = c.t
        return b
    em.cmd(c, vp, cctx, f"{ROOTWRAP} cinder-rtstool create /dev/{VG}/volume-{vol.id} "
                        f"iqn.2010-10.org.openstack:volume-{vol.id} {w.ids.hex32()[:20]} {w.ids.hex32()[:16]} False "
                        f"-p3260 -a{CONTROLLER_IP}", rng.uniform(0.5, 1.5))
    em.log(c, vp, "INFO", "cinder.volume.manager", "Initialize volume connection completed successfully.", cctx)
    em.log(c, api, "INFO", "cinder.api.openstack.wsgi", f"{url} returned with HTTP 200", cctx)
    em.eventlet_wsgi(c, api, cctx, "eventlet.wsgi.server", host.ip, "POST",
                     f"/v3/{inst.tenant.project}/volumes/{vol.id}/action", 200, start)
    c.tick(0.05, 0.2)
    em.log(c, compute, "INFO", "os_brick.initiator.connectors.iscsi",
           f"Trying to connect to iSCSI portal {CONTROLLER_IP}:3260", ctx)
    em.log(c, compute, "WARNING", "os_brick.initiator.connectors.iscsi",
           "Couldn't find iscsi sessions because iscsiadm err: iscsiadm: No active sessions.", ctx)
    c.wait(rng.uniform(1.0, 3.0))
    em.log(c, compute, "DEBUG", "nova.virt.libvirt.guest", '''attach device xml: <disk type="block" device="disk">''',
           ctx, fn="attach_device:304", tail=(
               f'  <source dev="/dev/disk/by-path/ip-{CONTROLLER_IP}:3260-iscsi-iqn.2010-10.org.openstack:volume-'
               f'{vol.id}-lun-0"/>', f'  <target bus="virtio" dev="{device[5:]}"/>',
               f"  <serial>{vol.id}</serial>", "</disk>"))
    _volume_action(w, c, w.user_ctx(inst.tenant), host.ip, vol, "os-attach", None)
    c.tick(0.05, 0.2)
    em.log(c, vp, "INFO", "cinder.volume.manager",
           f"Attaching volume {vol.id} to instance {inst.id} at mountpoint {device} on host None.", ctx)
    em.log(c, vp, "INFO", "cinder.volume.manager", "Attach volume completed successfully.", ctx)
    vol.status, vol.attached_to = "in-use", inst.id
    inst.volumes.append(vol.id)
    inst.busy_until = vol.busy_until = c.t
    return b


def volume_detach(w: World, t0: int) -> None:
    cl, em, rng = w.cloud, w.em, w.rng
    vols = cl.attached_volumes(t0)
    if not vols:
        return volume_attach(w, t0)
    vol = rng.choice(vols)
    inst = cl.instances[vol.attached_to]
    c = w.clock(t0)
    ctx = w.user_ctx(inst.tenant)
    path = f"/v2.1/servers/{inst.id}/os-volume_attachments/{vol.id}"
    if w.api_outage(c, "nova-api", ctx, "DELETE", path, inst.id):
        return
    inst.busy_until = vol.busy_until = t0 + 10 ** 9
    api_call(w, c, ctx, "DELETE", path, 202, "VolumeAttachmentController.delete", inst.id)
    compute = inst.host.compute
    c.tick(0.1, 0.4)
    em.log(c, compute, "INFO", "nova.compute.manager", f"Detaching volume {vol.id}", ctx, inst.id)
    em.log(c, compute, "INFO", "nova.virt.block_device",
           f"Attempting to driver detach volume {vol.id} from mountpoint /dev/vdb", ctx, inst.id)
    c.wait(rng.uniform(0.5, 2.0))
    cctx = w.user_ctx(inst.tenant)
    vp = cl.proc("cinder-volume")
    cinder_api(w, c, cctx, inst.host.ip, "POST", f"/v3/{inst.tenant.project}/volumes/{vol.id}/action", 202)
    em.log(c, vp, "INFO", "cinder.volume.manager", "Terminate volume connection completed successfully.", cctx)
    em.log(c, vp, "INFO", "cinder.volume.targets.lio", f"Removing iscsi_target: {vol.id}", cctx)
    em.cmd(c, vp, cctx, f"{ROOTWRAP} cinder-rtstool delete iqn.2010-10.org.openstack:volume-{vol.id}",
           rng.uniform(0.3, 1.0))
    dctx = w.user_ctx(inst.tenant)
    cinder_api(w, c, dctx, inst.host.ip, "POST", f"/v3/{inst.tenant.project}/volumes/{vol.id}/action", 202)
    em.log(c, vp, "INFO", "cinder.volume.manager", f"Detaching volume {vol.id} from instance {inst.id}.", dctx)
    em.log(c, vp, "INFO", "cinder.volume.manager", "Detach volume completed successfully.", dctx)
    vol.status, vol.attached_to = "available", None
    if vol.id in inst.volumes:
        inst.volumes.remove(vol.id)
    inst.busy_until = vol.busy_until = c.t


def volume_delete(w: World, t0: int) -> None:
    cl, em, rng = w.cloud, w.em, w.rng
    vols = cl.available_volumes(t0)
    if len(vols) <= 1:
        return volume_create(w, t0)
    vol = rng.choice(vols)
    c = w.clock(t0)
    ctx = _user(w, vol)
    path = f"/v3/{vol.tenant.project}/volumes/{vol.id}"
    if w.api_outage(c, "cinder-api", ctx, "DELETE", path):
        return
    del cl.volumes[vol.id]
    cinder_api(w, c, ctx, CLIENT_IP, "DELETE", path, 202,
               (("INFO", "cinder.volume.api", "Delete volume request issued successfully.", None),))
    vp = cl.proc("cinder-volume")
    c.tick(0.1, 0.4)
    em.log(c, vp, "INFO", "cinder.volume.targets.iscsi",
           f"Skipping remove_export. No iscsi_target is presently exported for volume: {vol.id}", ctx)
    em.cmd(c, vp, ctx, f"{ROOTWRAP} lvremove --config 'activation {{ retry_deactivation = 1}} ' -f "
                       f"{VG}/volume-{vol.id}", rng.uniform(0.2, 0.8))
    em.log(c, vp, "INFO", "cinder.volume.drivers.lvm", f"Successfully deleted volume: {vol.id}", ctx)
    em.log(c, vp, "INFO", "cinder.volume.manager", "Deleted volume successfully.", ctx)
    c.wait(rng.uniform(1.0, 2.0))
    cinder_api(w, c, ctx, CLIENT_IP, "GET", path, 404)


def volume_list(w: World, t0: int) -> None:
    c = w.clock(t0)
    tenant = w.cloud.tenant()
    ctx = w.user_ctx(tenant)
    path = f"/v3/{tenant.project}/volumes/detail"
    if w.api_outage(c, "cinder-api", ctx, "GET", path):
        return
    cinder_api(w, c, ctx, CLIENT_IP, "GET", path, 200,
               (("INFO", "cinder.volume.api", "Get all volumes completed successfully.", None),))


# -- glance --------------------------------------------------------------------


def image_create(w: World, t0: int) -> None:
    cl, em, rng = w.cloud, w.em, w.rng
    c = w.clock(t0)
    glance = cl.proc("glance-api")
    tenant = cl.tenant()
    ctx = w.user_ctx(tenant)
    if w.api_outage(c, "glance-api", ctx, "POST", "/v2/images", proc=glance):
        return
    image = Image(w.ids.uuid(), f"image-{len(cl.images) + 1:03d}", "qcow2", rng.randint(12, 400) * 1048576,
                  w.ids.hex32())
    start = c.t
    em.glance_wsgi(c, glance, ctx, CLIENT_IP, "POST", "/v2/images", 201, start)
    start = c.tick(0.05, 0.2)
    c.wait(image.size / 150e6)
    em.log(c, glance, "DEBUG", "glance_store._drivers.filesystem",
           f"Wrote {image.size} bytes to /opt/stack/data/glance/images/{image.id} with checksum {image.checksum}",
           ctx, fn="add:740")
    em.glance_wsgi(c, glance, ctx, CLIENT_IP, "PUT", f"/v2/images/{image.id}/file", 204, start, 0)
    cl.images.append(image)
    if len(cl.images) > 6:
        old = cl.images.pop(2)
        c.wait(rng.uniform(1.0, 5.0))
        start = c.t
        em.log(c, glance, "INFO", "glance.api.v2.images", f"Image {old.id} deleted", ctx)
        em.glance_wsgi(c, glance, ctx, CLIENT_IP, "DELETE", f"/v2/images/{old.id}", 204, start, 0)


def image_list(w: World, t0: int) -> None:
    c = w.clock(t0)
    glance = w.cloud.proc("glance-api")
    ctx = w.user_ctx(w.cloud.tenant())
    if w.api_outage(c, "glance-api", ctx, "GET", "/v2/images", proc=glance):
        return
    start = c.t
    w.em.glance_wsgi(c, glance, ctx, CLIENT_IP, "GET", "/v2/images", 200, start)
