"""Interop: managers written by others accept the agent's call home, each
with its own listener, over SSH and (where it can) TLS, and each does
hello, <get-config> and an <edit-config>.

- ncclient 0.7.1 ``manager.call_home`` (SSH only; host key pinned)
- netconf-client 3.6 ``CallhomeManager`` (``accept_one_ssh``: it never checks
  the host key; ``accept_one_tls``: TLS 1.2 only, no host name check)
- a C client on Debian's libnetconf2 (``nc_client_{ssh,tls}_ch_add_bind_listen``,
  ``nc_accept_callhome``), compiled here from ``nc_callhome_client.c``; it pins
  the host key by SHA-256 and verifies the device certificate against the vendor CA
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.callhome import build
from agent.callhome.config import read_clients

from .support import CALL_HOME_FILTER, client_edit, free_port, wait_for

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def nc_client(tmp_path_factory) -> Path:
    """The libnetconf2 call-home client, built for this run."""
    missing = [tool for tool in ("gcc", "pkg-config") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make test installs them)")
    pkgs = ["libnetconf2", "libyang", "libssh", "openssl"]
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", *pkgs], capture_output=True, text=True)
    if flags.returncode != 0:
        pytest.skip(f"libnetconf2-dev, libssh-dev or libssl-dev missing (make test installs them): {flags.stderr.strip()}")
    out = tmp_path_factory.mktemp("nc-client") / "nc_callhome_client"
    # libnetconf2's headers declare the SSH and TLS call-home API only with these
    cmd = ["gcc", "-Wall", "-Werror", "-DNC_ENABLED_SSH", "-DNC_ENABLED_TLS", "-o", str(out),
           str(HERE / "nc_callhome_client.c"), *flags.stdout.split()]
    build_run = subprocess.run(cmd, capture_output=True, text=True)
    assert build_run.returncode == 0, build_run.stderr
    return out


def _edit(max_attempts: int) -> str:
    return client_edit("nms", f"<reconnect-strategy><max-attempts>{max_attempts}</max-attempts></reconnect-strategy>")


def _text(data) -> str:
    return data.decode() if isinstance(data, bytes) else data


def _start(harness, transport: str) -> int:
    """An agent calling one port where nothing listens yet: it retries every
    second until the manager under test binds its own listener there."""
    port = free_port()
    kw = {"tls": harness.tls.server()} if transport == "tls" else {}
    ep = build.Endpoint("m", "127.0.0.1", port, transport=transport)
    harness.start(harness.config([harness.client("nms", [ep], **kw)]))
    return port


def _python_manager(m, capabilities, edit_value: int) -> str:
    """hello (done by connecting), get-config, edit-config, get-config again."""
    assert "urn:ietf:params:netconf:base:1.1" in list(capabilities)
    data = _text(m.get_config(source="running").data_xml)
    m.edit_config(target="running", config=_edit(edit_value))
    after = _text(m.get_config(source="running", filter=CALL_HOME_FILTER).data_xml)
    assert f"<max-attempts>{edit_value}</max-attempts>" in after
    m.close_session()
    return data


def _agent_saw(harness, caplog, transport: str, edit_value: int) -> None:
    assert wait_for(lambda: read_clients(harness.agent.datastore.running)["nms"].max_attempts == edit_value)
    assert f"user admin over netconf-{transport}" in caplog.text


def test_ncclient_ssh(harness, caplog):
    from ncclient import manager

    caplog.set_level(logging.INFO, logger="agent")
    port = _start(harness, "ssh")
    m = manager.call_home(
        host="127.0.0.1", port=port, username="admin", key_filename=str(harness.client_key_file),
        hostkey_b64=harness.host_b64, allow_agent=False, look_for_keys=False, timeout=30,
    )
    data = _python_manager(m, m.server_capabilities, 5)
    assert f"<remote-port>{port}</remote-port>" in data
    _agent_saw(harness, caplog, "ssh", 5)


@pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLSv1_2 is deprecated:DeprecationWarning")
@pytest.mark.parametrize("transport", ["ssh", "tls"])
def test_netconf_client(harness, caplog, transport):
    from netconf_client.connect import CallhomeManager
    from netconf_client.ncclient import Manager

    caplog.set_level(logging.INFO, logger="agent")
    port = _start(harness, transport)
    with CallhomeManager(bind_to="127.0.0.1", port=port) as listener:
        listener.server_socket.settimeout(30)
        if transport == "ssh":
            session = listener.accept_one_ssh(username="admin", key_filename=str(harness.client_key_file), general_timeout=30)
        else:
            t = harness.tls
            session = listener.accept_one_tls(
                keyfile=str(t.manager_key), certfile=str(t.manager_cert), ca_certs=str(t.vendor_root_file), general_timeout=30
            )
            assert session.sock.version() == "TLSv1.2"
    data = _python_manager(Manager(session, timeout=30), session.server_capabilities, 6)
    assert f"<remote-port>{port}</remote-port>" in data
    _agent_saw(harness, caplog, transport, 6)


@pytest.mark.parametrize("transport", ["ssh", "tls"])
def test_libnetconf2(harness, caplog, nc_client, transport):
    caplog.set_level(logging.INFO, logger="agent")
    port = _start(harness, transport)
    edit = (f'<netconf-server xmlns="{build.NS_NCS}"><call-home><netconf-client><name>nms</name>'
            "<reconnect-strategy><max-attempts>7</max-attempts></reconnect-strategy></netconf-client></call-home></netconf-server>")
    if transport == "ssh":
        pub = harness.tmp / "client.pub"
        pub.write_bytes(harness.client_key.export_public_key())
        host_sha256 = hashlib.sha256(harness.host_key.public_data).hexdigest()
        args = ["ssh", str(port), "admin", str(pub), str(harness.client_key_file), host_sha256, edit]
    else:
        t = harness.tls
        args = ["tls", str(port), str(t.manager_cert), str(t.manager_key), str(t.vendor_root_file), edit]
    run = subprocess.run([str(nc_client), *args], capture_output=True, text=True, timeout=90)
    # libnetconf2 2.0 logs that get-schema of modules it merely guesses at
    # (e.g. ietf-netconf-nmda) fails: the agent rightly answers invalid-value
    assert run.returncode == 0, run.stdout + run.stderr
    data = run.stdout.split("DATA-BEGIN", 1)[1].split("DATA-END", 1)[0]
    assert "<name>nms</name>" in data and f"<remote-port>{port}</remote-port>" in data
    assert "edit-config: ok" in run.stdout
    _agent_saw(harness, caplog, transport, 7)
