"""Block every network connection except loopback and Unix sockets (the course must run offline).

Installed in the pytest process by the root conftest.py, and in every Jupyter kernel the tests
start (through an IPython startup file), so a notebook that reaches for the network fails loudly.
"""

import ipaddress
import socket

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkBlocked(RuntimeError):
    """Raised when code under test tries to reach the network."""


def is_local(host) -> bool:
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guard(real):
    def guarded(sock, address, *args):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):
            raise NetworkBlocked(f"the course must run offline; blocked a connection to {address}")
        return real(sock, address, *args)

    guarded._gm_guard = True
    return guarded


def _guard_lookup(real):
    def guarded(host, *args, **kwargs):
        if host is not None and not is_local(host if isinstance(host, str) else host.decode()):
            raise NetworkBlocked(f"the course must run offline; blocked a name lookup of {host!r}")
        return real(host, *args, **kwargs)

    guarded._gm_guard = True
    return guarded


def install() -> None:
    """Patch ``socket`` in this process (idempotent)."""
    if getattr(socket.socket.connect, "_gm_guard", False):
        return
    socket.socket.connect = _guard(socket.socket.connect)
    socket.socket.connect_ex = _guard(socket.socket.connect_ex)
    socket.getaddrinfo = _guard_lookup(socket.getaddrinfo)
