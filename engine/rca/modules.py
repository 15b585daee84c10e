"""Names of code: file paths, Python modules, packages and subsystems.

``/usr/lib/python2.7/site-packages/nova/compute/manager.py`` and
``/opt/stack/nova/nova/compute/manager.py`` are the module
``nova.compute.manager``, the package ``nova.compute`` and the subsystem
``nova``. Only OpenStack service code is a root-cause candidate; shared
libraries (oslo.*, eventlet, sqlalchemy, the stdlib) are where errors pass
through, not where faults are injected or fixed.
"""
from __future__ import annotations

import re

from engine.parsing import PROJECTS  # OpenStack service projects (their top-level Python package)

_SITE = re.compile(r"(?:site|dist)-packages/(.+)$")
_STACK = re.compile(r"/opt/stack/[^/]+/(.+)$")


def module_from_path(path: str | None) -> str | None:
    """Python module of an OpenStack source file, or None for other code."""
    if not path or not path.endswith((".py", ".pyc")):
        return None
    path = path.replace("\\", "/")
    m = _SITE.search(path) or _STACK.search(path)
    if m:
        rel = m.group(1)
    else:
        parts = path.split("/")
        idx = [i for i, p in enumerate(parts[:-1]) if p in PROJECTS]
        if not idx:
            return None
        rel = "/".join(parts[idx[-1]:])
    rel = rel.rsplit(".", 1)[0]
    parts = [p for p in rel.split("/") if p]
    if not parts or parts[0] not in PROJECTS:
        return None
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def module_from_component(component: str | None) -> str | None:
    """labels.tsv COMPONENT ``/nova/compute/manager.py`` -> ``nova.compute.manager``.

    A COMPONENT that is not a source file (no leading ``/``, no ``.py``) names an infrastructure
    component (``rabbitmq``, ``mariadb/galera``, ``haproxy:nova_api``; engine/rca/infra.py) and is kept.
    """
    if not component:
        return None
    text = component.strip()
    if not text.startswith("/") and not text.endswith(".py"):
        return text or None
    rel = text.strip("/")
    if rel.endswith(".py"):
        rel = rel[:-3]
    parts = [p for p in rel.split("/") if p]
    if parts and parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts) or None


def is_project_module(name: str | None) -> bool:
    return bool(name) and name.split(".", 1)[0] in PROJECTS


def subsystem_of(module: str | None) -> str | None:
    return module.split(".", 1)[0] if module else None


def package_of(module: str | None) -> str | None:
    """First two parts: ``nova.compute.manager`` -> ``nova.compute``."""
    return ".".join(module.split(".")[:2]) if module else None


def subsystem_of_service(service: str | None) -> str | None:
    """``nova-compute`` -> ``nova``; ``neutron-server`` -> ``neutron``."""
    if not service:
        return None
    head = service.split("-", 1)[0]
    return head if head in PROJECTS else None


def level_of(name: str | None, level: str) -> str | None:
    """Name at an evaluation level: 'subsystem', 'package' or 'module'."""
    if level == "subsystem":
        return subsystem_of(name)
    if level == "package":
        return package_of(name)
    return name
