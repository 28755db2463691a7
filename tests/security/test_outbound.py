"""The outbound guard: URLs that users give us (file inputs, webhooks, cover images) must not
make the platform reach inside its own network, however the address is spelled, and also not
by way of a redirect.

Production has no OUTBOUND_ALLOWLIST (development allows loopback): `settings` sets it empty.
The private target is a real HTTP server on the loopback interface that counts its requests:
a refusal must happen before anything is sent.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

from apps.core.links import public_base
from apps.core.outbound import OutboundRefused, check_url, client
from apps.files.services import own_file
from apps.predictions.webhooks import DeliveryFailed, webhook_post
from apps.runtime.inputs import InputFileError, fetch

PRIVATE_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.2:8080/",
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.0.1/",
    "http://192.168.255.254/",
    "http://[fc00::1]/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible IPv6
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/",  # ... in hexadecimal
    "http://0177.0.0.1/",  # ... with an octal first part
    "http://0x7f.1/",
    "http://127.1/",
    "http://0/",
    "http://2852039166/",  # 169.254.169.254
    "http://user:pass@127.0.0.1/",
    "https://127.0.0.1:443/",
]


@pytest.fixture
def production(settings):
    settings.OUTBOUND_ALLOWLIST = []
    return settings


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_check_url_refuses_internal_addresses_however_spelled(production, url):
    with pytest.raises(OutboundRefused):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1/", "http:///nohost", "//x"],
)
def test_check_url_refuses_other_schemes_and_hostless_urls(production, url):
    with pytest.raises(OutboundRefused):
        check_url(url)


def test_check_url_lets_public_addresses_through(production):
    check_url("https://93.184.215.14/")  # a literal: nothing to resolve offline
    check_url("http://[2606:4700:4700::1111]/")


def spellings_of(server_url: str) -> list[str]:
    """The local server's address, spelled in every way we know of."""
    port = urlsplit(server_url).port
    return [
        f"http://127.0.0.1:{port}/secret",
        f"http://localhost:{port}/secret",
        f"http://[::ffff:127.0.0.1]:{port}/secret",
        f"http://2130706433:{port}/secret",
        f"http://0x7f000001:{port}/secret",
        f"http://0177.0.0.1:{port}/secret",
        f"http://127.1:{port}/secret",
        f"http://0:{port}/secret",  # 0.0.0.0 reaches the loopback interface on Linux
        f"http://127.0.0.1.:{port}/secret",
        f"http://user@127.0.0.1:{port}/secret",
        f"http://8.8.8.8\\@127.0.0.1:{port}/secret",  # parser confusion: which host is it?
        f"http://127.0.0.1:{port}#@8.8.8.8/secret",
        f"http://127.0.0.1:{port}?@8.8.8.8/secret",
    ]


def _fetch(url: str, tmp_path):
    return fetch(url, tmp_path / "inputs", max_bytes=1 << 20, timeout=5, own_file=own_file)


@pytest.mark.django_db
def test_file_inputs_never_reach_an_internal_server(production, local_server, tmp_path):
    for url in spellings_of(local_server.url):
        with pytest.raises(InputFileError):
            _fetch(url, tmp_path)
    assert local_server.requests == []


def test_webhooks_never_reach_an_internal_server(production, local_server):
    for url in spellings_of(local_server.url):
        with pytest.raises(DeliveryFailed) as failed:
            webhook_post(url, secret="whsec_" + "A" * 32, webhook_id="msg_1", body=b"{}")
        assert not failed.value.retryable, url
    assert local_server.requests == []


def redirect_to(target: str):
    def respond(handler):
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://10.0.0.1/",
        "http://{inner}/secret",
        "http://2130706434:{port}/secret",  # 127.0.0.2 in decimal
    ],
)
def test_a_redirect_into_the_network_is_refused(settings, local_server, tmp_path, target):
    """The first server is allowed (loopback); the one it redirects to is not."""
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]
    inner_port = urlsplit(local_server.url).port
    local_server.respond = redirect_to(
        target.format(inner=f"127.0.0.2:{inner_port}", port=inner_port)
    )
    with pytest.raises(InputFileError) as refused:
        _fetch(local_server.url + "/start", tmp_path)
    assert "cannot be fetched" in str(refused.value)
    # Only the first hop reached a server (127.0.0.2 is the same server, on another address).
    assert local_server.requests == [("GET", "/start")]


def test_webhooks_do_not_follow_redirects(settings, local_server):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]
    local_server.respond = redirect_to("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(DeliveryFailed) as failed:
        webhook_post(
            local_server.url + "/hook", secret="whsec_" + "A" * 32, webhook_id="m", body=b"{}"
        )
    assert "redirects are not followed" in str(failed.value)
    assert local_server.requests == [("POST", "/hook")]


def test_cover_image_urls_never_reach_an_internal_server(production, world, local_server):
    """`cover_image_url` is fetched by the web process itself, while the API request waits."""
    for url in spellings_of(local_server.url)[:4]:
        response = world_client_post(
            world,
            "/v1/models",
            {
                "owner": "acme",
                "name": "covered",
                "visibility": "private",
                "hardware": "cpu",
                "cover_image_url": url,
            },
        )
        assert response.status_code == 422, response.content
    assert local_server.requests == []


def world_client_post(world, path: str, body: dict):
    from django.test import Client

    return Client().post(
        path,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.cast.acme_token}",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["", "./", "%2e/", "/", "predictions/../"])
def test_own_media_urls_never_hand_out_version_archives(world, prefix, tmp_path):
    """A file input naming one of our media URLs is read from storage, not fetched: it must
    not reach a private model's archive, however the path is spelled."""
    url = f"{public_base()}/media/{prefix}{world.private_version.artifact.name}"
    assert own_file(url) is None


@pytest.fixture
def rebinding_dns(monkeypatch):
    """A name whose DNS answers change between lookups (the outside world, faked): a public
    address first, the loopback interface afterwards, as a rebinding attacker's server does."""
    real = socket.getaddrinfo
    answers = {"lookups": 0}

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        answers["lookups"] += 1
        address = "93.184.215.14" if answers["lookups"] == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.django_db
def test_a_name_that_rebinds_to_an_internal_address_is_refused_for_file_inputs(
    production, local_server, rebinding_dns, tmp_path
):
    port = urlsplit(local_server.url).port
    with pytest.raises(InputFileError) as refused:
        _fetch(f"http://rebind.example:{port}/secret", tmp_path)
    assert "127.0.0.1" in str(refused.value)
    assert rebinding_dns["lookups"] == 2  # the check, then the connection's own lookup
    assert local_server.requests == []


def test_a_name_that_rebinds_to_an_internal_address_is_refused_for_webhooks(
    production, local_server, rebinding_dns
):
    port = urlsplit(local_server.url).port
    with pytest.raises(DeliveryFailed) as failed:
        webhook_post(
            f"http://rebind.example:{port}/hook",
            secret="whsec_" + "A" * 32,
            webhook_id="msg_1",
            body=b"{}",
        )
    assert not failed.value.retryable
    assert "inside the network" in str(failed.value)
    assert local_server.requests == []


def test_the_guarded_client_still_reaches_allowed_addresses(settings, local_server):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]
    with client() as http:
        response = http.get(local_server.url + "/allowed")
    assert response.status_code == 200 and response.text == "hello"
    assert local_server.requests == [("GET", "/allowed")]
