"""RFC 5277 subscriptions and the events the agent sends, received by ncclient."""

from __future__ import annotations

import pytest
from ncclient.operations import RPCError

from agent.hal.sim import SimBoard

from .support import client_edit, data_content, start_two_managers, yanglint

NS6470 = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"


def take(m, name: str, timeout: float = 10) -> str:
    """The next notification named ``name`` (others are skipped)."""
    while True:
        n = m.take_notification(timeout=timeout)
        assert n is not None, f"no <{name}> notification within {timeout} s"
        if f"<{name} " in n.notification_xml or f"<{name}>" in n.notification_xml:
            return n.notification_xml


@pytest.fixture
def subscribed(harness):
    board = SimBoard()
    # the subscriber's connection does not go through the simulated eth0
    # (127.0.0.3 is not one of its addresses), so link events reach it
    l1, l2 = start_two_managers(harness, ("nms", "nms2"), endpoints={"nms": dict(host="127.0.0.3", local_address="127.0.0.3")},
                                board=board)
    m = l1.accept(harness)
    m.create_subscription()
    yield harness, board, m, l2
    m.close_session()


def test_session_start_end_and_config_change(subscribed):
    harness, _, m, l2 = subscribed
    m2 = l2.accept(harness)
    start = take(m, "netconf-session-start")
    assert f"<session-id>{m2.session_id}</session-id>" in start and "<username>admin</username>" in start
    m2.edit_config(target="running", config=client_edit("nms2", "<reconnect-strategy><max-wait>4</max-wait></reconnect-strategy>"))
    change = take(m, "netconf-config-change")
    assert "<datastore>running</datastore>" in change
    assert f"<session-id>{m2.session_id}</session-id>" in change
    assert "<operation>replace</operation>" in change and "max-wait</target>" in change
    assert 'xmlns:ietf-netconf-server="urn:ietf:params:xml:ns:yang:ietf-netconf-server"' in change
    m2.close_session()
    end = take(m, "netconf-session-end")
    assert "<termination-reason>closed</termination-reason>" in end
    # interleave: RPCs go on while subscribed
    assert "<data" in m.get_config(source="running").data_xml
    with pytest.raises(RPCError):
        m.create_subscription()  # one subscription per session


def test_kill_and_confirmed_commit_events(subscribed):
    harness, _, m, l2 = subscribed
    m2 = l2.accept(harness)
    m2.edit_config(target="candidate", config=client_edit("nms2", "<reconnect-strategy><max-wait>4</max-wait></reconnect-strategy>"))
    m2.commit(confirmed=True, timeout="60")
    assert "<confirm-event>start</confirm-event><timeout>60</timeout>" in take(m, "netconf-confirmed-commit")
    m.kill_session(m2.session_id)
    end = take(m, "netconf-session-end")
    assert f"<killed-by>{m.session_id}</killed-by>" in end and "<termination-reason>killed</termination-reason>" in end
    assert "<confirm-event>cancel</confirm-event>" in take(m, "netconf-confirmed-commit")


def test_link_and_call_home_events(subscribed):
    harness, board, m, l2 = subscribed
    harness.call(lambda: board.nics.set_link("eth0", False))
    assert "<oper-status>down</oper-status>" in take(m, "interface-link-change")
    harness.call(lambda: board.nics.set_link("eth0", True))
    assert "<oper-status>up</oper-status>" in take(m, "interface-link-change")
    l2.close()  # nms2 has no manager now: its endpoints get exhausted
    m.edit_config(target="running", config=client_edit("nms2", "<reconnect-strategy><max-attempts>1</max-attempts></reconnect-strategy>"))
    assert "<netconf-client>nms2</netconf-client>" in take(m, "call-home-endpoints-exhausted", timeout=15)


def test_filtered_subscription(harness):
    l1, l2 = start_two_managers(harness, ("nms", "nms2"))
    m = l1.accept(harness)
    m.create_subscription(filter=("subtree", f'<netconf-session-end xmlns="{NS6470}"><username>admin</username></netconf-session-end>'))
    m2 = l2.accept(harness)  # a session-start: filtered out
    m2.close_session()
    n = m.take_notification(timeout=10)
    assert n is not None and "netconf-session-end" in n.notification_xml
    m.close_session()


def test_notifications_validate_with_yanglint(subscribed, tmp_path, yang_dirs):
    harness, board, m, l2 = subscribed
    m2 = l2.accept(harness)
    m2.edit_config(target="running", config=client_edit("nms2", "<reconnect-strategy><max-wait>4</max-wait></reconnect-strategy>"))
    m2.close_session()
    harness.call(lambda: board.nics.set_link("eth0", False))
    names = ["netconf-session-start", "netconf-config-change", "netconf-session-end", "interface-link-change"]
    # the config-change targets are instance-identifiers: validated against running
    running = tmp_path / "running.xml"
    running.write_text(data_content(m.get_config(source="running").data_xml))
    for name in names:
        xml = take(m, name)
        body = xml[xml.index("</eventTime>") + len("</eventTime>") : xml.rindex("</notification>")]
        f = tmp_path / f"{name}.xml"
        f.write_text(body)
        out = yanglint("notif", f, yang_dirs, "-O", str(running))
        assert out.returncode == 0, f"{name}: {out.stderr}"
