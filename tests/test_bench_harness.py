"""The bench drives the agent as a separate process with its own keys and
config: this keeps that harness in step with the agent's rules (a key file
the agent refuses, a changed CLI) without running the bench itself, whose
figures are never asserted."""

from __future__ import annotations

import asyncio

from agent.callhome import build
from bench.subjects import AgentProcess, Listener


def test_bench_agent_process_calls_home_and_answers(tmp_path, yang_dirs):
    async def run() -> str:
        agent = AgentProcess(tmp_path / "agent", yang_dirs)
        lst = Listener()
        try:
            agent.start([agent.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])])
            client = await agent.session(lst, timeout=30)
            try:
                return await client.get_config()
            finally:
                await client.close()
        finally:
            agent.stop()
            lst.close()
            assert agent.popen.returncode in (0, -15), "\n".join(line for _, line in agent.log[-20:])

    assert "<netconf-server" in asyncio.run(run())
