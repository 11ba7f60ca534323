"""NETCONF bodies the tests send and read back."""

from __future__ import annotations

from agent.callhome import build

NCS = build.NS_NCS
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
CALL_HOME_FILTER = ("subtree", f'<netconf-server xmlns="{NCS}"/>')


def wrap(body: str) -> str:
    """An <edit-config> <config> of ``body`` inside <call-home>."""
    return f'<config xmlns="{NC}" xmlns:nc="{NC}"><netconf-server xmlns="{NCS}"><call-home>{body}</call-home></netconf-server></config>'


def client_edit(name: str, body: str) -> str:
    """An <edit-config> <config> of ``body`` inside the call-home client ``name``."""
    return wrap(f"<netconf-client><name>{name}</name>{body}</netconf-client>")


def data_content(reply_data_xml: str) -> str:
    """The datastore content of a <data> reply (what yanglint reads)."""
    d = reply_data_xml
    return d[d.index(">", d.index("<data")) + 1 : d.rindex("</data>")]
