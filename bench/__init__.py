"""Benchmarks: programs that run the product under load or faults and print figures, never asserts.

This package owns them (`rca bench chaos` lives here: `bench/chaos.py`). It may import every
product package; no product module imports it (the `rca bench` commands in cli/ import it
lazily, when asked), so an installed worker never loads benchmark code. Besides the product
packages it may import ``devstack`` (a private broker); not ``cli`` (one listed exception in
tests/unit/test_import_direction.py).
"""
