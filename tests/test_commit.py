"""Candidate, commit, confirmed commit, startup — over real call-home sessions."""

from __future__ import annotations

import time

import pytest
from ncclient.operations import RPCError

from agent.callhome import build
from agent.transport import tcp

from .support import CALL_HOME_FILTER, ManualTimers, client_edit, free_port, two_managers, wait_for


def max_wait(m, source="running") -> str:
    data = m.get_config(source=source, filter=CALL_HOME_FILTER).data_xml
    return data.split("<max-wait>")[1].split("<")[0]


def set_max_wait(m, value, target="running"):
    m.edit_config(target=target, config=client_edit("nms", f"<reconnect-strategy><max-wait>{value}</max-wait></reconnect-strategy>"))


@pytest.fixture
def two(harness):
    """Two managers, two sessions."""
    (l1, m1), (l2, m2) = two_managers(harness, ("nms", "nms2"))
    yield harness, (l1, m1), (l2, m2)
    for m in (m1, m2):
        try:
            m.close_session()
        except Exception:
            pass


def test_candidate_edit_commit_and_discard(two):
    harness, (_, m1), (_, m2) = two
    set_max_wait(m1, 4, "candidate")
    assert max_wait(m1, "candidate") == "4" and max_wait(m1) == "1"
    m1.discard_changes()
    assert max_wait(m1, "candidate") == "1"
    set_max_wait(m1, 5, "candidate")
    m1.commit()
    assert max_wait(m2) == "5"
    assert max_wait(m1, "startup") == "1"  # running changes stay off flash until copied


def test_candidate_lock_rules(two):
    harness, (_, m1), (_, m2) = two
    set_max_wait(m1, 6, "candidate")
    with pytest.raises(RPCError) as e:
        m2.lock("candidate")  # someone's uncommitted edits are in it
    assert e.value.tag == "lock-denied"
    m1.discard_changes()
    m2.lock("candidate")
    set_max_wait(m2, 7, "candidate")
    with pytest.raises(RPCError) as e:
        set_max_wait(m1, 8, "candidate")
    assert e.value.tag == "in-use"
    # the lock holder goes away: its uncommitted changes go with it
    m2.close_session()
    assert wait_for(lambda: "candidate" not in harness.agent.datastore.locks)
    assert max_wait(m1, "candidate") == "1"


def test_invalid_candidate_is_refused_at_commit_and_validate(two):
    _, (_, m1), _ = two
    m1.edit_config(target="candidate", config=client_edit("nms",
        '<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters><remote-address nc:operation="delete"/>'
        "</tcp-client-parameters></ssh></endpoint></endpoints>"))
    with pytest.raises(RPCError) as e:
        m1.validate(source="candidate")
    assert e.value.tag == "data-missing"
    with pytest.raises(RPCError) as e:
        m1.commit()
    assert e.value.tag == "data-missing"
    assert "<remote-address>" in m1.get_config(source="running").data_xml


def manual_timers(harness) -> ManualTimers:
    """The datastore's confirm-timeout on a clock the test advances."""
    timers = ManualTimers()
    harness.agent.datastore.call_later = timers.call_later
    return timers


def test_confirmed_commit_confirmed_in_time(two):
    harness, (_, m1), _ = two
    timers = manual_timers(harness)
    set_max_wait(m1, 9, "candidate")
    m1.commit(confirmed=True, timeout="2")
    assert [t.delay for t in timers.pending()] == [2]
    m1.commit()  # confirming commit
    harness.call(lambda: timers.advance(2.5))  # past the timeout: nothing is left to fire
    assert timers.fired() == [] and harness.agent.datastore.pending is None
    assert max_wait(m1) == "9"


def test_confirmed_commit_rolls_back_on_timeout_and_cancel(two):
    harness, (_, m1), (_, m2) = two
    timers = manual_timers(harness)
    set_max_wait(m1, 9, "candidate")
    m1.commit(confirmed=True, timeout="1")
    assert max_wait(m2) == "9"
    harness.call(lambda: timers.advance(0.9))
    assert timers.fired() == [] and max_wait(m2) == "9"  # not before its time
    harness.call(lambda: timers.advance(0.1))
    assert [t.delay for t in timers.fired()] == [1]
    assert wait_for(lambda: harness.agent.datastore.pending is None, timeout=5)
    assert max_wait(m2) == "1"
    set_max_wait(m1, 8, "candidate")
    m1.commit(confirmed=True, timeout="60")
    with pytest.raises(RPCError) as e:
        m2.commit()  # not the issuing session
    assert e.value.tag == "in-use"
    m1.cancel_commit()
    assert max_wait(m2) == "1" and max_wait(m1, "candidate") == "1"


def test_persistent_confirmed_commit_confirmed_by_another_session(two):
    harness, (l1, m1), (_, m2) = two
    set_max_wait(m1, 7, "candidate")
    m1.commit(confirmed=True, timeout="30", persist="token-1")
    m1.close_session()  # persist: the pending commit outlives its session
    # the agent ended that session (and told the datastore, in the same turn);
    # a rollback it started would have run before the check on the loop below
    assert wait_for(lambda: harness.call(lambda: len(harness.agent.server.sessions)) == 1)
    assert harness.call(lambda: harness.agent.datastore.pending) is not None
    with pytest.raises(RPCError) as e:
        m2.commit(persist_id="wrong")
    assert e.value.tag == "invalid-value"
    m2.commit(persist_id="token-1")
    assert harness.agent.datastore.pending is None and max_wait(m2) == "7"


def test_confirmed_commit_dies_with_its_session(two):
    harness, (_, m1), (_, m2) = two
    set_max_wait(m1, 6, "candidate")
    m1.commit(confirmed=True, timeout="600")
    m1.close_session()
    assert wait_for(lambda: max_wait(m2) == "1", timeout=5)


def test_copy_and_delete_startup(two):
    harness, (_, m1), _ = two
    set_max_wait(m1, 3)
    m1.copy_config(source="running", target="startup")
    assert max_wait(m1, "startup") == "3"
    m1.delete_config(target="startup")
    assert "netconf-server" not in m1.get_config(source="startup").data_xml
    with pytest.raises(RPCError) as e:
        m1.delete_config(target="running")
    assert e.value.tag == "invalid-value"
    m1.copy_config(source="running", target="candidate")
    m1.copy_config(source="candidate", target="startup")
    assert max_wait(m1, "startup") == "3"


@pytest.mark.parametrize("persist", [None, "keep-me"])
def test_a_commit_that_cuts_the_box_off_rolls_itself_back(harness, persist):
    """The test that matters: the manager moves the call home to an address
    where nobody answers; the session drops; the agent rolls back and calls
    the original manager again, which sees the old configuration."""
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)], max_wait=1)]))
    m = lst.accept(harness)
    before = m.get_config(source="running").data_xml
    nowhere = free_port()
    m.edit_config(target="candidate", config=client_edit("nms",
        f"<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters><remote-port>{nowhere}</remote-port>"
        "</tcp-client-parameters></ssh></endpoint></endpoints>"))
    t0 = time.monotonic()
    m.commit(confirmed=True, timeout="3", persist=persist)
    # the connected endpoint changed: the agent drops the session
    assert wait_for(lambda: not m.connected, timeout=10)
    if persist:
        # ... dials the dead address until the confirm-timeout ...
        state = harness.agent.callhome.states["nms"]
        assert wait_for(lambda: any(a.result == "Connection refused" for a in state.attempts), timeout=10)
    # (without persist the end of the issuing session is itself the trigger)
    m2 = lst.accept(harness, timeout=20)
    elapsed = time.monotonic() - t0
    if persist:
        assert elapsed >= 2.5  # held until the confirm-timeout
    assert m2.get_config(source="running").data_xml == before
    m2.close_session()


def test_a_commit_never_undoes_a_change_made_to_running_meanwhile(two):
    _, (_, m1), (_, m2) = two
    set_max_wait(m1, 4, "candidate")
    set_max_wait(m2, 6)  # straight to running, while m1's candidate edits wait
    with pytest.raises(RPCError) as e:
        m1.commit()
    assert e.value.tag == "operation-failed" and e.value.app_tag == "running-changed"
    assert "running changed since the candidate was edited" in e.value.message
    assert "<discard-changes>" in e.value.message and "lock running and candidate" in e.value.message
    assert max_wait(m1) == "6"
    m1.discard_changes()
    assert max_wait(m1, "candidate") == "6"  # a clean candidate follows running
    set_max_wait(m1, 4, "candidate")
    m1.commit()
    assert max_wait(m2) == "4"


def _keepalive_timer(sock) -> float | None:
    """Seconds left on the kernel's keepalive timer of ``sock``'s connection,
    as `ss -o` reports it (None without ss)."""
    import re
    import shutil
    import subprocess

    if shutil.which("ss") is None:
        return None
    local = "%s:%d" % sock.getsockname()[:2]
    out = subprocess.run(["ss", "-tnoH", "state", "established", "src", local], capture_output=True, text=True).stdout
    m = re.search(r"timer:\(keepalive,(?:(\d+)min)?(?:(\d+)sec)?(?:(\d+)ms)?", out)
    assert m is not None, out
    minutes, secs, ms = (int(g or 0) for g in m.groups())
    return minutes * 60 + secs + ms / 1000


def _set_idle_time(m, seconds, target="candidate"):
    m.edit_config(target=target, config=client_edit("nms",
        "<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters><keepalives>"
        f"<idle-time>{seconds}</idle-time></keepalives></tcp-client-parameters></ssh></endpoint></endpoints>"))


def test_a_manager_retunes_its_own_keepalives_by_confirmed_commit(harness):
    """The issue's scenario: the confirmed commit touches the manager's own
    endpoint, the session survives to confirm it, and the kernel holds the
    new values on the very socket the session runs on. A confirmed commit left
    to time out puts the old values back on that socket, still connected."""
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port, keepalives=(60, 3, 10))])]))
    m = lst.accept(harness)
    state = harness.agent.callhome.states["nms"]
    sock, fd = state.sock, state.sock.fileno()
    _set_idle_time(m, 45)
    m.commit(confirmed=True, timeout="60")
    assert tcp.read_keepalives(sock)["TCP_KEEPIDLE"] == 45
    m.commit()  # confirming commit, on the same session
    assert harness.agent.datastore.pending is None
    assert m.connected and state.sock is sock and sock.fileno() == fd and state.connections == 1
    assert tcp.read_keepalives(sock) == {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 45, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3,
                                         "TCP_USER_TIMEOUT": 75_000}
    assert "<idle-time>45</idle-time>" in m.get_config(source="running", filter=CALL_HOME_FILTER).data_xml
    # the kernel's own view of that connection: its keepalive timer runs on the new idle time
    timer = _keepalive_timer(sock)
    if timer is not None:
        assert 0 < timer <= 45

    _set_idle_time(m, 90)
    m.commit(confirmed=True, timeout="1")
    assert tcp.read_keepalives(sock)["TCP_KEEPIDLE"] == 90
    assert wait_for(lambda: harness.agent.datastore.pending is None, timeout=5)
    assert wait_for(lambda: tcp.read_keepalives(sock)["TCP_KEEPIDLE"] == 45, timeout=5)
    assert m.connected and state.sock is sock and state.connections == 1
    m.close_session()
