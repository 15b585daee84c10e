"""The local stack for tests and the demo (`rca stack up|down|status|env`): Kafka in KRaft
mode, s3proxy and an MLflow server on 127.0.0.1, fetched from Maven Central / PyPI, with logs and
data under the state folder.

May import: ``config`` only. Only ``cli``, ``bench`` and the tests import it; no product
package does. Checked by tests/unit/test_import_direction.py.
"""
