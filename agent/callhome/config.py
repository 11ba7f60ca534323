"""The call-home subtree of ietf-netconf-server, read into plain values.

Two configurations compare equal exactly when a client's connection would
behave the same, which is how the manager decides what to re-establish.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..transport.tcp import Keepalives
from ..yang import Tree

NCS = "ietf-netconf-server:netconf-server"
_NCS_PREFIX = "/ietf-netconf-server:"


class EndpointConfig(NamedTuple):
    name: str
    transport: str  # "ssh" or "tls"
    remote_address: str
    remote_port: int
    local_address: str | None
    local_port: int
    keepalives: Keepalives | None
    #: the transport's server parameters as canonical JSON (resolved to
    #: key material only when connecting, so a bad key is a connection error)
    server_params: str


class ClientConfig(NamedTuple):
    name: str
    endpoints: tuple[EndpointConfig, ...]
    connection_type: str  # "persistent" or "periodic"
    period: int  # minutes
    anchor_time: str | None
    idle_timeout: int  # seconds, 0 = never
    start_with: str
    max_wait: int  # seconds
    max_attempts: int


#: the call-home subtree last read, and what it gave: most changes of
#: running leave it as it was (NACM, keystore, board settings), and reading
#: it into values costs more than printing it to compare
_last: tuple[str, dict[str, ClientConfig]] | None = None


def affects_clients(changed: Iterable[str]) -> bool:
    """Whether a change of running at these paths (:meth:`Tree.diff`'s)
    touches the call-home configuration :func:`read_clients` reads."""
    return any(p.startswith(_NCS_PREFIX) for p in changed)


def read_clients(tree: Tree) -> dict[str, ClientConfig]:
    global _last
    text = tree.subtree_json(f"/{NCS}", "report-all")
    if _last is None or _last[0] != text:
        data = json.loads(text)
        clients = data.get(NCS, {}).get("call-home", {}).get("netconf-client", [])
        _last = (text, {c["name"]: _client(c) for c in clients})
    return dict(_last[1])  # the values are frozen; the dict is the caller's


def _client(c: dict[str, Any]) -> ClientConfig:
    ct = c.get("connection-type", {})
    periodic = ct.get("periodic")
    rs = c.get("reconnect-strategy", {})
    return ClientConfig(
        name=c["name"],
        endpoints=tuple(_endpoint(e) for e in c.get("endpoints", {}).get("endpoint", [])),
        connection_type="periodic" if periodic is not None else "persistent",
        period=int((periodic or {}).get("period", 60)),
        anchor_time=(periodic or {}).get("anchor-time"),
        idle_timeout=int((periodic or {}).get("idle-timeout", 180)),
        start_with=rs.get("start-with", "first-listed"),
        max_wait=int(rs.get("max-wait", 5)),
        max_attempts=int(rs.get("max-attempts", 3)),
    )


def _endpoint(e: dict[str, Any]) -> EndpointConfig:
    transport = "ssh" if "ssh" in e else "tls"
    t = e[transport]
    tcp = t.get("tcp-client-parameters", {})
    ka = tcp.get("keepalives")
    return EndpointConfig(
        name=e["name"],
        transport=transport,
        remote_address=tcp["remote-address"],
        remote_port=int(tcp.get("remote-port", 4334 if transport == "ssh" else 4335)),
        local_address=tcp.get("local-address"),
        local_port=int(tcp.get("local-port", 0)),
        keepalives=Keepalives(int(ka["idle-time"]), int(ka["max-probes"]), int(ka["probe-interval"]))
        if ka is not None
        else None,
        server_params=json.dumps({k: v for k, v in t.items() if k != "tcp-client-parameters"}, sort_keys=True),
    )
