"""A free loopback port for a server a test starts by port number (seldon-core, JupyterLab,
a packed app), rather than on port 0.

Taken below Linux's ephemeral range (32768-60999), where the ports of outgoing
connections and of every ``bind(port 0)`` come from: a port picked there with ``bind(0)``
and closed again may become another client's local port, or another server's, before
the test's server binds it, the more so with the suite in two processes. Each xdist
worker has a band of its own, so two workers never pick the same port.
"""

from __future__ import annotations

import os
import random
import socket

_LOW, _HIGH = 20000, 32000


def free_port(*taken: int) -> int:
    """A port of this worker's band that binds now, other than ``taken`` (the ports a
    server is already given: each was free when picked and closed again, so without
    this a second pick could be the first port, 1 in 1000)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    band = 1000
    start = _LOW + (index * band) % (_HIGH - _LOW)
    for port in random.sample(range(start, start + band), band):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            if port not in taken:
                return port
    raise RuntimeError(f"no free loopback port in {start}-{start + band - 1}")
