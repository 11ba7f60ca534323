"""Where the repository and the standard YANG modules are."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED_YANG = ROOT.parent / "shared" / "yang"


def yang_dir() -> str:
    """The standard modules' directory; skips the test without one."""
    env = os.environ.get("DPU_AGENT_YANG_DIR")
    if env:
        return env
    if SHARED_YANG.is_dir():
        return str(SHARED_YANG)
    import pytest

    pytest.skip("no standard YANG modules: run through `make test` or set DPU_AGENT_YANG_DIR")
