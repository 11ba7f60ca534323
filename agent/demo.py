"""``dpu-agent demo``: one end-to-end call home on the simulated board.

The agent runs in this process; the manager is ncclient's call-home listener
in a worker thread (ncclient blocks). Everything goes over real loopback
sockets and real SSH.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import socket
import tempfile
import time
import xml.dom.minidom
from pathlib import Path
from typing import Any

import asyncssh

from .callhome import build
from .daemon import Agent
from .settings import Settings
from .transport import keys, tcp

CLIENT = "operator-pma"
NS_NCS = build.NS_NCS
NS_AGENT = "urn:dpu-agent:yang:dpu-agent"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pretty(xml_text: str, indent: str = "    ") -> str:
    pretty = xml.dom.minidom.parseString(xml_text).toprettyxml(indent="  ")
    lines = [line for line in pretty.splitlines()[1:] if line.strip()]
    return "\n".join(indent + line for line in lines)


def _accept(port: int, key_file: Path, host_key_b64: str, timeout: float = 30) -> Any:  # an ncclient Manager
    """ncclient's manager.call_home: listen, accept the DPU, run SSH as client
    with the device's host key pinned."""
    from ncclient import manager

    return manager.call_home(
        host="127.0.0.1",
        port=port,
        username="pma",
        key_filename=str(key_file),
        hostkey_b64=host_key_b64,
        allow_agent=False,
        look_for_keys=False,
        timeout=timeout,
    )


def run_demo(yang_dirs: tuple[str, ...] | None) -> int:
    for noisy in ("ncclient", "paramiko", "asyncssh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # the transcript tells the story; the agent's own log would interleave with it
    logging.getLogger("agent").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="dpu-agent-demo-"))
    try:
        return asyncio.run(_demo(work, yang_dirs))
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _demo(work: Path, yang_dirs: tuple[str, ...] | None) -> int:
    say = print
    state = work / "state"
    (state / "keys").mkdir(parents=True, mode=0o700)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    keys.write_key_file(state / "keys" / "host.key", host_key.export_private_key())
    host_b64 = base64.b64encode(host_key.public_data).decode()
    pma_key = asyncssh.generate_private_key("ssh-ed25519")
    pma_key.write_private_key(str(work / "pma.key"))
    port = _free_port()

    client = build.Client(
        CLIENT,
        [build.Endpoint("pma-primary", "127.0.0.1", port, keepalives=(60, 3, 10))],
        users={"pma": [base64.b64encode(pma_key.public_data).decode()]},
        max_wait=1,
    )
    (work / "initial.xml").write_text(build.config_xml([client], host_b64))

    say("dpu-agent demo: NETCONF call home (RFC 8071) on the simulated board")
    say("=" * 68)
    agent = Agent(Settings(state_dir=state, yang_dirs=yang_dirs, config_file=work / "initial.xml"))
    await agent.start()
    try:
        assert agent.board is not None  # start() opened it
        say(f"[1] agent started (board {agent.board.name}); it dials the manager at 127.0.0.1:{port}")
        say(f"    device host key {host_key.get_fingerprint()} (Ed25519), pinned by the manager")
        t0 = time.monotonic()
        m = await asyncio.to_thread(_accept, port, work / "pma.key", host_b64)
        say(f"[2] call home accepted by ncclient after {time.monotonic() - t0:.2f} s: NETCONF session-id {m.session_id}")
        caps = list(m.server_capabilities)
        say(f"    the agent announces {len(caps)} capabilities:")
        for cap in caps:
            say(f"      {cap}")

        reply = await asyncio.to_thread(
            m.get_config, source="running", filter=("subtree", f'<netconf-server xmlns="{NS_NCS}"/>')
        )
        say("[3] <get-config> of the call-home subtree:")
        say(_pretty(reply.data_xml))

        edit = (
            '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
            f'<netconf-server xmlns="{NS_NCS}"><call-home><netconf-client><name>{CLIENT}</name>'
            "<endpoints><endpoint><name>pma-primary</name><ssh><tcp-client-parameters><keepalives>"
            "<idle-time>30</idle-time></keepalives></tcp-client-parameters></ssh></endpoint></endpoints>"
            "</netconf-client></call-home></netconf-server></config>"
        )
        say("[4] <edit-config>: keepalive idle-time of endpoint pma-primary 60 s -> 30 s")
        reply = await asyncio.to_thread(m.edit_config, target="running", config=edit)
        say(f"    reply: {'<ok/>' if reply.ok else reply.errors}")

        sock = agent.callhome.states[CLIENT].sock
        assert sock is not None  # the session is up
        ka = tcp.read_keepalives(sock)
        say("[5] the session stayed up: the new keepalives were set on the connected socket itself")
        say("    kernel keepalive options read back from the agent's socket (getsockopt):")
        say("    " + "  ".join(f"{k}={v}" for k, v in ka.items()))
        say(
            "    TCP_USER_TIMEOUT = (idle-time + max-probes x probe-interval) = "
            f"(30 + 3 x 10) s = {ka['TCP_USER_TIMEOUT']} ms; no user-space timer watches the link"
        )
        reply = await asyncio.to_thread(
            m.get, filter=("subtree", f'<agent-state xmlns="{NS_AGENT}"><call-home/></agent-state>')
        )
        same = agent.callhome.states[CLIENT].sock is sock and reply.ok
        say(f"[6] <get> on the same session (session-id {m.session_id}) after the change: "
            + ("answered, same connection" if same else "FAILED"))
        await asyncio.to_thread(m.close_session)
        ok = same and ka["TCP_KEEPIDLE"] == 30 and ka["SO_KEEPALIVE"] == 1
    finally:
        await agent.stop()
    say("[7] sessions closed, agent stopped. Demo " + ("passed." if ok else "FAILED: keepalive mismatch."))
    return 0 if ok else 1
