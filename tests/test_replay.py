"""RFC 5277 replay: events logged while no manager listens, across restarts,
replayed to a subscription with startTime (ncclient as the manager)."""

from __future__ import annotations

import datetime
import json
import time

import pytest
from ncclient.operations import RPCError

from agent import eventlog
from agent.callhome import build
from agent.hal.sim import SimBoard
from agent.notify import NS_NC_NOTIFICATIONS

from .support import Listener, free_port, wait_for, yanglint

STREAMS_FILTER = ("subtree", f'<netconf xmlns="{NS_NC_NOTIFICATIONS}"/>')


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat().replace("+00:00", "Z")


def drain(m, until: str, timeout: float = 10) -> list[str]:
    """Notifications up to and including the first named ``until``."""
    out = []
    while True:
        n = m.take_notification(timeout=timeout)
        assert n is not None, f"no <{until}> within {timeout} s; got {[_name(x) for x in out]}"
        out.append(n.notification_xml)
        if _name(n.notification_xml) == until:
            return out


def _name(xml: str) -> str:
    body = xml[xml.index("</eventTime>") + len("</eventTime>"):]
    return body[1:].split(" ", 1)[0].split(">", 1)[0].split("/", 1)[0]


def _time(xml: str) -> str:
    return xml.split("<eventTime>")[1].split("<")[0]


def _body(xml: str) -> str:
    return xml[xml.index("</eventTime>") + len("</eventTime>"): xml.rindex("</notification>")]


def _client(harness, port: int) -> str:
    # the manager is reached through 127.0.0.3, not the simulated eth0
    return harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.3", port, local_address="127.0.0.3")],
                                          max_attempts=1)])


def test_events_while_disconnected_and_across_a_restart_are_replayed(harness, tmp_path, yang_dirs):
    port = free_port()  # no manager listens yet
    t0 = time.time() - 1
    board = SimBoard()
    harness.start(_client(harness, port), board=board)
    harness.call(lambda: board.nics.set_link("eth0", False))
    harness.call(lambda: board.nics.set_link("eth0", True))
    harness.stop()  # an orderly restart: the replay log's last batch is written
    assert (harness.state_dir / eventlog.FILENAME).stat().st_mode & 0o777 == 0o600
    board = SimBoard()
    harness.start(board=board)
    harness.call(lambda: board.nics.set_link("eth0", False))
    lst = Listener(port, host="127.0.0.3")
    harness.listeners.append(lst)
    harness.call(lambda: board.nics.set_link("eth0", True))  # wakes the call home
    m = lst.accept(harness)
    m.create_subscription(start_time=iso(t0))
    replayed = drain(m, "replayComplete")
    names = [_name(x) for x in replayed]
    links = [x.split("<oper-status>")[1].split("<")[0] for x in replayed if _name(x) == "interface-link-change"]
    assert links == ["down", "up", "down", "up"], names
    assert names[-1] == "replayComplete" and "netconf-session-start" in names
    times = [_time(x) for x in replayed]
    assert times == sorted(times) and all(t >= iso(t0)[:19] for t in times)
    # then live events, after the replay
    harness.call(lambda: board.nics.set_link("eth0", False))
    live = drain(m, "interface-link-change")
    assert "<oper-status>down</oper-status>" in live[-1] and _time(live[-1]) >= times[-1]
    for n, xml in enumerate(replayed):
        f = tmp_path / f"n{n}.xml"
        f.write_text(_body(xml))
        out = yanglint("notif", f, yang_dirs)
        assert out.returncode == 0, f"{_name(xml)}: {out.stderr}"
    m.close_session()


@pytest.fixture
def connected(harness):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))
    m = lst.accept(harness)
    yield harness, lst, m
    try:
        m.close_session()
    except Exception:
        pass


def test_stop_time_ends_with_notification_complete(connected):
    harness, lst, m = connected
    t0 = time.time() - 5
    harness.call(lambda: harness.agent.server.notifications.publish(
        "dpu-agent", "interface-link-change", '<interface-link-change xmlns="urn:dpu-agent:yang:dpu-agent">'
        "<name>eth0</name><oper-status>down</oper-status></interface-link-change>"))
    stop = time.time() + 0.5
    assert wait_for(lambda: time.time() > stop, timeout=5)  # a stop time already past: replay, then complete
    m.create_subscription(start_time=iso(t0), stop_time=iso(stop))
    got = drain(m, "notificationComplete")
    names = [_name(x) for x in got]
    assert names[-2:] == ["replayComplete", "notificationComplete"]
    assert "interface-link-change" in names and "netconf-session-start" in names
    # the subscription is over: the session may subscribe again, live
    m.create_subscription()


def test_stop_time_in_the_future_ends_the_live_subscription(connected):
    harness, _, m = connected
    now = time.time()
    m.create_subscription(start_time=iso(now - 1), stop_time=iso(now + 1.5))
    assert _name(drain(m, "replayComplete")[-1]) == "replayComplete"
    assert _name(drain(m, "notificationComplete", timeout=5)[-1]) == "notificationComplete"
    # read on the agent's loop: the callback that sent notificationComplete ends the
    # subscription right after, and the manager's thread may see the bytes first
    subscriptions = harness.call(lambda: set(harness.agent.server.notifications.subscriptions))
    assert m.session_id and int(m.session_id) not in subscriptions


@pytest.mark.parametrize("start,stop,element", [
    (lambda: iso(time.time() + 3600), None, "startTime"),
    (lambda: iso(time.time() - 10), lambda: iso(time.time() - 20), "stopTime"),
    (lambda: "yesterday", None, "startTime"),
    (lambda: "2026-01-01T00:00:00", None, "startTime"),  # no time zone
], ids=["start-in-the-future", "stop-before-start", "start-not-a-time", "start-without-time-zone"])
def test_bad_replay_times_are_refused(connected, start, stop, element):
    _, _, m = connected
    with pytest.raises(RPCError) as e:
        m.create_subscription(start_time=start(), stop_time=stop() if stop else None)
    assert e.value.tag == "invalid-value" and element in e.value.info
    m.create_subscription()  # nothing was left half subscribed


def test_replay_support_is_advertised_and_the_log_outlives_a_restart(connected):
    harness, lst, m = connected
    data = m.get(filter=STREAMS_FILTER).data_xml
    assert "<replaySupport>true</replaySupport>" in data
    created = data.split("<replayLogCreationTime>")[1].split("<")[0]
    m.close_session()
    harness.stop()
    lst.reset()
    harness.start()
    m = lst.accept(harness)
    data = m.get(filter=STREAMS_FILTER).data_xml
    assert data.split("<replayLogCreationTime>")[1].split("<")[0] == created
    m.close_session()


# -- the log itself --------------------------------------------------------


def _event(n: int, body_len: int = 10) -> eventlog.Event:
    return eventlog.Event(1000.0 + n, eventlog.date_and_time(1000.0 + n), "m", "e", f"<e>{n:0{body_len}d}</e>")


def test_the_log_is_bounded_and_ages_out_the_oldest(tmp_path):
    log = eventlog.EventLog(tmp_path / "l", max_events=5, max_bytes=10_000, batch_events=3)
    for n in range(12):
        log.append(_event(n))
    assert [e.time for e in log.events] == [1007.0, 1008.0, 1009.0, 1010.0, 1011.0]
    assert log.aged == eventlog.date_and_time(1006.0)
    assert [e.time for e in log.since(1009.0, 1010.0)] == [1009.0, 1010.0]
    small = eventlog.EventLog(None, max_events=100, max_bytes=60)
    for n in range(10):
        small.append(_event(n))
    assert sum(len(e.body) for e in small.events) <= 60 and small.events[-1].time == 1009.0


def test_the_log_is_written_in_batches_and_bounded_on_flash(tmp_path):
    path = tmp_path / "l"
    log = eventlog.EventLog(path, max_events=10, batch_events=4)
    writes = log.writes  # the header of a new log
    for n in range(3):
        log.append(_event(n))
    assert log.writes == writes  # held in RAM
    log.append(_event(3))
    assert log.writes == writes + 1  # one append of the batch
    for n in range(4, 100):
        log.append(_event(n))
    assert log.writes == writes + 25
    lines = path.read_text().splitlines()
    assert len(lines) - 1 <= 2 * 10  # rewritten whole at twice the bound
    again = eventlog.EventLog(path, max_events=10)
    assert [e.time for e in again.events] == [e.time for e in log.events]
    assert again.created == log.created and again.aged == log.aged


def test_a_lone_event_is_written_after_the_batch_time_off_the_loop(tmp_path):
    import asyncio

    path = tmp_path / "l"

    async def scenario():
        log = eventlog.EventLog(path, batch_events=100, batch_seconds=0.2)
        log.append(_event(1))
        await asyncio.sleep(0.05)
        assert len(path.read_text().splitlines()) == 1  # still in RAM
        await asyncio.sleep(0.4)
        assert len(path.read_text().splitlines()) == 2
        log.append(_event(2))
        await log.close()  # an orderly stop writes what waits
        assert len(path.read_text().splitlines()) == 3

    asyncio.run(scenario())


def test_a_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "l"
    log = eventlog.EventLog(path, batch_events=1)
    log.append(_event(1))
    log.append(_event(2))
    with open(path, "a") as f:
        f.write(json.dumps([1003.0, "x", "m", "e", "<e>3</e>"])[:17])  # the power cut
    again = eventlog.EventLog(path)
    assert [e.time for e in again.events] == [1001.0, 1002.0]
    assert again.created == log.created


def test_a_full_log_is_replayed_to_a_session_that_reads(connected):
    """The whole bounded log in one replay: more than the transport buffers and
    more than the unread-notification limit, and the session stays."""
    harness, _, m = connected
    events = harness.agent.server.notifications
    n = eventlog.MAX_EVENTS
    pad = "x" * 400

    def burst():
        for i in range(n):
            events.publish("dpu-agent", "interface-link-change", '<interface-link-change xmlns="urn:dpu-agent:yang:dpu-agent">'
                           f"<name>eth{i}{pad}</name><oper-status>down</oper-status></interface-link-change>")

    harness.call(burst)
    m.create_subscription(start_time="2000-01-01T00:00:00Z")
    got = drain(m, "replayComplete", timeout=30)
    names = [x.split("<name>")[1].split(pad)[0] for x in got if "interface-link-change" in x]
    logged = harness.call(lambda: [e for e in events.log.events if e.name == "interface-link-change"])
    assert len(logged) > 900  # the rest aged out (512 KiB of text at most)
    assert names == [e.body.split("<name>")[1].split(pad)[0] for e in logged] and names[-1] == f"eth{n - 1}"
    assert m.connected
    m.get_config(source="running")


def test_a_replay_does_not_count_as_unread_while_live_events_do(connected):
    """A manager behind a small SSH window: its transport says "stop writing"
    during the replay. The replay (bounded by the log) still goes out whole;
    live events left unread beyond the limit close the session as before."""
    harness, _, m = connected
    server = harness.agent.server
    limit = server.limits.max_unread_notifications

    def publish(k):
        for i in range(k):
            server.notifications.publish("dpu-agent", "interface-link-change",
                                         '<interface-link-change xmlns="urn:dpu-agent:yang:dpu-agent">'
                                         f"<name>eth{i}</name><oper-status>up</oper-status></interface-link-change>")

    harness.call(lambda: publish(limit + 50))
    bridge = harness.call(lambda: server.sessions[int(m.session_id)].notify.__self__)
    # The SSH transport reports its real window after every write; here it
    # stays shut, as for a manager behind a small window (the bytes still flow)
    end = bridge._write.__self__
    harness.call(lambda: setattr(end, "writable", lambda _yes: end.pause_writing()))
    harness.call(bridge.pause_writing)
    m.create_subscription(start_time="2000-01-01T00:00:00Z")
    got = drain(m, "replayComplete", timeout=30)
    assert sum("interface-link-change" in x for x in got) == limit + 50 and m.connected
    harness.call(lambda: publish(limit + 1))  # still "paused": these count
    assert wait_for(lambda: not m.connected)


@pytest.mark.parametrize("time_", [1764633600.123, 0.0, 1e-7, 1764633600, float("nan")])
@pytest.mark.parametrize("body", ['<a x="1">q\\"</a>', "é \u2028 \x00\t\n 😀", ""])
def test_a_logged_event_is_the_json_of_its_fields(time_, body):
    """The replay log's lines are written without json.dumps (faster); they
    must be exactly what it writes, so that any reader of the file agrees."""
    from agent.eventlog import Event

    e = Event(time_, "2025-12-02T00:00:00.123Z", "mod-\"x\"", "name\\", body)
    assert e.line() == json.dumps([time_, e.event_time, e.module, e.name, body]) + "\n"
