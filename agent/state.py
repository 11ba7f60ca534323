"""Operational data served by <get> that no single component owns, as RFC
7951 JSON: the board's interfaces and identity (ietf-interfaces,
ietf-hardware) and the agent's own state (dpu-agent). Each function formats
values it is given (the board's public members, the call-home manager's
:meth:`~agent.callhome.manager.CallHomeManager.state`); the server serves its
own monitoring data (:meth:`~agent.server.NetconfServer.monitoring`).

Built fresh on each <get>: the kernel and the HAL hold the truth, and a
<get> is rare next to the idle hours of a DPU.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from . import __version__
from .hal.base import Identity
from .timestamps import when

if TYPE_CHECKING:
    from .hal.base import Board, Nics


class StartupReport(NamedTuple):
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
    board: Board, started: datetime.datetime, callhome: dict[str, Any] | None, startup: StartupReport
) -> dict[str, Any]:
    """dpu-agent:agent-state; ``callhome``: the call-home manager's own
    :meth:`~agent.callhome.manager.CallHomeManager.state`."""
    wd = board.watchdog
    if wd is None or board.name == "sim":
        reset = "unknown"
    else:
        reset = "watchdog" if wd.last_reset_by_watchdog else "power-on"
    return {
        "dpu-agent:agent-state": _drop_none(
            {
                "software-version": __version__,
                "started": when(started.timestamp()),
                "last-reset-reason": reset,
                "call-home": callhome,
                "config-store": _drop_none({"loaded-from": startup.loaded_from, "problem": startup.store_problem,
                                            "previous-problem": startup.previous_problem,
                                            "repaired": list(startup.repaired) or None}),
            }
        )
    }
