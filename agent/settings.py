"""The agent's own settings: where things live and its limits. Not YANG
configuration: these are fixed by the firmware image or the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    @property
    def identity_file(self) -> Path:
        """Identity written by factory provisioning; overrides what the board reports."""
        return self.state_dir / "identity.json"
