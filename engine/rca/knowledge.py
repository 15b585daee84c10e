"""A small knowledge base of OpenStack failure modes.

Each entry: a category name, the words that reveal it in evidence (log
text, exception types, module names) and what an operator should check.
The first matching entry in order wins, so specific modes come before
generic ones. ``classify`` also serves ``--issue`` text: an operator's
"Volume attach failed" maps to the same category names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FailureMode:
    category: str
    pattern: re.Pattern
    recommendation: str


def _mode(category: str, words: str, recommendation: str) -> FailureMode:
    return FailureMode(category, re.compile(words, re.IGNORECASE), recommendation)


FAILURE_MODES: tuple[FailureMode, ...] = (
    _mode("no valid host", r"no ?valid ?host|no valid backend|not enough hosts|NoValidHost|filter_scheduler|scheduler",
          "Check scheduler filters and capacity (placement inventories, cinder backends); "
          "the scheduler's logs show which filter rejected every host, and the first error "
          "of the earlier attempt shows why the build was rescheduled."),
    _mode("vif plugging", r"vif|VirtualInterfaceCreate|port binding|binding failed|plug_vifs|ovs_neutron_agent|openvswitch",
          "Check neutron agents (openvswitch/l2 agent alive, port binding on the host) and "
          "nova's vif_plugging_timeout; look at the agent log around the port's device id."),
    _mode("volume attach", r"attach|detach|connection_info|initialize_connection|terminate_connection|iscsi|os_brick|VolumeDriverNotFound|block_device",
          "Check the volume's state and attachment in cinder, the connector (iSCSI/LVM) on "
          "the compute host and the cinder-volume log for the same volume id."),
    _mode("volume", r"cinder\.volume|volume|lvm|lvcreate|snapshot|backend",
          "Check cinder-volume and its backend (volume group capacity, driver errors); the "
          "volume id ties the API request to the manager's failure."),
    _mode("image", r"glance|image|qemu-img|ImageCopyFailure|convert_image",
          "Check the image in glance (status, disk format, size) and image conversion or "
          "download on the host that failed."),
    _mode("network", r"neutron|network|subnet|router|dhcp|ipam|floating|l3|segment|address_scope|port_security",
          "Check neutron-server and the agents for the network/subnet/router involved; "
          "verify the resource in `openstack network show` and the agent list."),
    _mode("timeout", r"timeout|timed out|MessagingTimeout|took too long|heartbeat",
          "A call did not answer in time: check the service it waited on (alive, overloaded) "
          "and the message bus; compare with the slow-down in the duration model."),
    _mode("messaging", r"oslo_messaging|amqp|rabbit|AMQPError|MessageDelivery|rpc",
          "Check RabbitMQ (connections, queues without consumers) and that every service "
          "consuming the topic is up."),
    _mode("database", r"DBError|OperationalError|sqlalchemy|Deadlock|DBConnection|database|IntegrityError|\.db\.",
          "Check the database (connectivity, locks, migrations) and the query in the "
          "traceback; a DB-layer exception in one call often surfaces as an API 500."),
    _mode("auth", r"keystone|Unauthorized|Forbidden|\b401\b|\b403\b|token|credential|auth",
          "Check keystone (token validity, service users and passwords in the service "
          "configs, catalogue endpoints)."),
    _mode("hypervisor", r"libvirt|qemu|hypervisor|domain|spawn|guest",
          "Check libvirt/QEMU on the compute host (libvirtd log, leftover domains) and the "
          "instance's XML in the nova-compute log."),
    _mode("compute", r"nova\.compute|instance|server|build|resource_tracker|conductor",
          "Follow the instance id through nova-api, conductor, scheduler and compute; the "
          "first traceback is the origin, the later ERROR state is the symptom."),
    _mode("api", r"\bapi\b|wsgi|HTTP|POST|GET|PUT|DELETE|middleware",
          "An API request failed inside the service: the traceback's innermost OpenStack "
          "frame is where to look; reproduce with the request id."),
)

_CODE_BUG = re.compile(r"\b(TypeError|AttributeError|KeyError|NameError|IndexError|ValueError|"
                       r"UnboundLocalError|UnicodeDecodeError|NotImplementedError)\b")
CODE_BUG_ADVICE = ("The exception is a programming error ({exc}) in this module: a wrong "
                   "argument, a missing call or an unexpected return value. Compare the "
                   "deployed code with the release (local patches, mismatched versions "
                   "between services) and report it with the traceback.")
DEFAULT = FailureMode("error", re.compile(r"$^"),
                      "Inspect the first traceback of this module and the records sharing its "
                      "request and instance ids.")


# What part of the cloud a failure mode is about. Two incident windows whose causes fall in
# different families (the network and the storage) show two faults, whatever hosts they share;
# cross-cutting modes (timeout, messaging, database, auth, api) say how a call failed, not
# where, and belong to none.
FAMILIES: dict[str, str] = {
    "vif plugging": "network", "network": "network",
    "volume attach": "storage", "volume": "storage",
    "image": "image",
    "hypervisor": "compute", "compute": "compute", "no valid host": "compute",
}


def family(category: str | None) -> str | None:
    return FAMILIES.get(category or "")


def classify(text: str) -> FailureMode:
    """The first failure mode whose words appear in ``text`` (or DEFAULT)."""
    for mode in FAILURE_MODES:
        if mode.pattern.search(text or ""):
            return mode
    return DEFAULT


def recommendation(mode: FailureMode, text: str) -> str:
    """The mode's advice, prefixed with code-bug advice when the evidence shows one."""
    m = _CODE_BUG.search(text or "")
    if m:
        return CODE_BUG_ADVICE.format(exc=m.group(1)) + " " + mode.recommendation
    return mode.recommendation


def issue_categories(issue: str | None) -> set[str]:
    """Every category an operator's issue text mentions."""
    if not issue:
        return set()
    return {m.category for m in FAILURE_MODES if m.pattern.search(issue)}


def issue_words(issue: str | None) -> set[str]:
    """Lower-case content words of the issue (for matching module names)."""
    if not issue:
        return set()
    stop = {"the", "a", "an", "is", "was", "to", "of", "in", "on", "for", "and", "or", "with",
            "failed", "fails", "failure", "error", "not", "cannot", "can't", "does", "doesn't"}
    words = {w for w in re.findall(r"[a-z]+", issue.lower()) if len(w) > 2 and w not in stop}
    # crude stemming so "attaching"/"attached" meet "attach"
    return {re.sub(r"(ing|ed|es|s)$", "", w) or w for w in words}
