"""The options of ``dpu-agent provision``, turned into the same dict a
``--from`` file holds (agent.provision.profile checks both).

``--manager NAME`` starts a manager; the manager options after it
(``--endpoint``, ``--user``, ...) belong to it, up to the next ``--manager``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: option -> (key in the manager's table, what its value is)
_MANAGER_OPTIONS = {
    "--endpoint": ("endpoints", "NAME=URL"),
    "--user": ("users", "USER=KEY"),
    "--reconnect": ("reconnect", "KEY=VALUE,..."),
    "--periodic": ("periodic", "KEY=VALUE,..."),
    "--keepalives": ("keepalives", "KEY=VALUE,..."),
    "--ssh-keepalives": ("ssh-keepalives", "KEY=VALUE,..."),
    "--local-address": ("local-address", "ADDRESS"),
    "--ca-cert": ("ca-certs", "NAME=FILE"),
    "--ee-cert": ("ee-certs", "NAME=FILE"),
    "--cert-to-name": ("cert-to-name", "KEY=VALUE,..."),
}

_HELP = {
    "--endpoint": "an endpoint, ssh://host[:port] (default 4334) or tls://host[:port] (4335); repeatable, in order",
    "--user": "an SSH user and an OpenSSH public-key line or a file of them (authorized_keys); repeatable",
    "--reconnect": "start-with=first-listed|last-connected|random-selection, max-wait=S, max-attempts=N",
    "--periodic": "call home periodically instead of staying connected: period=MIN (default 60),idle-timeout=S (180)",
    "--keepalives": "TCP keepalives of every endpoint: idle-time=S,max-probes=N,probe-interval=S",
    "--local-address": "the local IP address the endpoints' connections are made from",
    "--ssh-keepalives": "SSH keepalives of the ssh endpoints: max-wait=S,max-attempts=N",
    "--ca-cert": "a trust anchor for the manager's TLS certificate: a name and a PEM file of CA certificates; repeatable",
    "--ee-cert": "a pinned TLS certificate of the manager: a name and its PEM file; repeatable",
    "--cert-to-name": "id=N,map-type=specified|san-rfc822-name|san-dns-name|san-ip-address|san-any|common-name"
    "[,name=USER][,fingerprint=HEX|cert=FILE]; repeatable",
}


def _pair(text: str, option: str, metavar: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name or not value:
        raise argparse.ArgumentError(None, f"{option} {text!r}: expected {metavar}")
    return name, value


def _pairs(text: str, option: str) -> dict[str, str]:
    out = {}
    for item in text.split(","):
        key, value = _pair(item, option, "KEY=VALUE,...")
        if key in out:
            raise argparse.ArgumentError(None, f"{option}: {key} given twice")
        out[key] = value
    return out


class _NewManager(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any,
                 option_string: str | None = None) -> None:
        managers = getattr(namespace, "managers", None) or []
        managers.append({"name": value})
        namespace.managers = managers


class _ManagerOption(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any,
                 option_string: str | None = None) -> None:
        managers: list[dict[str, Any]] | None = getattr(namespace, "managers", None)
        if not managers:
            parser.error(f"{option_string} belongs to a manager: give --manager NAME before it")
        assert option_string is not None  # only options use this action
        m = managers[-1]
        key, metavar = _MANAGER_OPTIONS[option_string]
        try:
            if option_string == "--endpoint":
                name, url = _pair(value, option_string, metavar)
                m.setdefault(key, []).append({"name": name, "url": url})
            elif option_string == "--user":
                user, key_text = _pair(value, option_string, metavar)
                m.setdefault(key, {}).setdefault(user, []).append(key_text)
            elif option_string in ("--ca-cert", "--ee-cert"):
                name, file = _pair(value, option_string, metavar)
                if name in m.setdefault(key, {}):
                    raise argparse.ArgumentError(None, f"{option_string} {name} given twice for manager {m['name']}")
                m[key][name] = file
            elif option_string == "--local-address":
                if key in m:
                    raise argparse.ArgumentError(None, f"{option_string} given twice for manager {m['name']}")
                m[key] = value
            elif option_string == "--cert-to-name":
                m.setdefault(key, []).append(_pairs(value, option_string))
            else:
                if key in m:
                    raise argparse.ArgumentError(None, f"{option_string} given twice for manager {m['name']}")
                m[key] = _pairs(value, option_string)
        except argparse.ArgumentError as exc:
            parser.error(exc.message)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_file", type=Path, metavar="FILE",
                   help="provisioning settings, TOML or JSON (README: Factory provisioning); options given too override it")
    p.add_argument("--force", action="store_true",
                   help="make new device keys, and let an imported TLS key replace the one on the box")
    ident = p.add_argument_group("identity")
    ident.add_argument("--serial-number", metavar="TEXT")
    ident.add_argument("--model", metavar="TEXT")
    ident.add_argument("--manufacturer", metavar="TEXT")
    tls = p.add_argument_group("the device's TLS certificate (default: self-signed, EC P-256)")
    tls.add_argument("--tls-cert", metavar="FILE", help="import this certificate (PEM or DER; may hold its chain)")
    tls.add_argument("--tls-key", metavar="FILE", help="its private key (without it: the TLS key already on the box)")
    tls.add_argument("--tls-chain", metavar="FILE", help="its intermediate CA certificates (PEM)")
    tls.add_argument("--tls-csr", metavar="FILE", help="write a CSR for the device's TLS key to FILE (on this machine)")
    mg = p.add_argument_group("managers", "--manager NAME starts a manager; the options after it belong to it")
    mg.add_argument("--manager", action=_NewManager, dest="managers", metavar="NAME", help="a call-home manager (netconf-client)")
    for option, (_, metavar) in _MANAGER_OPTIONS.items():
        mg.add_argument(option, action=_ManagerOption, dest="managers", metavar=metavar, help=_HELP[option])
    mg.add_argument("--admin", action="append", default=[], metavar="USER",
                    help="also give USER the NACM admin group (a name a certificate's SAN or CN gives); repeatable")


def to_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The options as a --from file would give them (paths relative to the current directory)."""
    data: dict[str, Any] = {}
    for option in ("serial_number", "model", "manufacturer"):
        if getattr(args, option) is not None:
            data[option.replace("_", "-")] = getattr(args, option)
    tls = {key: getattr(args, f"tls_{attr}") for key, attr in
           (("certificate", "cert"), ("key", "key"), ("chain", "chain"), ("csr", "csr"))
           if getattr(args, f"tls_{attr}") is not None}
    if tls:
        data["tls"] = tls
    if args.admin:
        data["admins"] = args.admin
    if args.managers:
        data["managers"] = args.managers
    return data
