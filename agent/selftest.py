"""``dpu-agent selftest``: can this image run the agent?

Loads the YANG modules, reads the stored configuration (if any) and opens the
board, then prints one line per check. Changes nothing: the stored file is
only read, and the watchdog is never started (opening the board must not arm
it). Exit status 0 when every check passed, 1 otherwise. Used on the QEMU
boards and meant for a firmware image's own smoke test.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path

from . import __version__, hal, modset
from .datastore.persist import StartupStore
from .settings import Settings

Say = Callable[[str], None]


def run_selftest(
    board_name: str,
    state_dir: Path,
    yang_dirs: tuple[str, ...] | None,
    watchdog_path: str | None = "/dev/watchdog",
    say: Say = print,
) -> int:
    say(f"dpu-agent {__version__} selftest: python {platform.python_version()} on {platform.machine()}")
    results = [_check_yang_and_store(state_dir, yang_dirs, say), _check_board(board_name, watchdog_path, say)]
    ok = all(results)
    say(f"selftest: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def _line(say: Say, ok: bool, what: str, detail: str) -> bool:
    say(f"{'ok  ' if ok else 'FAIL'}  {what}: {detail}")
    return ok


def _check_yang_and_store(state_dir: Path, yang_dirs: tuple[str, ...] | None, say: Say) -> bool:

    try:
        schema = modset.build_schema(Settings(state_dir=state_dir, yang_dirs=yang_dirs))
    except Exception as exc:  # a missing module, a broken binding: report, do not crash
        _line(say, False, "yang", f"{type(exc).__name__}: {exc}")
        return _line(say, False, "configuration", "not checked (no YANG modules)")
    dirs = modset.search_dirs(list(yang_dirs) if yang_dirs else None)
    _line(say, True, "yang", f"{len(schema.implemented_modules())} modules implemented, from {':'.join(dirs)}")

    stored = StartupStore(state_dir, schema)
    try:
        loaded = stored.load()
    except Exception as exc:
        return _line(say, False, "configuration", str(exc))
    if loaded is None:
        return _line(say, True, "configuration", f"none stored in {state_dir}")
    loaded.tree.free()
    if loaded.source == "previous":
        return _line(say, False, "configuration", f"current slot unusable, previous one loads: {loaded.problem}")
    return _line(say, True, "configuration", f"{stored.path} is valid (format {loaded.format})")


def _check_board(name: str, watchdog_path: str | None, say: Say) -> bool:
    try:
        board = hal.load(name, watchdog_path=watchdog_path)
    except Exception as exc:
        return _line(say, False, f"board {name}", f"{type(exc).__name__}: {exc}")
    try:
        nics = board.nics.list()
        ok = _line(
            say,
            bool(nics),
            f"board {board.name}",
            ", ".join(f"{n.name} {'up' if n.oper_up else 'down'} {n.mac}" for n in nics) or "no network interface",
        )
        ident = board.identity()
        _line(say, True, "identity", f"model {ident.model or '?'}, serial {ident.serial_number or '?'}, firmware {ident.firmware_version or '?'}")
        # looked at, never started: starting (opening the device) arms it
        wd = board.watchdog
        device = getattr(wd, "path", None)
        if wd is None:
            _line(say, True, "watchdog", "none configured")
        elif device is not None and not os.path.exists(device):
            ok = _line(say, False, "watchdog", f"{device} does not exist")
        else:
            _line(say, True, "watchdog", f"{device or 'present'} (not armed)")
        return ok
    except Exception as exc:
        return _line(say, False, f"board {name}", f"{type(exc).__name__}: {exc}")
    finally:
        board.close()
