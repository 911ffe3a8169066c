"""Whether ``shuangsui serve`` can listen where it is told, seen before it starts anything."""

from __future__ import annotations

import errno
import socket

from shuangsui.errors import UserError


def check_address(host: str, port: int) -> None:
    """Bind ``host``:``port`` as uvicorn will (an address with a colon is IPv6, the address
    reused), then let it go; a :class:`UserError` in one line naming the address when it
    cannot be bound: in use by another process, not an address of this machine, a name that
    does not resolve. Seen first, before the database is migrated and the app started, so a
    second ``serve`` on one port stops at once, having touched nothing."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except socket.gaierror as exc:
            raise UserError(f"serve: --host {host}: {exc.strerror}") from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"serve: {shown} is already in use") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise UserError(
                    f"serve: --host {host}: not an address of this machine ({exc.strerror})"
                ) from None
            raise UserError(f"serve: {shown}: {exc.strerror or exc}") from None
