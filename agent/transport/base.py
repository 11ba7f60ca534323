"""The contract call home relies on (agent.callhome.manager): what a
transport module offers, and what its ``serve`` returns. SSH
(:mod:`agent.transport.ssh`) and TLS (:mod:`agent.transport.tls`) implement it."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..server import NetconfServer
from ..settings import LOGIN_TIMEOUT
from .stream import Activity


@runtime_checkable
class Connection(Protocol):
    """An authenticated call-home connection, held until it ends."""

    def close(self) -> None:
        """End it now (a settings change, an idle timeout, the agent stopping)."""

    async def wait_closed(self) -> None:
        """Until the connection has ended, for whatever reason."""


class Transport(Protocol):
    """A transport module (``ietf-netconf-server`` transport case)."""

    def params_from_config(self, params: dict[str, Any], keys_dir: Path) -> object:
        """The endpoint's transport container (RFC 7951 JSON) resolved to
        server parameters; raises KeyMaterialError on unusable keys. Called
        on every attempt, so a key provisioned later takes effect."""

    async def serve(self, sock: socket.socket, server: NetconfServer, params: Any, *, tcp_keepalive: bool,
                    login_timeout: float = LOGIN_TIMEOUT, activity: Activity | None = None) -> Connection:
        """The server side on a connected socket; returns once the manager is
        authenticated, raises (and closes ``sock``) when it is not within
        ``login_timeout`` (RFC 8071 S5)."""
