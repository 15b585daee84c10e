"""The `rca` command (`main.py`): argument parsing, one-line errors, tables and JSON output.

Owns: the subcommands (`commands.py`, `engine_cmds.py`, `models_cmd.py`, `simulate_cmd.py`),
terminal output (`output.py`).

May import: every package of ours; ``bench`` only inside the `rca bench` command functions
(lazily, never at module level). No product package imports ``cli``. Checked by
tests/unit/test_import_direction.py and tests/unit/test_bench_layout.py.
"""
