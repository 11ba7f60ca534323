"""yanglint, the reference validator, on what the agent emits."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from agent import modset


def yanglint(kind: str, data_file, yang_dirs: list[str], *extra: str) -> subprocess.CompletedProcess:
    """Run yanglint on ``data_file`` against the agent's module set; skips without yanglint."""
    if shutil.which("yanglint") is None:
        import pytest

        pytest.skip("yanglint (libyang2-tools) is not installed")
    dirs = modset.search_dirs(yang_dirs)
    args = ["yanglint", "-t", kind, *extra]
    for d in dirs:
        args += ["-p", d]
    for module, feats in modset.MODULES.items():
        if feats:
            args += ["-F", f"{module}:{','.join(feats)}"]
    args += [module_file(m, dirs) for m in modset.MODULES] + [str(data_file)]
    return subprocess.run(args, capture_output=True, text=True)


def module_file(name: str, dirs: list[str]) -> str:
    for d in dirs:
        found = sorted(Path(d).glob(f"{name}@*.yang")) or sorted(Path(d).glob(f"{name}.yang"))
        if found:
            return str(found[-1])
    raise FileNotFoundError(name)
