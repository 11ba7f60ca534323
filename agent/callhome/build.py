"""Write call-home configuration from plain values (demo, provisioning, tests).

The device's keys (SSH host key, TLS certificate key) are referenced by
their public half with ``hidden-private-key``: the private half stays in
the key directory.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from ..netconf.xmltree import escape_text as esc

NS_NCS = "urn:ietf:params:xml:ns:yang:ietf-netconf-server"
NS_NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
ADMIN_GROUP = "admin"
NS_CT = "urn:ietf:params:xml:ns:yang:ietf-crypto-types"
NS_X509C2N = "urn:ietf:params:xml:ns:yang:ietf-x509-cert-to-name"


@dataclass
class Endpoint:
    name: str
    host: str
    port: int = 4334
    transport: str = "ssh"
    #: (idle-time, max-probes, probe-interval) or None for no TCP keepalives
    keepalives: tuple[int, int, int] | None = None
    local_address: str | None = None
    #: SSH keepalives (max-wait s, max-attempts) or None for none
    ssh_keepalives: tuple[int, int] | None = None


@dataclass
class CertToName:
    id: int
    #: an ietf-x509-cert-to-name identity: specified, san-rfc822-name,
    #: san-dns-name, san-ip-address, san-any, common-name
    map_type: str
    #: tls-fingerprint (agent.transport.cert_to_name.fingerprint); None = any certificate
    fingerprint: str | None = None
    name: str | None = None  # for "specified"


@dataclass
class TlsServer:
    """The TLS side of a client's endpoints."""

    #: the device certificate, then its intermediates (DER); its private key
    #: is hidden: the agent finds it in the key directory
    cert_chain: list[bytes]
    #: managers' trust anchors: name -> CA certificates (DER)
    ca_certs: dict[str, list[bytes]] = field(default_factory=dict)
    #: pinned manager certificates: name -> DER
    ee_certs: dict[str, bytes] = field(default_factory=dict)
    cert_to_name: list[CertToName] = field(default_factory=list)


@dataclass
class Client:
    name: str
    endpoints: list[Endpoint]
    #: user name -> SSH public keys in wire format, base64
    users: dict[str, list[str]] = field(default_factory=dict)
    #: for endpoints with transport "tls"
    tls: TlsServer | None = None
    start_with: str = "first-listed"
    max_wait: int = 5
    max_attempts: int = 3
    periodic: tuple[int, int] | None = None  # (period minutes, idle-timeout s)


def _tcp_xml(ep: Endpoint) -> str:
    ka = ""
    if ep.keepalives is not None:
        idle, probes, interval = ep.keepalives
        ka = (
            f"<keepalives><idle-time>{idle}</idle-time><max-probes>{probes}</max-probes>"
            f"<probe-interval>{interval}</probe-interval></keepalives>"
        )
    local = f"<local-address>{esc(ep.local_address)}</local-address>" if ep.local_address else ""
    return (
        f"<tcp-client-parameters><remote-address>{esc(ep.host)}</remote-address>"
        f"<remote-port>{ep.port}</remote-port>{local}{ka}</tcp-client-parameters>"
    )


def cms(certs: list[bytes]) -> str:
    """``cert-data``: certificates (DER) as a degenerate CMS SignedData, base64."""
    loaded = [x509.load_der_x509_certificate(c) for c in certs]
    return base64.b64encode(pkcs7.serialize_certificates(loaded, serialization.Encoding.DER)).decode()


def _certificates_xml(certs: dict[str, list[bytes]]) -> str:
    return "".join(
        f"<certificate><name>{esc(name)}</name><cert-data>{cms(ders)}</cert-data></certificate>"
        for name, ders in certs.items()
    )


def tls_endpoint_xml(ep: Endpoint, tls: TlsServer) -> str:
    leaf = x509.load_der_x509_certificate(tls.cert_chain[0])
    public = base64.b64encode(
        leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    auth = ""
    if tls.ca_certs:
        auth += f"<ca-certs><inline-definition>{_certificates_xml(tls.ca_certs)}</inline-definition></ca-certs>"
    if tls.ee_certs:
        pinned = {name: [der] for name, der in tls.ee_certs.items()}
        auth += f"<ee-certs><inline-definition>{_certificates_xml(pinned)}</inline-definition></ee-certs>"
    c2n = "".join(
        f"<cert-to-name><id>{m.id}</id>"
        + (f"<fingerprint>{m.fingerprint}</fingerprint>" if m.fingerprint else "")
        + f'<map-type xmlns:x509c2n="{NS_X509C2N}">x509c2n:{m.map_type}</map-type>'
        + (f"<name>{esc(m.name)}</name>" if m.name is not None else "")
        + "</cert-to-name>"
        for m in tls.cert_to_name
    )
    return (
        f"<endpoint><name>{esc(ep.name)}</name><tls>{_tcp_xml(ep)}"
        f"<tls-server-parameters><server-identity><certificate><inline-definition>"
        f"<public-key-format>ct:subject-public-key-info-format</public-key-format><public-key>{public}</public-key>"
        f"<hidden-private-key/><cert-data>{cms(tls.cert_chain)}</cert-data>"
        f"</inline-definition></certificate></server-identity>"
        f"<client-authentication>{auth}</client-authentication></tls-server-parameters>"
        f"<netconf-server-parameters><client-identity-mappings>{c2n}</client-identity-mappings></netconf-server-parameters>"
        f"</tls></endpoint>"
    )


def ssh_endpoint_xml(ep: Endpoint, host_key_b64: str, users: dict[str, list[str]]) -> str:
    ssh_ka = ""
    if ep.ssh_keepalives is not None:
        max_wait, max_attempts = ep.ssh_keepalives
        ssh_ka = f"<keepalives><max-wait>{max_wait}</max-wait><max-attempts>{max_attempts}</max-attempts></keepalives>"
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
        f"<endpoint><name>{esc(ep.name)}</name><ssh>{_tcp_xml(ep)}"
        f"<ssh-server-parameters><server-identity><host-key><name>device</name><public-key><inline-definition>"
        f"<public-key-format>ct:ssh-public-key-format</public-key-format><public-key>{host_key_b64}</public-key>"
        f"<hidden-private-key/></inline-definition></public-key></host-key></server-identity>"
        f"<client-authentication><users>{user_xml}</users></client-authentication>{ssh_ka}"
        f"</ssh-server-parameters></ssh></endpoint>"
    )


def _endpoint_xml(client: Client, ep: Endpoint, host_key_b64: str) -> str:
    if ep.transport == "tls":
        if client.tls is None:
            raise ValueError(f"client {client.name}: endpoint {ep.name} is TLS but the client has no TLS settings")
        return tls_endpoint_xml(ep, client.tls)
    return ssh_endpoint_xml(ep, host_key_b64, client.users)


def client_xml(client: Client, host_key_b64: str) -> str:
    eps = "".join(_endpoint_xml(client, e, host_key_b64) for e in client.endpoints)
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


def default_admins(clients: list[Client]) -> list[str]:
    """Every SSH user of the clients and every TLS user named by a
    ``specified`` cert-to-name entry (a name a certificate's SAN or CN gives
    is known only to the caller)."""
    admins = [u for c in clients for u in c.users]
    admins += [m.name for c in clients if c.tls for m in c.tls.cert_to_name if m.map_type == "specified" and m.name]
    return admins


def config_xml(clients: list[Client], host_key_b64: str, admins: list[str] | None = None) -> str:
    """A whole <config> document: the call-home subtree and NACM for its users
    (``admins``, by default :func:`default_admins`)."""
    body = "".join(client_xml(c, host_key_b64) for c in clients)
    if admins is None:
        admins = default_admins(clients)
    return (
        f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<netconf-server xmlns="{NS_NCS}" xmlns:ct="{NS_CT}"><call-home>{body}</call-home></netconf-server>'
        f"{nacm_xml(admins)}</config>"
    )
