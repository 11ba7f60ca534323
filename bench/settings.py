"""How long and how much the bench measures (BENCH_QUICK=1: short windows)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _yang_dirs() -> list[str]:
    env = os.environ.get("DPU_AGENT_YANG_DIR")
    if env:
        return env.split(":")
    shared = ROOT.parent / "shared" / "yang"
    if shared.is_dir():
        return [str(shared)]
    raise SystemExit("bench: no standard YANG modules: run `make bench` or set DPU_AGENT_YANG_DIR")


def _bbf_dir() -> str | None:
    bbf = Path(os.environ.get("DPU_AGENT_BBF_DIR", ROOT.parent / "shared" / "yang-bbf"))
    return str(bbf) if (bbf / "examples" / "fast-line.json").is_file() else None


@dataclass
class BenchSettings:
    quick: bool = field(default_factory=lambda: os.environ.get("BENCH_QUICK", "") not in ("", "0"))
    yang_dirs: list[str] = field(default_factory=_yang_dirs)
    bbf_dir: str | None = field(default_factory=_bbf_dir)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dpu-bench-")))

    @property
    def window(self) -> float:
        """Idle window, seconds."""
        return 10.0 if self.quick else 60.0

    #: kernel keepalive idle-time = probe interval = SSH keepalive max-wait =
    #: OpenSSH ClientAliveInterval, seconds
    keepalive: int = 5

    @property
    def rpcs(self) -> int:
        """Round trips per RPC-rate figure; memory is read after this many x 2 as well."""
        return 200 if self.quick else 1000

    @property
    def repeats(self) -> int:
        """Start-ups and edits timed per figure (medians)."""
        return 3 if self.quick else 7

    @property
    def scale_sizes(self) -> list[int]:
        return [10, 100, 1000] if self.quick else [10, 100, 1000, 10000]

    def dir(self, name: str) -> Path:
        d = self.workdir / name
        d.mkdir(parents=True)
        return d
