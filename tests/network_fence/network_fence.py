"""The network fence: tests never leave this machine.

Once installed, a connect to anything but the loopback interface, a unix socket or a host
named in NETWORK_FENCE_ALLOW raises NetworkFenceError before the real connect is called, so
not one packet goes out; looking up a name that would need a DNS server fails the same way.
Each refusal is also remembered (and appended to the file named by NETWORK_FENCE_LOG, for
refusals in other processes), so a test fails even if the code under test swallowed the error.

Standard library only: processes the tests start import it through `sitecustomize.py` (this
folder goes first on their PYTHONPATH), model processes in their own environments included.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

ALLOW_ENV = "NETWORK_FENCE_ALLOW"
LOG_ENV = "NETWORK_FENCE_LOG"
LOCAL_NAMES = {"localhost", "localhost.", "ip6-localhost", "ip6-loopback"}
NEVER_EXIST = {"example", "invalid", "test"}  # top-level domains

refused: list[str] = []  # what this process was refused, in order
_allowed_hosts: set[str] = set()
_real: dict[str, object] = {}


class NetworkFenceError(ConnectionRefusedError):
    """A test tried to reach beyond this machine."""


class NetworkFenceLookupError(NetworkFenceError, socket.gaierror):
    """A test tried to look up a name that only a DNS server could answer."""


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a literal host stands for, in any spelling the C library reads without a
    DNS query (also the old ones: 127.1, 0x7f000001, 2130706433); None for a name."""
    host = host.split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefABCDEFxX." for c in host):
        try:
            return ipaddress.ip_address(socket.inet_ntoa(socket.inet_aton(host)))
        except OSError:
            pass
    return None


def is_local_address(host: str) -> bool:
    address = _address(host)
    if address is None:
        return False
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    # 0.0.0.0 and :: reach this machine's own interfaces.
    return address.is_loopback or address.is_unspecified


def _is_literal(host: str) -> bool:
    return _address(host) is not None


def _hosts_file_names() -> set[str]:
    """Names /etc/hosts answers (looked up without a DNS server; connects are still checked)."""
    names = set()
    try:
        with open("/etc/hosts") as hosts:
            for line in hosts:
                fields = line.split("#", 1)[0].split()
                names.update(name.lower().rstrip(".") for name in fields[1:])
    except OSError:
        pass
    return names


def _refuse(what: str, error: type[NetworkFenceError] = NetworkFenceError) -> None:
    message = f"test tried to {what}"
    refused.append(message)
    if path := os.environ.get(LOG_ENV):
        try:
            with open(path, "a") as log:
                log.write(f"{message} (pid {os.getpid()}: {' '.join(sys.orig_argv)[:200]})\n")
        except OSError:
            pass
    raise error(message)


def _host_of(host) -> str:
    return host.decode() if isinstance(host, bytes) else str(host)


def _check_name(host) -> None:
    """Refuse a name that needs DNS to resolve."""
    if host is None:
        return
    name = _host_of(host).lower().rstrip(".")
    if name.rsplit(".", 1)[-1] in NEVER_EXIST:
        # Reserved for examples (RFC 2606): a DNS server would only say "no such name", so
        # say it here, without asking one.
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if (
        _is_literal(name)
        or name in LOCAL_NAMES
        or name.endswith(".localhost")
        or name in _allowed_hosts
        or name == ""
    ):
        return
    _refuse(f"look up {name!r} (a DNS query)", NetworkFenceLookupError)


def _check_address(sock: socket.socket, address) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # unix sockets, netlink, ...: never leave the machine
    host, port = _host_of(address[0]), address[1]
    if _is_literal(host):
        if is_local_address(host) or host in _allowed_hosts:
            return
        _refuse(f"connect to {host}:{port}")
    _check_name(host)  # connect() resolves a name itself


def _connect(self, address):
    _check_address(self, address)
    return _real["connect"](self, address)


def _connect_ex(self, address):
    _check_address(self, address)
    return _real["connect_ex"](self, address)


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    if not flags & socket.AI_NUMERICHOST:
        _check_name(host)
    infos = _real["getaddrinfo"](host, port, family, type, proto, flags)
    if host is not None and _host_of(host).lower().rstrip(".") in _allowed_hosts:
        # An allowed name (the package index) may answer other addresses each time.
        _allowed_hosts.update(info[4][0] for info in infos)
    return infos


def _gethostbyname(host):
    _check_name(host)
    return _real["gethostbyname"](host)


def _gethostbyname_ex(host):
    _check_name(host)
    return _real["gethostbyname_ex"](host)


def install(allow: list[str] = ()) -> None:
    """Fence this process. `allow`: host names and addresses that may still be reached
    (the database and Redis servers the suite was pointed at)."""
    _allowed_hosts.update(_hosts_file_names())
    for host in allow:
        _allowed_hosts.add(host.lower().rstrip("."))
        if not _is_literal(host):
            try:  # their addresses, looked up once before the fence goes up
                for *_rest, sockaddr in socket.getaddrinfo(host, None):
                    _allowed_hosts.add(sockaddr[0])
            except OSError:
                pass
    if _real:
        return
    _real.update(
        connect=socket.socket.connect,
        connect_ex=socket.socket.connect_ex,
        getaddrinfo=socket.getaddrinfo,
        gethostbyname=socket.gethostbyname,
        gethostbyname_ex=socket.gethostbyname_ex,
    )
    # socket.create_connection and asyncio (sock_connect, create_connection, open_connection)
    # resolve through socket.getaddrinfo and connect through these methods.
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.getaddrinfo = _getaddrinfo
    socket.gethostbyname = _gethostbyname
    socket.gethostbyname_ex = _gethostbyname_ex


def uninstall() -> None:
    if not _real:
        return
    socket.socket.connect = _real["connect"]
    socket.socket.connect_ex = _real["connect_ex"]
    socket.getaddrinfo = _real["getaddrinfo"]
    socket.gethostbyname = _real["gethostbyname"]
    socket.gethostbyname_ex = _real["gethostbyname_ex"]
    _real.clear()


def _is_pip(arg: str) -> bool:
    name = os.path.basename(arg)
    return f"{os.sep}pip{os.sep}" in arg or name in ("pip", "pip3", f"pip3.{sys.version_info[1]}")


def install_from_environment() -> None:
    """In a process the tests started. Package installers are left alone: they fill caches
    (model environments) from the package index the first time."""
    argv = getattr(sys, "orig_argv", sys.argv)
    if "pip" in argv or any(_is_pip(arg) for arg in argv[:2]):
        return  # python -m pip, and pip's own helpers (build isolation)
    install([host for host in os.environ.get(ALLOW_ENV, "").split(",") if host])
