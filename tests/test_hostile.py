"""Broken and malicious peers: the agent answers with an error or closes that
one session, never crashes, never hangs, never grows without bound."""

from __future__ import annotations

import asyncio
import base64
import collections
import logging
import time

import asyncssh
import pytest

from agent.callhome import build

from .support import rawclient, start_two_managers
from .support.rawclient import NC

GET_CONFIG = "<get-config><source><running/></source></get-config>"


def agent_with(harness, n_clients=1, **settings):
    listeners = [harness.listener() for _ in range(n_clients)]
    harness.start(harness.config([harness.client(f"nms{i}", [build.Endpoint("a", "127.0.0.1", lst.port)])
                                  for i, lst in enumerate(listeners)]), **settings)
    return listeners


async def raw(harness, lst, username="admin"):
    sock = await asyncio.get_running_loop().run_in_executor(None, lst.accept_raw)
    return await rawclient.connect(sock, username, harness.client_key)


@pytest.mark.parametrize("attack", [
    '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    f'<rpc xmlns="{NC}" message-id="1"><get-config><source><running/></source><filter>&c;</filter></get-config></rpc>',
    f'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rpc xmlns="{NC}" message-id="1"><get>&x;</get></rpc>',
    f'<rpc xmlns="{NC}" message-id="1">' + "<a>" * 500 + "</a>" * 500 + "</rpc>",
    f'<rpc xmlns="{NC}" message-id="1"><get ' + " ".join(f'a{i}="v"' for i in range(1000)) + "/></rpc>",
], ids=["billion-laughs", "external-entity", "500-deep", "1000-attributes"])
def test_xml_attacks_get_an_rpc_error_and_the_session_goes_on(harness, attack):
    (lst,) = agent_with(harness)

    async def run():
        async with await raw(harness, lst) as conn:
            s = await rawclient.open_session(conn)
            s.writer.write(rawclient.chunk(attack))
            reply = await s.message()
            assert "<rpc-error>" in reply and "malformed-message" in reply
            assert "root:" not in reply  # no external entity was resolved
            assert "<data" in await s.rpc(GET_CONFIG)

    asyncio.run(run())


def test_hello_timeout(harness):
    (lst,) = agent_with(harness, hello_timeout=1)

    async def run():
        async with await raw(harness, lst) as conn:
            s = await rawclient.open_session(conn, hello=False)
            await s.message()  # the agent's hello; ours never comes
            t0 = time.monotonic()
            with pytest.raises((EOFError, asyncssh.Error)):
                while True:
                    await s.message(timeout=5)
            return time.monotonic() - t0

    assert asyncio.run(run()) < 3


def test_session_limits_per_connection_and_in_total(harness):
    lst1, lst2 = start_two_managers(harness, ("nms0", "nms1"), max_sessions=5, max_sessions_per_connection=3)

    async def run():
        async with await raw(harness, lst1) as c1, await raw(harness, lst2) as c2:
            sessions = [await rawclient.open_session(c1) for _ in range(3)]
            with pytest.raises(asyncssh.ChannelOpenError):
                await rawclient.open_session(c1)  # a 4th on one connection
            sessions += [await rawclient.open_session(c2) for _ in range(2)]
            with pytest.raises(asyncssh.ChannelOpenError):
                await rawclient.open_session(c2)  # a 6th in all
            for s in sessions:  # the admitted ones all work
                assert "<data" in await s.rpc(GET_CONFIG)
            sessions[0].close()
            await asyncio.sleep(0.3)
            s = await rawclient.open_session(c1)  # room again
            assert "<data" in await s.rpc(GET_CONFIG)

    asyncio.run(run())


def test_a_slow_peer_does_not_delay_the_others(harness):
    lst1, lst2 = start_two_managers(harness, ("nms0", "nms1"))

    async def run():
        async with await raw(harness, lst1) as slow_conn, await raw(harness, lst2) as fast_conn:
            slow = await rawclient.open_session(slow_conn)
            fast = await rawclient.open_session(fast_conn)
            message = rawclient.chunk(f'<rpc xmlns="{NC}" message-id="9">{GET_CONFIG}</rpc>')

            async def trickle():
                for byte in message[:40]:
                    slow.writer.write(bytes([byte]))
                    await asyncio.sleep(0.1)

            trickling = asyncio.create_task(trickle())
            worst = 0.0
            for _ in range(10):
                t0 = time.monotonic()
                assert "<data" in await fast.rpc(GET_CONFIG)
                worst = max(worst, time.monotonic() - t0)
            await trickling
            return worst

    assert asyncio.run(run()) < 1.0


def test_a_peer_that_never_reads_cannot_make_the_agent_buffer_without_bound(harness):
    lst1, lst2 = start_two_managers(harness, ("nms0", "nms1"))

    async def run():
        async with await raw(harness, lst1) as deaf_conn, await raw(harness, lst2) as ok_conn:
            deaf = await rawclient.open_session(deaf_conn)
            deaf_conn._transport.pause_reading()  # from now on it reads nothing
            ok = await rawclient.open_session(ok_conn)
            big = rawclient.chunk(f'<rpc xmlns="{NC}" message-id="1"><get/></rpc>')
            for _ in range(3000):
                deaf.writer.write(big)
            await asyncio.sleep(3)
            bridges = [s for s in harness.agent.server.sessions.values() if s.id == int(deaf.session_id)]
            assert bridges, "the deaf session should still be there, just throttled"
            # the agent stopped reading it, so its queue of RPCs stays short ...
            assert "<data" in await ok.rpc(GET_CONFIG)  # ... and the other session is served
            return sum(len(s.nc._out) for s in harness.agent.server.sessions.values())

    unsent = asyncio.run(run())
    assert unsent < 1_000_000


def test_concurrent_sessions_lose_no_update(harness):
    """50 sessions on 5 connections edit their own subtrees, some through locks
    on running, some through the candidate and commits."""
    listeners = agent_with(harness, n_clients=5, max_sessions=64, max_sessions_per_connection=10)
    rounds = 4

    def group_edit(i, k, target):
        return (f'<edit-config><target><{target}/></target><config><nacm xmlns="{build.NS_NACM}"><groups><group>'
                f"<name>s{i}</name><user-name>u{i}-{k}</user-name></group></groups></nacm></config></edit-config>")

    # A session refused a lock waits for another session's unlock, first
    # come first woken, instead of polling <lock>: each unlock wakes one
    # waiter; a refusal after an unlock it has not seen yet retries at once.
    unlocks = 0
    waiting: collections.deque[asyncio.Future] = collections.deque()

    async def lock(s, target):
        while True:
            seen = unlocks
            if "<ok/>" in await s.rpc(f"<lock><target><{target}/></target></lock>"):
                return
            if unlocks == seen:
                woken = asyncio.get_running_loop().create_future()
                waiting.append(woken)
                await woken

    async def unlock(s, target):
        nonlocal unlocks
        r = await s.rpc(f"<unlock><target><{target}/></target></unlock>")
        assert "<ok/>" in r, r
        unlocks += 1
        if waiting:
            waiting.popleft().set_result(None)

    async def worker(s, i):
        for k in range(rounds):
            # RFC 6241 8.3.5.1: who edits through the candidate locks running too
            targets = ["running"] if i % 2 else ["running", "candidate"]
            for target in targets:
                await lock(s, target)
            try:
                r = await s.rpc(group_edit(i, k, targets[-1]))
                assert "<ok/>" in r, r
                if targets[-1] == "candidate":
                    r = await s.rpc("<commit/>")
                    assert "<ok/>" in r, r
            finally:
                for target in reversed(targets):
                    await unlock(s, target)

    async def run():
        conns = [await raw(harness, lst) for lst in listeners]
        sessions = [await rawclient.open_session(c) for c in conns for _ in range(10)]
        await asyncio.gather(*(worker(s, i) for i, s in enumerate(sessions)))
        r = await sessions[0].rpc("<copy-config><target><startup/></target><source><running/></source></copy-config>")
        assert "<ok/>" in r
        running = await sessions[0].rpc(GET_CONFIG)
        for c in conns:
            c.close()
        return running

    running = asyncio.run(run())
    for i in range(50):
        for k in range(rounds):
            assert f"<user-name>u{i}-{k}</user-name>" in running, f"lost update s{i} round {k}"
    # what is stored is the last committed state
    stored = harness.agent.store.load().tree
    try:
        assert stored.to_xml() == harness.agent.datastore.running.to_xml()
    finally:
        stored.free()


def test_password_authentication_is_off(harness):
    (lst,) = agent_with(harness)

    async def run():
        sock = await asyncio.get_running_loop().run_in_executor(None, lst.accept_raw)
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect(sock=sock, username="admin", password="admin", known_hosts=None,
                                   client_keys=None, preferred_auth="password,keyboard-interactive")

    asyncio.run(run())


def test_private_keys_stay_out_of_logs_and_errors(harness, caplog):
    caplog.set_level(logging.DEBUG)
    secret = base64.b64encode(harness.host_key.export_private_key("pkcs8-der")).decode()
    lst, _other = start_two_managers(harness, ("nms0", "nms1"))  # nms0 reads, nms1's endpoint gets the key

    async def run():
        async with await raw(harness, lst) as conn:
            s = await rawclient.open_session(conn)
            key_leaf = (
                "<endpoints><endpoint><name>a</name><ssh><ssh-server-parameters><server-identity><host-key><name>device</name>"
                "<public-key><inline-definition><private-key-format xmlns:ct=\"urn:ietf:params:xml:ns:yang:ietf-crypto-types\">"
                f"ct:one-asymmetric-key-format</private-key-format><cleartext-private-key>{secret}</cleartext-private-key>"
                "</inline-definition></public-key></host-key></server-identity></ssh-server-parameters></ssh></endpoint></endpoints>"
            )
            replies = []
            # a bad edit carrying the key, a good one, and reads of everything
            bad = key_leaf.replace("<name>device</name>", "<name>device</name><bogus/>")
            for body in (bad, key_leaf):
                replies.append(await s.rpc(
                    f'<edit-config><target><candidate/></target><config><netconf-server xmlns="{build.NS_NCS}"><call-home>'
                    f"<netconf-client><name>nms1</name>{body}</netconf-client></call-home></netconf-server></config></edit-config>"))
            replies.append(await s.rpc("<commit/>"))
            replies.append(await s.rpc("<get/>"))
            replies.append(await s.rpc(GET_CONFIG.replace("running", "candidate")))
            return replies

    replies = asyncio.run(run())
    assert "<rpc-error>" in replies[0]
    for reply in replies:
        assert secret not in reply and secret[:40] not in reply
    assert secret[:40] not in caplog.text
