"""Building blocks of `rca simulate` (the public API is ``producers.simulate``).

One small module per role:

- ``core``: time, ids, the oslo.log line format, tracebacks, the record heap;
- ``cloud``: the topology (controller, compute hosts, processes) and the
  cloud's state (instances, volumes, ports, images);
- ``world``: what every flow shares (cloud, emitter, rng, planned outages);
- ``build``, ``servers``, ``storage``, ``network``: healthy operations as they
  flow across the services, with hooks where a fault can break them;
- ``background``: periodic tasks and the healthy noise (warnings and
  transient, retried errors that every real cloud logs);
- ``faults`` (with ``volume_faults`` and ``outages``): the fault catalogue,
  each fault's origin and symptoms; ``labels``: the ground-truth labels.
"""
