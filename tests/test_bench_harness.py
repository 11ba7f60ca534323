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


def test_bench_rpc_rows_run_against_the_agent(tmp_path, yang_dirs):
    """Every call of ``python -m bench --only rpc`` is one the agent takes
    (an <rpc-error> raises), the filters select their rule-list, and the
    policy edit really flips a rule's action; no figure is looked at."""
    from bench import rpc_rate

    async def run() -> tuple[dict[str, dict[str, float]], list[str]]:
        agent = AgentProcess(tmp_path / "agent", yang_dirs)
        lst = Listener()
        try:
            agent.start([agent.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])])
            client = await agent.session(lst, timeout=30)
            try:
                clients, cpu = {"agent": client}, {"agent": agent.cpu}
                rates = await rpc_rate._rates(clients, rpc_rate.BLOCKS, cpu)
                await rpc_rate.load_rule_lists("agent", client)
                rates["agent"].update((await rpc_rate._rates(clients, rpc_rate.BLOCKS, cpu, rpc_rate.FILTERED_CALLS))["agent"])
                policy = f'<nacm xmlns="{build.NS_NACM}"><rule-list><name>bench-policy</name></rule-list></nacm>'
                actions = []
                for i in (1, 2):
                    await client.edit_config(rpc_rate.nacm_policy_edit(i))
                    actions.append(await client.get_config(policy))
                return rates, actions
            finally:
                await client.close()
        finally:
            agent.stop()
            lst.close()

    rates, actions = asyncio.run(run())
    names = [*rpc_rate.CALLS, *rpc_rate.FILTERED_CALLS]
    assert sorted(rates["agent"]) == sorted(names + [f"{n} cpu" for n in names])
    assert "<action>deny</action>" in actions[0] and "<action>permit</action>" in actions[1]
