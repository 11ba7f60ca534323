"""Hardware abstraction: the only way the agent reaches the board.

``load("sim")`` gives the simulated board; other names are imported from
``agent.hal.<name>`` and must provide ``open_board(**options)``.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import Board, Identity, NicCounters, NicInfo, Watchdog

log = logging.getLogger(__name__)

BOARDS = ("sim", "linux")


def load(name: str, *, on_reboot: Callable[[], None] | None = None, **options: Any) -> Board:
    """The board ``name``. ``on_reboot``: what the simulated board's reboot
    does (a real board reboots itself, and a vendor's ``open_board`` is not
    given it)."""
    if name == "sim":
        from .sim import SimBoard

        return SimBoard(options.get("state_dir"), on_reboot=on_reboot)
    if name not in BOARDS:
        raise ValueError(f"unknown board {name!r} (known: {', '.join(BOARDS)})")
    module = importlib.import_module(f"{__name__}.{name}")
    board: Board = module.open_board(**options)
    return board


def identity(board: Board, provisioned: Path) -> Identity:
    """The board's identity, overridden by what factory provisioning wrote
    to ``provisioned`` (settings' ``identity_file``)."""
    ident = board.identity()
    try:
        written = json.loads(provisioned.read_text())
    except FileNotFoundError:
        return ident
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", provisioned, exc)
        return ident
    return ident._replace(**{k: v for k, v in written.items() if k in Identity._fields and v})


__all__ = ["Board", "Identity", "NicCounters", "NicInfo", "Watchdog", "identity", "load", "BOARDS"]
