"""Cinder faults: the logical volume cannot be created; the volume cannot be exported.

The attach failure starts in cinder-volume, surfaces in cinder-api as a 500
and then in nova-compute, which rolls the attach back.
"""
from __future__ import annotations

from producers.simulator import storage
from producers.simulator.build import RERAISE
from producers.simulator.cloud import CONTROLLER_IP, Volume
from producers.simulator.core import Clock, Frame, traceback_lines
from producers.simulator.labels import Injection
from producers.simulator.world import World


def volume_create_failure(w: World, t: int, lab: Injection) -> None:
    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        if stage != "lvm":
            return False
        vol, ctx, vp, em = b["vol"], b["ctx"], b["proc"], w.em
        lab.affect(ctx.request_id, None, vol.id)
        cmd = b["lvcreate"]
        em.log(c, vp, "DEBUG", "oslo_concurrency.processutils", f"Running cmd (subprocess): {cmd}", ctx,
               fn="execute:372")
        c.wait(w.rng.uniform(0.3, 0.8))
        stderr = (f'  Volume group "{storage.VG}" has insufficient free space (12 extents): '
                  f"{vol.size * 256} required.")
        em.log(c, vp, "DEBUG", "oslo_concurrency.processutils", f'CMD "{cmd}" returned: 5 in 0.512s', ctx,
               fn="execute:409")
        exc = "oslo_concurrency.processutils.ProcessExecutionError: Unexpected error while running command."
        extra = [f"Command: {cmd}", "Exit code: 5", "Stdout: ''", f"Stderr: '{stderr}\\n'"]
        lvm = (
            Frame("cinder.brick.local_dev.lvm", 588, "create_volume", "run_as_root=True)"),
            Frame("os_brick.executor", 52, "_execute", "result = self.__execute(*args, **kwargs)"),
            Frame("cinder.utils", 126, "execute", "return processutils.execute(*cmd, **kwargs)"),
            Frame("oslo_concurrency.processutils", 424, "execute", "cmd=sanitized_cmd)"),
        )
        ms = em.log(c, vp, "ERROR", "cinder.brick.local_dev.lvm", "Error creating Volume", ctx,
                    tb=traceback_lines(lvm, exc, extra))
        lab.origin(ms, "controller", "oslo_concurrency.processutils.ProcessExecutionError")
        em.log(c, vp, "ERROR", "cinder.brick.local_dev.lvm", f"Cmd     :{cmd}", ctx)
        em.log(c, vp, "ERROR", "cinder.brick.local_dev.lvm", "StdOut  :", ctx)
        em.log(c, vp, "ERROR", "cinder.brick.local_dev.lvm", f"StdErr  :{stderr}", ctx)
        task = "cinder.volume.flows.manager.create_volume.CreateVolumeFromSpecTask;volume:create"
        tid = w.ids.uuid()
        flow = (
            Frame("taskflow.engines.action_engine.executor", 53, "_execute_task", "result = "
                  "task.execute(**arguments)"),
            Frame("cinder.volume.flows.manager.create_volume", 1011, "execute", "model_update = "
                  "self._create_raw_volume(volume, **volume_spec)"),
            Frame("cinder.volume.flows.manager.create_volume", 992, "_create_raw_volume", "ret = "
                  "self.driver.create_volume(volume)"),
            Frame("cinder.volume.drivers.lvm", 468, "create_volume", "mirror_count)"),
            Frame("cinder.volume.drivers.lvm", 216, "_create_volume", "vg_ref.create_volume(name, size, lvm_type, "
                  "mirror_count)"),
            *lvm,
        )
        c.tick(0.05, 0.3)
        ms = em.log(c, vp, "WARNING", "cinder.volume.manager", f"Task '{task}' ({tid}) transitioned into state "
                    "'FAILURE' from state 'RUNNING'", ctx, tb=traceback_lines(flow, exc, extra[:2]))
        lab.symptom("cinder-volume", ms, "create volume task failed",
                    "oslo_concurrency.processutils.ProcessExecutionError")
        c.tick(0.05, 0.3)
        em.log(c, vp, "WARNING", "cinder.volume.manager", f"Task '{task}' ({tid}) transitioned into state "
               "'REVERTED' from state 'REVERTING'", ctx)
        ms = em.log(c, vp, "WARNING", "cinder.volume.manager", f"Flow 'volume_create_manager' ({w.ids.uuid()}) "
                    "transitioned into state 'REVERTED' from state 'RUNNING'", ctx)
        lab.touch(ms)
        vol.status = "error"
        c.wait(w.rng.uniform(1.0, 2.0))
        storage.volume_show(w, c, vol)
        return True

    storage.volume_create(w, t, hook)


def volume_attach_failure(w: World, t: int, lab: Injection) -> None:
    def hook(stage: str, w: World, c: Clock, b: dict) -> bool:
        if stage != "attach":
            return False
        inst, vol, ctx, cctx, em = b["inst"], b["vol"], b["ctx"], b["cinder_ctx"], w.em
        vp, api, host, device = b["cinder_volume"], b["cinder_api"], b["host"], b["device"]
        lab.affect(ctx.request_id, inst.id, vol.id)
        lab.affect(cctx.request_id)
        iqn = f"iqn.2010-10.org.openstack:volume-{vol.id}"
        cmd = (f"{storage.ROOTWRAP} cinder-rtstool create /dev/{storage.VG}/volume-{vol.id} {iqn} "
               f"{w.ids.hex32()[:20]} {w.ids.hex32()[:16]} False -p3260 -a{CONTROLLER_IP}")
        em.log(c, vp, "DEBUG", "oslo_concurrency.processutils", f"Running cmd (subprocess): {cmd}", cctx,
               fn="execute:372")
        c.wait(w.rng.uniform(0.5, 1.5))
        em.log(c, vp, "DEBUG", "oslo_concurrency.processutils", f'CMD "{cmd}" returned: 1 in 0.871s', cctx,
               fn="execute:409")
        ms = em.log(c, vp, "ERROR", "cinder.volume.targets.lio",
                    f"Failed to create iscsi target for volume id:volume-{vol.id}.", cctx)
        lab.origin(ms, "controller", "cinder.exception.ISCSITargetCreateFailed")
        exc = f"cinder.exception.ISCSITargetCreateFailed: Failed to create iscsi target for volume volume-{vol.id}."
        mgr = (
            Frame("cinder.volume.manager", 4468, "initialize_connection", "volume, connector)"),
            Frame("cinder.volume.drivers.lvm", 839, "create_export", "volume_path)"),
            Frame("cinder.volume.targets.iscsi", 226, "create_export", "**portals_config)"),
            Frame("cinder.volume.targets.lio", 125, "create_iscsi_target", "raise "
                  "exception.ISCSITargetCreateFailed(volume_id=vol_id)"),
        )
        detail = f"Driver initialize connection failed (error: Failed to create iscsi target for volume volume-{vol.id}.)."
        em.log(c, vp, "ERROR", "cinder.volume.manager", detail, cctx, tb=traceback_lines(mgr, exc))
        backend = f"cinder.exception.VolumeBackendAPIException: Bad or unexpected response from the storage volume " \
                  f"backend API: {detail}"
        em.log(c, vp, "ERROR", "oslo_messaging.rpc.server", "Exception during message handling", cctx,
               tb=traceback_lines((
                   Frame("oslo_messaging.rpc.server", 163, "_process_incoming", "res = "
                         "self.dispatcher.dispatch(message)"),
                   Frame("oslo_messaging.rpc.dispatcher", 265, "dispatch", "return self._do_dispatch(endpoint, "
                         "method, ctxt, args)"),
                   Frame("cinder.volume.manager", 4474, "initialize_connection", "raise "
                         "exception.VolumeBackendAPIException(data=err_msg)")), backend))
        c.tick(0.02, 0.1)
        ms = em.log(c, api, "ERROR", "cinder.api.middleware.fault", "Caught error: <class 'oslo_messaging.rpc.client."
                    f"RemoteError'> Remote error: VolumeBackendAPIException Bad or unexpected response from the "
                    f"storage volume backend API: {detail}", cctx)
        lab.symptom("cinder-api", ms, "Caught error", "oslo_messaging.rpc.client.RemoteError")
        em.log(c, api, "INFO", "cinder.api.openstack.wsgi", f"{b['url']} returned with HTTP 500", cctx)
        path = f"/v3/{inst.tenant.project}/volumes/{vol.id}/action"
        em.eventlet_wsgi(c, api, cctx, "eventlet.wsgi.server", host.ip, "POST", path, 500, b["api_start"])
        c.tick(0.02, 0.1)
        http = ("The server has either erred or is incapable of performing the requested operation. (HTTP 500) "
                f"(Request-ID: {cctx.request_id})")
        ms = em.log(c, host.compute, "ERROR", "nova.volume.cinder",
                    f"Initialize connection failed for volume {vol.id} on host {host.name}. Error: {http} Code: "
                    "500. Attempting to terminate connection.", ctx)
        lab.symptom("nova-compute", ms, "Initialize connection failed", "cinderclient.exceptions.ClientException")
        tctx = w.user_ctx(inst.tenant)
        storage.cinder_api(w, c, tctx, host.ip, "POST", path, 202)
        em.log(c, vp, "INFO", "cinder.volume.manager", "Terminate volume connection completed successfully.", tctx)
        exc2 = f"cinderclient.exceptions.ClientException: {http}"
        frames = (
            Frame("nova.virt.block_device", 539, "attach", "do_driver_attach)"),
            Frame("nova.virt.block_device", 513, "_do_attach", "do_driver_attach)"),
            Frame("nova.virt.block_device", 402, "_legacy_volume_attach", "connector)"),
            Frame("nova.volume.cinder", 393, "wrapper", "res = method(self, ctx, *args, **kwargs)"),
            Frame("nova.volume.cinder", 558, "initialize_connection", "exc.code if hasattr(exc, 'code') else None)})"),
            *RERAISE,
            Frame("nova.volume.cinder", 532, "initialize_connection", "context).volumes.initialize_connection("
                  "volume_id, connector)"),
            Frame("cinderclient.v3.volumes", 424, "initialize_connection", "{'connector': connector})"),
            Frame("cinderclient.client", 223, "request", "raise exceptions.from_response(resp, body)"),
        )
        c.tick(0.05, 0.3)
        em.log(c, host.compute, "ERROR", "nova.virt.block_device", f"Driver failed to attach volume {vol.id} at "
               f"{device}", ctx, inst.id, tb=traceback_lines(frames, exc2))
        ms = em.log(c, host.compute, "ERROR", "nova.compute.manager", f"Failed to attach {vol.id} at {device}: "
                    f"{exc2}", ctx, inst.id, tb=traceback_lines((
                        Frame("nova.compute.manager", 5464, "_attach_volume", "do_driver_attach=True)"),
                        *frames[:2]), exc2))
        lab.symptom("nova-compute", ms, "Failed to attach volume", "cinderclient.exceptions.ClientException")
        uctx = w.user_ctx(inst.tenant)
        storage.cinder_api(w, c, uctx, host.ip, "POST", path, 202,
                           (("INFO", "cinder.volume.api", "Unreserve volume completed successfully.", None),))
        lab.touch(c.t)
        return True

    cl = w.cloud
    insts = [i for i in cl.ready_instances(t) if len(i.volumes) < 3]
    vols = cl.available_volumes(t)
    if not insts:
        insts = list(cl.instances.values())
    if not vols:  # a volume created before the window
        vol = Volume(w.ids.uuid(), 1, insts[0].tenant if insts else cl.tenant())
        cl.volumes[vol.id] = vol
        vols = [vol]
    storage.volume_attach(w, t, hook, inst=w.rng.choice(insts), vol=w.rng.choice(vols))
