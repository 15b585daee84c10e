"""Small generated nova-compute runs for the model tests (engine/training, engine/scoring)."""
from __future__ import annotations

import random

from schemas.log_event import Frame, LogEvent

FLOW = ["Starting instance", "Claim successful", "Creating image", "Instance spawned successfully",
        "Took {t} seconds to spawn the instance on the hypervisor."]


def nova_run(seed: int, n: int, trouble: bool = False) -> list[LogEvent]:
    """`n` instances booting through FLOW; with `trouble`, every seventh instance logs an error
    (with a traceback frame) or a warning where it creates its image."""
    rng = random.Random(seed)
    events, t = [], 1_700_000_000.0
    for i in range(n):
        inst = f"00000000-0000-0000-0000-{seed:06d}{i:06d}"
        for msg in FLOW:
            t += rng.uniform(0.1, 2.0)
            level, text = "INFO", msg.format(t=f"{rng.uniform(8, 12):.2f}")
            frames = []
            if trouble and i % 7 == 3 and msg == "Creating image":
                level, text = rng.choice([("ERROR", "Instance failed to spawn: disk full"),
                                          ("WARNING", "Image cache is nearly full")])
                frames = [Frame("/opt/stack/nova/nova/virt/libvirt/driver.py", 12, "spawn")] if level == "ERROR" else []
            events.append(LogEvent(message=text, raw=f"2023-11-14 00:00:00.000 1 {level} nova.compute.manager "
                                                      f"[instance: {inst}] {text}",
                                   timestamp=t, service="nova-compute", level=level,
                                   logger="nova.compute.manager", instance_id=inst, frames=frames,
                                   exception_type="OSError" if frames else None))
    return events
