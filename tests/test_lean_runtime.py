"""The running agent is lean: with SSH and TLS endpoints configured and
managers served on both, its process never imports asyncssh or
cryptography (issue 15). Provisioning and the tests still may."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from agent.callhome import build

from .support import Listener

#: runs ``dpu-agent`` in this interpreter and writes, as it exits, every
#: module the process imported (sys.modules of the agent, not of the test)
LAUNCH = """
import atexit, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
from agent.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def _maps(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def test_running_agent_imports_neither_asyncssh_nor_cryptography(tmp_path, yang_dirs, harness):
    ssh_lst, tls_lst = Listener(), Listener()
    modules = tmp_path / "modules.txt"
    try:
        cfg = tmp_path / "initial.xml"
        cfg.write_text(harness.config([
            harness.client("ssh", [build.Endpoint("s", "127.0.0.1", ssh_lst.port)]),
            harness.client("tls", [build.Endpoint("t", "127.0.0.1", tls_lst.port, transport="tls")], tls=harness.tls.server()),
        ]))
        env = dict(os.environ, DPU_AGENT_YANG_DIR=yang_dirs[0])
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(modules), "run", "--state-dir", str(harness.state_dir), "--config", str(cfg)],
            env=env, stderr=subprocess.PIPE, text=True,
        )
        try:
            over_ssh = ssh_lst.accept(harness)
            over_tls = tls_lst.accept_tls(harness.tls.context())
            assert "<netconf-server" in over_ssh.get_config(source="running").data_xml
            assert b"<netconf-server" in over_tls.get_config(source="running").data_xml
            maps = _maps(proc.pid)
            assert "libssh.so" in maps  # the SSH server really is libssh, in this process
            assert "_rust.abi3.so" not in maps  # cryptography's extension
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        ssh_lst.close()
        tls_lst.close()
    imported = set(modules.read_text().split())
    assert "agent.transport.ssh" in imported and "agent.transport.tls" in imported
    assert not {m for m in imported if m.split(".")[0] in ("asyncssh", "cryptography", "paramiko")}
    # C declarations are parsed ahead of time (the *_build.py modules), not at start-up
    assert not {m for m in imported if m.split(".")[0] in ("pycparser", "cffi")}
    # plugin discovery reads entry_points.txt itself (agent/plugins/entrypoints.py)
    assert "importlib.metadata" not in imported and "email" not in imported


def test_generated_libssh_ffi_is_up_to_date(tmp_path):
    """agent/transport/_libssh_cffi.py is what libssh_build.py makes of its CDEF."""
    from agent.transport import libssh_build

    fresh = tmp_path / "_libssh_cffi.py"
    libssh_build.generate(fresh)
    assert fresh.read_text() == libssh_build.TARGET.read_text(), "run: python -m agent.transport.libssh_build"


def test_generated_malloc_ffi_is_up_to_date(tmp_path):
    """agent/_malloc_cffi.py is what memory_build.py makes of its CDEF."""
    from agent import memory_build

    fresh = tmp_path / "_malloc_cffi.py"
    memory_build.generate(fresh)
    assert fresh.read_text() == memory_build.TARGET.read_text(), "run: python -m agent.memory_build"


def test_ssh_and_tls_implement_the_transport_contract():
    import inspect

    from agent.transport import base, ssh, tls

    for module in (ssh, tls):
        for name in ("params_from_config", "serve"):
            mine = inspect.signature(getattr(module, name))
            contract = inspect.signature(getattr(base.Transport, name))
            assert list(mine.parameters) == [p for p in contract.parameters if p != "self"], (module.__name__, name)
    assert issubclass(ssh.SshConnection, base.Connection) and issubclass(tls.TlsConnection, base.Connection)


#: runs ``dpu-agent`` in this interpreter and writes the modules it has
#: imported when its first NETCONF session opens (the <hello> not sent yet)
AT_FIRST_SESSION = """
import sys
import agent.server
out = sys.argv.pop(1)
open_session = agent.server.NetconfServer.open_session
def first(self, *args, **kw):
    if not hasattr(first, "done"):
        first.done = True
        open(out, "w").write("\\n".join(sorted(sys.modules)))
    return open_session(self, *args, **kw)
agent.server.NetconfServer.open_session = first
from agent.cli import main
raise SystemExit(main(sys.argv[1:]))
"""

#: not needed for a boot from the store up to the first <hello>: the RPC
#: handlers come once it is out, the rest only when something asks for them
#: (an initial configuration, a decimal64 value, a settings file, syslog, a TLS endpoint, a
#: firmware install; argparse's help width, found without shutil: agent/cli.py; dataclasses,
#: which Settings and the NACM policy do without)
AFTER_THE_HELLO = ("agent.rpc.actions", "agent.rpc.ietf_netconf", "agent.rpc.ietf_netconf_monitoring",
                   "agent.rpc.ietf_netconf_nmda", "agent.rpc.notifications", "agent.datastore.edit",
                   "agent.initial_config", "decimal", "tomllib", "logging.handlers", "agent.transport.tls",
                   "shutil", "tempfile", "dataclasses")


def test_a_boot_from_the_store_imports_only_what_the_first_hello_needs(tmp_path, yang_dirs, harness):
    lst = Listener()
    cfg = tmp_path / "initial.xml"
    cfg.write_text(harness.config([harness.client("m", [build.Endpoint("e", "127.0.0.1", lst.port)])]))
    env = dict(os.environ, DPU_AGENT_YANG_DIR=yang_dirs[0])
    run = ["run", "--state-dir", str(harness.state_dir)]
    try:
        for boot, extra in (("first", ["--config", str(cfg)]), ("from-store", [])):
            modules = tmp_path / f"{boot}.txt"
            proc = subprocess.Popen([sys.executable, "-c", AT_FIRST_SESSION, str(modules), *run, *extra],
                                    env=env, stderr=subprocess.PIPE, text=True)
            try:
                m = lst.accept(harness)
                # the handlers are there by the first RPC
                assert "<netconf-server" in m.get_config(source="running").data_xml
                m.close_session()
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(20) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
            lst = lst.reset()  # a call home the stopped agent had started again
    finally:
        lst.close()
    first = set((tmp_path / "first.txt").read_text().split())
    from_store = set((tmp_path / "from-store.txt").read_text().split())
    assert "agent.initial_config" in first  # what the check looks for is really imported when needed
    assert "agent.transport.ssh" in from_store and "agent.server" in from_store
    assert from_store & set(AFTER_THE_HELLO) == set()


def test_start_up_runs_without_the_collector_and_the_agent_with_it(tmp_path, yang_dirs, harness):
    """``dpu-agent run`` pauses the cyclic collector for its start-up
    (agent/memory.py pause_gc) and has it back, with nothing left frozen,
    by the time a manager is served (and whether or not one answers)."""
    launch = """
import gc, sys
import agent.daemon, agent.server
out = sys.argv.pop(1)
start, open_session = agent.daemon.Agent.start, agent.server.NetconfServer.open_session
async def starting(self):
    starting.collecting = gc.isenabled()
    await start(self)
def first(self, *args, **kw):
    if not hasattr(first, "done"):
        first.done = True
        open(out, "w").write(f"{starting.collecting} {gc.isenabled()} {gc.get_freeze_count()}")
    return open_session(self, *args, **kw)
agent.daemon.Agent.start, agent.server.NetconfServer.open_session = starting, first
from agent.cli import main
sys.argv[0] = "dpu-agent"
raise SystemExit(main())  # as the installed command: the process is the agent
"""
    lst = Listener()
    cfg = tmp_path / "initial.xml"
    cfg.write_text(harness.config([harness.client("m", [build.Endpoint("e", "127.0.0.1", lst.port)])]))
    env = dict(os.environ, DPU_AGENT_YANG_DIR=yang_dirs[0], PYTHONMALLOC="malloc")
    out = tmp_path / "gc.txt"
    proc = subprocess.Popen([sys.executable, "-c", launch, str(out), "run", "--state-dir", str(harness.state_dir),
                             "--config", str(cfg)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        m = lst.accept(harness)
        assert "<netconf-server" in m.get_config(source="running").data_xml
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        lst.close()
    assert out.read_text() == "False True 0"


def test_the_collector_paused_for_start_up_resumes_with_start_ups_objects_in_the_oldest_generation():
    import gc

    from agent import memory

    assert gc.isenabled()
    memory.pause_gc()
    try:
        assert not gc.isenabled()
        kept = [[i] for i in range(5000)]  # tracked containers, young
        assert any(o is kept for o in gc.get_objects(generation=0))
    finally:
        memory.resume_gc()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert gc.get_count()[0] < 1000  # the next young collection does not walk them
    assert any(o is kept for o in gc.get_objects(generation=2))
    # a collector someone else stopped stays stopped
    gc.disable()
    try:
        memory.pause_gc()
        memory.resume_gc()
        assert not gc.isenabled()
    finally:
        gc.enable()
