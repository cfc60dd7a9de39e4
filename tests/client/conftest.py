"""Fixtures of the client tests: stub EAS servers on 127.0.0.1, a port nobody listens on."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from stub_http import Handler, StubServer


@pytest.fixture
def stub_server() -> Iterator[Callable[[Handler], StubServer]]:
    servers: list[StubServer] = []

    def start(handler: Handler) -> StubServer:
        server = StubServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
