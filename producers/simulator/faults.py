"""The fault catalogue and the request-scoped faults.

Each fault runs one operation of the workload with a hook that breaks it at
the right stage: the origin service logs the error first (with the Python
module at fault in its logger or traceback), then the error propagates as
symptoms to the services that called it, as in a real cloud. Outages of
shared dependencies (database, message queue) live in ``outages``, the
cinder faults in ``volume_faults``.
"""
from __future__ import annotations

from producers.simulator import build, outages, volume_faults
from producers.simulator.build import BUILD_FRAMES, FETCH_LOCK, INSTANCES_DIR, RERAISE, failed_build_cleanup, guest_xml
from producers.simulator.core import Clock, Frame, traceback_lines
from producers.simulator.labels import FaultSpec, Injection
from producers.simulator.network import OVS_AGENT, port_details
from producers.simulator.world import World

TPOOL = (
    Frame("eventlet.tpool", 186, "doit", "result = proxy_call(self._autowrap, f, *args, **kwargs)"),
    Frame("eventlet.tpool", 144, "proxy_call", "rv = execute(f, *args, **kwargs)"),
    Frame("eventlet.tpool", 125, "execute", "six.reraise(c, e, tb)"),
    Frame("eventlet.tpool", 83, "tworker", "rv = meth(*args, **kwargs)"),
)

CATALOGUE: dict[str, FaultSpec] = {s.name: s for s in (
    FaultSpec("libvirt_error", "hypervisor", "nova", "nova-compute", "nova.virt.libvirt.driver",
              "libvirt fails to start the guest (qemu cannot lock the disk); the build fails and nova-conductor "
              "sets the instance to ERROR"),
    FaultSpec("volume_attach_failure", "volume", "cinder", "cinder-volume", "cinder.volume.targets.lio",
              "cinder-volume cannot create the iSCSI target while initializing the connection; cinder-api "
              "returns 500 and nova-compute fails the attach"),
    FaultSpec("vif_plugging_timeout", "network", "neutron", "neutron-openvswitch-agent", OVS_AGENT,
              "the Open vSwitch agent's OVSDB calls time out, the port is never reported up, nova-compute times "
              "out waiting for network-vif-plugged and aborts the build (VirtualInterfaceCreateException)"),
    FaultSpec("port_binding_failure", "network", "neutron", "neutron-server",
              "neutron.plugins.ml2.drivers.openvswitch.mech_driver.mech_openvswitch",
              "the ML2 openvswitch mechanism driver crashes in bind_port; the port is not bound and nova-compute "
              "fails the build with PortBindingFailed"),
    FaultSpec("no_valid_host", "scheduling", "nova", "nova-scheduler", "nova.scheduler.manager",
              "no compute host can fit the requested flavor: placement returns no allocation candidates and "
              "nova-conductor sets the instance to ERROR (NoValidHost)"),
    FaultSpec("image_download_failure", "image", "glance", "glance-api", "glance_store._drivers.filesystem",
              "glance's filesystem store fails to read the image (I/O error); glance-api returns 500 and the "
              "build fails in nova-compute"),
    FaultSpec("volume_create_failure", "volume", "cinder", "cinder-volume", "cinder.brick.local_dev.lvm",
              "lvcreate fails (volume group out of space); the create flow reverts and the volume ends in error"),
    FaultSpec("slow_spawn", "performance", "nova", "nova-compute", "nova.virt.images",
              "image conversion (qemu-img convert) on the compute host takes minutes: the server boots, but "
              "slowly; no error is logged"),
    FaultSpec("db_outage", "database", "nova", "nova-conductor", "oslo_db.sqlalchemy.engines",
              "the MySQL server is unreachable for a while: service status reports and API requests fail with "
              "DBConnectionError in every service", scope="infrastructure", outage=True),
    FaultSpec("rabbit_outage", "message-queue", "nova", "nova-conductor", "oslo_messaging._drivers.impl_rabbit",
              "RabbitMQ is unreachable for a while: every RPC client logs reconnection errors and API requests "
              "time out (MessagingTimeout)", scope="infrastructure", outage=True),
)}


def run(name: str, w: World, t: int, lab: Injection) -> None:
    """Inject one fault at t (ms); fills the label as it logs."""
    _RUNNERS[name](w, t, lab)


# -- nova build failures ---------------------------------------------------------------


def _max_retries(w: World, c: Clock, b: dict, lab: Injection, last: str) -> None:
    """The build fails on the host and nova-conductor gives up (max attempts 1)."""
    inst, ctx = b["inst"], b["ctx"]
    failed_build_cleanup(w, c, b)
    build.release_build_lock(w, c, b)
    w.em.log(c, b["host"].compute, "DEBUG", "nova.compute.manager", f"Build of instance {inst.id} was re-scheduled: "
             f"{last}", ctx, inst.id, fn="_do_build_and_run_instance:1977")
    reason = f"Exceeded maximum number of retries. Exceeded max scheduling attempts 1 for instance {inst.id}"
    exc = f"nova.exception.MaxRetriesExceeded: {reason}. Last exception: {last}"
    build.set_error_state(w, c, b, reason, exc)
    lab.symptom("nova-conductor", c.t, "Setting instance to ERROR state.", "nova.exception.MaxRetriesExceeded")


def _spawn_failed(w: World, c: Clock, b: dict, lab: Injection, frames, exc: str) -> None:
    c.tick(0.1, 0.6)
    ms = w.em.log(c, b["host"].compute, "ERROR", "nova.compute.manager", f"Instance failed to spawn: {exc}",
                  b["ctx"], b["inst"].id, tb=traceback_lines((*BUILD_FRAMES, *frames), exc))
    lab.symptom("nova-compute", ms, "Instance failed to spawn", exc.split(":", 1)[0])


def libvirt_error(w: World, t: int, lab: Injection) -> None:
    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        if stage != "spawn":
            return False
        inst, host, ctx, em = b["inst"], b["host"], b["ctx"], w.em
        lab.affect(ctx.request_id, inst.id)
        xml = guest_xml(inst)
        c.tick(0.2, 0.8)
        when = w.timeline.datetime(c.t).strftime("%Y-%m-%dT%H:%M:%S.%f")
        err = (f"internal error: qemu unexpectedly closed the monitor: {when}Z qemu-system-x86_64: -drive "
               f"file={INSTANCES_DIR}/{inst.id}/disk,format=qcow2,if=none,id=drive-virtio-disk0,cache=none: "
               'Failed to get "write" lock')
        exc = f"libvirt.libvirtError: {err}"
        ms = em.log(c, host.compute, "ERROR", "nova.virt.libvirt.guest",
                    f"Error launching a defined domain with XML: {xml[0]}", ctx, tail=xml[1:])
        lab.origin(ms, host.name, "libvirt.libvirtError")
        em.log(c, host.compute, "ERROR", "nova.virt.libvirt.driver", f"Failed to start libvirt guest: {exc}", ctx,
               inst.id)
        frames = (
            Frame("nova.virt.libvirt.driver", 5697, "_create_domain_and_network", "destroy_disks_on_failure)"),
            *RERAISE,
            Frame("nova.virt.libvirt.driver", 5666, "_create_domain_and_network",
                  "post_xml_callback=post_xml_callback)"),
            Frame("nova.virt.libvirt.driver", 5601, "_create_domain", "guest.launch(pause=pause)"),
            Frame("nova.virt.libvirt.guest", 144, "launch", "self._encoded_xml, errors='ignore')"),
            *RERAISE,
            Frame("nova.virt.libvirt.guest", 139, "launch", "return self._domain.createWithFlags(flags)"),
            *TPOOL,
            Frame("libvirt", 1099, "createWithFlags",
                  "if ret == -1: raise libvirtError ('virDomainCreateWithFlags() failed', dom=self)"),
        )
        _spawn_failed(w, c, b, lab, frames, exc)
        _max_retries(w, c, b, lab, err)
        return True

    build.server_create(w, t, hook, flavor="m1.tiny")


def no_valid_host(w: World, t: int, lab: Injection) -> None:
    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        if stage != "schedule":
            return False
        inst, ctx, em = b["inst"], b["ctx"], w.em
        lab.affect(ctx.request_id, inst.id)
        ms = em.log(c, b["scheduler"], "INFO", "nova.scheduler.manager",
                    "Got no allocation candidates from the Placement API. This could be due to insufficient "
                    "resources or a temporary occurrence as compute nodes start up.", ctx)
        lab.origin(ms, "controller", "nova.exception.NoValidHost")
        conductor = b["conductor"]
        c.tick(0.01, 0.1)
        exc = "nova.exception_Remote.NoValidHost_Remote: No valid host was found. "
        frames = (
            Frame("nova.conductor.manager", 1201, "schedule_and_build_instances", "instance_uuids, "
                  "return_alternates=True)"),
            Frame("nova.conductor.manager", 742, "_schedule_instances", "return_alternates=return_alternates)"),
            Frame("nova.scheduler.utils", 793, "wrapped", "return func(*args, **kwargs)"),
            Frame("nova.scheduler.client.query", 42, "select_destinations", "instance_uuids, "
                  "return_objects, return_alternates)"),
            Frame("nova.scheduler.rpcapi", 158, "select_destinations", "return cctxt.call(ctxt, "
                  "'select_destinations', **msg_args)"),
            Frame("oslo_messaging.rpc.client", 179, "call", "retry=self.retry)"),
            Frame("oslo_messaging._drivers.amqpdriver", 575, "_send", "raise result"),
        )
        remote = ["Traceback (most recent call last):", "",
                  '  File "/usr/local/lib/python3.6/dist-packages/oslo_messaging/rpc/server.py", line 229, in inner',
                  "    return func(*args, **kwargs)", "",
                  '  File "/opt/stack/nova/nova/scheduler/manager.py", line 169, in select_destinations',
                  '    raise exception.NoValidHost(reason="")', "",
                  "nova.exception.NoValidHost: No valid host was found. ", ""]
        ms = em.log(c, conductor, "ERROR", "nova.conductor.manager", f"Failed to schedule instances: {exc}", ctx,
                    tb=traceback_lines(frames, exc, remote))
        lab.symptom("nova-conductor", ms, "Failed to schedule instances", "nova.exception.NoValidHost")
        build.set_error_state(w, c, b, "No valid host was found. ", exc)
        lab.touch(c.t)
        build.poll_server(w, c, inst, w.rng.uniform(1.0, 2.0))
        return True

    build.server_create(w, t, hook, flavor="m1.xlarge")


def vif_plugging_timeout(w: World, t: int, lab: Injection) -> None:
    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        if stage != "vif":
            return False
        inst, host, ctx, em = b["inst"], b["host"], b["ctx"], w.em
        port = inst.port
        lab.affect(ctx.request_id, inst.id, port.id)
        # the agent: every OVSDB transaction times out for five minutes
        deadline = c.t + 300_000
        host.ovs_broken_until = deadline + 20_000
        cmd = (f"DbListCommand(table=Interface, records=['tap{port.id[:11]}'], columns=['name', 'external_ids', "
               f"'ofport'], if_exists=True)")
        exc = f"ovsdbapp.exceptions.TimeoutException: Commands [{cmd}] exceeded timeout 10 seconds"
        frames = (
            Frame(OVS_AGENT, 2139, "rpc_loop", "port_info, provisioning_needed)"),
            Frame("osprofiler.profiler", 157, "wrapper", "result = f(*args, **kwargs)"),
            Frame(OVS_AGENT, 1703, "process_network_ports", "failed_devices['added'] |= "
                  "self.treat_devices_added_or_updated(devices_added_updated, provisioning_needed)"),
            Frame(OVS_AGENT, 1594, "treat_devices_added_or_updated", "vif_by_id = "
                  "self.int_br.get_vifs_by_ids(devices)"),
            Frame("neutron.agent.common.ovs_lib", 613, "get_vifs_by_ids", "if_exists=True).execute()"),
            Frame("ovsdbapp.backend.ovs_idl.command", 40, "execute", "txn.add(self)"),
            Frame("ovsdbapp.backend.ovs_idl.transaction", 92, "__exit__", "self.result = self.commit()"),
            Frame("ovsdbapp.backend.ovs_idl.transaction", 57, "commit", "timeout=self.timeout)"),
        )
        tb = traceback_lines(frames, exc)
        first = True
        while c.t < deadline:
            c.wait(10.0 + w.rng.uniform(0.0, 0.5))
            ms = em.log(c, host.ovs, "ERROR", OVS_AGENT, "Error while processing VIF ports", host.ovs_ctx, tb=tb)
            if first:
                lab.origin(ms, host.name, "ovsdbapp.exceptions.TimeoutException")
                first = False
            lab.touch(ms)
            c.tick(1.0, 2.0)
            em.log(c, host.ovs, "INFO", OVS_AGENT, "Agent out of sync with plugin!", host.ovs_ctx)
            em.log(c, host.ovs, "INFO", OVS_AGENT, f"Port {port.id} updated. Details: {port_details(port)}",
                   host.ovs_ctx)
        # nova-compute: the event never comes
        _vif_timeout(w, b["clock"], b, lab, deadline - 300_000)

        def victim(w: World, c2: Clock, b2: dict) -> bool:
            """Another build on this host while the agent is stuck: slow, or failed if it waits too long."""
            lab.affect(b2["ctx"].request_id, b2["inst"].id, b2["inst"].port.id)
            if c2.t + 300_000 < host.ovs_broken_until:
                _vif_timeout(w, b2["clock"], b2, lab, c2.t)
                return True
            return False

        host.ovs_victim = victim
        return True

    build.server_create(w, t, hook, flavor="m1.tiny")


def _vif_timeout(w: World, m: Clock, b: dict, lab: Injection, plugged: int) -> None:
    """nova-compute waits 300 s for network-vif-plugged, then aborts the build."""
    inst, host, ctx, em = b["inst"], b["host"], b["ctx"], w.em
    port = inst.port
    lab.affect(ctx.request_id, inst.id, port.id)
    m.t = max(m.t, plugged)
    m.wait(300.0)
    ms = em.log(m, host.compute, "WARNING", "nova.virt.libvirt.driver",
                f"Timeout waiting for ['network-vif-plugged-{port.id}'] for instance with vm_state building "
                "and task_state spawning.: eventlet.timeout.Timeout: 300 seconds", ctx, inst.id)
    lab.symptom("nova-compute", ms, "Timeout waiting for network-vif-plugged", "eventlet.timeout.Timeout")
    exc2 = "nova.exception.VirtualInterfaceCreateException: Virtual Interface creation failed"
    _spawn_failed(w, m, b, lab, (Frame("nova.virt.libvirt.driver", 5709, "_create_domain_and_network",
                                       "raise exception.VirtualInterfaceCreateException()"),), exc2)
    failed_build_cleanup(w, m, b)
    abort = (f"nova.exception.BuildAbortException: Build of instance {inst.id} aborted: Failed to allocate "
             "the network(s), not rescheduling.")
    ms = em.log(m, host.compute, "ERROR", "nova.compute.manager", f"Build of instance {inst.id} aborted: Failed "
                f"to allocate the network(s), not rescheduling.: {abort}", ctx, inst.id, tb=traceback_lines((
                    Frame("nova.compute.manager", 1974, "_do_build_and_run_instance", "filter_properties, "
                          "request_spec)"),
                    Frame("nova.compute.manager", 2214, "_build_and_run_instance", "reason=msg)")), abort))
    lab.symptom("nova-compute", ms, "Build of instance aborted", "nova.exception.BuildAbortException")
    build.release_build_lock(w, m, b)
    lab.touch(m.t)


def port_binding_failure(w: World, t: int, lab: Injection) -> None:
    mech = "neutron.plugins.ml2.drivers.openvswitch.mech_driver.mech_openvswitch"

    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        inst, host, ctx, em = b["inst"], b["host"], b["ctx"], w.em
        port = inst.port
        if stage == "bind":
            lab.affect(ctx.request_id, inst.id, port.id)
            exc = "KeyError: 'ovs_hybrid_plug'"
            frames = (
                Frame("neutron.plugins.ml2.managers", 810, "_bind_port_level", "if driver.obj.bind_port(context):"),
                Frame("neutron.plugins.ml2.drivers.mech_agent", 105, "bind_port",
                      "if self.try_to_bind_segment_for_agent(context, segment, agent):"),
                Frame(mech, 120, "try_to_bind_segment_for_agent", "vif_details = self._pre_get_vif_details(agent, "
                      "context)"),
                Frame(mech, 141, "_pre_get_vif_details", "hybrid = a_config['ovs_hybrid_plug']"),
            )
            ms = em.log(c, b["server"], "ERROR", "neutron.plugins.ml2.managers",
                        "Mechanism driver 'openvswitch' failed in bind_port", b["admin"],
                        tb=traceback_lines(frames, exc))
            lab.origin(ms, "controller", "KeyError")
            net = port.network
            em.log(c, b["server"], "ERROR", "neutron.plugins.ml2.managers",
                   f"Failed to bind port {port.id} on host {host.name} for vnic_type normal using segments "
                   f"[{{'id': '{net.segment}', 'network_type': 'vxlan', 'physical_network': None, "
                   f"'segmentation_id': {net.segmentation_id}, 'network_id': '{net.id}'}}]", b["admin"])
            em.eventlet_wsgi(c, b["server"], b["admin"], "neutron.wsgi", host.ip, "PUT", f"/v2.0/ports/{port.id}",
                             200, c.t - 400)
            exc2 = (f"nova.exception.PortBindingFailed: Binding failed for port {port.id}, please check neutron "
                    "logs for more information.")
            ms = em.log(c, host.compute, "ERROR", "nova.compute.manager",
                        f"Instance failed network setup after 1 attempt(s): {exc2}", ctx, inst.id,
                        tb=traceback_lines((
                            Frame("nova.compute.manager", 1530, "_allocate_network_async", "bind_host_id=bind_host_id)"),
                            Frame("nova.network.neutronv2.api", 1054, "allocate_for_instance", "bind_host_id, "
                                  "available_macs, requested_ports_dict)"),
                            Frame("nova.network.neutronv2.api", 1187, "_update_ports_for_instance", "vif.destroy()"),
                            *RERAISE,
                            Frame("nova.network.neutronv2.api", 1157, "_update_ports_for_instance", "port_client, "
                                  "instance, port_id, port_req_body)"),
                            Frame("nova.network.neutronv2.api", 519, "_update_port",
                                  "_ensure_no_port_binding_failure(port)"),
                            Frame("nova.network.neutronv2.api", 235, "_ensure_no_port_binding_failure",
                                  "raise exception.PortBindingFailed(port_id=port['id'])"),
                        ), exc2))
            lab.symptom("nova-compute", ms, "Instance failed network setup", "nova.exception.PortBindingFailed")
            b["exc"] = exc2
            return True
        if stage == "network_failed":
            _spawn_failed(w, c, b, lab, (
                Frame("nova.virt.libvirt.driver", 3115, "spawn", "mdevs=mdevs)"),
                Frame("nova.virt.libvirt.driver", 5399, "_get_guest_xml", "network_info_str = str(network_info)"),
                Frame("nova.network.model", 592, "wait", "self[:] = self._gt.wait()"),
                Frame("nova.compute.manager", 1530, "_allocate_network_async",
                      "bind_host_id=bind_host_id)")), b["exc"])
            _max_retries(w, c, b, lab, b["exc"].split(": ", 1)[1])
            return True
        return False

    build.server_create(w, t, hook, flavor="m1.tiny")


def image_download_failure(w: World, t: int, lab: Injection) -> None:
    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        if stage != "image":
            return False
        inst, host, ctx, em = b["inst"], b["host"], b["ctx"], w.em
        glance, gctx, image = b["glance"], b["glance_ctx"], inst.image
        lab.affect(ctx.request_id, inst.id, image.id)
        lab.affect(gctx.request_id)
        path = f"/opt/stack/data/glance/images/{image.id}"
        exc = f"OSError: [Errno 5] Input/output error: '{path}'"
        frames = (
            Frame("glance.common.wsgi", 1307, "__call__", "request, **action_args)"),
            Frame("glance.common.wsgi", 1351, "dispatch", "return method(*args, **kwargs)"),
            Frame("glance.common.utils", 363, "wrapped", "return func(self, req, *args, **kwargs)"),
            Frame("glance.api.v2.image_data", 425, "download", "image.get_data(offset=offset, "
                  "chunk_size=chunk_size)"),
            Frame("glance.location", 488, "get_data", "return self.image.get_data(offset=offset, "
                  "chunk_size=chunk_size)"),
            Frame("glance_store.backend", 383, "get_from_backend", "return store.get(loc, offset=offset, "
                  "chunk_size=chunk_size, context=context)"),
            Frame("glance_store._drivers.filesystem", 538, "get", "filepath, filesize = "
                  "self._resolve_location(location)"),
            Frame("glance_store._drivers.filesystem", 513, "_resolve_location", "filesize = "
                  "os.path.getsize(filepath)"),
        )
        c.wait(w.rng.uniform(0.2, 0.8))
        ms = em.log(c, glance, "ERROR", "glance.common.wsgi", f"Caught error: [Errno 5] Input/output error: '{path}'",
                    gctx, tb=traceback_lines(frames, exc))
        lab.origin(ms, "controller", "OSError")
        em.glance_wsgi(c, glance, gctx, host.ip, "GET", f"/v2/images/{image.id}/file", 500, c.t - 600, 0)
        c.tick(0.02, 0.1)
        err = ("HTTP 500 Internal Server Error: The server has either erred or is incapable of performing the "
               "requested operation.")
        exc2 = f"glanceclient.exc.HTTPInternalServerError: {err}"
        cache = b["cache"]
        em.lock_released(c, host.compute, ctx, cache, FETCH_LOCK, w.rng.uniform(0.8, 2.0))
        _spawn_failed(w, c, b, lab, (
            Frame("nova.virt.libvirt.driver", 3118, "spawn", "fallback_from_host)"),
            Frame("nova.virt.libvirt.driver", 3425, "_create_image", "injection_info, fallback_from_host)"),
            Frame("nova.virt.libvirt.driver", 3516, "_create_and_inject_local_root", "instance, size, "
                  "fallback_from_host)"),
            Frame("nova.virt.libvirt.imagebackend", 256, "cache", "*args, **kwargs)"),
            Frame("nova.virt.libvirt.imagebackend", 585, "create_image", "prepare_template(target=base, *args, "
                  "**kwargs)"),
            Frame("oslo_concurrency.lockutils", 274, "inner", "return f(*args, **kwargs)"),
            Frame("nova.virt.libvirt.imagebackend", 252, "fetch_func_sync", "fetch_func(target=target, *args, "
                  "**kwargs)"),
            Frame("nova.virt.libvirt.utils", 459, "fetch_image", "images.fetch_to_raw(context, image_id, target)"),
            Frame("nova.virt.images", 132, "fetch_to_raw", "fetch(context, image_href, path_tmp)"),
            Frame("nova.virt.images", 123, "fetch", "IMAGE_API.download(context, image_href, dest_path=path)"),
            Frame("nova.image.api", 184, "download", "dst_path=dest_path)"),
            Frame("nova.image.glance", 367, "download", "_reraise_translated_image_exception(image_id)"),
            Frame("nova.image.glance", 365, "download", "image_chunks = self._client.call(context, 2, 'data', "
                  "image_id)"),
            Frame("glanceclient.common.http", 326, "get", "return self.request(url, 'GET', **kwargs)"),
            Frame("glanceclient.common.http", 102, "_handle_response", "raise exc.from_response(resp, "
                  "resp.content)"),
        ), exc2)
        _max_retries(w, c, b, lab, err)
        return True

    build.server_create(w, t, hook, flavor="m1.tiny", force_download=True)


def slow_spawn(w: World, t: int, lab: Injection) -> None:
    b = build.server_create(w, t, slow=w.rng.uniform(150.0, 240.0), flavor="m1.tiny", force_download=True)
    if b is None or "convert_at" not in b or "spawned_at" not in b:
        return
    inst = b["inst"]
    lab.affect(b["ctx"].request_id, inst.id, inst.image.id)
    lab.origin(b["convert_at"], b["host"].name)
    lab.symptom("nova-compute", b["spawned_at"], b["spawn_msg"])


_RUNNERS = {
    "libvirt_error": libvirt_error, "volume_attach_failure": volume_faults.volume_attach_failure,
    "vif_plugging_timeout": vif_plugging_timeout, "port_binding_failure": port_binding_failure,
    "no_valid_host": no_valid_host, "image_download_failure": image_download_failure,
    "volume_create_failure": volume_faults.volume_create_failure, "slow_spawn": slow_spawn,
    "db_outage": outages.db_outage, "rabbit_outage": outages.rabbit_outage,
}
