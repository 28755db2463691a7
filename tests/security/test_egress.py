"""The sandbox's one way out: the egress proxy's decisions. Refusals are decided before any
connection is made (the suite's network fence would fail the test otherwise)."""

from __future__ import annotations

import socket
import threading

import pytest

from apps.runtime import egress


def ask(proxy: egress.EgressProxy, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(str(proxy.socket_path))
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.startswith(b"HTTP/1.1 200"):
                break
        return answer


@pytest.fixture
def model_proxy(settings):
    settings.OUTBOUND_ALLOWLIST = []  # production: loopback is not reachable either
    proxy = egress.EgressProxy(egress.guarded, name="test-model")
    yield proxy
    proxy.close()


@pytest.mark.parametrize(
    "target",
    [
        b"CONNECT 127.0.0.1:6379 HTTP/1.1",
        b"CONNECT 10.0.0.1:443 HTTP/1.1",
        b"CONNECT 169.254.169.254:80 HTTP/1.1",
        b"CONNECT [::ffff:127.0.0.1]:5432 HTTP/1.1",
        b"CONNECT 2130706433:8000 HTTP/1.1",
        b"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1",
        b"GET http://[::1]:8000/admin/ HTTP/1.1",
    ],
)
def test_it_refuses_a_model_the_platform_and_the_private_network(model_proxy, target):
    answer = ask(model_proxy, target + b"\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403"), answer
    assert b"Refused by the sandbox" in answer


def test_it_refuses_requests_it_does_not_speak(model_proxy):
    answer = ask(model_proxy, b"GET ftp://example.com/ HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403"), answer


def test_it_carries_an_allowed_connection_both_ways(settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.0/8"]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def echo():
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"upper:" + conn.recv(100).upper())

    threading.Thread(target=echo, daemon=True).start()
    port = server.getsockname()[1]
    proxy = egress.EgressProxy(egress.guarded, name="test-allow")
    with proxy, socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(str(proxy.socket_path))
        conn.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        assert conn.recv(100).startswith(b"HTTP/1.1 200")
        conn.sendall(b"weights")
        assert conn.recv(100) == b"upper:WEIGHTS"
    server.close()


def test_pip_reaches_the_package_index_and_nothing_else():
    rule = egress.package_index({"pypi.org", "files.pythonhosted.org"})
    with egress.EgressProxy(rule, name="test-pip") as proxy:
        for target in (b"evil.example:443", b"127.0.0.1:6379", b"pypi.org.evil.example:443"):
            answer = ask(proxy, b"CONNECT " + target + b" HTTP/1.1\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 403"), answer
            assert b"not the installation's package index" in answer
