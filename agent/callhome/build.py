"""Write call-home configuration from plain values (demo, provisioning, tests).

The device's host key is referenced by its public half with
``hidden-private-key``: the private half stays in the key directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..netconf.xmltree import escape_text as esc

NS_NCS = "urn:ietf:params:xml:ns:yang:ietf-netconf-server"
NS_NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
ADMIN_GROUP = "admin"
NS_CT = "urn:ietf:params:xml:ns:yang:ietf-crypto-types"


@dataclass
class Endpoint:
    name: str
    host: str
    port: int = 4334
    transport: str = "ssh"
    #: (idle-time, max-probes, probe-interval) or None for no TCP keepalives
    keepalives: tuple[int, int, int] | None = None
    local_address: str | None = None


@dataclass
class Client:
    name: str
    endpoints: list[Endpoint]
    #: user name -> SSH public keys in wire format, base64
    users: dict[str, list[str]] = field(default_factory=dict)
    start_with: str = "first-listed"
    max_wait: int = 5
    max_attempts: int = 3
    periodic: tuple[int, int] | None = None  # (period minutes, idle-timeout s)


def ssh_endpoint_xml(ep: Endpoint, host_key_b64: str, users: dict[str, list[str]]) -> str:
    ka = ""
    if ep.keepalives is not None:
        idle, probes, interval = ep.keepalives
        ka = (
            f"<keepalives><idle-time>{idle}</idle-time><max-probes>{probes}</max-probes>"
            f"<probe-interval>{interval}</probe-interval></keepalives>"
        )
    local = f"<local-address>{esc(ep.local_address)}</local-address>" if ep.local_address else ""
    user_xml = "".join(
        f"<user><name>{esc(user)}</name><public-keys><inline-definition>"
        + "".join(
            f"<public-key><name>key{i}</name><public-key-format>ct:ssh-public-key-format</public-key-format>"
            f"<public-key>{k}</public-key></public-key>"
            for i, k in enumerate(keys)
        )
        + "</inline-definition></public-keys></user>"
        for user, keys in users.items()
    )
    return (
        f"<endpoint><name>{esc(ep.name)}</name><ssh>"
        f"<tcp-client-parameters><remote-address>{esc(ep.host)}</remote-address>"
        f"<remote-port>{ep.port}</remote-port>{local}{ka}</tcp-client-parameters>"
        f"<ssh-server-parameters><server-identity><host-key><name>device</name><public-key><inline-definition>"
        f"<public-key-format>ct:ssh-public-key-format</public-key-format><public-key>{host_key_b64}</public-key>"
        f"<hidden-private-key/></inline-definition></public-key></host-key></server-identity>"
        f"<client-authentication><users>{user_xml}</users></client-authentication>"
        f"</ssh-server-parameters></ssh></endpoint>"
    )


def client_xml(client: Client, host_key_b64: str) -> str:
    eps = "".join(ssh_endpoint_xml(e, host_key_b64, client.users) for e in client.endpoints)
    if client.periodic:
        period, idle = client.periodic
        ct = f"<periodic><period>{period}</period><idle-timeout>{idle}</idle-timeout></periodic>"
    else:
        ct = "<persistent/>"
    return (
        f"<netconf-client><name>{esc(client.name)}</name><endpoints>{eps}</endpoints>"
        f"<connection-type>{ct}</connection-type>"
        f"<reconnect-strategy><start-with>{client.start_with}</start-with>"
        f"<max-wait>{client.max_wait}</max-wait><max-attempts>{client.max_attempts}</max-attempts>"
        f"</reconnect-strategy></netconf-client>"
    )


def nacm_xml(admins: list[str]) -> str:
    """NACM giving the managers' users every right (RFC 8341 denies writes by
    default): the factory starting point an operator then narrows."""
    users = "".join(f"<user-name>{esc(u)}</user-name>" for u in sorted(set(admins)))
    return (
        f'<nacm xmlns="{NS_NACM}"><groups><group><name>{ADMIN_GROUP}</name>{users}</group></groups>'
        f"<rule-list><name>{ADMIN_GROUP}</name><group>{ADMIN_GROUP}</group>"
        f"<rule><name>permit-all</name><module-name>*</module-name><access-operations>*</access-operations>"
        f"<action>permit</action></rule></rule-list></nacm>"
    )


def config_xml(clients: list[Client], host_key_b64: str, admins: list[str] | None = None) -> str:
    """A whole <config> document: the call-home subtree and NACM for its users
    (``admins``, by default every user the clients authenticate)."""
    body = "".join(client_xml(c, host_key_b64) for c in clients)
    if admins is None:
        admins = [u for c in clients for u in c.users]
    return (
        f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<netconf-server xmlns="{NS_NCS}" xmlns:ct="{NS_CT}"><call-home>{body}</call-home></netconf-server>'
        f"{nacm_xml(admins)}</config>"
    )
