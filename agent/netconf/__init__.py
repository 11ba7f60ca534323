"""Sans-I/O NETCONF: framing, XML, session state machine, typed errors.

Nothing in this package touches sockets, the event loop, TLS or SSH;
``tests/test_sans_io.py`` keeps it that way.
"""

from .errors import RpcError
from .session import (
    BASE_10,
    BASE_11,
    NEED_DATA,
    HelloReceived,
    NetconfSession,
    RpcReceived,
    RpcRejected,
    SessionClosed,
    State,
)
from .xmltree import NS_BASE, Element, XmlError

__all__ = [
    "BASE_10",
    "BASE_11",
    "NEED_DATA",
    "NS_BASE",
    "Element",
    "HelloReceived",
    "NetconfSession",
    "RpcError",
    "RpcReceived",
    "RpcRejected",
    "SessionClosed",
    "State",
    "XmlError",
]
