"""Shared fixtures: a real agent on its own event loop thread, real keys, and
ncclient as the call-home manager over loopback. The helpers behind them live
in tests/support (shared with bench/)."""

from __future__ import annotations

import pytest

from agent import modset

from .support import Harness, yang_dir
from .support.nacm import two_users


@pytest.fixture(scope="session")
def yang_dirs() -> list[str]:
    return [yang_dir()]


@pytest.fixture(scope="session")
def schema(yang_dirs):
    from agent.yang import Schema

    return Schema(modset.search_dirs(yang_dirs), modset.MODULES)


@pytest.fixture
def harness(tmp_path, yang_dirs):
    h = Harness(tmp_path, yang_dirs)
    yield h
    h.close()


@pytest.fixture
def users(harness):
    """admin (every right, from the factory NACM) and monitor (NACM defaults plus MONITOR_RULES)."""
    admin, monitor = two_users(harness)
    yield harness, admin, monitor
    for m in (admin, monitor):
        try:
            m.close_session()
        except Exception:
            pass
