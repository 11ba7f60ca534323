"""The YANG modules the agent implements and the features it supports.

A feature is listed only when the agent really does what it promises:
the hello and ietf-yang-library are derived from this table.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .plugins import Plugin
    from .settings import Settings
    from .yang import Schema

#: this project's own modules (never the standard ones: those come from
#: ../shared/yang or the pinned download, see tools/fetch-yang)
OWN_MODULES_DIR = str(Path(__file__).parent / "modules")

#: default place of the standard modules on a target image
SYSTEM_YANG_DIR = "/usr/share/dpu-agent/yang"

MODULES: dict[str, list[str]] = {
    # RFC 6241 (:url is not implemented)
    "ietf-netconf": ["writable-running", "candidate", "confirmed-commit", "rollback-on-error", "validate", "startup",
                     "xpath"],
    "ietf-netconf-with-defaults": [],
    # RFC 8526 NMDA operations on RFC 8342 datastores (ietf-datastores is
    # libyang's own, with ietf-yang-library), origin metadata
    "ietf-netconf-nmda": ["origin", "with-defaults"],
    "ietf-origin": [],
    "ietf-netconf-acm": [],
    "ietf-netconf-monitoring": [],
    # RFC 5277 create-subscription and the NETCONF stream, RFC 6470 events
    "notifications": [],
    "nc-notifications": [],
    "ietf-netconf-notifications": [],
    "ietf-tcp-common": ["keepalives-supported"],
    "ietf-tcp-client": ["local-binding-supported", "tcp-client-keepalives"],
    "ietf-crypto-types": ["one-asymmetric-key-format", "cleartext-private-keys", "hidden-private-keys"],
    "ietf-keystore": ["inline-definitions-supported"],
    "ietf-truststore": ["inline-definitions-supported"],
    "ietf-ssh-common": [],
    "ietf-ssh-server": ["local-users-supported", "local-user-auth-publickey", "ssh-server-keepalives"],
    # never "tls-server-keepalives": see UNSUPPORTED_NODES
    "ietf-tls-common": ["tls12", "tls13"],
    "ietf-tls-server": ["server-ident-x509-cert", "client-auth-supported", "client-auth-x509-cert"],
    "ietf-x509-cert-to-name": [],  # its identities are cert-to-name map types
    "ietf-netconf-server": ["ssh-call-home", "tls-call-home", "central-netconf-server-supported"],
    "ietf-interfaces": [],
    "iana-if-type": [],
    "ietf-hardware": [],
    "iana-hardware": [],
    "dpu-agent-deviations": [],
    "dpu-agent": [],
}

#: Nodes of the standard modules that exist only behind a feature the agent
#: deliberately leaves out, with the reason told to a manager that sets one
#: (libyang alone could only say "unknown element"). Schema paths in
#: libyang's JSON form.
UNSUPPORTED_NODES: dict[str, str] = {
    "/ietf-netconf-server:netconf-server/call-home/netconf-client/endpoints/endpoint/tls/tls-server-parameters/keepalives": (
        "TLS keepalives are not supported (feature tls-server-keepalives): RFC 6520 heartbeats are not "
        "in OpenSSL 3 and do not exist in TLS 1.3. Use the kernel TCP keepalives of this endpoint "
        "instead: tls/tcp-client-parameters/keepalives"
    ),
}


def search_dirs(yang_dirs: list[str] | None) -> list[str]:
    """Own modules first, then the given directories, then the standard ones
    ($DPU_AGENT_YANG_DIR, else the system directory)."""
    dirs = [OWN_MODULES_DIR]
    if yang_dirs:
        dirs += yang_dirs
    if os.environ.get("DPU_AGENT_YANG_DIR"):
        dirs += os.environ["DPU_AGENT_YANG_DIR"].split(":")
    elif not yang_dirs:
        dirs.append(SYSTEM_YANG_DIR)
    return dirs


def build_schema(settings: Settings, plugins: Sequence[Plugin] = ()) -> Schema:
    """The module set: the agent's, the settings', and what the plugins need."""
    # imported here: the command line reads this module for its help text,
    # and loading libyang takes longer than printing it
    from .yang import Schema

    modules = settings.module_set
    for plugin in plugins:
        for name, features in plugin.modules.items():
            modules[name] = sorted(set(modules.get(name, [])) | set(features))
    return Schema(search_dirs(list(settings.yang_dirs) if settings.yang_dirs else None), modules)
