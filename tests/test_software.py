"""Firmware update over NETCONF on the simulated board (agent/plugins/software.py):
YANG 1.1 actions sent by ncclient, bundles served by a loopback HTTP(S)
server, the A/B slots in files, restarts of the agent as the board's reboots."""

from __future__ import annotations

import functools
import http.server
import socket
import ssl
import threading

import pytest
from ncclient.operations import RPCError

from agent.callhome import build
from agent.hal.sim import SimBoard
from agent.plugins.software import SoftwarePlugin

from .support import pki, wait_for, yanglint
from .support.bundles import bundle
from .support.software import BBF, NS_YANG, NSH, NSS, download, events, on_revision, revisions, software_xml

pytestmark = pytest.mark.skipif(not (BBF / "bbf-software-management@2025-07-02.yang").exists(),
                                reason="bbf-software-management (../shared/yang-bbf) is not here")


# -- bundles served over HTTP(S) ----------------------------------------------------


class Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class WebServer:
    """A loopback HTTP and HTTPS server for the bundles, and a port that
    accepts connections and never answers."""

    def __init__(self, root, tls_ctx: ssl.SSLContext) -> None:
        handler = functools.partial(Files, directory=str(root))
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.https = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.https.socket = tls_ctx.wrap_socket(self.https.socket, server_side=True)
        self.silent = socket.create_server(("127.0.0.1", 0), backlog=8)
        for server in (self.http, self.https):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def url(self, name: str, tls: bool = False) -> str:
        server = self.https if tls else self.http
        return f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}/{name}"

    @property
    def silent_url(self) -> str:
        return f"http://127.0.0.1:{self.silent.getsockname()[1]}/never.bundle"

    def close(self) -> None:
        for server in (self.http, self.https):
            server.shutdown()
            server.server_close()
        self.silent.close()


@pytest.fixture
def firmware(tmp_path, harness):
    """Vendor key in the board's keyring, the bundles on a web server."""
    vendor = pki.ca("vendor firmware signing")
    stranger = pki.ca("someone else")
    harness.state_dir.mkdir(parents=True, exist_ok=True)
    vendor.write_cert(harness.state_dir / "firmware-keyring.pem")
    root = tmp_path / "www"
    root.mkdir()
    (root / "v2.bundle").write_bytes(bundle(vendor, "2.0"))
    good = bundle(vendor, "2.0-corrupt")
    corrupt = bytearray(good)
    corrupt[100] ^= 0xFF  # one flipped bit in the image: the signature no longer matches
    (root / "corrupt.bundle").write_bytes(bytes(corrupt))
    (root / "stranger.bundle").write_bytes(bundle(stranger, "6.6.6"))
    (root / "other-board.bundle").write_bytes(bundle(vendor, "3.0", compatible="another-board"))
    web_ca = pki.ca("web ca")
    server_cert = pki.leaf("127.0.0.1", web_ca, ips=("127.0.0.1",), server=True)
    cert, key = server_cert.write(tmp_path, "web")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    web = WebServer(root, tls)
    client_tls = ssl.create_default_context(cafile=str(web_ca.write_cert(tmp_path / "web-ca.pem")))
    yield web, client_tls
    web.close()


# -- the agent -------------------------------------------------------------------


def start(harness, client_tls, first: bool = True, **kw):
    """Boot the simulated board (its slots live in the state dir) and accept its call home."""
    board = SimBoard(harness.state_dir)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("commit_delay", 3.0)
    kw.setdefault("reboot_delay", 0.5)
    plugin = SoftwarePlugin(ssl_context=client_tls, **kw)
    if first:
        harness.lst = harness.listener()
        config = harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", harness.lst.port)])])
    else:
        config = None  # the stored configuration, as after a reboot
    harness.start(config, board=board, plugins=[plugin], yang_dirs=(str(BBF), *harness.yang_dirs))
    m = harness.lst.accept(harness)
    return board, plugin, m


def reboot(harness, client_tls, **kw):
    harness.stop()
    harness.lst.reset()
    return start(harness, client_tls, first=False, **kw)


# -- the tests -------------------------------------------------------------------


def test_update_activate_restart_call_home_commit(harness, firmware):
    web, client_tls = firmware
    board, plugin, m = start(harness, client_tls)
    revs = revisions(m)
    assert revs[0]["version"] == "sim" and revs[0]["is-active"] == "true" and revs[0]["is-committed"] == "true"
    assert revs[1]["state"] == "not-available" and revs[1]["is-valid"] == "false"
    m.create_subscription()

    reply = download(m, web.url("v2.bundle", tls=True))
    assert "<id>1</id>" in reply.xml
    assert revisions(m)[1]["state"] in ("downloading", "available")
    assert events(m, 1) == [("revision-downloaded", "")]
    revs = revisions(m)
    assert revs[1]["state"] == "available" and revs[1]["version"] == "2.0" and revs[1]["is-valid"] == "true"
    assert revs[1]["hash"].startswith("sha256:") and "download-completed" in revs[1]
    assert revs[0]["is-active"] == "true"  # nothing changed for the running slot

    on_revision(m, 1, "activate", "activate")
    assert wait_for(lambda: board.slots.reboot_requested, timeout=10)
    m.close_session()

    # the board restarts into slot B, on trial
    board, plugin, m = reboot(harness, client_tls)
    assert board.slots.booted == "B" and board.slots.trial == "B"
    m.create_subscription()
    revs = revisions(m)
    assert revs[1]["is-active"] == "true" and revs[1]["is-committed"] == "false"
    assert revs[0]["is-committed"] == "true"
    assert "<firmware-rev>2.0</firmware-rev>" in m.get(filter=("subtree", f'<hardware xmlns="{NSH}"/>')).data_xml
    # it called home: after commit_delay it commits itself
    assert events(m, 1) == [("revision-committed", "")]
    revs = revisions(m)
    assert revs[1]["is-committed"] == "true" and revs[0]["is-committed"] == "false"
    assert board.slots.primary == "B" and board.slots.trial is None
    m.close_session()

    board, _, m = reboot(harness, client_tls)
    assert board.slots.booted == "B" and board.slots.trial is None  # committed: no more tries used
    m.close_session()


@pytest.mark.parametrize("name, tag", [
    ("corrupt.bundle", "revision-corrupt"),
    ("stranger.bundle", "revision-not-valid"),
    ("other-board.bundle", "incompatible-version"),
    ("missing.bundle", "file-not-found"),
    (None, "connection-time-out"),
])
def test_bad_downloads_end_in_download_failed_and_touch_no_slot(harness, firmware, name, tag):
    web, client_tls = firmware
    board, plugin, m = start(harness, client_tls, timeout=2.0)
    m.create_subscription()
    download(m, web.silent_url if name is None else web.url(name))
    assert events(m, 1) == [("download-revision-failed", tag)]
    revs = revisions(m)
    assert revs[0]["is-active"] == "true" and revs[0]["is-committed"] == "true" and revs[0]["version"] == "sim"
    assert revs[1]["state"] == "not-available"
    assert board.slots.booted == "A" and board.slots.trial is None
    assert not (harness.state_dir / "slots" / "B.img").exists()
    m.close_session()


def test_abort_download(harness, firmware):
    web, client_tls = firmware
    board, plugin, m = start(harness, client_tls, timeout=60.0)
    m.create_subscription()
    download(m, web.silent_url)
    assert revisions(m)[1]["state"] == "downloading"  # and the session is served meanwhile
    on_revision(m, 1, "abort-download", "abort-download")
    assert events(m, 2) == [("download-revision-aborted", ""), ("download-revision-failed", "action-aborted")]
    assert revisions(m)[1]["state"] == "not-available" and board.slots.booted == "A"
    with pytest.raises(RPCError) as err:  # nothing left to abort: the model's when says the action is gone
        on_revision(m, 1, "abort-download", "abort-download")
    assert err.value.tag == "data-missing" and "downloading" in err.value.message
    m.close_session()


def test_a_trial_image_that_never_calls_home_falls_back(harness, firmware):
    web, client_tls = firmware
    board, plugin, m = start(harness, client_tls)
    m.create_subscription()
    download(m, web.url("v2.bundle"))
    assert events(m, 1) == [("revision-downloaded", "")]
    on_revision(m, 1, "activate", "activate")
    assert wait_for(lambda: board.slots.reboot_requested, timeout=10)
    m.close_session()
    harness.stop()
    # the new image hangs before calling home: the watchdog resets the board, three times
    for _ in range(3):
        assert SimBoard(harness.state_dir).slots.booted == "B"
    harness.lst.reset()
    board, plugin, m = start(harness, client_tls, first=False)
    assert board.slots.booted == "A" and board.slots.fell_back_from == "B"
    revs = revisions(m)
    assert revs[0]["is-active"] == "true" and revs[0]["is-committed"] == "true"
    assert revs[1]["is-active"] == "false" and revs[1]["version"] == "2.0"
    m.close_session()


def test_actions_are_validated_and_access_controlled(harness, firmware):
    web, client_tls = firmware
    board, plugin, m = start(harness, client_tls)
    # the instance must exist (RFC 7950 7.15.2)
    with pytest.raises(RPCError) as err:
        on_revision(m, 7, "activate", "activate")
    assert err.value.tag == "data-missing"
    # the input is validated: the running revision cannot be replaced (a must of the model)
    with pytest.raises(RPCError) as err:
        download(m, web.url("v2.bundle"), rid=0)
    assert err.value.tag == "operation-failed" and "active" in err.value.message
    # an empty slot cannot be activated: the when of the activate container is false
    with pytest.raises(RPCError) as err:
        on_revision(m, 1, "activate", "activate")
    assert err.value.tag == "data-missing" and "not available" in err.value.message
    # nor the running one: the model allows it (in-use), the plugin refuses
    with pytest.raises(RPCError) as err:
        on_revision(m, 0, "activate", "activate")
    assert err.value.tag == "operation-failed" and "already active" in err.value.message
    # NACM: the admins' rule list gets a rule denying exec on the download action
    m.edit_config(target="running", config=f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"
        xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">
      <nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
        <rule-list nc:operation="replace"><name>{build.ADMIN_GROUP}</name><group>{build.ADMIN_GROUP}</group>
          <rule><name>no-download</name><module-name>bbf-software-management</module-name>
            <path xmlns:hw="{NSH}" xmlns:swm="{NSS}">/hw:hardware/hw:component/swm:software/swm:software/swm:revisions/swm:download/swm:download</path>
            <access-operations>exec</access-operations><action>deny</action></rule>
          <rule><name>permit-all</name><module-name>*</module-name><access-operations>*</access-operations><action>permit</action></rule>
        </rule-list>
      </nacm></config>""")
    with pytest.raises(RPCError) as err:
        download(m, web.url("v2.bundle"))
    assert err.value.tag == "access-denied"
    assert not plugin.downloads
    on_revision(m, 0, "commit", "commit")  # other actions still run
    m.close_session()


def test_action_and_reply_validate_with_yanglint(harness, firmware, tmp_path, yang_dirs):
    web, client_tls = firmware
    board, plugin, m = start(harness, client_tls)
    request = software_xml("<download><download>"
                           f"<source><url>{web.url('v2.bundle')}</url></source>"
                           "<target><selected-by-user><operation>replace</operation>"
                           "<replace><id>1</id></replace></selected-by-user></target></download></download>")
    # the operational data the action refers to, taken before it runs
    ops = harness.call(harness.agent.server.state(None))
    try:
        operational = ops.to_xml()
    finally:
        ops.free()
    # yanglint looks for the action's direct parent, a non-presence container
    # that libyang leaves out of parsed data: name it
    operational = operational.replace("<revisions>", "<revisions><download/>", 1)
    m.create_subscription()
    reply = download(m, web.url("v2.bundle"))
    notification = None
    while notification is None or "revision-downloaded" not in notification:
        n = m.take_notification(timeout=20)
        assert n is not None
        notification = n.notification_xml
    m.close_session()
    rpc_file = tmp_path / "action.xml"
    rpc_file.write_text(f'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1"><action xmlns="{NS_YANG}">{request}</action></rpc>')
    reply_file = tmp_path / "reply.xml"
    reply_file.write_text(reply.xml)
    state_file = tmp_path / "operational.xml"
    state_file.write_text(operational)
    bbf = ["-p", str(BBF), "-F", f"{'bbf-software-management'}:{','.join(SoftwarePlugin.modules['bbf-software-management'])}",
           str(BBF / "bbf-software-management@2025-07-02.yang")]
    checked = yanglint("nc-rpc", rpc_file, yang_dirs, *bbf, "-O", str(state_file))
    assert checked.returncode == 0, checked.stderr
    checked = yanglint("nc-reply", reply_file, yang_dirs, *bbf, "-O", str(state_file), "-R", str(rpc_file))
    assert checked.returncode == 0, checked.stderr
    # the nested notification, with its parent revision in the operational data
    notif_file = tmp_path / "notification.xml"
    notif_file.write_text(notification)
    checked = yanglint("nc-notif", notif_file, yang_dirs, *bbf, "-O", str(state_file))
    assert checked.returncode == 0, checked.stderr


def test_size_limit_untrusted_https_busy_and_delete(harness, firmware):
    web, client_tls = firmware
    board, plugin, m = start(harness, client_tls, max_size=1000)
    m.create_subscription()
    download(m, web.url("v2.bundle"))  # about 1.6 kB
    assert events(m, 1) == [("download-revision-failed", "invalid-file-size")]
    plugin.max_size = 1 << 20
    plugin.ssl_context = None  # the system's CAs: the loopback server's certificate is not among them
    download(m, web.url("v2.bundle", tls=True))
    assert events(m, 1) == [("download-revision-failed", "protocol-execution-error")]
    plugin.ssl_context = client_tls
    plugin.timeout = 60.0
    download(m, web.silent_url)
    with pytest.raises(RPCError) as err:  # one download at a time: the model's when hides the action meanwhile
        download(m, web.url("v2.bundle"))
    assert err.value.tag == "data-missing"
    on_revision(m, 1, "abort-download", "abort-download")
    assert events(m, 2)[0] == ("download-revision-aborted", "")
    download(m, web.url("v2.bundle"))
    assert events(m, 1) == [("revision-downloaded", "")]
    with pytest.raises(RPCError) as err:  # the running revision cannot be deleted (the model's when)
        on_revision(m, 0, "delete", "delete")
    assert err.value.tag == "data-missing"
    on_revision(m, 1, "delete", "delete")
    n = m.take_notification(timeout=10)
    assert n is not None and "<revision-deleted><id>1</id><version>2.0</version></revision-deleted>" in n.notification_xml
    assert revisions(m)[1]["state"] == "not-available" and not (harness.state_dir / "slots" / "B.img").exists()
    m.close_session()


def test_the_agent_process_reboots_into_the_new_slot(harness, firmware, yang_dirs):
    """`dpu-agent run --board sim`: activate ends the process (the simulated
    reboot), the next start runs slot B, calls home and commits it."""
    import os
    import subprocess
    import sys

    web, _ = firmware
    cfg = harness.tmp / "initial.xml"
    lst = harness.listener()
    cfg.write_text(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))
    env = dict(os.environ, DPU_AGENT_YANG_DIR=":".join([str(BBF), *yang_dirs]))
    cmd = [sys.executable, "-m", "agent", "run", "--board", "sim", "--state-dir", str(harness.state_dir),
           "--config", str(cfg), "--plugin", "agent.plugins.software:SoftwarePlugin", "--watchdog", "none"]

    def run():
        return subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)

    proc = run()
    try:
        m = lst.accept(harness)
        m.create_subscription()
        download(m, web.url("v2.bundle"))
        assert events(m, 1) == [("revision-downloaded", "")]
        on_revision(m, 1, "activate", "activate")
        assert proc.wait(20) == 0  # the board "rebooted"
        proc = run()  # its supervisor starts it again
        lst.reset()
        m = lst.accept(harness)
        m.create_subscription()
        assert "<firmware-rev>2.0</firmware-rev>" in m.get(filter=("subtree", f'<hardware xmlns="{NSH}"/>')).data_xml
        assert events(m, 1, timeout=30) == [("revision-committed", "")]  # after the default 10 s
        revs = revisions(m)
        assert revs[1]["is-active"] == "true" and revs[1]["is-committed"] == "true"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)
