"""What the agent repairs in its state directory at start-up.

A DPU that does not call home costs a truck roll, so the agent runs with
whatever usable is on the box rather than refuse: a key or store file
readable by others is made 0600 again (and logged at WARNING: someone or
something loosened it), and a directory found where a store file belongs
is renamed out of the way so that the slot reads as missing and the
fallbacks (the other slot, --config, the factory configuration) apply.
Each repair is returned as one sentence for ``dpu-agent:agent-state``.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

log = logging.getLogger(__name__)


def repair_modes(paths: list[Path]) -> list[str]:
    """chmod 600 every one of ``paths`` that is readable or writable by others."""
    repaired = []
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o077:
            continue
        mode = stat.S_IMODE(st.st_mode)
        try:
            os.chmod(path, mode & 0o700)
        except OSError as exc:
            log.error("%s is readable or writable by others (mode %o) and cannot be repaired (%s): chmod 600 it",
                      path, mode, exc.strerror)
            continue
        what = f"{path}: mode {mode:o} was readable or writable by others, now {mode & 0o700:o}"
        log.warning("%s", what)
        repaired.append(what)
    return repaired


def move_aside(paths: list[Path]) -> list[str]:
    """Rename each of ``paths`` that exists but is not a regular file (a
    directory, a socket, ...) to ``NAME.not-a-file-SECONDS``."""
    repaired = []
    for path in paths:
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            continue
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        aside = path.with_name(f"{path.name}.not-a-file-{int(time.time())}")
        try:
            os.rename(path, aside)
        except OSError as exc:
            log.error("%s is %s, not a file, and cannot be moved aside (%s)", path, kind, exc.strerror)
            continue
        what = f"{path} was {kind}, not a file: moved aside to {aside.name}"
        log.warning("%s", what)
        repaired.append(what)
    return repaired
