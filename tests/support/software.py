"""bbf-software-management over NETCONF: actions on the firmware's
revisions, their state and their notifications, as a manager sees them."""

from __future__ import annotations

import re

from ncclient.xml_ import to_ele

from .paths import SHARED_YANG

BBF = SHARED_YANG.parent / "yang-bbf"
NSH = "urn:ietf:params:xml:ns:yang:ietf-hardware"
NSS = "urn:bbf:yang:bbf-software-management"
NS_YANG = "urn:ietf:params:xml:ns:yang:1"


def software_xml(inner: str) -> str:
    return (f'<hardware xmlns="{NSH}"><component><name>chassis</name><software xmlns="{NSS}"><software>'
            f"<name>firmware</name><revisions>{inner}</revisions></software></software></component></hardware>")


def act(m, inner: str):
    return m.dispatch(to_ele(f'<action xmlns="{NS_YANG}">{software_xml(inner)}</action>'))


def download(m, url: str, rid: int = 1):
    return act(m, "<download><download>"
                  f"<source><url>{url}</url></source>"
                  "<target><selected-by-user><operation>replace</operation>"
                  f"<replace><id>{rid}</id></replace></selected-by-user></target>"
                  "</download></download>")


def on_revision(m, rid: int, container: str, name: str) -> None:
    inner = f"<{container}><{name}/></{container}>" if container else f"<{name}/>"
    act(m, f"<revision><id>{rid}</id>{inner}</revision>")


def revisions(m) -> dict[int, dict[str, str]]:
    reply = m.get(filter=("subtree", software_xml(""))).data_xml
    out = {}
    for block in re.findall(r"<revision>(.*?)</revision>", reply, re.S):
        fields = dict(re.findall(r"<([a-z-]+)>([^<]*)</\1>", block))
        out[int(fields["id"])] = fields
    return out


def events(m, count: int, timeout: float = 20) -> list[tuple[str, str]]:
    """The next ``count`` software notifications: (name, error tag or "")."""
    out = []
    while len(out) < count:
        n = m.take_notification(timeout=timeout)
        assert n is not None, f"only {out} within {timeout} s"
        xml = n.notification_xml
        found = re.search(r"<(revision-[a-z]+|download-revision-[a-z]+|[a-z]+-failed)[ >/]", xml)
        if found is None:
            continue
        # an identityref: prefixed, or (libyang 3, identity of the node's own
        # module) resolved through the default namespace
        tag = re.search(r"<tag[^>]*>(?:[^:<]*:)?([^<]+)</tag>", xml)
        out.append((found.group(1), tag.group(1) if tag else ""))
    return out
