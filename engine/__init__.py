"""The analysis engine: parsing, templates, sessions, windows' analysis, the model, training,
scoring and root-cause analysis (`engine/rca/`). Pure Python + NumPy/TensorFlow: no Kafka, no
MLflow, no S3, so every algorithm is testable without I/O.

Owns: the oslo.log parser (`parsing.py`), the online template miner and its stable ids
(`templates.py`), session keys and window starts (`sessions.py`), the DeepLog LSTM
(`sequence.py`), the parameter model (`params.py`), the model bundle type (`bundle.py`),
training (`training.py`), scoring one or many windows (`scoring.py`), the baseline analyzer
(`baseline.py`), request chains and topology from the logs (`chains.py`, `topology.py`), log
readers (`readers.py`).

May import: ``schemas`` and ``config``; never ``tracking``, ``producers``, ``consumers``,
``cli``, ``bench``. Checked by tests/unit/test_import_direction.py.
"""
