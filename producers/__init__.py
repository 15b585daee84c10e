"""Everything that writes to Kafka from outside the worker: `rca publish`, control commands,
the log simulator.

Owns: the one module that makes Kafka clients and reads a topic by time range or watermarks
(`kafka.py`), publishing log files as events, raw lines or batch envelopes (`publish.py`),
signed control commands (`control.py`), the simulated cloud and its labelled data sets
(`simulate.py`, `sim_dataset.py`, `simulator/`).

May import: ``tracking``, ``engine``, ``schemas``, ``config``; never ``consumers``, ``cli``,
``bench``. Checked by tests/unit/test_import_direction.py.
"""
