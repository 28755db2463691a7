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
        if address.is_global or _allowed(address):
            continue
        raise OutboundRefused(
            f"{host} resolves to {address}, an address inside the network, which is not allowed"
        )
