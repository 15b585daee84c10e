"""Request chains: which requests called which, from the lines that say so (pure logic).

OpenStack services pass a request on: nova-compute's request ``req-A`` calls
neutron, which logs the work under its own ``req-B``; nova logs "... used
request id req-B" (keystoneauth) or the ``X-OpenStack-Request-ID`` header, and
services that pass the global request id log ``[req-G req-B ...]``. A fault
that starts in neutron under ``req-B`` and surfaces minutes later in nova
under ``req-A`` is one story, but the line that links them usually sits in a
quiet window long before the error. So the window stage remembers the links
it has seen (bounded, oldest requests forgotten first) and an incident
window's request ids are expanded with the requests linked to them, which is
what the incident stage joins windows on.

    chains = RequestChains()
    chains.observe(event)                     # every event (cheap unless its line names 2+ requests)
    chains.expand({"req-A"})                  # {"req-A", "req-B"}
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable

from schemas.log_event import LogEvent

REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_REQUESTS = 50_000     # requests remembered (about 10 MB at most)
MAX_LINKS = 8             # requests linked to one request


def named_requests(event: LogEvent) -> list[str]:
    """The request ids the first line of a record names (its context and its text), in order."""
    head = event.raw[:2000]
    if head.count("req-") < 2:
        return [event.request_id] if event.request_id else []
    return list(dict.fromkeys(REQUEST_ID.findall(head.split("\n", 1)[0])))


class RequestChains:
    """Links between requests, as lines state them; bounded."""

    def __init__(self, max_requests: int = MAX_REQUESTS) -> None:
        self.max_requests = max_requests
        self._links: OrderedDict[str, list[str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._links)

    def observe(self, event: LogEvent) -> None:
        """Remember the requests one line links (nothing to do for most lines)."""
        if event.raw.count("req-", 0, 2000) < 2:
            return
        ids = named_requests(event)
        if len(ids) < 2:
            return
        for a in ids:
            for b in ids:
                if a != b:
                    self._link(a, b)

    def _link(self, a: str, b: str) -> None:
        links = self._links.get(a)
        if links is None:
            links = self._links[a] = []
            if len(self._links) > self.max_requests:
                self._links.popitem(last=False)
        else:
            self._links.move_to_end(a)
        if b not in links and len(links) < MAX_LINKS:
            links.append(b)

    def expand(self, ids: Iterable[str], hops: int = 2) -> set[str]:
        """``ids`` and the requests linked to them, up to ``hops`` calls away."""
        out = set(ids)
        frontier = set(out)
        for _ in range(hops):
            nxt = {b for a in frontier for b in self._links.get(a, ())} - out
            if not nxt:
                break
            out |= nxt
            frontier = nxt
        return out
