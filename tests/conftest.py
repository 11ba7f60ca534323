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


#: Tests that measure memory or latency, or bound a timer within a second or
#: so: they run alone, after the parallel part of the suite (marker ``serial``,
#: docs/testing.md), so that other tests' processes neither add to what they
#: measure nor delay what they time. Node ids, or a file for all its tests.
SERIAL = {
    # the agent process's anonymous memory after each hostile message, and a
    # second session's worst latency during them (one agent for the module)
    "tests/test_hostile_input.py": "memory and latency",
    "tests/test_hostile.py::test_a_slow_peer_does_not_delay_the_others": "worst latency < 1 s",
    "tests/test_hostile.py::test_hello_timeout": "a 1 s timer, bound 3 s",
    "tests/test_plugins.py::test_a_slow_plugin_does_not_block_other_sessions": "reads < 1.5 s beside a 2 s plugin",
    # call home on a clock 60 times faster: a second late is a minute late
    "tests/test_callhome_links_and_periodic.py::test_periodic_connections_follow_the_anchor_grid":
        "starts within 0.3 s of the grid",
    "tests/test_callhome_links_and_periodic.py::test_periodic_idle_timeout_closes_an_idle_session":
        "a get-config within 1.2 s keeps the session",
    # kernel keepalives and TCP_USER_TIMEOUT, each bound 1 s above its budget
    "tests/test_netns_faults.py": "detection time within 1 s of the budget",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.split("::")[0]
        if path == "tests/test_buildroot.py":
            # Buildroot's own make runs (issue 19): a step of their own in `make test`
            item.add_marker(pytest.mark.buildroot)
        base = item.nodeid.split("[")[0]
        if path in SERIAL or base in SERIAL:
            item.add_marker(pytest.mark.serial)
