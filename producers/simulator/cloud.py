"""The simulated cloud: processes on a controller and N compute hosts, and state.

The controller runs the API services, schedulers, conductor, neutron-server,
the DHCP agent, cinder and glance; each compute host runs nova-compute and
the Open vSwitch agent. One log file per service: the compute hosts' lines
share ``nova-compute.log`` and are told apart by pid and host names.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from producers.simulator.core import Ctx, Ids, Proc

# (subsystem, service) of every log file, in a stable order
SERVICES: tuple[tuple[str, str], ...] = (
    ("nova", "nova-api"), ("nova", "nova-scheduler"), ("nova", "nova-conductor"), ("nova", "nova-compute"),
    ("neutron", "neutron-server"), ("neutron", "neutron-openvswitch-agent"), ("neutron", "neutron-dhcp-agent"),
    ("cinder", "cinder-api"), ("cinder", "cinder-scheduler"), ("cinder", "cinder-volume"),
    ("glance", "glance-api"),
)
SUBSYSTEM = dict((svc, sub) for sub, svc in SERVICES)

CONTROLLER = "controller"
CONTROLLER_IP = "10.0.0.10"
CLIENT_IP = "10.0.0.5"  # where the workload's API calls come from
CINDER_HOST = "controller@lvmdriver-1#lvmdriver-1"

# name -> (ram MB, disk GB, vcpus)
FLAVORS = {"m1.tiny": (512, 1, 1), "m1.small": (2048, 20, 1), "m1.medium": (4096, 40, 2),
           "m1.xlarge": (16384, 160, 8)}  # xlarge fits no host: only the no-valid-host fault asks for it
FLAVOR_IDS = {"m1.tiny": "1", "m1.small": "2", "m1.medium": "3", "m1.xlarge": "5"}
HOST_RAM_MB, HOST_DISK_GB, HOST_VCPUS = 16384, 160, 8


@dataclass
class Host:
    name: str
    ip: str
    compute: Proc
    ovs: Proc
    periodic: Ctx  # nova-compute's periodic tasks keep one request id
    ovs_ctx: Ctx
    rpc_iteration: int = 0
    ovs_broken_until: int = 0  # the agent's loop is stuck on a fault until then
    ovs_victim: object = None  # what a build on this host suffers meanwhile: callable(w, clock, build)
    cached_images: set[str] = field(default_factory=set)


@dataclass
class Tenant:
    user: str
    project: str
    name: str


@dataclass
class Image:
    id: str
    name: str
    disk_format: str
    size: int
    checksum: str


@dataclass
class Network:
    id: str
    name: str
    subnet: str
    cidr_prefix: str  # "10.1.0"
    segmentation_id: int
    segment: str
    next_ip: int = 3


@dataclass
class Port:
    id: str
    network: Network
    mac: str
    ip: str
    device: str | None = None  # instance id
    host: str | None = None


@dataclass
class Instance:
    id: str
    name: str
    tenant: Tenant
    flavor: str
    image: Image
    host: Host
    port: Port
    ready: int  # ms when it became ACTIVE
    number: int  # libvirt domain name instance-%08x
    volumes: list[str] = field(default_factory=list)
    busy_until: int = 0


@dataclass
class Volume:
    id: str
    size: int
    tenant: Tenant
    status: str = "available"
    attached_to: str | None = None
    busy_until: int = 0


class Cloud:
    """Topology and state; every random choice comes from the simulation rng."""

    def __init__(self, rng: random.Random, hosts: int):
        self.rng = rng
        self.ids = ids = Ids(rng)
        pids = iter(rng.sample(range(1200, 32000), 24))
        self.procs: dict[str, list[Proc]] = {}
        workers = {"nova-api": 3, "nova-conductor": 2, "neutron-server": 3, "cinder-api": 2, "glance-api": 2}
        for sub, svc in SERVICES:
            if svc in ("nova-compute", "neutron-openvswitch-agent"):
                continue
            self.procs[svc] = [Proc(sub, svc, CONTROLLER, next(pids)) for _ in range(workers.get(svc, 1))]
        self.hosts: list[Host] = []
        for i in range(1, hosts + 1):
            name = f"compute-{i}"
            self.hosts.append(Host(
                name=name, ip=f"10.0.0.{20 + i}" if i < 200 else f"10.0.{i // 200}.{i % 200 + 20}",
                compute=Proc("nova", "nova-compute", name, rng.randint(1200, 32000)),
                ovs=Proc("neutron", "neutron-openvswitch-agent", name, rng.randint(1200, 32000)),
                periodic=Ctx(ids.req(), ids.hex32(), ids.hex32()),
                ovs_ctx=Ctx(ids.req()),
            ))
        self.admin = Tenant(ids.hex32(), ids.hex32(), "admin")
        self.nova_service = Tenant(ids.hex32(), ids.hex32(), "service")  # neutron -> nova events
        self.tenants = [Tenant(ids.hex32(), ids.hex32(), f"demo-{k}") for k in range(1, 4)]
        self.conductor_periodic = Ctx(ids.req())
        self.scheduler_periodic = Ctx(ids.req())
        self.cinder_periodic = Ctx(ids.req())
        self.dhcp_ctx = Ctx(ids.req())
        self.images: list[Image] = [
            Image(ids.uuid(), "cirros-0.4.0-x86_64-disk", "qcow2", 12716032, ids.hex32()),
            Image(ids.uuid(), "ubuntu-18.04-server-cloudimg", "qcow2", 343736320, ids.hex32()),
        ]
        self.networks: list[Network] = [self.new_network("private")]
        self.instances: dict[str, Instance] = {}
        self.volumes: dict[str, Volume] = {}
        self.ports: dict[str, Port] = {}
        self.instance_counter = 0

    # -- processes ----------------------------------------------------------

    def proc(self, service: str) -> Proc:
        """A (random) worker of a controller service."""
        workers = self.procs[service]
        return workers[0] if len(workers) == 1 else self.rng.choice(workers)

    # -- state ----------------------------------------------------------------

    def tenant(self) -> Tenant:
        return self.rng.choice(self.tenants)

    def new_network(self, name: str) -> Network:
        k = 1 + len(getattr(self, "networks", []))
        return Network(self.ids.uuid(), name, self.ids.uuid(), f"10.{k}.0", self.rng.randint(1001, 1999),
                       self.ids.uuid())

    def new_port(self, network: Network, device: str | None = None) -> Port:
        ip = f"{network.cidr_prefix}.{network.next_ip}"
        network.next_ip = network.next_ip + 1 if network.next_ip < 250 else 3
        port = Port(self.ids.uuid(), network, self.ids.mac(), ip, device)
        self.ports[port.id] = port
        return port

    def used(self, host: Host) -> tuple[int, int, int]:
        """(ram MB, disk GB, vcpus) used on a host."""
        ram, disk, cpus = 512, 0, 0  # reserved host memory
        for inst in self.instances.values():
            if inst.host is host:
                r, d, v = FLAVORS[inst.flavor]
                ram, disk, cpus = ram + r, disk + d, cpus + v
        return ram, disk, cpus

    def usage(self) -> dict[str, tuple[int, int, int]]:
        """``used`` of every host by name, in one pass over the instances (the scheduler compares them all)."""
        use = {h.name: (512, 0, 0) for h in self.hosts}  # reserved host memory
        for inst in self.instances.values():
            r, d, v = FLAVORS[inst.flavor]
            ram, disk, cpus = use[inst.host.name]
            use[inst.host.name] = (ram + r, disk + d, cpus + v)
        return use

    def new_instance(self, t: int, host: Host, tenant: Tenant | None = None, flavor: str | None = None,
                     image: Image | None = None) -> Instance:
        self.instance_counter += 1
        inst_id = self.ids.uuid()
        tenant = tenant or self.tenant()
        port = self.new_port(self.networks[0], inst_id)
        port.host = host.name
        return Instance(inst_id, f"vm-{self.instance_counter:04d}", tenant,
                        flavor or self.rng.choice(("m1.tiny", "m1.tiny", "m1.small", "m1.medium")),
                        image or self.rng.choice(self.images), host, port, t, self.instance_counter)

    def ready_instances(self, t: int, no_volumes: bool = False) -> list[Instance]:
        return [i for i in self.instances.values()
                if i.ready <= t and i.busy_until <= t and not (no_volumes and i.volumes)]

    def available_volumes(self, t: int) -> list[Volume]:
        return [v for v in self.volumes.values() if v.status == "available" and v.busy_until <= t]

    def attached_volumes(self, t: int) -> list[Volume]:
        return [v for v in self.volumes.values() if v.status == "in-use" and v.busy_until <= t
                and self.instances.get(v.attached_to or "") is not None
                and self.instances[v.attached_to].busy_until <= t]

    def populate(self) -> None:
        """Servers and volumes that exist before the simulation starts."""
        for host in self.hosts:
            for _ in range(2):
                inst = self.new_instance(-1, host, flavor="m1.tiny")
                self.instances[inst.id] = inst
                host.cached_images.add(inst.image.id)
        for _ in range(max(2, len(self.hosts))):
            vol = Volume(self.ids.uuid(), self.rng.choice((1, 1, 2, 5)), self.tenant())
            self.volumes[vol.id] = vol
