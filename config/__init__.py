"""Typed settings, read from the environment in one place (`settings.py`), and time parsing.

Owns: one frozen pydantic-settings class per boundary (Kafka, topics, worker, S3, MLflow, the
local stack, the control plane, the incident page), all with the ``RCA_`` prefix except the
standard MLflow variables; `timeparse.py` reads `--since`/`--until` style times.

May import: ``schemas`` only (a leaf every other package may read). Imports are checked by
tests/unit/test_import_direction.py.
"""
