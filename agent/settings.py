"""The agent's own settings: where things live and its limits. Not YANG
configuration: these are fixed by the firmware image or the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from .modset import MODULES

DEFAULT_STATE_DIR = Path("/var/lib/dpu-agent")

# The defaults of the settings below. The components' own keyword defaults
# (framing, session, server, transports, call home) refer to these, and the
# command line's help text is made from them: one place to change each.
#: the largest NETCONF message accepted, bytes
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
#: RFC 8071 S5: a manager must authenticate within this time, seconds
LOGIN_TIMEOUT = 60.0
#: a peer that sends no <hello> by then is dropped, seconds
HELLO_TIMEOUT = 60.0
MAX_SESSIONS = 16
#: NETCONF sessions (SSH channels) on one call-home connection
MAX_SESSIONS_PER_CONNECTION = 4
#: back-off between exhausted call-home cycles, seconds
BACKOFF_MIN = 1.0
BACKOFF_MAX = 300.0
WATCHDOG_PATH = "/dev/watchdog"
WATCHDOG_TIMEOUT = 30
BOARD = "sim"


class SettingsError(Exception):
    pass


class _Fields(NamedTuple):
    """:class:`Settings`' fields and their defaults."""

    state_dir: Path = DEFAULT_STATE_DIR
    #: directories with the standard YANG modules (None: $DPU_AGENT_YANG_DIR or the system dir)
    yang_dirs: tuple[str, ...] | None = None
    board: str = BOARD
    #: initial configuration, used only while the state dir holds none
    config_file: Path | None = None
    #: RFC 8071 S5: a manager must authenticate within this time
    login_timeout: float = LOGIN_TIMEOUT
    max_message_size: int = MAX_MESSAGE_SIZE
    max_sessions: int = MAX_SESSIONS
    max_sessions_per_connection: int = MAX_SESSIONS_PER_CONNECTION
    #: 0: no limit
    hello_timeout: float = HELLO_TIMEOUT
    #: hardware watchdog device (linux board); None: do not use one
    watchdog_path: str | None = WATCHDOG_PATH
    watchdog_timeout: int = WATCHDOG_TIMEOUT
    #: management interface; call-home sockets are bound to it (SO_BINDTODEVICE)
    mgmt_interface: str | None = None
    #: back-off between exhausted call-home cycles, seconds
    backoff_min: float = BACKOFF_MIN
    backoff_max: float = BACKOFF_MAX
    #: further YANG modules to implement: (name, features); "*" enables all features
    modules: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: plugins named "module:attribute", besides those of the entry-point group
    plugins: tuple[str, ...] = ()
    #: also load every plugin registered in the dpu_agent.plugins entry-point group
    discover_plugins: bool = True



class Settings(_Fields):
    """Validated on construction: :class:`SettingsError` says what is wrong.
    A NamedTuple, not a dataclass: as immutable, and no ``dataclasses`` to
    import nor class to generate at each start of the agent."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Settings:
        self = super().__new__(cls, *args, **kwargs)
        self._validate()
        return self

    def _validate(self) -> None:
        for name in ("login_timeout", "backoff_min", "backoff_max"):
            _number(name, getattr(self, name), above=0.0)
        _number("hello_timeout", self.hello_timeout, above=None)
        for name in ("max_message_size", "max_sessions", "max_sessions_per_connection", "watchdog_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise SettingsError(f"{name}: {value!r} is not a whole number above 0")
        if self.backoff_min > self.backoff_max:
            raise SettingsError(f"backoff_min ({self.backoff_min:g}) is above backoff_max ({self.backoff_max:g})")
        if self.config_file is not None and not Path(self.config_file).is_file():
            raise SettingsError(f"config_file {self.config_file}: no such file")

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


def _number(name: str, value: object, above: float | None) -> None:
    """A number (not a boolean) above ``above`` (None: not below 0)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise SettingsError(f"{name}: {value!r} is not a number")
    if above is None and value < 0:
        raise SettingsError(f"{name}: {value:g} is below 0")
    if above is not None and value <= above:
        raise SettingsError(f"{name}: {value:g} must be above {above:g}")


def default(name: str) -> object:
    """A setting's default, for help texts."""
    value = Settings._field_defaults[name]
    return f"{value:g}" if isinstance(value, float) else value


#: keys of the settings file that are not Settings fields as such
_FILE_KEYS = {"yang", "plugins", "agent"}


def read_file(path: Path) -> dict[str, Any]:
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
    import tomllib  # only a settings file needs it: not imported before the first call home

    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path}: {exc}") from None
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise SettingsError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    names = set(Settings._fields)
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
