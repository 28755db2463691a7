"""The network fence of the test suite (tests/network_fence): nothing a test runs reaches
beyond this machine, and nothing is sent when it tries."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest

from tests.network_fence.network_fence import NetworkFenceError

OUTSIDE = [("10.0.0.1", 80), ("169.254.169.254", 80)]


@pytest.fixture
def listener():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server


@pytest.mark.parametrize("address", OUTSIDE)
def test_it_refuses_a_connect_before_anything_is_sent(network_fence, listener, address):
    with socket.socket() as sock:
        sock.setblocking(False)  # a real connect would be under way now (EINPROGRESS)
        with pytest.raises(NetworkFenceError, match=f"connect to {address[0]}:80"):
            sock.connect(address)
        with pytest.raises(NetworkFenceError):
            sock.connect_ex(address)
        # Nothing was started on the socket: it can still connect, to an allowed address.
        sock.setblocking(True)
        sock.connect(listener.getsockname())
        accepted, _ = listener.accept()
        accepted.close()
    with pytest.raises(NetworkFenceError):
        socket.create_connection(address, timeout=5)
    assert len(network_fence.take()) == 3  # the test would fail with them after it


def test_it_refuses_asyncio_connections(network_fence):
    async def connect():
        await asyncio.open_connection("169.254.169.254", 80)

    with pytest.raises(NetworkFenceError):
        asyncio.run(connect())
    refusals = network_fence.take()
    assert refusals and all("connect to 169.254.169.254:80" in line for line in refusals)


def test_it_refuses_dns_lookups_of_names_outside(network_fence):
    with pytest.raises(NetworkFenceError, match="look up 'example.com'"):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(socket.gaierror):  # what code expecting an offline machine catches
        socket.gethostbyname("metadata.google.internal")
    assert len(network_fence.take()) == 2


def test_it_answers_names_reserved_for_examples_itself(network_fence):
    with pytest.raises(socket.gaierror) as answer:
        socket.getaddrinfo("models.example", 443)
    assert not isinstance(answer.value, NetworkFenceError)  # what a DNS server would say
    assert network_fence.take() == []


def test_it_lets_loopback_and_unix_sockets_connect(listener, tmp_path):
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection((host, listener.getsockname()[1]), timeout=5):
            listener.accept()[0].close()
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)


def test_it_fences_the_processes_tests_start(network_fence):
    code = "import socket; socket.create_connection(('10.0.0.1', 80), timeout=5)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "NetworkFenceError: test tried to connect to 10.0.0.1:80" in result.stderr
    [refusal] = network_fence.take()
    assert refusal.startswith("test tried to connect to 10.0.0.1:80")
