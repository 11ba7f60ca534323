"""The manager's SSH channel window (RFC 4254 5.2): a reply larger than what
is left of the window the manager granted waits in the agent until a window
adjustment comes, then goes on. libssh says nothing when the window grows (its
write-wontblock callback comes only from a poll that finds the socket writable
with nothing of libssh's own left to send), so the agent tries again itself
after reading input. Without that, a reply once stopped for good: the session
hung and every later RPC of the manager went unanswered (found by the bench's
scale item: full get-configs of 10 000 list entries, 1.8 MB each, against
asyncssh's 2 MB window).

The manager is the bench's asyncssh client with its default window, on the
agent run as its own process (`dpu-agent run`), as the bench runs it."""

from __future__ import annotations

import asyncio

from agent.callhome import build
from bench.scale import interfaces, one_edit
from bench.subjects import AgentProcess, Listener

ENTRIES = 10_000


def test_replies_larger_than_the_window_left_arrive_whole(tmp_path, yang_dirs):
    async def run() -> list[int]:
        agent = AgentProcess(tmp_path / "agent", yang_dirs)
        lst = Listener()
        sizes = []
        try:
            agent.start([agent.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])])
            client = await agent.session(lst, timeout=30)
            try:
                await asyncio.wait_for(client.edit_config(interfaces(0, ENTRIES)), 60)
                for k in range(6):
                    # bounded: a stalled reply fails the test instead of hanging it
                    await asyncio.wait_for(client.edit_config(one_edit(k)), 30)
                    reply = await asyncio.wait_for(client.get_config(), 30)
                    assert reply.count("<interface>") == ENTRIES and f"edit {k}<" in reply
                    sizes.append(len(reply))
            finally:
                client.abort()
        finally:
            agent.stop()
            lst.close()
        return sizes

    sizes = asyncio.run(run())
    # each reply is most of asyncssh's 2 MB window: from the second one on,
    # every reply waits for the window
    assert min(sizes) > 1_000_000
