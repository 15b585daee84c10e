"""Outages of shared dependencies: the database and the message queue.

An outage is planned (``register``) before any log is generated, so every
operation inside its window fails the way it would (``api_failure``) and
nova-compute's resource audit fails too (``periodic_failure``); when the
window opens, every service that depends on it starts logging errors
(``db_outage``, ``rabbit_outage``) until it recovers.
"""
from __future__ import annotations

from producers.simulator.background import rpc_processes
from producers.simulator.build import server_create
from producers.simulator.cloud import CLIENT_IP, CONTROLLER, CONTROLLER_IP
from producers.simulator.core import NO_CTX, Clock, Ctx, Frame, Proc, chained, traceback_lines
from producers.simulator.labels import Injection
from producers.simulator.world import Outage, World

PYMYSQL = "(2003, \"Can't connect to MySQL server on 'controller' ([Errno 111] ECONNREFUSED)\")"
DB_EXC = (f"oslo_db.exception.DBConnectionError: (pymysql.err.OperationalError) {PYMYSQL} "
          "(Background on this error at: http://sqlalche.me/e/e3q8)")
_DB_CAUSE = traceback_lines((
    Frame("sqlalchemy.engine.base", 2158, "_wrap_pool_connect", "return fn()"),
    Frame("sqlalchemy.pool.base", 350, "connect", "return _ConnectionFairy._checkout(self)"),
    Frame("sqlalchemy.pool.base", 646, "__connect", "connection = pool._invoke_creator(self)"),
    Frame("pymysql.connections", 630, "connect", "raise exc"),
), f"pymysql.err.OperationalError: {PYMYSQL}")
_DB_COMMON = (
    Frame("oslo_db.sqlalchemy.enginefacade", 1012, "wrapper", "with self._transaction_scope(context):"),
    Frame("oslo_db.sqlalchemy.engines", 73, "_connect_ping_listener", "connection.scalar(select([1]))"),
    Frame("sqlalchemy.engine.base", 1440, "_handle_dbapi_exception", "util.raise_from_cause(newraise, exc_info)"),
    Frame("oslo_db.sqlalchemy.exc_filters", 492, "handler", "raise dbapi_exception_filter(e)"),
)
MQ_TIMEOUT = "oslo_messaging.exceptions.MessagingTimeout: Timed out waiting for a reply to message ID {}"
_MQ_FRAMES = (
    Frame("oslo_messaging.rpc.client", 179, "call", "retry=self.retry)"),
    Frame("oslo_messaging.transport", 133, "_send", "retry=retry)"),
    Frame("oslo_messaging._drivers.amqpdriver", 645, "send", "call_monitor_timeout, retry=retry)"),
    Frame("oslo_messaging._drivers.amqpdriver", 634, "_send", "call_monitor_timeout)"),
    Frame("oslo_messaging._drivers.amqpdriver", 520, "wait", "message = self.waiters.get(msg_id, timeout=timeout)"),
    Frame("oslo_messaging._drivers.amqpdriver", 397, "get", "'to message ID %s' % msg_id)"),
)
# where each API's failing request enters the code (for its traceback)
_ENTRY = {
    "nova-api": (Frame("nova.api.openstack.wsgi", 801, "wrapped", "return f(*args, **kwargs)"),
                 Frame("nova.api.openstack.compute.servers", 672, "create", "**create_kwargs)"),
                 Frame("nova.compute.api", 1858, "create", "supports_port_resource_request=supports_port_res)")),
    "cinder-api": (Frame("cinder.api.openstack.wsgi", 1078, "_process_stack", "action_result = self.dispatch(meth, "
                         "request, action_args)"),
                   Frame("cinder.api.v3.volumes", 330, "create", "**kwargs)"),
                   Frame("cinder.volume.api", 310, "create", "flow_engine.run()")),
    "neutron-server": (Frame("pecan.core", 683, "__call__", "self.invoke_controller(controller, args, kwargs, state)"),
                       Frame("neutron.pecan_wsgi.controllers.resource", 131, "post", "return self.create(resources)"),
                       Frame("neutron.plugins.ml2.plugin", 1338, "create_port", "result, mech_context = "
                             "self._create_port_db(context, port)")),
    "glance-api": (Frame("glance.common.wsgi", 1307, "__call__", "request, **action_args)"),
                   Frame("glance.api.v2.images", 98, "index", "image_repo.list(marker=marker, limit=limit)")),
}
_API_ERROR = ("HTTP exception thrown: Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ "
              "and attach the Nova API log if possible.")


def db_traceback(entry: tuple[Frame, ...]) -> list[str]:
    return chained(_DB_CAUSE, traceback_lines((*entry, *_DB_COMMON), DB_EXC))


def register(w: World, name: str, start: int, end: int, lab: Injection) -> Outage:
    """Plan an outage window so the workload's operations inside it fail (the fault's category says
    which dependency: ``database``, else the message queue)."""
    db = lab.spec.category == "database"

    def api_failure(w: World, c: Clock, proc: Proc, ctx: Ctx, method: str, path: str,
                    inst: str | None = None) -> None:
        lab.affect(ctx.request_id, inst)
        ms = (_db_api_failure if db else _mq_api_failure)(w, c, proc, ctx, method, path)
        lab.symptom(proc.service, ms, f"{method} {path} failed", "oslo_db.exception.DBConnectionError" if db
                    else "oslo_messaging.exceptions.MessagingTimeout")

    def periodic_failure(w: World, c: Clock, host) -> None:
        if not db:
            c.wait(60.0)
        if c.t > end + 60_000:
            return
        ms = _compute_audit_failure(w, c, host, db)
        lab.symptom("nova-compute", ms, f"Error updating resources for node {host.name}.", None)

    services = (frozenset({"nova-api", "cinder-api", "neutron-server", "glance-api", "nova-conductor",
                           "cinder-scheduler"}) if db else
                frozenset({"nova-api", "cinder-api", "nova-conductor", "cinder-scheduler"}))
    outage = Outage("database" if db else "message-queue", start, end, services, api_failure, periodic_failure)
    w.outages.append(outage)
    return outage


def _window(w: World, t: int, kind: str) -> Outage:
    return next(o for o in w.outages if o.start == t and o.kind == kind)


def _db_api_failure(w: World, c: Clock, proc: Proc, ctx: Ctx, method: str, path: str) -> int:
    em = w.em
    start = c.tick(0.001, 0.01)
    svc = proc.service
    c.tick(0.05, 0.5)
    tb = db_traceback(_ENTRY[svc])
    if svc == "nova-api":
        ms = em.log(c, proc, "ERROR", "nova.api.openstack.wsgi", "Unexpected exception in API method", ctx, tb=tb)
        em.log(c, proc, "INFO", "nova.api.openstack.wsgi", _API_ERROR, ctx,
               tail=("<class 'oslo_db.exception.DBConnectionError'>",))
        em.nova_wsgi(c, proc, ctx, CLIENT_IP, method, path, 500, start)
    elif svc == "cinder-api":
        url = f"http://{CONTROLLER_IP}:8776{path}"
        em.log(c, proc, "INFO", "cinder.api.openstack.wsgi", f"{method} {url}", ctx, tick=False)
        ms = em.log(c, proc, "ERROR", "cinder.api.middleware.fault", "Caught error: <class 'oslo_db.exception."
                    f"DBConnectionError'> (pymysql.err.OperationalError) {PYMYSQL}", ctx, tb=tb)
        em.log(c, proc, "INFO", "cinder.api.openstack.wsgi", f"{url} returned with HTTP 500", ctx)
        em.eventlet_wsgi(c, proc, ctx, "eventlet.wsgi.server", CLIENT_IP, method, path, 500, start)
    elif svc == "neutron-server":
        ms = em.log(c, proc, "ERROR", "neutron.pecan_wsgi.hooks.translation", f"{method} failed.", ctx, tb=tb)
        em.eventlet_wsgi(c, proc, ctx, "neutron.wsgi", CLIENT_IP, method, path, 500, start)
    else:
        ms = em.log(c, proc, "ERROR", "glance.common.wsgi", f"Caught error: (pymysql.err.OperationalError) {PYMYSQL}",
                    ctx, tb=tb)
        em.glance_wsgi(c, proc, ctx, CLIENT_IP, method, path, 500, start)
    return ms


def _mq_api_failure(w: World, c: Clock, proc: Proc, ctx: Ctx, method: str, path: str) -> int:
    em = w.em
    start = c.tick(0.001, 0.01)
    c.wait(60.0)  # rpc_response_timeout
    exc = MQ_TIMEOUT.format(w.ids.hex32())
    tb = traceback_lines((*_ENTRY.get(proc.service, ()), *_MQ_FRAMES), exc)
    if proc.service == "nova-api":
        ms = em.log(c, proc, "ERROR", "nova.api.openstack.wsgi", "Unexpected exception in API method", ctx, tb=tb)
        em.log(c, proc, "INFO", "nova.api.openstack.wsgi", _API_ERROR, ctx,
               tail=("<class 'oslo_messaging.exceptions.MessagingTimeout'>",))
        em.nova_wsgi(c, proc, ctx, CLIENT_IP, method, path, 500, start)
    else:
        url = f"http://{CONTROLLER_IP}:8776{path}"
        ms = em.log(c, proc, "ERROR", "cinder.api.middleware.fault", "Caught error: <class 'oslo_messaging."
                    f"exceptions.MessagingTimeout'> {exc.split(': ', 1)[1]}", ctx, tb=tb)
        em.log(c, proc, "INFO", "cinder.api.openstack.wsgi", f"{url} returned with HTTP 500", ctx)
        em.eventlet_wsgi(c, proc, ctx, "eventlet.wsgi.server", CLIENT_IP, method, path, 500, start)
    return ms


def _compute_audit_failure(w: World, c: Clock, host, db: bool) -> int:
    em = w.em
    frames = (
        Frame("nova.compute.manager", 7778, "update_available_resource_for_node", "rt.update_available_resource("
              "context, nodename, startup=startup)"),
        Frame("nova.compute.resource_tracker", 721, "update_available_resource", "self._update_available_resource("
              "context, resources, startup=startup)"),
        Frame("nova.compute.resource_tracker", 751, "_update_available_resource", "context, self.host, nodename)"),
        Frame("oslo_versionedobjects.base", 177, "wrapper", "args, kwargs)"),
        Frame("nova.conductor.rpcapi", 241, "object_class_action_versions", "args=args, kwargs=kwargs)"),
        *_MQ_FRAMES[:4 if db else 6],
    )
    if db:
        exc = f"oslo_messaging.rpc.client.RemoteError: Remote error: DBConnectionError (pymysql.err." \
              f"OperationalError) {PYMYSQL}"
        frames = (*frames, Frame("oslo_messaging._drivers.amqpdriver", 575, "_send", "raise result"))
        conductor = w.cloud.procs["nova-conductor"][0]
        cc = c.fork()
        cc.tick(0.005, 0.05)
        em.log(cc, conductor, "ERROR", "oslo_messaging.rpc.server", "Exception during message handling",
               host.periodic, tb=db_traceback((
                   Frame("oslo_messaging.rpc.server", 163, "_process_incoming", "res = self.dispatcher.dispatch("
                         "message)"),
                   Frame("nova.conductor.manager", 127, "object_class_action_versions", "objname, objmethod, "
                         "object_versions, args, kwargs)"),
                   Frame("nova.objects.instance", 1301, "get_by_host_and_node", "use_slave=use_slave)"))))
        c.join(cc)
    else:
        exc = MQ_TIMEOUT.format(w.ids.hex32())
    return em.log(c, host.compute, "ERROR", "nova.compute.manager", f"Error updating resources for node {host.name}."
                  f": {exc}", host.periodic, tb=traceback_lines(frames, exc))


def db_outage(w: World, t: int, lab: Injection) -> None:
    o = _window(w, t, "database")
    em, cl = w.em, w.cloud
    report = (Frame("nova.servicegroup.drivers.db", 91, "_report_state", "service.service_ref.save()"),
              Frame("oslo_versionedobjects.base", 226, "wrapper", "return fn(self, *args, **kwargs)"),
              Frame("nova.objects.service", 395, "save", "db_service = db.service_update(self._context, self.id, "
                    "updates)"),
              Frame("nova.db.sqlalchemy.api", 584, "service_update", "service_ref = service_get(context, "
                    "service_id)"))
    cinder = (Frame("cinder.service", 460, "report_state", "service_ref = objects.Service.get_by_id(ctxt, "
                    "self.service_id)"),
              Frame("cinder.objects.service", 101, "get_by_id", "db_service = db.service_get(context, id)"))
    streams = [  # (process, context, logger, message, recovered, traceback frames, first offset s)
        (cl.procs["nova-conductor"][0], cl.conductor_periodic, "nova.servicegroup.drivers.db",
         "Unexpected error while reporting service status", ("INFO", "Recovered from being unable to report "
                                                              "status."), report, 0.2),
        (cl.procs["nova-scheduler"][0], cl.scheduler_periodic, "nova.servicegroup.drivers.db",
         "Unexpected error while reporting service status", ("INFO", "Recovered from being unable to report "
                                                              "status."), report, w.rng.uniform(1.0, 9.0)),
        (cl.procs["cinder-scheduler"][0], cl.cinder_periodic, "cinder.service", "model server went away",
         ("ERROR", "Recovered model server connection!"), cinder, w.rng.uniform(1.0, 9.0)),
        (cl.procs["cinder-volume"][0], cl.cinder_periodic, "cinder.service", "model server went away",
         ("ERROR", "Recovered model server connection!"), cinder, w.rng.uniform(1.0, 9.0)),
    ]
    for k, (proc, ctx, logger, msg, recovered, frames, offset) in enumerate(streams):
        c = w.clock(t)
        c.wait(offset)
        tb = db_traceback(frames)
        while c.t < o.end:
            ms = em.log(c, proc, "ERROR", logger, msg, ctx, tb=tb)
            if k == 0:
                if lab.time is None:
                    lab.origin(ms, CONTROLLER, "oslo_db.exception.DBConnectionError")
                    lab.affect(ctx.request_id)
                lab.touch(ms)
            c.wait(10.0 + w.rng.uniform(-0.2, 0.2))
        ms = em.log(c, proc, recovered[0], logger, recovered[1], ctx)
        lab.touch(ms)
    # neutron-server handles the agents' state reports
    c = w.clock(t)
    c.wait(w.rng.uniform(2.0, 20.0))
    server = cl.procs["neutron-server"][0]
    tb = db_traceback((Frame("oslo_messaging.rpc.server", 163, "_process_incoming", "res = "
                             "self.dispatcher.dispatch(message)"),
                       Frame("neutron.db.agents_db", 440, "report_state", "agent_status, agent_state = "
                             "self.plugin.create_or_update_agent(context, agent_state, time)")))
    while c.t < o.end:
        em.log(c, server, "ERROR", "oslo_messaging.rpc.server", "Exception during message handling", NO_CTX, tb=tb)
        c.wait(30.0 + w.rng.uniform(-1.0, 1.0))
    # a user request right at the start, so the outage always touches one
    _first_victim(w, t + round(w.rng.uniform(3.0, 8.0) * 1000))


def rabbit_outage(w: World, t: int, lab: Injection) -> None:
    o = _window(w, t, "message-queue")
    em = w.em
    procs = [*w.cloud.procs["nova-conductor"], *w.cloud.procs["nova-api"], *w.cloud.procs["cinder-api"],
             *(p for p in rpc_processes(w) if p.service != "nova-conductor")]
    for k, proc in enumerate(procs):
        conn = w.ids.uuid()
        c = w.clock(t)
        c.wait(0.1 if k == 0 else w.rng.uniform(0.3, 6.0))
        sleep = 1
        while c.t < o.end:
            ms = em.log(c, proc, "ERROR", "oslo.messaging._drivers.impl_rabbit",
                        f"[{conn}] AMQP server on {CONTROLLER}:5672 is unreachable: [Errno 111] ECONNREFUSED. Trying "
                        f"again in {sleep} seconds.: ConnectionRefusedError: [Errno 111] ECONNREFUSED", NO_CTX)
            if k == 0:
                if lab.time is None:
                    lab.origin(ms, CONTROLLER, "ConnectionRefusedError")
                lab.affect(None, None, conn)
                lab.touch(ms)
            c.wait(sleep + w.rng.uniform(0.0, 0.05))
            sleep = min(30, sleep + 2)
        ms = em.log(c, proc, "INFO", "oslo.messaging._drivers.impl_rabbit",
                    f"[{conn}] Reconnected to AMQP server on {CONTROLLER}:5672 via [amqp] client with port "
                    f"{w.rng.randint(33000, 60999)}.", NO_CTX)
        lab.touch(ms)
    _first_victim(w, t + round(w.rng.uniform(3.0, 8.0) * 1000))


def _first_victim(w: World, t: int) -> None:
    server_create(w, t, flavor="m1.tiny")
