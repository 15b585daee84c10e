"""Tracking: MLflow runs, S3 folders, the signed model bundle on disk, the registry.

Owns: run names and S3 artifact folders (`naming.py`, `runs.py`, `storage.py`), the bundle's
pickle + manifest with sha256 and HMAC signature (`bundle_io.py`, `manifest.py`,
`signing.py`), the registry with the `production`/`challenger` aliases (`registry.py`), where tracking goes and whether it answers (`backend.py`), and what the commands and the
worker call, which warns and carries on when MLflow or S3 is down (`api.py`).

May import: ``engine`` (the bundle type), ``schemas``, ``config``; never ``producers``,
``consumers``, ``cli``, ``bench``. Checked by tests/unit/test_import_direction.py.
"""
