"""`rca stack up` refuses a port that another checkout's stack already holds."""
import socket

import pytest

from devstack import process


def test_a_port_held_by_a_process_we_did_not_start_fails_before_launching(tmp_path):
    with socket.socket() as other:                       # someone else's server
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        launched = []
        with pytest.raises(process.ServiceError, match=f"127.0.0.1:{port} is already in use"):
            process.ensure(tmp_path, "kafka", "marker", lambda: launched.append(1) or 0, lambda: True, 5, port=port)
        assert launched == []        # nothing started; the probe's True (the other server) was not believed


def test_a_free_port_is_launched_on(tmp_path):
    with socket.socket() as probe_sock:
        probe_sock.bind(("127.0.0.1", 0))
        port = probe_sock.getsockname()[1]               # bound, not listening: nothing accepts
    assert not process.port_in_use(port)
    with pytest.raises(process.ServiceError, match="exited during start-up"):
        # launch() returns a pid that is not alive: ensure got past the port check and launched
        process.ensure(tmp_path, "kafka", "marker", lambda: 2**22 + 12345, lambda: False, 5, port=port)
