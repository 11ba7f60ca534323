"""What a configuration change means for a live call-home connection.

Pure: compares two configurations of the endpoint a client is connected
through and says what must be re-dialled and why, and what can be retuned
on the connection as it is. Kernel keepalives (setsockopt on the connected
socket), SSH keepalives and everything outside the endpoint (reconnect
strategy, the other endpoints) need no new connection; the address, port,
local binding, transport and credentials do, since they are fixed when the
connection is made.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from .config import ClientConfig, EndpointConfig


class SshKeepalives(NamedTuple):
    max_wait: int  # seconds; 0 = off
    max_attempts: int


class Retune(NamedTuple):
    """A change applied in place. ``tcp``/``ssh`` say which layers changed."""

    tcp: bool = False
    ssh: bool = False


def ssh_keepalives(ep: EndpointConfig) -> SshKeepalives:
    """The endpoint's ssh-server-parameters/keepalives (module defaults)."""
    ka = _server_params(ep).get("ssh-server-parameters", {}).get("keepalives")
    if ka is None:
        return SshKeepalives(0, 3)
    return SshKeepalives(int(ka.get("max-wait", 30)), int(ka.get("max-attempts", 3)))


def _server_params(ep: EndpointConfig) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(ep.server_params)
    return params


def _credentials(ep: EndpointConfig) -> dict[str, Any]:
    """The server parameters without the SSH keepalives: host keys,
    certificates, users, trust anchors, algorithms — what authenticates."""
    params = _server_params(ep)
    ssh = params.get("ssh-server-parameters")
    if isinstance(ssh, dict):
        ssh.pop("keepalives", None)
    return params


def redial_reasons(old: ClientConfig, new: ClientConfig, endpoint: str) -> list[str]:
    """Why the connection through ``endpoint`` cannot survive going from
    ``old`` to ``new``; empty when it can."""
    if new.connection_type != old.connection_type:
        return ["connection-type changed"]
    if (old.period, old.anchor_time, old.idle_timeout) != (new.period, new.anchor_time, new.idle_timeout):
        # the periodic schedule is anchored when the client task starts
        return ["periodic schedule changed"]
    before = {e.name: e for e in old.endpoints}.get(endpoint)
    after = {e.name: e for e in new.endpoints}.get(endpoint)
    if before is None or after is None:
        return [f"endpoint {endpoint} removed"]
    reasons = []
    if before.transport != after.transport:
        reasons.append(f"transport {before.transport} -> {after.transport}")
    if (before.remote_address, before.remote_port) != (after.remote_address, after.remote_port):
        reasons.append(f"remote {before.remote_address}:{before.remote_port} -> {after.remote_address}:{after.remote_port}")
    if (before.local_address, before.local_port) != (after.local_address, after.local_port):
        reasons.append("local binding changed")
    if before.transport == after.transport and _credentials(before) != _credentials(after):
        reasons.append(f"{after.transport} credentials or algorithms changed")
    return reasons


def retune(old: ClientConfig, new: ClientConfig, endpoint: str) -> Retune:
    """What to change in place on the connection through ``endpoint``
    (only meaningful when :func:`redial_reasons` is empty)."""
    before = {e.name: e for e in old.endpoints}[endpoint]
    after = {e.name: e for e in new.endpoints}[endpoint]
    return Retune(
        tcp=before.keepalives != after.keepalives,
        ssh=after.transport == "ssh" and ssh_keepalives(before) != ssh_keepalives(after),
    )
