"""The guard on requests the platform makes on behalf of users (file inputs, webhooks).

Addresses inside the network (private, loopback, link-local, multicast, reserved) are refused
unless OUTBOUND_ALLOWLIST names them, so a URL cannot make the platform read internal services
or cloud metadata endpoints. Redirects are followed by hand, each hop checked again.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

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


def check_url(url: str, *, schemes: tuple[str, ...] = ("https", "http")) -> None:
    """Raise OutboundRefused unless every address the URL's host resolves to may be reached."""
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise OutboundRefused(f"only {'/'.join(schemes)} URLs are allowed, not {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise OutboundRefused("the URL has no host")
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(f"the host {host!r} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if _public(address) or _allowed(address):
            continue
        raise OutboundRefused(
            f"{host} resolves to {address}, an address inside the network, which is not allowed"
        )
