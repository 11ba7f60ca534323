"""The QEMU boards (board/) as the board tests use them: a DPU whose agent
calls home to a listener on the host, the agent's state as the manager reads
it, and, for the A/B boards, the agent images that go into their slots."""

from __future__ import annotations

import base64
import compileall
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from agent.callhome import build
from agent.transport.keys import write_key_file
from board import image
from board.qemu import Board, BoardOptions, qemu_binary

from .listener import Listener
from .paths import ROOT, SHARED_YANG, yang_dir

#: the guest's python under TCG needs ~15 s to start the agent; SSH is slow too
CALL_HOME_TIMEOUT = 120

NS = {
    "if": "urn:ietf:params:xml:ns:yang:ietf-interfaces",
    "hw": "urn:ietf:params:xml:ns:yang:ietf-hardware",
    "dpu": "urn:dpu-agent:yang:dpu-agent",
}


def need_board(arch: str) -> None:
    if shutil.which(qemu_binary(arch)) is None:
        pytest.skip(f"{qemu_binary(arch)} is not installed (`make board` installs it, as root)")
    a = image.ARCHES[arch]
    if not (a.root / "usr" / "bin" / "python3").exists():
        pytest.skip(f"no {arch} board image in {a.dir} (run `make board`)")
    # cheap and cached: keeps the kernel and initramfs in step with board/
    image.build_kernel(a)
    image.build_initramfs(a)


@dataclass
class Keys:
    """What Listener.accept needs to authenticate the DPU and log in."""

    client_key_file: Path
    host_b64: str


class Dpu:
    """A board whose agent calls home to a listener on the host. ``make_board``
    (run directory, YANG directory) gives the board: by default one QEMU
    boot (:class:`board.qemu.Board`)."""

    def __init__(self, tmp: Path, arch: str, agent_args: str, options: BoardOptions | None = None, make_board=None) -> None:
        self.listener = Listener()
        self.run = run = tmp / "run"
        keys_dir = run / "state" / "keys"
        keys_dir.mkdir(parents=True, mode=0o700)
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        write_key_file(keys_dir / "host.key", host_key.export_private_key())
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.keys = Keys(tmp / "client.key", base64.b64encode(host_key.public_data).decode())
        client_key.write_private_key(str(self.keys.client_key_file))
        client = build.Client(
            "nms",
            [build.Endpoint("host", "10.0.2.2", self.listener.port)],
            users={"admin": [base64.b64encode(client_key.public_data).decode()]},
            max_wait=5,
        )
        (run / "initial.xml").write_text(build.config_xml([client], self.keys.host_b64))
        (run / "default").write_text(f'DPU_AGENT_ARGS="{agent_args} --config /mnt/run/initial.xml"\n')
        self.board = make_board(run, yang_dir()) if make_board else Board(arch, run, yang_dir(), options)

    def accept(self, timeout: float = CALL_HOME_TIMEOUT):
        return self.listener.accept(self.keys, timeout=timeout)

    def close(self) -> None:
        self.board.close()
        self.listener.close()


def agent_state(m) -> dict[str, str]:
    reply = m.get(filter=("subtree", f'<agent-state xmlns="{NS["dpu"]}"/>'))
    return {re.sub(r"\{.*\}", "", e.tag): e.text for e in reply.data_ele.iterfind(".//dpu:agent-state/*", NS)}


# -- the A/B boards' images ------------------------------------------------------

#: the RAUC compatible of the QEMU A/B boards (board/skeleton/etc/rauc/system.conf)
COMPATIBLE = "dpu-qemu"
#: where the slot image puts bbf-software-management and its imports
IMAGE_YANG = "/opt/dpu-agent/yang-bbf"


def missing_image_tools() -> str | None:
    for tool in ("mksquashfs", "rauc", "mkfs.ext4"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def agent_image(out: Path, version: str, edits: dict[str, tuple[str, str]] | None = None, padding: int = 0) -> Path:
    """A slot image (squashfs) of this checkout's agent, reporting ``version``:
    what /init mounts at /opt/dpu-agent. ``edits`` (path in agent/ -> (old,
    new)) make a broken image; ``padding`` bytes of noise make a large one."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tree = Path(tmpdir) / "tree"
        shutil.copytree(ROOT / "agent", tree / "agent", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
        init = tree / "agent" / "__init__.py"
        text, n = re.subn(r'^__version__ = ".*"$', f'__version__ = "{version}"', init.read_text(), flags=re.M)
        assert n == 1
        init.write_text(text)
        for rel, (old, new) in (edits or {}).items():
            path = tree / "agent" / rel
            assert old in path.read_text(), f"{rel}: no {old!r}"
            path.write_text(path.read_text().replace(old, new, 1))
        script = tree / "buildroot" / "package" / "dpu-agent" / "S50dpu-agent"
        script.parent.mkdir(parents=True)
        shutil.copy(ROOT / "buildroot" / "package" / "dpu-agent" / "S50dpu-agent", script)
        (tree / "yang-bbf").mkdir()
        for module in (SHARED_YANG.parent / "yang-bbf").glob("*.yang"):
            shutil.copy(module, tree / "yang-bbf")
        if padding:
            (tree / "padding").write_bytes(Path("/dev/urandom").open("rb").read(padding))
        # byte-compiled here, as the firmware build does: the guest's
        # CPython is the host's 3.11
        if sys.version_info[:2] == (3, 11):
            compileall.compile_dir(tree / "agent", quiet=1)
        subprocess.run(["mksquashfs", str(tree), str(out), "-noappend", "-quiet", "-all-root", "-comp", "zstd"],
                       check=True, stdout=subprocess.DEVNULL)
    return out


def rauc_bundle(out: Path, slot_image: Path, cert: Path, key: Path, version: str, compatible: str = COMPATIBLE) -> Path:
    """A RAUC bundle of one rootfs image, signed as the vendor's build signs it."""
    with tempfile.TemporaryDirectory() as tmpdir:
        content = Path(tmpdir) / "content"
        content.mkdir()
        shutil.copy(slot_image, content / "rootfs.img")
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible={compatible}\nversion={version}\n\n[image.rootfs]\nfilename=rootfs.img\n")
        done = subprocess.run(["rauc", "bundle", f"--cert={cert}", f"--key={key}", str(content), str(out)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    return out
