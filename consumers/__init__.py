"""Everything that reads from Kafka: the Faust worker and the readers of its output.

Owns: the Faust app, its agents, tables and workarounds (`app.py`, `redelivery.py`), the
per-message pipeline without Kafka (`pipeline.py`, `ingest.py`, `envelope.py`,
`windowing.py`), dead letters (`deadletters.py`), the incident stage (`incidents.py`,
`blast_radius.py`), the control plane (the control agent in `app.py`, command
validation in `control.py`, one retraining at a time in its own process: `jobs.py`, `trainer.py`), model serving and hot reload (`models.py`), `/metrics` (`metrics.py`), the
results/incidents readers (`results.py`), the streamed evaluation (`stream_eval.py`) and the
incident page (`ui/`).

May import: ``tracking``, ``engine``, ``schemas``, ``config``, and from ``producers`` only
`producers.kafka` (the one Kafka client factory); never ``cli``, ``bench``, ``devstack``.
Checked by tests/unit/test_import_direction.py.
"""
