"""An incident's blast radius in the stream: window graphs in, each incident message's `topology` out.

The graph itself is engine/topology.py (pure). The two stages of the worker see
different things: a window stage reads the lines of its own partitions, the
incident stage (one worker of the group, consumers/app.py) reads only incident
windows. So each incident window carries the subgraph its own lines state
(``attach``, on the internal correlation topic only), the incident stage merges
them into one bounded collector (``take``, which also removes the field, so
rca.results never sees it), and every incident message gets the subgraph
around its ids (``annotate``). The collector lives in the incident stage's
changelog-backed table beside the correlator (``bind``), so a restart or a
rebalance keeps what was learnt.
"""
from __future__ import annotations

import logging
from collections.abc import MutableMapping

from engine.topology import INCIDENT_CONFIG, TopologyCollector, incident_graph, window_graph

log = logging.getLogger(__name__)

FIELD = "topology"       # the incident window's field on the correlation topic, and the incident's
STATE_KEY = "topology"   # the collector's key in the incident stage's table


class BlastRadius:
    """The incident stage's topology collector, restored from and saved to its table."""

    def __init__(self) -> None:
        self.state: MutableMapping | None = None
        self._collector: TopologyCollector | None = None
        self._dirty = False

    def bind(self, state: MutableMapping) -> None:
        """The table (the incident stage's) that keeps the collector across restarts."""
        self.state = state

    @property
    def collector(self) -> TopologyCollector:
        if self._collector is None:
            stored = self.state.get(STATE_KEY) if self.state is not None else None
            self._collector = TopologyCollector.from_state(stored, INCIDENT_CONFIG)
            if stored:
                log.info("topology restored: %d entities, %d relations", len(self._collector.nodes),
                         len(self._collector.edges))
        return self._collector

    def forget(self) -> None:
        """Another worker owns the incident stage now: restored from the table when it comes back."""
        self._collector, self._dirty = None, False

    # -- window stage -------------------------------------------------------------
    @staticmethod
    def attach(window, result: dict) -> None:
        """An incident window's own subgraph, sent with it to the incident stage (never fails the send)."""
        try:
            result[FIELD] = window_graph((item.event for item in window.items), result)
        except Exception:  # noqa: BLE001 - a blast radius never stops a result
            log.exception("no topology for window %s", result.get("window_id"))

    # -- incident stage -----------------------------------------------------------
    def take(self, result: dict) -> None:
        """Remove the window's subgraph from its result (rca.results has no such field) and learn it."""
        graph = result.pop(FIELD, None)
        if graph:
            self.collector.merge(graph)
            self._dirty = True
            self.save()

    def annotate(self, message: dict) -> dict:
        """Add `topology` to an incident message (rca_incident)."""
        try:
            message[FIELD] = incident_graph(self.collector, message)
        except Exception:  # noqa: BLE001 - an incident goes out without its graph rather than not at all
            log.exception("no topology for incident %s", message.get("incident_id"))
        return message

    def save(self) -> None:
        if self._dirty and self.state is not None and self._collector is not None:
            self.state[STATE_KEY] = self._collector.to_state()
            self._dirty = False
