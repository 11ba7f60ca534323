"""Operational data served by <get>: the board's interfaces and identity
(ietf-interfaces, ietf-hardware), the agent's own state (dpu-agent) and the
server's (ietf-netconf-monitoring), as RFC 7951 JSON. Each function is
given the component that owns what it reports, never the whole agent.

Built fresh on each <get>: the kernel and the HAL hold the truth, and a
<get> is rare next to the idle hours of a DPU.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import __version__
from .hal.base import Identity
from .timestamps import when

if TYPE_CHECKING:
    from .callhome.manager import ClientState
    from .hal.base import Board, Nics
    from .server import NetconfServer


@dataclasses.dataclass(frozen=True)
class StartupReport:
    """Where start-up found the configuration (dpu-agent:agent-state)."""

    #: "current", "previous", "factory", "initial-file" or "empty"
    loaded_from: str = "empty"
    store_problem: str | None = None
    #: why the previous slot is unusable while the current one is fine
    previous_problem: str | None = None
    #: what start-up repaired in the state directory
    repaired: tuple[str, ...] = ()


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def interfaces(nics: Nics, started_at: datetime.datetime) -> dict[str, Any]:
    started = when(started_at.timestamp())
    out = []
    for nic in nics.list():
        c = nic.counters
        out.append(
            _drop_none(
                {
                    "name": nic.name,
                    "type": "iana-if-type:ethernetCsmacd",
                    "oper-status": "up" if nic.oper_up else "down",
                    "phys-address": nic.mac or None,
                    "speed": str(nic.speed) if nic.speed else None,
                    "statistics": {
                        # counters restart with the agent's view of them
                        "discontinuity-time": started,
                        "in-octets": str(c.rx_bytes),
                        "out-octets": str(c.tx_bytes),
                        "in-unicast-pkts": str(c.rx_packets),
                        "out-unicast-pkts": str(c.tx_packets),
                        "in-errors": c.rx_errors,
                        "out-errors": c.tx_errors,
                        "in-discards": c.rx_dropped,
                        "out-discards": c.tx_dropped,
                    },
                }
            )
        )
    return {"ietf-interfaces:interfaces": {"interface": out}} if out else {}


def hardware(identity: Identity) -> dict[str, Any]:
    chassis = _drop_none(
        {
            "name": "chassis",
            "class": "iana-hardware:chassis",
            "serial-num": identity.serial_number,
            "model-name": identity.model,
            "firmware-rev": identity.firmware_version,
            "mfg-name": identity.manufacturer,
        }
    )
    return {"ietf-hardware:hardware": {"component": [chassis]}}


def agent_state(
    board: Board, started: datetime.datetime, callhome: Iterable[ClientState], startup: StartupReport
) -> dict[str, Any]:
    wd = board.watchdog
    if wd is None or board.name == "sim":
        reset = "unknown"
    else:
        reset = "watchdog" if wd.last_reset_by_watchdog else "power-on"
    clients = []
    for st in callhome:
        clients.append(
            _drop_none(
                {
                    "name": st.name,
                    "status": st.status,
                    "connected-endpoint": st.connected_endpoint,
                    "connected-since": when(st.connected_since),
                    "interface": st.interface,
                    "last-error": st.last_error,
                    "key-problem": st.key_problem,
                    "endpoints-exhausted-since": when(st.exhausted_since),
                    "next-attempt": when(st.next_attempt),
                    "connections": st.connections,
                }
            )
        )
    return {
        "dpu-agent:agent-state": _drop_none(
            {
                "software-version": __version__,
                "started": when(started.timestamp()),
                "last-reset-reason": reset,
                "call-home": {"netconf-client": clients} if clients else None,
                "config-store": _drop_none({"loaded-from": startup.loaded_from, "problem": startup.store_problem,
                                            "previous-problem": startup.previous_problem,
                                            "repaired": list(startup.repaired) or None}),
            }
        )
    }


def monitoring(server: NetconfServer) -> dict[str, Any]:
    """ietf-netconf-monitoring (RFC 6022), the NETCONF stream (RFC 5277) and
    the NACM counters (RFC 8341) of ``server``."""
    ds = server.datastore
    datastores = []
    for name in ("running", "candidate", "startup"):
        entry: dict[str, Any] = {"name": name}
        if name in ds.locks:
            entry["locks"] = {"global-lock": {"locked-by-session": ds.locks[name], "locked-time": when(ds.lock_times[name])}}
        datastores.append(entry)
    schemas = [
        {
            "identifier": m["name"],
            "version": m["revision"] or "",
            "format": "ietf-netconf-monitoring:yang",
            "namespace": m["namespace"],
            "location": ["NETCONF"],
        }
        for m in server.schema.implemented_modules()
        if m["name"] != "yang"
    ]
    sessions = []
    totals = dict(server.ended_stats)
    for s in server.sessions.values():
        sessions.append(
            _drop_none(
                {
                    "session-id": s.id,
                    "transport": "ietf-netconf-monitoring:" + s.transport,
                    "username": s.username,
                    "source-host": s.source_host,
                    "login-time": when(s.login_time),
                    "in-rpcs": s.in_rpcs,
                    "in-bad-rpcs": s.in_bad_rpcs,
                    "out-rpc-errors": s.out_rpc_errors,
                    "out-notifications": s.out_notifications,
                }
            )
        )
        totals["in-rpcs"] += s.in_rpcs
        totals["in-bad-rpcs"] += s.in_bad_rpcs
        totals["out-rpc-errors"] += s.out_rpc_errors
        totals["out-notifications"] += s.out_notifications
    nacm = server.nacm
    return {
        "ietf-netconf-monitoring:netconf-state": {
            "capabilities": {"capability": server.capabilities},
            "datastores": {"datastore": datastores},
            "schemas": {"schema": schemas},
            "sessions": {"session": sessions} if sessions else {},
            "statistics": {
                "netconf-start-time": when(server.started),
                "in-bad-hellos": server.in_bad_hellos,
                "in-sessions": server.in_sessions,
                "dropped-sessions": server.dropped_sessions,
                **totals,
            },
        },
        "nc-notifications:netconf": {"streams": {"stream": [_drop_none({
            "name": "NETCONF",
            "description": "default NETCONF event stream",
            "replaySupport": True,
            "replayLogCreationTime": server.notifications.log.created,
            "replayLogAgedTime": server.notifications.log.aged,
        })]}},
        "ietf-netconf-acm:nacm": {
            "denied-operations": nacm.denied_rpcs,
            "denied-data-writes": nacm.denied_writes,
            "denied-notifications": nacm.denied_notifications,
        },
    }
