"""Neutron: REST calls to neutron-server, port binding, VIF plugging, agents.

Neutron logs its own request ids: a call from nova-compute shows up in
neutron-server under a new ``req-`` id, tied to nova by the port and
instance ids in its messages (as in real clouds without global request ids).
"""
from __future__ import annotations

from typing import Callable

from producers.simulator.cloud import CLIENT_IP, CONTROLLER_IP, Host, Instance, Network, Port
from producers.simulator.core import Clock, Ctx
from producers.simulator.world import World

# A hook a fault uses to break a flow at a named stage; True: the fault took over.
Hook = Callable[[str, World, Clock, dict], bool]
OVS_AGENT = "neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent"


def no_hook(_stage: str, _w: World, _c: Clock, _b: dict) -> bool:
    return False


def neutron_call(w: World, c: Clock, ctx: Ctx, client: str, method: str, path: str, status: int,
                 logs: tuple[tuple[str, str, str, str | None], ...] = ()) -> int:
    """One REST call served by a neutron-server worker; returns when it answered.

    ``logs``: (level, logger, message, fn) lines the worker logs meanwhile.
    """
    proc = w.cloud.proc("neutron-server")
    start = c.tick(0.005, 0.03)
    for level, logger, msg, fn in logs:
        w.em.log(c, proc, level, logger, msg, ctx, fn=fn)
        c.tick(0.005, 0.08)
    c.tick(0.02, 0.4)
    return w.em.eventlet_wsgi(c, proc, ctx, "neutron.wsgi", client, method, path, status, start)


def port_details(port: Port) -> str:
    net = port.network
    return ("{" f"'device': '{port.id}', 'device_id': '{port.device or ''}', 'network_id': '{net.id}', "
            f"'port_id': '{port.id}', 'mac_address': '{port.mac}', 'admin_state_up': True, "
            f"'network_type': 'vxlan', 'segmentation_id': {net.segmentation_id}, 'physical_network': None, "
            f"'fixed_ips': [{{'subnet_id': '{net.subnet}', 'ip_address': '{port.ip}'}}], "
            f"'device_owner': 'compute:nova', 'port_security_enabled': True" "}")


def vif_repr(port: Port, active: bool) -> str:
    return (f"VIFOpenVSwitch(active={active},address={port.mac},bridge_name='br-int',has_traffic_filtering=True,"
            f"id={port.id},network=Network({port.network.id}),plugin='ovs',port_profile=VIFPortProfileOpenVSwitch,"
            f"preserve_on_delete=False,vif_name='tap{port.id[:11]}')")


def network_info(port: Port, active: bool = False) -> str:
    net = port.network
    return (f'[{{"id": "{port.id}", "address": "{port.mac}", "network": {{"id": "{net.id}", "bridge": "br-int", '
            f'"label": "{net.name}", "subnets": [{{"cidr": "{net.cidr_prefix}.0/24", "ips": [{{"address": '
            f'"{port.ip}", "type": "fixed", "version": 4}}]}}]}}, "type": "ovs", "devname": "tap{port.id[:11]}", '
            f'"active": {"true" if active else "false"}, "vnic_type": "normal"}}]')


def allocate_port(w: World, c: Clock, b: dict, hook: Hook = no_hook) -> bool:
    """nova-compute allocates the instance's port; False if a fault broke it."""
    em, inst, host = w.em, b["inst"], b["host"]
    port: Port = inst.port
    nova = host.compute
    ctx = b["ctx"]
    em.log(c, nova, "DEBUG", "nova.network.neutronv2.api", "allocate_for_instance()", ctx, inst.id,
           fn="allocate_for_instance:983")
    user = w.user_ctx(inst.tenant)
    neutron_call(w, c, user, host.ip, "POST", "/v2.0/ports", 201, (
        ("DEBUG", "neutron.db.ipam_backend_mixin", f"Allocated IP {port.ip} (network {port.network.id}) for port {port.id}",
         "_allocate_ips_for_port:411"),))
    em.log(c, nova, "DEBUG", "nova.network.neutronv2.api", f"Successfully created port: {port.id}", ctx, inst.id,
           fn="_create_port_minimal:476")
    admin = w.user_ctx(w.cloud.admin)
    server = w.cloud.proc("neutron-server")
    start = c.tick(0.01, 0.05)
    em.log(c, server, "DEBUG", "neutron.plugins.ml2.managers",
           f"Attempting to bind port {port.id} on host {host.name} for vnic_type normal with profile ", admin,
           fn="_bind_port_level:756")
    b.update(admin=admin, server=server)
    if hook("bind", w, c, b):
        return False
    seg = port.network
    em.log(c, server, "DEBUG", "neutron.plugins.ml2.managers",
           f"Bound port: {port.id}, host: {host.name}, vnic_type: normal, profile: , vif_type: ovs, vif_details: "
           '{"port_filter": true, "datapath_type": "system", "ovs_hybrid_plug": false}, binding_levels: '
           f"[{{'bound_driver': 'openvswitch', 'bound_segment': {{'id': '{seg.segment}', 'network_type': 'vxlan', "
           f"'physical_network': None, 'segmentation_id': {seg.segmentation_id}, 'network_id': '{seg.id}'}}}}]",
           admin, fn="_bind_port_level:803")
    c.tick(0.05, 0.3)
    em.eventlet_wsgi(c, server, admin, "neutron.wsgi", host.ip, "PUT", f"/v2.0/ports/{port.id}", 200, start)
    em.log(c, nova, "DEBUG", "nova.network.neutronv2.api", f"Successfully updated port: {port.id}", ctx, inst.id,
           fn="_update_port:514")
    em.semaphore(c, nova, ctx, f"refresh_cache-{inst.id}", True)
    em.log(c, nova, "DEBUG", "nova.network.neutronv2.api", "_get_instance_nw_info()", ctx, inst.id,
           fn="_get_instance_nw_info:1461")
    neutron_call(w, c, user, host.ip, "GET", f"/v2.0/ports?tenant_id={inst.tenant.project}&device_id={inst.id}", 200)
    neutron_call(w, c, user, host.ip, "GET", f"/v2.0/subnets?id={port.network.subnet}", 200)
    em.log(c, nova, "DEBUG", "nova.network.base_api",
           f"Updating instance_info_cache with network_info: {network_info(port)}", ctx, inst.id,
           fn="update_instance_cache_with_nw_info:48")
    em.semaphore(c, nova, ctx, f"refresh_cache-{inst.id}", False)
    em.log(c, nova, "DEBUG", "nova.compute.manager", f"Instance network_info: |{network_info(port)}|", ctx, inst.id,
           fn="_allocate_network_async:1556")
    return True


def send_event(w: World, c: Clock, inst: Instance, host: Host, port: Port, name: str,
               compute_level: str = "DEBUG") -> Ctx:
    """neutron-server notifies nova (external event) and nova-compute receives it."""
    em = w.em
    server = w.cloud.proc("neutron-server")
    nctx = Ctx(w.ids.req())
    event = f"{{'server_uuid': '{inst.id}', 'name': '{name}', 'status': 'completed', 'tag': '{port.id}'"
    em.log(c, server, "DEBUG", "neutron.notifiers.nova", f"Sending events: [{event}}}]", nctx, fn="send_events:242")
    api = w.cloud.proc("nova-api")
    ectx = w.user_ctx(w.cloud.nova_service)
    start = c.tick(0.01, 0.05)
    em.log(c, api, "INFO", "nova.api.openstack.compute.server_external_events",
           f"Creating event {name}:{port.id} for instance {inst.id} on {host.name}", ectx)
    em.nova_wsgi(c, api, ectx, CONTROLLER_IP, "POST", "/v2.1/os-server-external-events", 200, start)
    em.log(c, server, "INFO", "neutron.notifiers.nova", f"Nova event response: {event}, 'code': 200}}", nctx)
    compute = c.fork()
    compute.tick(0.005, 0.05)
    if compute_level == "WARNING":
        em.log(compute, host.compute, "WARNING", "nova.compute.manager",
               f"Received unexpected event {name}-{port.id} for instance with vm_state deleted and task_state None.",
               ectx, inst.id)
    else:
        em.log(compute, host.compute, "DEBUG", "nova.compute.manager", f"Received event {name}-{port.id}", ectx,
               inst.id, fn="external_instance_event:8142")
    c.join(compute)
    return ectx


def vif_plugged(w: World, c: Clock, b: dict, hook: Hook = no_hook) -> bool:
    """OVS agent wires the port up; neutron tells nova 'network-vif-plugged'.

    Runs on its own clock (the agent notices the tap device ~1 s after
    os-vif plugged it); False if a fault stopped the event.
    """
    em, inst, host = w.em, b["inst"], b["host"]
    port, ovs, actx = inst.port, host.ovs, host.ovs_ctx
    c.tick(0.4, 1.8)
    if c.t < host.ovs_broken_until:  # the agent is stuck (a fault): this port waits too
        if host.ovs_victim is not None and host.ovs_victim(w, c, b):
            return False  # nova gave up first
        ovs_catch_up(w, c, host)
    em.log(c, ovs, "INFO", OVS_AGENT, f"Port {port.id} updated. Details: {port_details(port)}", actx)
    if hook("vif", w, c, b):
        return False
    em.log(c, ovs, "INFO", "neutron.agent.securitygroups_rpc", f"Preparing filters for devices {{'{port.id}'}}", actx)
    c.tick(0.05, 0.4)
    em.log(c, ovs, "INFO", OVS_AGENT,
           f"Configuration for devices up ['{port.id}'] and devices down [] completed.", actx)
    server = w.cloud.proc("neutron-server")
    sctx = Ctx(w.ids.req())
    em.log(c, server, "DEBUG", "neutron.plugins.ml2.rpc", f"Device {port.id} up at agent ovs-agent-{host.name}",
           sctx, fn="update_device_up:261")
    em.log(c, server, "DEBUG", "neutron.db.provisioning_blocks",
           f"Provisioning for port {port.id} completed by entity L2.", sctx, fn="provisioning_complete:132")
    send_event(w, c, inst, host, port, "network-vif-plugged")
    return True


def ovs_catch_up(w: World, c: Clock, host: Host) -> None:
    """Move a clock on the host's OVS agent past a fault that stuck its loop: the agent handles
    what it missed shortly after it recovers (no-op when the agent is fine)."""
    if c.t < host.ovs_broken_until:
        c.t = host.ovs_broken_until + round(w.rng.uniform(0.5, 2.0) * 1000)


def vif_unplugged(w: World, c: Clock, inst: Instance, host: Host) -> None:
    """The agent sees the tap go away; nova gets an event it no longer expects."""
    em, port = w.em, inst.port
    c.tick(0.5, 2.0)
    em.log(c, host.ovs, "INFO", "neutron.agent.securitygroups_rpc", f"Remove device filter for {{'{port.id}'}}",
           host.ovs_ctx)
    em.log(c, host.ovs, "INFO", OVS_AGENT, f"Ports {{'{port.id}'}} removed", host.ovs_ctx)
    send_event(w, c, inst, host, port, "network-vif-unplugged", compute_level="WARNING")


def delete_port(w: World, c: Clock, ctx: Ctx, port: Port, client: str) -> None:
    neutron_call(w, c, ctx, client, "DELETE", f"/v2.0/ports/{port.id}", 204)
    w.cloud.ports.pop(port.id, None)
    _dhcp_reload(w, c, port)


def _dhcp_reload(w: World, c: Clock, port: Port) -> None:
    dhcp = w.cloud.proc("neutron-dhcp-agent")
    c.tick(0.05, 0.4)
    w.em.log(c, dhcp, "INFO", "neutron.agent.dhcp.agent",
             f"Trigger reload_allocations for port admin_state_up=True, binding:host_id={port.host or ''}, "
             f"device_id={port.device or ''}, fixed_ips=[{{'subnet_id': '{port.network.subnet}', "
             f"'ip_address': '{port.ip}'}}], id={port.id}, mac_address={port.mac}, network_id={port.network.id}, "
             f"status=DOWN", w.cloud.dhcp_ctx)


# -- workload operations ---------------------------------------------------------


def _user(w: World) -> Ctx:
    return w.user_ctx(w.cloud.tenant())


def network_create(w: World, t0: int) -> None:
    c = w.clock(t0)
    cl = w.cloud
    o = w.outage(c.t, "neutron-server")
    if o:  # not api_outage: the worker is drawn before the user context
        o.api_failure(w, c, cl.proc("neutron-server"), _user(w), "POST", "/v2.0/networks")
        return
    net = cl.new_network(f"net-{len(cl.networks) + 1:03d}")
    ctx = _user(w)
    neutron_call(w, c, ctx, CLIENT_IP, "POST", "/v2.0/networks", 201, (
        ("INFO", "neutron.db.segments_db", f"Added segment {net.segment} of type vxlan for network {net.id}", None),))
    neutron_call(w, c, ctx, CLIENT_IP, "POST", "/v2.0/subnets", 201)
    dhcp = cl.proc("neutron-dhcp-agent")
    c.tick(0.2, 1.0)
    w.em.log(c, dhcp, "DEBUG", "neutron.agent.dhcp.agent", f"Calling driver for network: {net.id} action: enable",
             cl.dhcp_ctx, fn="call_driver:163")
    w.em.cmd(c, dhcp, cl.dhcp_ctx, f"sudo neutron-rootwrap /etc/neutron/rootwrap.conf ip netns add qdhcp-{net.id}",
             w.rng.uniform(0.02, 0.1))
    cl.networks.append(net)


def network_delete(w: World, t0: int) -> None:
    cl = w.cloud
    extra = [n for n in cl.networks[1:] if not any(p.network is n for p in cl.ports.values())]
    if not extra:
        return port_create(w, t0)
    net = w.rng.choice(extra)
    c = w.clock(t0)
    neutron_call(w, c, _user(w), CLIENT_IP, "DELETE", f"/v2.0/networks/{net.id}", 204)
    cl.networks.remove(net)
    dhcp = cl.proc("neutron-dhcp-agent")
    c.tick(0.2, 0.8)
    w.em.log(c, dhcp, "DEBUG", "neutron.agent.dhcp.agent", f"Calling driver for network: {net.id} action: disable",
             cl.dhcp_ctx, fn="call_driver:163")
    if w.rng.random() < 0.5:
        from producers.simulator.background import dhcp_network_gone  # background imports this module
        dhcp_network_gone(w, c, net)


def port_create(w: World, t0: int) -> None:
    c = w.clock(t0)
    cl = w.cloud
    o = w.outage(c.t, "neutron-server")
    if o:  # not api_outage: the worker is drawn before the user context
        o.api_failure(w, c, cl.proc("neutron-server"), _user(w), "POST", "/v2.0/ports")
        return
    net: Network = w.rng.choice(cl.networks)
    port = cl.new_port(net)
    neutron_call(w, c, _user(w), CLIENT_IP, "POST", "/v2.0/ports", 201, (
        ("DEBUG", "neutron.db.ipam_backend_mixin", f"Allocated IP {port.ip} (network {net.id}) for port {port.id}",
         "_allocate_ips_for_port:411"),))
    _dhcp_reload(w, c, port)


def port_delete(w: World, t0: int) -> None:
    free = [p for p in w.cloud.ports.values() if p.device is None]
    if not free:
        return port_create(w, t0)
    c = w.clock(t0)
    delete_port(w, c, _user(w), w.rng.choice(free), CLIENT_IP)


def secgroup_rule_create(w: World, t0: int) -> None:
    c = w.clock(t0)
    sg = w.ids.uuid()
    neutron_call(w, c, _user(w), CLIENT_IP, "POST", "/v2.0/security-group-rules", 201)
    for host in w.cloud.hosts:
        h = c.fork()
        h.tick(0.05, 0.5)
        ovs_catch_up(w, h, host)
        w.em.log(h, host.ovs, "INFO", "neutron.agent.securitygroups_rpc", f"Security group rule updated ['{sg}']",
                 host.ovs_ctx)
        h.tick(0.5, 2.0)
        w.em.log(h, host.ovs, "INFO", "neutron.agent.securitygroups_rpc", "Refresh firewall rules", host.ovs_ctx)


def network_list(w: World, t0: int) -> None:
    c = w.clock(t0)
    neutron_call(w, c, _user(w), CLIENT_IP, "GET", "/v2.0/networks", 200)
