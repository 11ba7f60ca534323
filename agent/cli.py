"""Command line: ``dpu-agent run | selftest | show config | provision | demo``.

Exit status: 0 success, 1 a runtime or configuration error (the message
names the file, node and reason), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__, modset
from .settings import BOARD, DEFAULT_STATE_DIR, WATCHDOG_PATH, Settings, SettingsError, default

#: where syslogd listens (busybox's and every Linux syslog daemon's)
SYSLOG_SOCKET = "/dev/log"


class CliError(Exception):
    pass


def _terminal_columns() -> int:
    """shutil.get_terminal_size's columns, without importing shutil (and
    with it zlib, bz2 and lzma): argparse's formatter imports it to learn
    the width, and every start of the agent builds its parser."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(prog, indent_increment, max_help_position, _terminal_columns() - 2 if width is None else width, **kwargs)


class _Parser(argparse.ArgumentParser):
    """argparse's, with :class:`_HelpFormatter` (its subcommands' too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def _add_yang_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--yang-dir",
        action="append",
        metavar="DIR",
        help="directory of the standard YANG modules (repeatable; default: $DPU_AGENT_YANG_DIR or /usr/share/dpu-agent/yang)",
    )


def _parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    p = _Parser(prog="dpu-agent", description="NETCONF call-home agent of a Distribution Point Unit")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--syslog", action="store_true", help="log to the system log (/dev/log) instead of stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent")
    # defaults are Settings' own: None here means "not given", so a --settings file can set it
    run.add_argument("--settings", type=Path, metavar="FILE", help="agent settings (TOML); command-line options override it")
    run.add_argument("--board", help=f"board implementation: sim or linux (default: {default('board')})")
    run.add_argument("--state-dir", type=Path, help=f"stored configuration and keys (default: {DEFAULT_STATE_DIR})")
    run.add_argument("--config", type=Path, metavar="FILE", help="initial configuration (XML or JSON), used while the state dir holds none")
    run.add_argument("--login-timeout", type=_positive_float, metavar="SECONDS", help=f"drop a manager that has not authenticated by then (RFC 8071 S5; default: {default('login_timeout')})")
    run.add_argument("--watchdog", metavar="PATH", help=f"hardware watchdog device of the linux board, or 'none' (default: {default('watchdog_path')})")
    run.add_argument("--watchdog-timeout", type=_positive_int, metavar="SECONDS", help=f"watchdog timeout (default: {default('watchdog_timeout')})")
    run.add_argument("--mgmt-interface", metavar="IFNAME", help="bind call-home sockets to this interface (SO_BINDTODEVICE)")
    run.add_argument("--backoff-min", type=_positive_float, metavar="SECONDS", help=f"shortest wait after every endpoint failed (default: {default('backoff_min')})")
    run.add_argument("--backoff-max", type=_positive_float, metavar="SECONDS", help=f"longest wait after every endpoint failed (default: {default('backoff_max')})")
    run.add_argument("--module", action="append", metavar="NAME[:FEATURES]", help="also implement this YANG module, with features (comma-separated, * for all); repeatable")
    run.add_argument("--plugin", action="append", metavar="MODULE:ATTR", help="load this plugin; repeatable")
    _add_yang_dir(run)

    st = sub.add_parser("selftest", help="check the YANG modules, the stored configuration and the board, then exit")
    st.add_argument("--board", default=BOARD, help=f"board implementation: sim or linux (default: {default('board')})")
    st.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help=f"stored configuration (default: {DEFAULT_STATE_DIR})")
    st.add_argument("--watchdog", default=WATCHDOG_PATH, metavar="PATH", help="watchdog device to look for (never armed), or 'none'")
    _add_yang_dir(st)

    show = sub.add_parser("show", help="print stored data without running the agent")
    show_sub = show.add_subparsers(dest="what", required=True, metavar="WHAT")
    sc = show_sub.add_parser("config", help="the stored configuration (private keys left out)")
    _add_state_dir_and_root(sc, "read")
    sc.add_argument("--format", choices=["json", "xml", "cbor-diag"], default="json")
    _add_yang_dir(sc)

    pv = sub.add_parser(
        "provision",
        help="factory provisioning: identity, device keys, call-home managers, written to the startup store",
        description="Make a DPU call home to its operator: writes STATE_DIR (the startup store, identity.json, "
        "keys/) and prints a JSON report. Everything is checked before anything is written; on an error "
        "nothing is written. Running it again with the same inputs changes nothing.",
    )
    _add_state_dir_and_root(pv, "write")
    _add_yang_dir(pv)
    # provisioning's options come with agent.provision, which imports
    # cryptography and asyncssh: only for that command, never for `run`
    if "provision" in (sys.argv[1:] if argv is None else argv):
        from .provision.args import add_arguments

        add_arguments(pv)

    demo = sub.add_parser("demo", help="call home to a manager on loopback and show what happens")
    _add_yang_dir(demo)
    return p


def _add_state_dir_and_root(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("--state-dir", type=Path, help=f"the state dir (with --root: inside ROOTFS, default {DEFAULT_STATE_DIR})")
    p.add_argument(
        "--root",
        type=Path,
        metavar="ROOTFS",
        help=f"an unbooted root filesystem (mounted or unpacked; / for this box): {verb} ROOTFS{DEFAULT_STATE_DIR} "
        f"with the YANG modules of ROOTFS{modset.SYSTEM_YANG_DIR}",
    )


def _on_rootfs(root: Path, state_dir: Path | None, yang_dirs: tuple[str, ...] | None) -> tuple[Path, tuple[str, ...]]:
    """The state dir and YANG modules of an unbooted root file system, as the box will see them."""
    if not root.is_dir():
        raise CliError(f"--root {root}: no such directory")
    inside = state_dir or DEFAULT_STATE_DIR
    state = root / inside.relative_to(inside.anchor)
    if not state.resolve().is_relative_to(root.resolve()):
        raise CliError(f"{state} leads out of {root} (a symbolic link): give the directory it stands for")
    if yang_dirs is None:
        yang_dir = root / Path(modset.SYSTEM_YANG_DIR).relative_to("/")
        if not yang_dir.is_dir():
            raise CliError(f"{yang_dir}: no such directory (give --yang-dir)")
        yang_dirs = (str(yang_dir),)
    return state, yang_dirs


def _module_spec(text: str) -> tuple[str, tuple[str, ...]]:
    name, _, feats = text.partition(":")
    return name, tuple(f for f in feats.split(",") if f)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be above 0")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be above 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = _parser(argv)
    args = parser.parse_args(argv)
    if args.command == "run" and argv is None:  # the process is the agent: not a call from within Python
        from .memory import pause_gc, run_on_malloc

        run_on_malloc()
        pause_gc()  # until the agent has started (Agent.run)
    if args.command in ("show", "provision") and args.state_dir is None and args.root is None:
        parser.error(f"{args.command}{' config' if args.command == 'show' else ''} needs --state-dir or --root")
    _setup_logging(args)
    yang_dirs = tuple(args.yang_dir) if getattr(args, "yang_dir", None) else None
    try:
        if args.command == "run":
            return _run(args, yang_dirs)
        if args.command == "selftest":
            from .selftest import run_selftest

            return run_selftest(args.board, args.state_dir, yang_dirs, None if args.watchdog == "none" else args.watchdog)
        if args.command == "show":
            return _show_config(args, yang_dirs)
        if args.command == "provision":
            return _provision(args, yang_dirs)
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(yang_dirs)
    except CliError as exc:
        print(f"dpu-agent: error: {exc}", file=sys.stderr)
        return 1
    return 2


def _setup_logging(args: argparse.Namespace) -> None:
    import logging  # here, as asyncio and json: after pause_gc (agent/memory.py)

    level = getattr(logging, args.log_level.upper())
    if args.syslog:
        from logging.handlers import SysLogHandler  # only for syslog: not imported before the first call home

        # on the firmware the agent runs detached from any terminal: syslogd
        # keeps (and rotates) its log
        try:
            # Python 3.11+ no longer raises here when the socket is missing (it
            # retries at every record and prints a traceback for each): look first
            if not os.path.exists(SYSLOG_SOCKET):
                raise FileNotFoundError(f"{SYSLOG_SOCKET} does not exist")
            handler = SysLogHandler(SYSLOG_SOCKET, facility=SysLogHandler.LOG_DAEMON)
        except OSError as exc:
            print(f"dpu-agent: no system log ({exc}): logging to stderr", file=sys.stderr)
        else:
            handler.setFormatter(logging.Formatter("dpu-agent[%(process)d]: %(levelname)s %(name)s: %(message)s"))
            logging.basicConfig(level=level, handlers=[handler])
            return
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _startup_errors() -> tuple[type[BaseException], ...]:
    from .datastore.persist import StoreError
    from .initial_config import InitialConfigError
    from .plugins.host import PluginError
    from .yang import YangError

    return (InitialConfigError, StoreError, YangError, OSError, ValueError, ImportError, PluginError)


def _run(args: argparse.Namespace, yang_dirs: tuple[str, ...] | None) -> int:
    from .daemon import Agent
    from .settings import read_file

    values: dict[str, Any] = {}
    if args.settings is not None:
        try:
            values = read_file(args.settings)
        except SettingsError as exc:
            raise CliError(str(exc)) from None
    given = {
        "state_dir": args.state_dir,
        "yang_dirs": yang_dirs,
        "board": args.board,
        "config_file": args.config,
        "login_timeout": args.login_timeout,
        "watchdog_path": args.watchdog,
        "watchdog_timeout": args.watchdog_timeout,
        "mgmt_interface": args.mgmt_interface,
        "backoff_min": args.backoff_min,
        "backoff_max": args.backoff_max,
    }
    values.update({k: v for k, v in given.items() if v is not None})
    if values.get("watchdog_path") == "none":
        values["watchdog_path"] = None
    if args.module:
        values["modules"] = tuple(values.get("modules", ())) + tuple(_module_spec(m) for m in args.module)
    if args.plugin:
        values["plugins"] = tuple(values.get("plugins", ())) + tuple(args.plugin)
    try:
        settings = Settings(**values)
    except TypeError as exc:
        raise CliError(f"bad settings: {exc}") from None
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    agent = Agent(settings)
    import asyncio

    try:
        asyncio.run(agent.run())
    except _startup_errors() as exc:
        raise CliError(str(exc)) from None
    return 0


def _show_config(args: argparse.Namespace, yang_dirs: tuple[str, ...] | None) -> int:
    from .datastore.diag import diagnostic
    from .datastore.persist import StartupStore
    from .datastore.yangcbor import encode_tree

    state_dir = args.state_dir
    if args.root is not None:
        state_dir, yang_dirs = _on_rootfs(args.root, state_dir, yang_dirs)
    try:
        schema = modset.build_schema(Settings(state_dir=state_dir, yang_dirs=yang_dirs))
        store = StartupStore(state_dir, schema)
        loaded = store.load()
    except _startup_errors() as exc:
        raise CliError(str(exc)) from None
    if loaded is None:
        raise CliError(f"{state_dir}: no stored configuration")
    if loaded.problem:
        print(f"dpu-agent: warning: {loaded.problem}; showing the previous configuration", file=sys.stderr)
    with loaded.tree as tree:
        tree.remove_paths(schema.secret_paths())
        if args.format == "xml":
            print(tree.to_xml())
        elif args.format == "json":
            print(tree.to_json())
        else:
            path = store.path if loaded.source == "current" else store.previous_path
            print(f"/ {path}: format {loaded.format}, SID set {store.sids.digest.hex()}; private keys left out /")
            print(diagnostic(encode_tree(tree, store.sids), store.sids))
    return 0


def _provision(args: argparse.Namespace, yang_dirs: tuple[str, ...] | None) -> int:
    import json

    from .provision import Target, provision
    from .provision.args import to_dict
    from .provision.profile import Profile, ProvisionError, merge, profile_from_dict, read_file

    state_dir = args.state_dir
    if args.root is not None:
        state_dir, yang_dirs = _on_rootfs(args.root, state_dir, yang_dirs)
    try:
        base = Profile()
        if args.from_file is not None:
            base = profile_from_dict(read_file(args.from_file), args.from_file.parent)
        profile = merge(base, profile_from_dict(to_dict(args), Path.cwd()))
        report = provision(profile, Target(state_dir, args.root, yang_dirs), force=args.force)
    except ProvisionError as exc:
        raise CliError(str(exc)) from None
    except _startup_errors() as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(report, indent=2))
    return 0
