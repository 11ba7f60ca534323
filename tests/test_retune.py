"""Which call-home changes a live connection takes in place, and which re-dial."""

from __future__ import annotations

import json

from agent.callhome.config import ClientConfig, EndpointConfig
from agent.callhome.retune import Retune, SshKeepalives, redial_reasons, retune, ssh_keepalives
from agent.transport.tcp import Keepalives

SSH = {"ssh-server-parameters": {"server-identity": {"host-key": [{"name": "k"}]}, "client-authentication": {"users": {}}}}


def ep(**kw) -> EndpointConfig:
    base = dict(name="a", transport="ssh", remote_address="192.0.2.1", remote_port=4334, local_address=None,
                local_port=0, keepalives=Keepalives(60, 3, 10), server_params=json.dumps(SSH, sort_keys=True))
    base.update(kw)
    return EndpointConfig(**base)


def client(*eps, **kw) -> ClientConfig:
    base = dict(name="nms", endpoints=eps, connection_type="persistent", period=60, anchor_time=None,
                idle_timeout=180, start_with="first-listed", max_wait=5, max_attempts=3)
    base.update(kw)
    return ClientConfig(**base)


def with_ssh_keepalives(max_wait: int) -> str:
    p = json.loads(json.dumps(SSH))
    p["ssh-server-parameters"]["keepalives"] = {"max-wait": max_wait}
    return json.dumps(p, sort_keys=True)


def test_in_place_changes():
    old = client(ep(), ep(name="b"))
    for new, change in [
        (client(ep(keepalives=Keepalives(30, 3, 10)), ep(name="b")), Retune(tcp=True)),
        (client(ep(keepalives=None), ep(name="b")), Retune(tcp=True)),
        (client(ep(server_params=with_ssh_keepalives(5)), ep(name="b")), Retune(ssh=True)),
        (client(ep(), ep(name="b", remote_port=1)), Retune()),  # another endpoint
        (client(ep(), ep(name="b"), max_wait=9, start_with="last-connected"), Retune()),
    ]:
        assert redial_reasons(old, new, "a") == []
        assert retune(old, new, "a") == change
    assert ssh_keepalives(ep(server_params=with_ssh_keepalives(5))) == SshKeepalives(5, 3)
    assert ssh_keepalives(ep()) == SshKeepalives(0, 3)


def test_redial_reasons():
    old = client(ep())
    creds = json.loads(json.dumps(SSH))
    creds["ssh-server-parameters"]["client-authentication"]["users"] = {"user": [{"name": "x"}]}
    cases = {
        "remote 192.0.2.1:4334 -> 192.0.2.2:4334": ep(remote_address="192.0.2.2"),
        "remote 192.0.2.1:4334 -> 192.0.2.1:830": ep(remote_port=830),
        "local binding changed": ep(local_address="192.0.2.9"),
        "transport ssh -> tls": ep(transport="tls"),
        "ssh credentials or algorithms changed": ep(server_params=json.dumps(creds, sort_keys=True)),
    }
    for reason, changed in cases.items():
        assert redial_reasons(old, client(changed), "a") == [reason]
    assert redial_reasons(old, client(ep(name="b")), "a") == ["endpoint a removed"]
    assert redial_reasons(old, client(ep(), connection_type="periodic"), "a") == ["connection-type changed"]
    assert redial_reasons(old, old._replace(idle_timeout=5), "a") == ["periodic schedule changed"]
