"""Hardware abstraction: the only way the agent reaches the board.

``load("sim")`` gives the simulated board; other names are imported from
``agent.hal.<name>`` and must provide ``open_board(**options)``.
"""

from __future__ import annotations

import importlib

from .base import Board, Identity, NicCounters, NicInfo, Watchdog

BOARDS = ("sim", "linux")


def load(name: str, **options) -> Board:
    if name == "sim":
        from .sim import SimBoard

        return SimBoard(options.get("state_dir"))
    if name not in BOARDS:
        raise ValueError(f"unknown board {name!r} (known: {', '.join(BOARDS)})")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.open_board(**options)


__all__ = ["Board", "Identity", "NicCounters", "NicInfo", "Watchdog", "load", "BOARDS"]
