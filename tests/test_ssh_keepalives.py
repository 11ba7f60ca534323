"""SSH keepalives (RFC 8071 S7, ietf-ssh-server keepalives): a manager that
stops answering is dropped; without the container nothing is probed.

The managers are ncclient in child processes; SIGSTOP freezes one the way a
hung manager host would (its kernel still acknowledges TCP, the SSH client
answers nothing)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from .support import client_edit, start_two_managers, wait_for

MANAGER = """
import socket, sys, time
from ncclient import manager
sock = socket.socket(fileno=int(sys.argv[1]))
m = manager.connect_ssh(sock=sock, host="127.0.0.1", port=int(sys.argv[2]), username="admin",
                        key_filename=sys.argv[3], hostkey_b64=sys.argv[4], allow_agent=False,
                        look_for_keys=False, timeout=20)
print("session", m.session_id, flush=True)
time.sleep(600)
"""


def _manager(harness, lst) -> subprocess.Popen:
    conn = lst.accept_raw()
    proc = subprocess.Popen(
        [sys.executable, "-c", MANAGER, str(conn.fileno()), str(lst.port), str(harness.client_key_file), harness.host_b64],
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=[conn.fileno()],
    )
    conn.close()
    assert proc.stdout.readline().startswith("session")
    return proc


def _session_of(harness, client: str):
    return harness.agent.callhome.states[client].connected_endpoint


def test_silent_manager_is_dropped_only_with_keepalives(harness):
    max_wait, max_attempts = 1, 2
    l1, l2 = start_two_managers(harness, ("probed", "plain"), endpoints={"probed": dict(ssh_keepalives=(max_wait, max_attempts))})
    probed, plain = _manager(harness, l1), _manager(harness, l2)
    try:
        assert wait_for(lambda: _session_of(harness, "probed") == "a" and _session_of(harness, "plain") == "a")
        # a live manager answers the probes: well past the keepalive window, still connected
        time.sleep(2 * (max_attempts + 1) * max_wait)
        assert harness.agent.callhome.states["probed"].connections == 1 and _session_of(harness, "probed") == "a"

        for proc in (probed, plain):
            os.kill(proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        assert wait_for(lambda: _session_of(harness, "probed") is None, timeout=30)
        dropped_after = time.monotonic() - t0
        # asyncssh: a probe after max-wait s of silence, one every max-wait s,
        # dropped when max-attempts went unanswered: (max-attempts + 1) x max-wait
        print(f"silent manager dropped after {dropped_after:.1f} s "
              f"(max-wait {max_wait} s, max-attempts {max_attempts})")
        assert dropped_after >= max_attempts * max_wait * 0.8
        # without keepalives nothing notices (the kernel's TCP keepalives are off too)
        time.sleep((max_attempts + 1) * max_wait)
        assert _session_of(harness, "plain") == "a" and harness.agent.callhome.states["plain"].connections == 1
    finally:
        for proc in (probed, plain):
            proc.kill()
            proc.wait()


def test_ssh_keepalives_switched_on_in_place(harness, caplog):
    """Turning SSH keepalives on for a connected manager's endpoint keeps its
    session, and from then on a frozen manager is dropped."""

    caplog.set_level(logging.INFO, logger="agent.callhome")
    l1, l2 = start_two_managers(harness, ("probed", "admin"))
    probed = _manager(harness, l1)
    try:
        m = l2.accept(harness)
        assert wait_for(lambda: _session_of(harness, "probed") == "a")
        m.edit_config(target="running", config=client_edit("probed",
            "<endpoints><endpoint><name>a</name><ssh><ssh-server-parameters><keepalives><max-wait>1</max-wait>"
            "<max-attempts>2</max-attempts></keepalives></ssh-server-parameters></ssh></endpoint></endpoints>"))
        assert "SSH keepalives on a retuned in place (every 1 s, 2 unanswered)" in caplog.text
        time.sleep(4)  # the live manager answers the probes
        assert _session_of(harness, "probed") == "a" and harness.agent.callhome.states["probed"].connections == 1
        os.kill(probed.pid, signal.SIGSTOP)
        assert wait_for(lambda: _session_of(harness, "probed") is None, timeout=15)
        m.close_session()
    finally:
        probed.kill()
        probed.wait()
