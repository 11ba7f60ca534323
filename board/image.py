"""Assemble the emulated boards from Debian packages and PyPI wheels only.

For each architecture, under ``build/board/<arch>/``:

- ``root/``: a Debian 12 tree (``mmdebstrap --variant=extract``: nothing is
  configured, no maintainer script runs, no root-only step) with the kernel,
  its modules, static busybox, CPython 3.11, libyang2 and libssh-4, plus the
  agent's Python dependencies installed for the target (wheels for cbor2 and
  cffi; the libyang binding compiled here with the host's
  compiler or Debian's aarch64 cross compiler against the tree's own headers).
  The guest mounts it read-only over 9p, under a tmpfs overlay.
- the kernel the guest boots: ``vmlinux`` (x86_64, the uncompressed ELF with
  the PVH entry: no decompression under TCG) or the arm64 ``Image``.
- ``initrd.gz``: busybox, ``/init`` (``board/init.sh``), the modules for
  virtio, 9p, overlayfs and the i6300esb watchdog in load order, and
  ``board/skeleton/`` (inittab, rc scripts) to copy over the root.

The agent itself is not in the image: the guest mounts this checkout at
``/opt/dpu-agent``, so the code under test is always the working tree's.

Each step records what it was built from in a stamp file and is skipped when
that has not changed. Run ``python -m board build``.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import kmod, newc

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent
BUILD_DIR = CHECKOUT / "build" / "board"
SUITE = "bookworm"
PYTHON = "3.11"
SITE = "usr/lib/python3/dist-packages"

#: runtime packages of the guest (their dependencies come along)
RUNTIME_PACKAGES = ["busybox-static", f"python{PYTHON}-minimal", f"libpython{PYTHON}-stdlib", "libyang2", "libssh-4",
                    # firmware update: RAUC's service on a D-Bus system bus of its own (board/skeleton/etc/init.d/S30rauc)
                    "rauc", "dbus-daemon"]
#: headers to build the libyang binding against the guest's own libraries
BUILD_PACKAGES = ["libyang2-dev", f"libpython{PYTHON}-dev"]
#: the agent's dependencies from PyPI, as wheels for the target
#: (cffi also runs the agent's libssh binding, which needs no compiling)
WHEELS = ["cbor2", "cffi"]

#: kernel modules, dependencies are added (see kmod.py); built-in ones are skipped
MODULES = [
    "virtio_pci", "virtio_net", "virtio_console", "virtio_rng",
    "9pnet_virtio", "9p", "overlay", "i6300esb",
    # the A/B boards' disks (boot environment, slots, data) and RAUC's bundle mount
    "virtio_blk", "loop", "squashfs", "ext4", "crc32c_generic",
]


@dataclass(frozen=True)
class Arch:
    name: str
    debian: str
    triplet: str
    cc: str
    #: the kernel image QEMU boots, relative to the arch's build directory
    kernel: str

    @property
    def dir(self) -> Path:
        return BUILD_DIR / self.name

    @property
    def root(self) -> Path:
        return self.dir / "root"

    def pip_platforms(self) -> list[str]:
        # Debian 12 has glibc 2.36: every manylinux tag up to it fits
        return ["manylinux2014_" + self.name] + [f"manylinux_2_{m}_{self.name}" for m in range(17, 37)]


ARCHES = {
    "x86_64": Arch("x86_64", "amd64", "x86_64-linux-gnu", "gcc", "vmlinux"),
    "aarch64": Arch("aarch64", "arm64", "aarch64-linux-gnu", "aarch64-linux-gnu-gcc", "Image"),
}


def log(msg: str) -> None:
    print(f"board: {msg}", file=sys.stderr, flush=True)


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):
            files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
            for f in files:
                h.update(str(f.relative_to(p.parent)).encode())
                h.update(f.read_bytes())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()


class _Step:
    """Skip a step whose inputs are unchanged since it last succeeded."""

    def __init__(self, arch: Arch, name: str, key: str) -> None:
        self.stamp = arch.dir / f".{name}.stamp"
        self.key = key

    def done(self) -> bool:
        return self.stamp.is_file() and self.stamp.read_text() == self.key

    def mark(self) -> None:
        self.stamp.write_text(self.key)


def _run(cmd: list[str], **kw) -> None:
    subprocess.run(cmd, check=True, **kw)


def constraint(name: str) -> str:
    for line in (CHECKOUT / "constraints.txt").read_text().splitlines():
        pkg, sep, version = line.partition("==")
        if sep and pkg.strip().lower() == name:
            return version.strip()
    raise LookupError(f"{name} is not pinned in constraints.txt")


def build_root(arch: Arch, mirror: str | None) -> None:
    packages = [f"linux-image-{arch.debian}"] + RUNTIME_PACKAGES + BUILD_PACKAGES
    step = _Step(arch, "root", _digest(packages, mirror, constraint("libyang"), sorted(WHEELS), (CHECKOUT / "constraints.txt")))
    if step.done():
        return
    log(f"{arch.name}: extracting Debian {SUITE} packages into {arch.root}")
    for stale in arch.dir.glob(".*.stamp"):
        stale.unlink()
    shutil.rmtree(arch.root, ignore_errors=True)
    tmp = arch.dir / "root.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = ["mmdebstrap", "--quiet", "--variant=extract", f"--arch={arch.debian}", "--include=" + ",".join(packages), SUITE, str(tmp)]
    if mirror:
        cmd.append(mirror)
    _run(cmd)
    for d in ("proc", "sys", "dev", "run", "tmp"):
        (tmp / d).mkdir(exist_ok=True)
    python = tmp / "usr" / "bin" / "python3"
    if not python.exists():
        python.symlink_to(f"python{PYTHON}")
    _install_wheels(arch, tmp)
    _build_libyang(arch, tmp)
    # extract runs no maintainer script, so nothing was byte-compiled: do it
    # once here rather than on every boot under TCG
    _run([sys.executable, "-m", "compileall", "-q", "-j0", str(tmp / "usr" / "lib" / f"python{PYTHON}"), str(tmp / SITE)],
         stdout=subprocess.DEVNULL)
    tmp.rename(arch.root)
    step.mark()


def _install_wheels(arch: Arch, root: Path) -> None:
    log(f"{arch.name}: installing {', '.join(WHEELS)} wheels for {arch.name}")
    platforms = [a for p in arch.pip_platforms() for a in ("--platform", p)]
    _run([
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(root / SITE), "--only-binary=:all:", *platforms,
        "--python-version", PYTHON, "--implementation", "cp",
        "-c", str(CHECKOUT / "constraints.txt"), *WHEELS,
    ])


def _build_libyang(arch: Arch, root: Path) -> None:
    """The libyang binding is a cffi extension with no wheel: generate its C
    source on the host (cffi only writes text) and compile it for the target
    against the tree's libyang and CPython headers."""
    version = constraint("libyang")
    log(f"{arch.name}: building the libyang {version} binding with {arch.cc}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
              "--no-binary=:all:", "-d", str(tmp), f"libyang=={version}"])
        sdist = next(tmp.glob("libyang-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        src = tmp / sdist.name[: -len(".tar.gz")]
        c_file = tmp / "_libyang.c"
        _run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import build; build.BUILDER.emit_c_code(sys.argv[2])",
              str(src / "cffi"), str(c_file)])
        # only libyang's and CPython's headers from the tree: the C library's
        # come with the compiler (Debian's pyconfig.h includes
        # <TRIPLET/python3.11/pyconfig.h>)
        include = tmp / "include"
        (include / arch.triplet).mkdir(parents=True)
        (include / "libyang").symlink_to(root / "usr" / "include" / "libyang")
        (include / arch.triplet / f"python{PYTHON}").symlink_to(root / "usr" / "include" / arch.triplet / f"python{PYTHON}")
        libdir = root / "usr" / "lib" / arch.triplet
        so = root / SITE / f"_libyang.cpython-{PYTHON.replace('.', '')}-{arch.triplet}.so"
        _run([
            arch.cc, "-shared", "-fPIC", "-O2", "-std=c99", "-Werror",
            "-I", str(include), "-I", str(root / "usr" / "include" / f"python{PYTHON}"), str(c_file),
            # libyang by its file, not -L: the tree's libc.so linker script
            # names absolute paths that are the host's
            str((libdir / "libyang.so").resolve()), f"-Wl,-rpath-link,{libdir}", "-o", str(so),
        ])
        shutil.copytree(src / "libyang", root / SITE / "libyang", dirs_exist_ok=True)


def build_kernel(arch: Arch) -> None:
    vmlinuz = _kernel_file(arch)
    target = arch.dir / arch.kernel
    step = _Step(arch, "kernel", _digest(vmlinuz.name, vmlinuz.stat().st_size))
    if step.done() and target.exists():
        return
    if arch.name == "x86_64":
        # the bzImage's payload is xz: the uncompressed vmlinux boots through
        # its PVH entry, ~3 s faster under TCG than bzImage + SeaBIOS
        log(f"{arch.name}: extracting vmlinux from {vmlinuz.name}")
        data = vmlinuz.read_bytes()
        start = data.find(b"\xfd7zXZ\0")
        if start < 0:
            raise RuntimeError(f"{vmlinuz}: no xz payload")
        target.write_bytes(lzma.LZMADecompressor().decompress(data[start:]))
    else:
        # Debian's arm64 vmlinuz is already an uncompressed Image
        if target.exists() or target.is_symlink():
            target.unlink()
        target.symlink_to(vmlinuz.relative_to(arch.dir))
    step.mark()


def _kernel_file(arch: Arch) -> Path:
    found = sorted((arch.root / "boot").glob("vmlinuz-*"))
    if len(found) != 1:
        raise RuntimeError(f"expected one kernel in {arch.root / 'boot'}, found {[f.name for f in found]}")
    return found[0]


def build_initramfs(arch: Arch) -> None:
    skeleton = HERE / "skeleton"
    init = HERE / "init.sh"
    step = _Step(arch, "initramfs", _digest(MODULES, _kernel_file(arch).name, init, skeleton))
    target = arch.dir / "initrd.gz"
    if step.done() and target.exists():
        return
    log(f"{arch.name}: writing {target.relative_to(CHECKOUT)}")
    modules_dir = next((arch.root / "lib" / "modules").iterdir())
    a = newc.Archive()
    for d in ("dev", "proc", "sys", "run", "tmp", "lower", "rw", "newroot"):
        a.dir(d)
    a.chardev("dev/console", 5, 1)
    a.chardev("dev/null", 1, 3, 0o666)
    a.file("bin/busybox", (arch.root / "bin" / "busybox").read_bytes(), 0o755)
    a.symlink("bin/sh", "busybox")
    a.file("init", init.read_bytes(), 0o755)
    order = kmod.load_order(MODULES, modules_dir)
    for ko in order:
        a.file(f"lib/modules/{ko.name}", ko.read_bytes())
    a.file("etc/modules", "".join(f"{ko.name}\n" for ko in order).encode())
    for f in sorted(skeleton.rglob("*")):
        rel = "skeleton/" + str(f.relative_to(skeleton))
        if f.is_dir():
            a.dir(rel)
        else:
            a.file(rel, f.read_bytes(), f.stat().st_mode & 0o777)
    a.write_gz(target)
    step.mark()


def build(arch_names: list[str], mirror: str | None = None) -> None:
    for name in arch_names:
        arch = ARCHES[name]
        arch.dir.mkdir(parents=True, exist_ok=True)
        build_root(arch, mirror)
        build_kernel(arch)
        build_initramfs(arch)
        log(f"{arch.name}: ready in {arch.dir.relative_to(CHECKOUT)}")


def env_mirror() -> str | None:
    return os.environ.get("BOARD_DEBIAN_MIRROR") or None
