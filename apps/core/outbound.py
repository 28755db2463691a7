"""The guard on requests the platform makes on behalf of users (file inputs, webhooks).

Addresses inside the network (private, loopback, link-local, multicast, reserved) are refused
unless OUTBOUND_ALLOWLIST names them, so a URL cannot make the platform read internal services
or cloud metadata endpoints. Redirects are followed by hand, each hop checked again.

`check_url` answers early with a clear reason; `client()` makes the connections themselves go
only to addresses the guard approved as it connects, so a name that answers a public address
to the check and an internal one to the connection (DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from socket import inet_aton
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings


class OutboundRefused(ValueError):
    pass


def _allowed(address: ipaddress._BaseAddress) -> bool:
    return any(
        address in ipaddress.ip_network(net, strict=False) for net in settings.OUTBOUND_ALLOWLIST
    )


# IPv6 prefixes that carry an IPv4 address in their last 32 bits, which some networks reach.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress._BaseAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv6 one (mapped, compatible, NAT64, 6to4, Teredo)."""
    if address.version != 6:
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in NAT64 or address in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _public(address: ipaddress._BaseAddress) -> bool:
    """Global unicast, also for the IPv4 address an IPv6 address may carry."""
    if not address.is_global or address.is_multicast:
        return False
    embedded = _embedded_ipv4(address)
    return embedded is None or _public(embedded)


def check_url(
    url: str, *, schemes: tuple[str, ...] = ("https", "http"), resolve: bool = True
) -> None:
    """Raise OutboundRefused unless every address the URL's host resolves to may be reached.
    With resolve=False, a host name is not looked up (only literal addresses are judged)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:  # "Invalid IPv6 URL", "Port out of range 0-65535"
        raise OutboundRefused(f"it is not a valid URL ({error})") from None
    if parts.scheme not in schemes:
        raise OutboundRefused(f"only {'/'.join(schemes)} URLs are allowed, not {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise OutboundRefused("the URL has no host")
    if resolve or _literal(host) is not None:
        allowed_addresses(host, port or (443 if parts.scheme == "https" else 80))
    else:
        _check_host_name(host)


HOST_NAME_FORBIDDEN = re.compile(r"[\x00-\x20\x7f:+%\[\]\\@/?#]")


def _literal(host: str) -> ipaddress._BaseAddress | None:
    """The address a numeric host spells, in any spelling the C library accepts (decimal,
    octal, hex, short forms, IPv6 with a zone), without asking DNS; None for names."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(inet_aton(host))
    except (OSError, ValueError):
        return None


def _check_host_name(host: str) -> None:
    labels = host.rstrip(".").split(".")
    if (
        HOST_NAME_FORBIDDEN.search(host)
        or len(host) > 253
        or any(not label or len(label.encode()) > 63 for label in labels)
    ):
        raise OutboundRefused(f"{host[:80]!r} is not a valid host name")


def allowed_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, if every one of them may be reached."""
    literal = _literal(host)
    if literal is not None:
        if not (_public(literal) or _allowed(literal)):
            raise OutboundRefused(
                f"{host} is {literal}, an address inside the network, which is not allowed"
            )
        return [str(literal)]
    _check_host_name(host)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(f"the host {host!r} does not resolve") from None
    addresses = []
    for info in infos:
        text = info[4][0].split("%", 1)[0]
        address = ipaddress.ip_address(text)
        if not (_public(address) or _allowed(address)):
            raise OutboundRefused(
                f"{host} resolves to {address}, an address inside the network, which is not allowed"
            )
        addresses.append(text)
    return list(dict.fromkeys(addresses))


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves the host itself as it connects and connects to an approved address only (TLS
    still checks the certificate against the host name)."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        failure: Exception | None = None
        for address in allowed_addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the host's next address
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} has no address")


def client(**options) -> httpx.Client:
    """An httpx client for URLs users gave us: no redirects followed, no proxy settings from
    the environment, every connection through the guard (raises OutboundRefused)."""
    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(  # the pool httpx makes, with our backend
        ssl_context=httpx.create_ssl_context(), network_backend=_GuardedBackend()
    )
    return httpx.Client(transport=transport, follow_redirects=False, trust_env=False, **options)
