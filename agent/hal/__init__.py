"""Hardware abstraction: the only way the agent reaches the board.

``load("sim")`` gives the simulated board; other names are imported from
``agent.hal.<name>`` and must provide ``open_board(**options)``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import Board, Identity, NicCounters, NicInfo, Watchdog

BOARDS = ("sim", "linux")


def load(name: str, **options: Any) -> Board:
    if name == "sim":
        from .sim import SimBoard

        return SimBoard(options.get("state_dir"))
    if name not in BOARDS:
        raise ValueError(f"unknown board {name!r} (known: {', '.join(BOARDS)})")
    module = importlib.import_module(f"{__name__}.{name}")
    board: Board = module.open_board(**options)
    return board


__all__ = ["Board", "Identity", "NicCounters", "NicInfo", "Watchdog", "load", "BOARDS"]
