"""The agent's own settings: where things live and its limits. Not YANG
configuration: these are fixed by the firmware image or the command line."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from .modset import MODULES

DEFAULT_STATE_DIR = Path("/var/lib/dpu-agent")


@dataclass(frozen=True)
class Settings:
    state_dir: Path = DEFAULT_STATE_DIR
    #: directories with the standard YANG modules (None: $DPU_AGENT_YANG_DIR or the system dir)
    yang_dirs: tuple[str, ...] | None = None
    board: str = "sim"
    #: initial configuration, used only while the state dir holds none
    config_file: Path | None = None
    #: RFC 8071 S5: a manager must authenticate within this time
    login_timeout: float = 60.0
    max_message_size: int = 16 * 1024 * 1024
    #: hardware watchdog device (linux board); None: do not use one
    watchdog_path: str | None = "/dev/watchdog"
    watchdog_timeout: int = 30
    #: management interface; call-home sockets are bound to it (SO_BINDTODEVICE)
    mgmt_interface: str | None = None
    #: back-off between exhausted call-home cycles, seconds
    backoff_min: float = 1.0
    backoff_max: float = 300.0
    #: further YANG modules to implement: (name, features); "*" enables all features
    modules: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: plugins named "module:attribute", besides those of the entry-point group
    plugins: tuple[str, ...] = ()
    #: also load every plugin registered in the dpu_agent.plugins entry-point group
    discover_plugins: bool = True

    @property
    def module_set(self) -> dict[str, list[str]]:
        return {**MODULES, **{name: list(features) for name, features in self.modules}}

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    @property
    def identity_file(self) -> Path:
        """Identity written by factory provisioning; overrides what the board reports."""
        return self.state_dir / "identity.json"


class SettingsError(Exception):
    pass


#: keys of the settings file that are not Settings fields as such
_FILE_KEYS = {"yang", "plugins", "agent"}


def read_file(path: Path) -> dict:
    """Settings from a TOML file, as keyword arguments for :class:`Settings`::

        [agent]
        state_dir = "/var/lib/dpu-agent"
        board = "linux"
        watchdog_timeout = 30
        mgmt_interface = "eth0"

        [yang]
        dirs = ["/usr/share/yang/bbf"]
        [yang.modules]            # module = [features], "*" for all
        bbf-fast = ["*"]
        bbf-fastdsl = []

        [plugins]
        load = ["agent.plugins.gfast_sim:GfastSimPlugin"]
        discover = true
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path}: {exc}") from None
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise SettingsError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    out: dict = {}
    names = {f.name for f in fields(Settings)}
    for key, value in data.get("agent", {}).items():
        if key not in names or key in ("modules", "plugins", "yang_dirs"):
            raise SettingsError(f"{path}: [agent] has no setting {key!r}")
        out[key] = Path(value) if key in ("state_dir", "config_file") else value
    yang = data.get("yang", {})
    if "dirs" in yang:
        out["yang_dirs"] = tuple(yang["dirs"])
    if "modules" in yang:
        out["modules"] = tuple((name, tuple(feats)) for name, feats in yang["modules"].items())
    plugins = data.get("plugins", {})
    if "load" in plugins:
        out["plugins"] = tuple(plugins["load"])
    if "discover" in plugins:
        out["discover_plugins"] = bool(plugins["discover"])
    return out
