"""Factory provisioning (``dpu-agent provision``), run as the production line
runs it: a real process writes a state dir, a real agent starts from it, and
managers accept its call home pinning what the report says (ncclient over
SSH, netconf-client over TLS). Bad inputs leave the target as it was."""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import asyncssh
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from agent import cli
from agent.provision import Target, devicekeys, provision
from agent.provision.profile import ProvisionError, profile_from_dict
from agent.transport.cert_to_name import fingerprint

from .support import AgentProcess, free_port, pki, run_agent

NCS = "urn:ietf:params:xml:ns:yang:ietf-netconf-server"


def run_provision(*args, ydir: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_agent(*args, yang_dir=ydir, cwd=cwd, timeout=timeout)


def provisioned(*args, ydir: str, cwd: Path | None = None) -> dict:
    r = run_provision("provision", *args, ydir=ydir, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def snapshot(top: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file and directory under ``top``: content, mode, mtime (ns)."""
    out = {}
    if not top.exists():
        return out
    for p in sorted([top, *top.rglob("*")]):
        st = p.lstat()
        out[str(p.relative_to(top))] = (p.read_bytes() if p.is_file() else b"", st.st_mode, st.st_mtime_ns)
    return out


def started_agent(state: Path, ydir: str) -> AgentProcess:
    """``dpu-agent run`` from a provisioned state dir, as a process."""
    agent = AgentProcess(state.parent, ydir, state_dir=state, args=("--login-timeout", "20"))
    agent.start(log_level=None)
    return agent


def provision_in_process(*args: str, ydir: str, capsys, monkeypatch) -> tuple[int, str, str]:
    """``dpu-agent provision ARGS`` through the command line's entry point in
    this process: exit code, stdout, stderr (a process start costs seconds;
    the end-to-end runs above and below keep the process path covered)."""
    monkeypatch.setenv("DPU_AGENT_YANG_DIR", ydir)
    capsys.readouterr()
    try:
        code = cli.main(["provision", *args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ydir(yang_dirs):
    return yang_dirs[0]


@pytest.fixture
def nms_key(tmp_path) -> tuple[Path, Path]:
    """A manager user's SSH key pair: private file, public (.pub) file."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="noc@example.net")
    priv, pub = tmp_path / "nms", tmp_path / "nms.pub"
    key.write_private_key(str(priv))
    key.write_public_key(str(pub))
    return priv, pub


def ssh_args(state: Path, port: int, pub: Path) -> list[str]:
    return ["--state-dir", str(state), "--serial-number", "DPU-0001", "--model", "DPU-8P",
            "--manager", "nms", "--endpoint", f"main=ssh://127.0.0.1:{port}", "--user", f"admin={pub}",
            "--reconnect", "max-wait=1", "--keepalives", "idle-time=60,max-probes=3,probe-interval=10"]


# -- SSH: provision, boot, accept with the host key pinned from the report ------


def test_ssh_call_home_from_a_provisioned_state_dir(tmp_path, ydir, nms_key):
    from ncclient import manager

    state, port = tmp_path / "state", free_port()
    report = provisioned(*ssh_args(state, port, nms_key[1]), ydir=ydir)
    assert report["serial_number"] == "DPU-0001" and report["model"] == "DPU-8P"
    assert report["managers"] == [{"name": "nms", "connection-type": "persistent",
                                   "endpoints": [{"name": "main", "url": f"ssh://127.0.0.1:{port}"}]}]
    host = report["ssh_host_key"]
    assert host["public_key"].startswith("ssh-ed25519 ")
    # the fingerprint is the one OpenSSH and asyncssh show for that key
    assert host["fingerprint"] == asyncssh.import_public_key(host["public_key"]).get_fingerprint("sha256")
    assert report["tls_certificate"] is None
    assert {Path(p).name for p in report["written"]} == {"ssh-host-ed25519.key", "identity.json", "startup.cbor", "factory.cbor"}
    assert (state / "keys").stat().st_mode & 0o777 == 0o700 and state.stat().st_mode & 0o777 == 0o700
    assert (state / "keys" / "ssh-host-ed25519.key").stat().st_mode & 0o777 == 0o600
    assert (state / "startup.cbor").stat().st_mode & 0o777 == 0o600

    agent = started_agent(state, ydir)
    try:
        m = manager.call_home(
            host="127.0.0.1", port=port, username="admin", key_filename=str(nms_key[0]),
            hostkey_b64=host["public_key"].split()[1], allow_agent=False, look_for_keys=False, timeout=60,
        )
        data = m.get(filter=("subtree", '<hardware xmlns="urn:ietf:params:xml:ns:yang:ietf-hardware"/>')).data_xml
        assert "<serial-num>DPU-0001</serial-num>" in data and "<model-name>DPU-8P</model-name>" in data
        # the factory NACM lets the provisioned user configure the box
        edit = (f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><netconf-server xmlns="{NCS}"><call-home>'
                "<netconf-client><name>nms</name><reconnect-strategy><max-attempts>7</max-attempts>"
                "</reconnect-strategy></netconf-client></call-home></netconf-server></config>")
        assert m.edit_config(target="running", config=edit).ok
        m.close_session()
    finally:
        log = agent.stop()
    assert "user admin over netconf-ssh" in log


# -- TLS: self-signed, then CSR signed by a CA; netconf-client accepts ----------


def accept_tls(port: int, manager_pki: pki.Issued, tmp: Path, device_trust: bytes):
    """netconf-client's call-home listener over TLS; the device verified
    against ``device_trust`` (PEM)."""
    from netconf_client.connect import CallhomeManager
    from netconf_client.ncclient import Manager

    trust = tmp / "device-trust.pem"
    trust.write_bytes(device_trust)
    cert, key = manager_pki.write(tmp, "manager")
    with CallhomeManager(bind_to="127.0.0.1", port=port) as listener:
        listener.server_socket.settimeout(60)
        session = listener.accept_one_tls(keyfile=str(key), certfile=str(cert), ca_certs=str(trust), general_timeout=30)
    return session, Manager(session, timeout=30)


@pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLSv1_2 is deprecated:DeprecationWarning")
def test_tls_call_home_self_signed_then_csr_signed_by_a_ca(tmp_path, ydir):
    operator = pki.ca("operator root")
    pma = pki.leaf("pma-1", operator)
    operator.write_cert(tmp_path / "operator.pem")
    state, port = tmp_path / "state", free_port()
    first_port = port
    site = f"""
serial-number = "DPU-0002"
model = "DPU-8P"

[tls]
csr = "dpu.csr"

[[managers]]
name = "nms"
reconnect = {{ max-wait = 1 }}
endpoints = [ {{ name = "t", url = "tls://127.0.0.1:{port}" }} ]
ca-certs = {{ operator = "operator.pem" }}
cert-to-name = [ {{ id = 1, map-type = "specified", name = "admin", cert = "operator.pem" }} ]
"""
    (tmp_path / "site.toml").write_text(site)
    report = provisioned("--state-dir", str(state), "--from", str(tmp_path / "site.toml"), ydir=ydir)
    tls = report["tls_certificate"]
    assert tls["self_signed"] and tls["subject"] == tls["issuer"] and "CN=DPU-0002" in tls["subject"]
    assert tls["not_after"] == "9999-12-31T23:59:59Z"
    assert tls["csr"] == str(tmp_path / "dpu.csr")
    assert (state / "keys" / "tls-device.key").stat().st_mode & 0o777 == 0o600
    key_bytes = (state / "keys" / "tls-device.key").read_bytes()
    csr = x509.load_pem_x509_csr((tmp_path / "dpu.csr").read_bytes())
    assert csr.is_signature_valid and "CN=DPU-0002" in csr.subject.rfc4514_string()

    agent = started_agent(state, ydir)
    try:
        session, m = accept_tls(port, pma, tmp_path, tls["pem"].encode())
        peer = session.sock.getpeercert(binary_form=True)
        assert ":".join(f"{b:02X}" for b in x509.load_der_x509_certificate(peer).fingerprint(hashes.SHA256())) \
            == tls["sha256_fingerprint"]
        assert f"<remote-port>{port}</remote-port>" in m.get_config(source="running").data_xml.decode()
        m.close_session()
        session.close()
    finally:
        log = agent.stop()
    assert "user admin over netconf-tls" in log

    # the vendor CA signs the CSR; the certificate goes in with the same site file
    vendor_root = pki.ca("vendor root")
    vendor_issuing = pki.ca("vendor issuing", vendor_root)
    signed = (
        x509.CertificateBuilder().subject_name(csr.subject).issuer_name(vendor_issuing.cert.subject)
        .public_key(csr.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(pki.NOW).not_valid_after(pki.NOW + datetime.timedelta(days=3650))
        .sign(vendor_issuing.key, hashes.SHA256())
    )
    (tmp_path / "dpu.crt").write_bytes(signed.public_bytes(serialization.Encoding.PEM))
    vendor_issuing.write_cert(tmp_path / "vendor-issuing.pem")
    before_csr = (tmp_path / "dpu.csr").read_bytes()
    report = provisioned("--state-dir", str(state), "--from", str(tmp_path / "site.toml"),
                         "--tls-cert", str(tmp_path / "dpu.crt"), "--tls-chain", str(tmp_path / "vendor-issuing.pem"), ydir=ydir)
    tls = report["tls_certificate"]
    assert not tls["self_signed"] and "CN=vendor issuing" in tls["issuer"]
    assert (state / "keys" / "tls-device.key").read_bytes() == key_bytes  # the key never moved
    assert (tmp_path / "dpu.csr").read_bytes() == before_csr  # still the CSR for that key: not signed again
    assert {Path(p).name for p in report["written"]} == {"tls-device.crt", "startup.cbor", "factory.cbor"}

    # CallhomeManager's listener cannot bind its port again while the last
    # connection is in TIME_WAIT: the manager moves to another port
    port = free_port()
    (tmp_path / "site.toml").write_text(site.replace(f"127.0.0.1:{first_port}", f"127.0.0.1:{port}"))
    report = provisioned("--state-dir", str(state), "--from", str(tmp_path / "site.toml"), ydir=ydir)
    assert report["tls_certificate"] == tls and [Path(p).name for p in report["written"]] == ["factory.cbor", "startup.cbor"]
    agent = started_agent(state, ydir)
    try:
        # the manager trusts the vendor root only: the device sends its intermediate
        session, m = accept_tls(port, pma, tmp_path, vendor_root.cert.public_bytes(serialization.Encoding.PEM))
        assert x509.load_der_x509_certificate(session.sock.getpeercert(binary_form=True)) == signed
        assert m.get_config(source="running").data_xml
        m.close_session()
        session.close()
    finally:
        agent.stop()


# -- importing a factory (IDevID-style) certificate and key ---------------------


@pytest.fixture
def idevid(tmp_path):
    """A vendor's device certificate with its key and intermediate, as files."""
    root = pki.ca("vendor root")
    issuing = pki.ca("vendor issuing", root)
    device = pki.leaf("DPU-0003", issuing, server=True)
    device.write_cert(tmp_path / "idevid.crt")
    device.write_key(tmp_path / "idevid.key")
    issuing.write_cert(tmp_path / "issuing.crt")
    return device


def tls_args(state: Path, tmp: Path, port: int) -> list[str]:
    ca = pki.ca("operator")
    ca.write_cert(tmp / "operator.pem")
    return ["--state-dir", str(state), "--manager", "nms", "--endpoint", f"t=tls://127.0.0.1:{port}",
            "--ca-cert", f"operator={tmp / 'operator.pem'}",
            "--cert-to-name", f"id=1,map-type=specified,name=admin,fingerprint={fingerprint(ca.der)}"]


def test_import_idevid_certificate_and_key(tmp_path, ydir, idevid):
    state = tmp_path / "state"
    args = tls_args(state, tmp_path, 4335) + ["--tls-cert", str(tmp_path / "idevid.crt"), "--tls-key", str(tmp_path / "idevid.key"),
                                              "--tls-chain", str(tmp_path / "issuing.crt")]
    report = provisioned(*args, ydir=ydir)
    host_key = report["ssh_host_key"]["public_key"]
    tls = report["tls_certificate"]
    assert not tls["self_signed"] and "CN=DPU-0003" in tls["subject"] and "CN=vendor issuing" in tls["issuer"]
    stored = serialization.load_pem_private_key((state / "keys" / "tls-device.key").read_bytes(), None)
    assert stored.private_numbers() == idevid.key.private_numbers()
    chain = x509.load_pem_x509_certificates((state / "keys" / "tls-device.crt").read_bytes())
    assert [c.subject.rfc4514_string() for c in chain] == ["CN=DPU-0003,O=dpu-agent tests", "CN=vendor issuing,O=dpu-agent tests"]
    before = snapshot(state)
    assert provisioned(*args, ydir=ydir)["written"] == []
    assert snapshot(state) == before

    # another vendor key is not installed over it without --force
    other = pki.leaf("DPU-0003", pki.ca("vendor issuing"), server=True)
    other.write_cert(tmp_path / "other.crt")
    other.write_key(tmp_path / "other.key")
    swap = tls_args(state, tmp_path, 4335) + ["--tls-cert", str(tmp_path / "other.crt"), "--tls-key", str(tmp_path / "other.key")]
    before = snapshot(state)
    r = run_provision("provision", *swap, ydir=ydir)
    assert r.returncode == 1 and "holds another TLS key; --force replaces it" in r.stderr
    assert snapshot(state) == before
    report = provisioned(*swap, "--force", ydir=ydir)
    stored = serialization.load_pem_private_key((state / "keys" / "tls-device.key").read_bytes(), None)
    assert stored.private_numbers() == other.key.private_numbers()
    assert report["ssh_host_key"]["public_key"] != host_key  # --force makes a new SSH host key too
    assert (state / "startup.prev.cbor").exists()


def test_certificate_must_match_the_key_and_chain(tmp_path, ydir, idevid):
    state = tmp_path / "state"
    stranger = pki.leaf("someone else", pki.ca("x"), server=True)
    stranger.write_cert(tmp_path / "stranger.crt")
    cases = [
        (["--tls-cert", str(tmp_path / "stranger.crt"), "--tls-key", str(tmp_path / "idevid.key")], "certificate and key do not match"),
        (["--tls-cert", str(tmp_path / "idevid.crt"), "--tls-key", str(tmp_path / "idevid.key"),
          "--tls-chain", str(tmp_path / "stranger.crt")], "not on the chain of the device certificate"),
        (["--tls-cert", str(tmp_path / "idevid.crt")], "no TLS key in"),
        (["--tls-key", str(tmp_path / "idevid.key")], "an imported key needs its certificate"),
    ]
    for extra, message in cases:
        r = run_provision("provision", *tls_args(state, tmp_path, 4335), *extra, ydir=ydir)
        assert r.returncode == 1 and message in r.stderr, (extra, r.stderr)
        assert not state.exists()


# -- idempotence, --force ----------------------------------------------------------


def test_same_inputs_change_nothing_and_force_makes_new_keys(tmp_path, ydir, nms_key):
    state = tmp_path / "state"
    args = ssh_args(state, 4334, nms_key[1]) + ["--tls-csr", str(tmp_path / "dpu.csr")]
    first = provisioned(*args, ydir=ydir)
    before = snapshot(state), (tmp_path / "dpu.csr").read_bytes()
    again = provisioned(*args, ydir=ydir)
    assert again["written"] == []
    assert (snapshot(state), (tmp_path / "dpu.csr").read_bytes()) == before
    assert {k: v for k, v in again.items() if k != "written"} == {k: v for k, v in first.items() if k != "written"}

    forced = provisioned(*args, "--force", ydir=ydir)
    assert forced["ssh_host_key"]["public_key"] != first["ssh_host_key"]["public_key"]
    assert forced["tls_certificate"]["sha256_fingerprint"] != first["tls_certificate"]["sha256_fingerprint"]
    assert (tmp_path / "dpu.csr").read_bytes() != before[1]  # a CSR for the new key
    new_host = forced["ssh_host_key"]["public_key"].split()[1]
    r = run_provision("show", "config", "--state-dir", str(state), ydir=ydir)
    assert new_host in r.stdout and first["ssh_host_key"]["public_key"].split()[1] not in r.stdout
    # the previous slot keeps the configuration from before
    assert (state / "startup.prev.cbor").read_bytes() == before[0]["startup.cbor"][0]


def test_identity_alone_keeps_the_configuration(tmp_path, ydir, nms_key):
    state = tmp_path / "state"
    provisioned(*ssh_args(state, 4334, nms_key[1]), ydir=ydir)
    config = (state / "startup.cbor").read_bytes()
    report = provisioned("--state-dir", str(state), "--serial-number", "DPU-0099", ydir=ydir)
    assert [Path(p).name for p in report["written"]] == ["identity.json"]
    assert (state / "startup.cbor").read_bytes() == config
    assert json.loads((state / "identity.json").read_text()) == {"serial_number": "DPU-0099", "model": "DPU-8P"}
    assert report["managers"][0]["name"] == "nms"  # the report shows what the box holds
    r = run_provision("provision", "--state-dir", str(state), "--force", ydir=ydir)
    assert r.returncode == 1 and "give the managers too" in r.stderr


def test_file_json_and_options_make_the_same_configuration(tmp_path, ydir, nms_key):
    """The --from file (TOML or JSON) and the options are two spellings of one thing."""
    site = {
        "serial-number": "DPU-0004",
        "managers": [{
            "name": "nms",
            "endpoints": [{"name": "a", "url": "ssh://pma1.example.net"},
                          {"name": "b", "url": "ssh://[2001:db8::1]:830"}],
            "reconnect": {"start-with": "last-connected", "max-wait": 10, "max-attempts": 2},
            "keepalives": {"idle-time": 60, "max-probes": 3, "probe-interval": 10},
            "ssh-keepalives": {"max-wait": 30, "max-attempts": 3},
            "users": {"admin": [str(nms_key[1])], "ops": open(nms_key[1]).read().strip()},
        }],
        "admins": ["auditor"],
    }
    (tmp_path / "site.json").write_text(json.dumps(site))
    a = tmp_path / "a"
    report = provisioned("--state-dir", str(a), "--from", str(tmp_path / "site.json"), ydir=ydir)
    assert report["managers"][0]["endpoints"] == [{"name": "a", "url": "ssh://pma1.example.net:4334"},
                                                  {"name": "b", "url": "ssh://[2001:db8::1]:830"}]
    b = tmp_path / "b"
    shutil.copytree(a / "keys", b / "keys")  # the same device keys
    provisioned("--state-dir", str(b), "--serial-number", "DPU-0004", "--admin", "auditor",
                "--manager", "nms", "--endpoint", "a=ssh://pma1.example.net", "--endpoint", "b=ssh://[2001:db8::1]:830",
                "--reconnect", "start-with=last-connected,max-wait=10,max-attempts=2",
                "--keepalives", "idle-time=60,max-probes=3,probe-interval=10", "--ssh-keepalives", "max-wait=30,max-attempts=3",
                "--user", f"admin={nms_key[1]}", "--user", f"ops={open(nms_key[1]).read().strip()}", ydir=ydir)
    assert (a / "startup.cbor").read_bytes() == (b / "startup.cbor").read_bytes()
    r = run_provision("show", "config", "--state-dir", str(a), ydir=ydir)
    data = json.loads(r.stdout)
    assert sorted(data["ietf-netconf-acm:nacm"]["groups"]["group"][0]["user-name"]) == ["admin", "auditor", "ops"]


def test_periodic_connection_and_local_address(tmp_path, ydir, nms_key):
    """A box that calls every 30 minutes from a given source address; the
    file and the options say the same, and the report tells the manager."""
    site = {"managers": [{
        "name": "nms",
        "endpoints": [{"name": "a", "url": "ssh://pma1.example.net"},
                      {"name": "b", "url": "ssh://[2001:db8::1]", "local-address": "2001:db8::99"}],
        "periodic": {"period": 30, "idle-timeout": 120},
        "local-address": "192.0.2.7",
        "users": {"admin": [str(nms_key[1])]},
    }]}
    (tmp_path / "site.toml").write_text(
        '[[managers]]\nname = "nms"\nlocal-address = "192.0.2.7"\nperiodic = { period = 30, idle-timeout = 120 }\n'
        'endpoints = [ { name = "a", url = "ssh://pma1.example.net" },\n'
        '  { name = "b", url = "ssh://[2001:db8::1]", local-address = "2001:db8::99" } ]\n'
        f'[managers.users]\nadmin = ["{nms_key[1]}"]\n')
    (tmp_path / "site.json").write_text(json.dumps(site))
    a, b = tmp_path / "a", tmp_path / "b"
    report = provisioned("--state-dir", str(a), "--from", str(tmp_path / "site.toml"), ydir=ydir)
    assert report["managers"] == [{
        "name": "nms", "connection-type": "periodic", "period-minutes": 30,
        "endpoints": [{"name": "a", "url": "ssh://pma1.example.net:4334", "local-address": "192.0.2.7"},
                      {"name": "b", "url": "ssh://[2001:db8::1]:4334", "local-address": "2001:db8::99"}],
    }]
    shutil.copytree(a / "keys", b / "keys")
    provisioned("--state-dir", str(b), "--from", str(tmp_path / "site.json"), ydir=ydir)
    assert (a / "startup.cbor").read_bytes() == (b / "startup.cbor").read_bytes()
    config = json.loads(run_provision("show", "config", "--state-dir", str(a), ydir=ydir).stdout)
    (client,) = config["ietf-netconf-server:netconf-server"]["call-home"]["netconf-client"]
    assert client["connection-type"] == {"periodic": {"period": 30, "idle-timeout": 120}}
    # the options, with the module's defaults for what is left out
    c = tmp_path / "c"
    report = provisioned("--state-dir", str(c), "--manager", "nms", "--endpoint", "a=ssh://pma1.example.net",
                         "--periodic", "period=15", "--local-address", "192.0.2.7", "--user", f"admin={nms_key[1]}", ydir=ydir)
    assert report["managers"][0]["period-minutes"] == 15
    assert report["managers"][0]["endpoints"][0]["local-address"] == "192.0.2.7"
    config = json.loads(run_provision("show", "config", "--state-dir", str(c), ydir=ydir).stdout)
    (client,) = config["ietf-netconf-server:netconf-server"]["call-home"]["netconf-client"]
    assert client["connection-type"]["periodic"]["period"] == 15
    assert client["connection-type"]["periodic"].get("idle-timeout", 180) == 180


# -- bad inputs: an error, and the target as it was -------------------------------

SECRET = "THIS-IS-NOT-A-KEY-BUT-A-SECRET"


#: what each bad input is; bad_inputs() gives its arguments, exit code and message
BAD_INPUTS = (
    "missing-user-key-file", "missing-profile", "malformed-public-key", "private-key-as-user-key",
    "garbage-tls-key", "port-0", "port-70000", "endpoint-twice", "http-url", "idle-time-0", "bad-host-name",
    "manager-twice", "endpoint-without-manager", "unknown-option", "profile-unknown-key", "period-0",
    "periodic-unknown-key", "local-address-not-an-address",
)


def bad_inputs(tmp: Path, pub: Path) -> dict[str, tuple[list[str], int, str]]:
    (tmp / "garbage.key").write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n")
    cert = pki.leaf("DPU", pki.ca("vendor"), server=True).write_cert(tmp / "device.crt")
    (tmp / "bad.toml").write_text('[[managers]]\nname = "nms"\nendpoint = "ssh://x"\n')
    ep = ["--manager", "nms", "--user", f"admin={pub}", "--endpoint"]
    return dict(zip(BAD_INPUTS, [
        (ep + ["a=ssh://127.0.0.1"] + ["--user", f"ops={tmp / 'missing.pub'}"], 1, "missing.pub: No such file or directory"),
        (["--from", str(tmp / "missing.toml")], 1, "missing.toml: No such file or directory"),
        (ep + ["a=ssh://127.0.0.1", "--user", f"ops=ssh-ed25519 AAAA{SECRET}"], 1, "user ops: malformed OpenSSH public key"),
        (ep + ["a=ssh://127.0.0.1", "--user", f"ops={tmp / 'garbage.key'}"], 1, "holds a private key; give the public key (.pub)"),
        (ep + ["a=ssh://127.0.0.1", "--tls-cert", str(cert), "--tls-key", str(tmp / "garbage.key")], 1,
         "garbage.key: not a private key (PKCS#8, SEC1, PKCS#1 or OpenSSH; PEM or DER)"),
        (ep + ["a=ssh://127.0.0.1:0"], 1, "'ssh://127.0.0.1:0': port 0 is not 1..65535"),
        (ep + ["a=ssh://127.0.0.1:70000"], 1, "port 70000 is not 1..65535"),
        (ep + ["a=ssh://127.0.0.1", "--endpoint", "a=ssh://127.0.0.2"], 1, "manager nms: endpoint a is given twice"),
        (ep + ["a=http://127.0.0.1"], 1, "must be ssh://host[:port] or tls://host[:port]"),
        (ep + ["a=ssh://127.0.0.1", "--keepalives", "idle-time=0,max-probes=3,probe-interval=10"], 1, "idle-time"),
        (ep + ["a=ssh://bad_host!"], 1, "remote-address"),
        (ep + ["a=ssh://127.0.0.1"] + ep + ["a=ssh://127.0.0.1"], 1, "manager nms is given twice"),
        (["--endpoint", "a=ssh://127.0.0.1"], 2, "--endpoint belongs to a manager"),
        (ep + ["a=ssh://127.0.0.1", "--no-such-option"], 2, "unrecognized arguments: --no-such-option"),
        (["--from", str(tmp / "bad.toml")], 1, "manager nms: unknown key(s) endpoint"),
        (ep + ["a=ssh://127.0.0.1", "--periodic", "period=0"], 1, "period"),
        (ep + ["a=ssh://127.0.0.1", "--periodic", "every=5"], 1, "manager nms periodic: unknown key(s) every"),
        (ep + ["a=ssh://127.0.0.1", "--local-address", "pma.example.net"], 1, "'pma.example.net' is not an IPv4 or IPv6 address"),
    ], strict=True))


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_refused_and_nothing_changes(tmp_path, ydir, nms_key, case, capsys, monkeypatch, caplog):
    args, code, message = bad_inputs(tmp_path, nms_key[1])[case]
    # a blank target stays blank
    blank = tmp_path / "blank"
    got, out, err = provision_in_process("--state-dir", str(blank), *args, ydir=ydir, capsys=capsys, monkeypatch=monkeypatch)
    assert got == code and message in err, err
    assert not blank.exists() and out == ""
    assert SECRET not in err and SECRET not in caplog.text
    # a provisioned one stays as it was
    state = tmp_path / "state"
    got, out, err = provision_in_process(*ssh_args(state, 4334, nms_key[1]), "--tls-csr", str(tmp_path / "dpu.csr"),
                                         ydir=ydir, capsys=capsys, monkeypatch=monkeypatch)
    assert got == 0, err
    before = snapshot(state)
    got, out, err = provision_in_process("--state-dir", str(state), *args, ydir=ydir, capsys=capsys, monkeypatch=monkeypatch)
    assert got == code and message in err, err
    assert snapshot(state) == before
    assert SECRET not in err and SECRET not in caplog.text


@pytest.mark.parametrize("case", ["garbage-tls-key", "malformed-public-key", "unknown-option"])
def test_bad_input_is_refused_by_the_process_and_nothing_changes(tmp_path, ydir, nms_key, case):
    """The same, end to end through ``python -m agent`` (its exit code, its
    real stderr and log), for a usage error and the two that carry a secret."""
    args, code, message = bad_inputs(tmp_path, nms_key[1])[case]
    blank = tmp_path / "blank"
    r = run_provision("provision", "--state-dir", str(blank), *args, ydir=ydir)
    assert r.returncode == code and message in r.stderr, r.stderr
    assert not blank.exists() and r.stdout == ""
    assert SECRET not in r.stderr
    state = tmp_path / "state"
    provisioned(*ssh_args(state, 4334, nms_key[1]), "--tls-csr", str(tmp_path / "dpu.csr"), ydir=ydir)
    before = snapshot(state)
    r = run_provision("provision", "--state-dir", str(state), *args, ydir=ydir)
    assert r.returncode == code and message in r.stderr, r.stderr
    assert snapshot(state) == before


# -- private keys never leave the box -----------------------------------------------


def _secrets(state: Path) -> list[str]:
    """Every spelling of the device's private keys a leak could take."""
    found = []
    for name in (devicekeys.SSH_HOST_KEY, devicekeys.TLS_KEY):
        pem = (state / "keys" / name).read_bytes()
        key = serialization.load_pem_private_key(pem, None)
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        body = "".join(pem.decode().splitlines()[1:-1])
        found += [body, base64.b64encode(der).decode()[24:64], der.hex()[48:96]]
        found += [line for line in pem.decode().splitlines()[1:-1]]
    return found


def test_private_keys_are_never_in_the_report_or_the_log(tmp_path, ydir, nms_key, idevid):
    state = tmp_path / "state"
    args = [*ssh_args(state, 4334, nms_key[1]), "--endpoint", "t=tls://127.0.0.1:4335",
            *tls_args(state, tmp_path, 4335)[6:], "--tls-csr", str(tmp_path / "dpu.csr")]
    outputs = []
    for extra in ([], [], ["--force"], ["--serial-number", "DPU-0100"]):
        r = run_provision("--log-level", "debug", "provision", *args, *extra, ydir=ydir)
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout + r.stderr)
        secrets = _secrets(state)
        for out in outputs[-1:]:
            assert not [s for s in secrets if s in out]
    # errors about keys name the file, never what is in it
    (tmp_path / "mismatch.key").write_bytes((state / "keys" / devicekeys.TLS_KEY).read_bytes())
    r = run_provision("provision", *args, "--tls-cert", str(tmp_path / "idevid.crt"), "--tls-key", str(tmp_path / "mismatch.key"),
                      ydir=ydir)
    assert r.returncode == 1 and "do not match" in r.stderr
    assert not [s for s in _secrets(state) if s in r.stderr + r.stdout]
    r = run_provision("provision", *args, "--user", f"ops={state / 'keys' / devicekeys.SSH_HOST_KEY}", ydir=ydir)
    assert r.returncode == 1 and "holds a private key" in r.stderr
    assert not [s for s in _secrets(state) if s in r.stderr + r.stdout]
    # nor in the stored configuration: the keys are hidden, found by their public half
    cbor = (state / "startup.cbor").read_bytes()
    host = serialization.load_pem_private_key((state / "keys" / devicekeys.SSH_HOST_KEY).read_bytes(), None)
    tls = serialization.load_pem_private_key((state / "keys" / devicekeys.TLS_KEY).read_bytes(), None)
    assert host.private_bytes_raw() not in cbor
    assert tls.private_numbers().private_value.to_bytes(32, "big") not in cbor


# -- an unbooted root file system -----------------------------------------------------


def test_rootfs_layout_and_show_config(tmp_path, ydir, nms_key):
    root = tmp_path / "rootfs"
    (root / "usr/share/dpu-agent").mkdir(parents=True)
    (root / "usr/share/dpu-agent/yang").symlink_to(ydir)
    (root / "var/lib").mkdir(parents=True)
    args = ["--manager", "nms", "--endpoint", "a=ssh://192.0.2.1", "--user", f"admin={nms_key[1]}"]
    report = provisioned("--root", str(root), *args, ydir=str(tmp_path / "not-the-yang-dir"))
    assert report["root"] == str(root) and report["state_dir"] == "/var/lib/dpu-agent"
    assert "/var/lib/dpu-agent/startup.cbor" in report["written"]
    assert (root / "var/lib/dpu-agent/keys" / devicekeys.SSH_HOST_KEY).stat().st_mode & 0o777 == 0o600
    r = run_provision("show", "config", "--root", str(root), ydir=str(tmp_path / "not-the-yang-dir"))
    assert r.returncode == 0 and report["ssh_host_key"]["public_key"].split()[1] in r.stdout
    r = run_provision("selftest", "--state-dir", str(root / "var/lib/dpu-agent"), ydir=ydir)
    assert r.returncode == 0 and re.search(r"^ok\s+configuration: \S+ is valid", r.stdout, re.M), r.stdout
    # --state-dir with --root is inside ROOTFS, for both commands
    report = provisioned("--root", str(root), "--state-dir", "/data/dpu", *args, ydir=ydir)
    assert (root / "data/dpu/startup.cbor").exists() and report["state_dir"] == "/data/dpu"
    assert run_provision("show", "config", "--root", str(root), "--state-dir", "/data/dpu", ydir=ydir).returncode == 0

    # an absolute symbolic link in the image would lead out of it: refused
    outside = tmp_path / "host-dir"
    outside.mkdir()
    evil = tmp_path / "evil-rootfs"
    (evil / "var").mkdir(parents=True)
    (evil / "var/lib").symlink_to(outside)
    r = run_provision("provision", "--root", str(evil), "--yang-dir", ydir, *args, ydir=ydir)
    assert r.returncode == 1 and "leads out of" in r.stderr
    assert list(outside.iterdir()) == []


# -- all or nothing: a failure at any step of the writing ----------------------------


def test_a_failure_while_writing_leaves_everything_as_it_was(tmp_path, ydir, nms_key, idevid, monkeypatch):
    """Every os call of the writing fails in turn; after each failure the
    state dir is exactly as before (no key without its configuration, no
    configuration without its keys, no leftover files)."""
    first = {"serial-number": "DPU-0005", "managers": [{
        "name": "nms", "endpoints": [{"name": "a", "url": "ssh://192.0.2.1"}], "users": {"admin": str(nms_key[1])}}]}
    operator = pki.ca("operator")
    operator.write_cert(tmp_path / "operator.pem")
    second = {"serial-number": "DPU-0006", "tls": {"certificate": "idevid.crt", "key": "idevid.key", "chain": "issuing.crt"},
              "managers": [{**first["managers"][0], "endpoints": [{"name": "a", "url": "ssh://192.0.2.1"},
                                                                  {"name": "t", "url": "tls://192.0.2.1"}],
                            "ca-certs": {"operator": "operator.pem"},
                            "cert-to-name": [{"id": 1, "map-type": "specified", "name": "admin", "cert": "operator.pem"}]}]}
    base = tmp_path / "base"

    def run(data: dict, state: Path) -> dict:
        return provision(profile_from_dict(data, tmp_path), Target(state, yang_dirs=(ydir,)))

    run(first, base)

    def files(state: Path) -> dict[str, bytes]:
        return {str(p.relative_to(state)): p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file()}

    done = tmp_path / "done"
    shutil.copytree(base, done)
    calls = []
    names = ("open", "write", "fsync", "rename", "link", "mkdir", "chmod")
    real = {n: getattr(os, n) for n in names}

    def counting(name):
        def call(*a, **kw):
            calls.append(name)
            return real[name](*a, **kw)
        return call

    for n in names:
        monkeypatch.setattr(os, n, counting(n))
    run(second, done)
    for n in names:
        monkeypatch.setattr(os, n, real[n])
    after, n_calls = files(done), len(calls)
    assert n_calls > 20

    for k in range(n_calls):
        state = tmp_path / f"try{k}"
        shutil.copytree(base, state)
        before = files(state)
        count = [0]

        def failing(name):
            def call(*a, **kw):
                count[0] += 1  # noqa: B023 (called within this iteration only)
                if count[0] == k + 1:  # noqa: B023 (called within this iteration only)
                    raise OSError(28, "No space left on device (injected)", str(a[0]) if a else None)
                return real[name](*a, **kw)
            return call

        for n in names:
            monkeypatch.setattr(os, n, failing(n))
        try:
            run(second, state)
            failed = False
        except ProvisionError as exc:
            failed = True
            assert "nothing written" in str(exc)
        finally:
            for n in names:
                monkeypatch.setattr(os, n, real[n])
        got = files(state)
        if failed:
            # The store's own discipline: before the current slot is replaced,
            # the previous slot takes a copy of it. A failure after that
            # leaves the copy; what the box would boot from is unchanged.
            if got.get("startup.prev.cbor") != before.get("startup.prev.cbor"):
                assert got["startup.prev.cbor"] == before["startup.cbor"], f"call {k + 1} ({calls[k]})"
                got["startup.prev.cbor"] = before.get("startup.prev.cbor")
                if got["startup.prev.cbor"] is None:
                    del got["startup.prev.cbor"]
            assert got == before, f"call {k + 1} ({calls[k]}): the state dir changed"
        else:
            # only a failed directory sync after the commit point goes unreported
            assert got == after, f"call {k + 1} ({calls[k]})"
        shutil.rmtree(state)
