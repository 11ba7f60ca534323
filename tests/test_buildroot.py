"""The Buildroot BR2_EXTERNAL tree, checked by Buildroot itself, offline.

For each Buildroot release in ../shared/firmware-src (unpacked once under
build/buildroot/, keyed by the archive's digest) and each defconfig of the
tree: ``make <defconfig>`` keeps every symbol of the defconfig, ``make
show-info`` succeeds and every download has a hash for its version, the
agent's packages (and their licenses) are the ones the firmware needs, and
the agent imports and passes ``dpu-agent selftest`` with only the stdlib
modules that the defconfig's python3 options leave in (the list comes from
Buildroot's python3.mk through ``make printvars``). Per release,
``utils/check-package -b`` passes on buildroot/ with no warning. Nothing is
downloaded: BR2_DL_DIR is an empty directory that must stay empty, and the
proxies point nowhere. A real image build needs the downloads
(buildroot/README.md says how).

The summary at the end of the run lists, per release and defconfig, what was
checked (symbols kept, downloads with hashes, check-package warnings, stdlib
modules blocked, selftest, A/B).

The A/B images (RAUC, GRUB or U-Boot, the disk layout): show-info has
their packages, and the board's system.conf, genimage.cfg, fstab and boot
loader files agree; the post-image step runs with the host's genimage and
rauc on a dummy rootfs, and its bundle verifies against the image's keyring.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "buildroot"
FIRMWARE_SRC = ROOT.parent / "shared" / "firmware-src"
CACHE = ROOT / "build" / "buildroot"
EXT_VAR = "BR2_EXTERNAL_DPU_AGENT_PATH"

#: the releases the tree supports: the LTS it targets and the next one
RELEASES = ("2026.02.3", "2026.08-rc1")
DEFCONFIGS = tuple(sorted(p.name for p in (TREE / "configs").glob("*_defconfig")))
#: a defconfig with more options: build-time provisioning (host-dpu-agent)
VARIANTS = {
    "provisioned": 'BR2_PACKAGE_DPU_AGENT_PROVISION=y\nBR2_PACKAGE_DPU_AGENT_PROVISION_ARGS="--from /etc/site.toml"\n',
}
COMBOS = [(r, d) for r in RELEASES for d in DEFCONFIGS]
ALL_COMBOS = COMBOS + [(r, f"dpu_qemu_x86_64_defconfig+{v}") for r in RELEASES for v in VARIANTS]
#: host-dpu-agent and what it needs that Buildroot does not have
HOST_PACKAGES = ("host-dpu-agent", "host-dpu-python-asyncssh", "host-dpu-python-libyang", "host-python-cryptography",
                 "host-python-cbor2", "host-libyang")

#: the agent's packages: what dpu-agent selects, directly or not
AGENT_PACKAGES = ("dpu-agent", "dpu-agent-yang", "libyang", "libssh", "python-cffi", "python-cbor2", "python-pycparser")
#: what the running agent must not pull in any more
NOT_ON_THE_IMAGE = ("python-asyncssh", "python-cryptography", "python-paramiko")

#: configure options of python3.mk that leave stdlib modules out, and those
#: that do not; an option in neither fails the test (a new Buildroot option
#: must be looked at, not ignored)
OPTION_MODULES = {
    "--without-readline": ["readline"],
    "--disable-curses": ["_curses", "_curses_panel", "curses"],
    "--with-expat=none": ["pyexpat"],
    "--disable-sqlite3": ["_sqlite3", "sqlite3"],
    "--disable-tk": ["_tkinter", "tkinter", "turtle", "idlelib"],
    "--disable-idle3": ["idlelib"],
    "--disable-pydoc": ["pydoc", "pydoc_data"],
    "--disable-lib2to3": ["lib2to3"],
    "--without-ensurepip": ["ensurepip"],
    "--disable-test-modules": ["test", "_testcapi", "_testinternalcapi", "_testbuffer", "_testmultiphase",
                               "_testimportmultiple", "_testsinglephase", "_xxtestfuzz", "_ctypes_test"],
}
OPTIONS_KEEPING_MODULES = re.compile(
    r"^--(with-expat=system|with-system-libmpdec|with-openssl=.*|without-cxx-main|with-build-python=.*"
    r"|disable-pyc-build|with-ssl-default-suites=.*|enable-lib2to3|with-readline|with-libc=.*)$"
)

#: third-party Python packages on the image (import names): dpu-agent's
#: selections and what they pull in
IMAGE_PACKAGES = {"libyang", "_libyang", "cffi", "_cffi_backend", "pycparser", "cbor2", "_cbor2"}
#: agent modules that run on the build host only, never on the image:
#: factory provisioning, the demo and the configuration builder they share
#: (asyncssh, cryptography)
HOST_ONLY = ("agent.provision", "agent.demo", "agent.__main__", "agent.callhome.build")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def buildroot_tree(release: str) -> Path:
    """Buildroot ``release`` unpacked under build/buildroot/ (once per archive digest)."""
    archive = FIRMWARE_SRC / f"buildroot-{release}.tar.xz"
    if not archive.exists():
        pytest.skip(f"no {archive} (../shared/firmware-src is not here)")
    dest = CACHE / f"buildroot-{release}-{_digest(archive)[:12]}"
    if not dest.is_dir():
        # unpacked aside, then renamed into place: a tree there is complete
        tmp = CACHE / f".unpacking-{release}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            top = tar.getnames()[0].split("/")[0]
            if hasattr(tarfile, "tar_filter"):  # 3.11.4 on
                tar.extractall(tmp, filter="tar")
            else:
                tar.extractall(tmp)
        try:
            (tmp / top).rename(dest)
        except OSError:
            assert dest.is_dir()  # another test run unpacked it first
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def offline_env(dl_dir: Path) -> dict[str, str]:
    env = dict(os.environ, BR2_DL_DIR=str(dl_dir), LC_ALL="C")
    for var in ("http_proxy", "https_proxy", "ftp_proxy", "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY"):
        env[var] = "http://127.0.0.1:9"  # the discard port: a download attempt fails at once
    for var in ("BR2_EXTERNAL", "BR2_DEFCONFIG", "O", "BR2_PRIMARY_SITE", "MAKEFLAGS", "MAKELEVEL"):
        env.pop(var, None)
    return env


def defconfig_text(name: str) -> str:
    base, _, variant = name.partition("+")
    return (TREE / "configs" / base).read_text() + VARIANTS.get(variant, "")


def read_config(text: str) -> dict[str, str]:
    """Symbol -> value of a .config or defconfig ("n" for "is not set")."""
    values = {}
    for line in text.splitlines():
        m = re.match(r"^(BR2_\w+)=(.*)$", line) or re.match(r"^# (BR2_\w+) is not set$", line)
        if m:
            values[m.group(1)] = m.group(2) if m.lastindex == 2 else "n"
    return values


@dataclass
class Configured:
    release: str
    defconfig: str
    out: Path
    config: dict[str, str]
    info: dict
    variables: dict[str, str]
    seconds: float
    summary: dict = field(default_factory=dict)


def configure(release: str, defconfig: str, dl_dir: Path, outs: Path) -> Configured:
    import time

    start = time.monotonic()
    br = buildroot_tree(release)
    out = outs / release / defconfig
    out.mkdir(parents=True)
    env = offline_env(dl_dir)
    target = [defconfig]
    if "+" in defconfig:
        (out / "variant_defconfig").write_text(defconfig_text(defconfig))
        target = [f"BR2_DEFCONFIG={out / 'variant_defconfig'}", "defconfig"]
    r = subprocess.run(["make", "-s", "-C", str(br), f"BR2_EXTERNAL={TREE}", f"O={out}", *target],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    variables = "PYTHON3_VERSION PYTHON3_CONF_ENV PYTHON3_CONF_OPTS"
    r = subprocess.run(["make", "-s", "-C", str(out), "show-info", "printvars", f"VARS={variables}"],
                       env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    info, end = json.JSONDecoder().raw_decode(r.stdout)
    values = dict(line.split("=", 1) for line in r.stdout[end:].splitlines() if "=" in line)
    return Configured(release, defconfig, out, read_config((out / ".config").read_text()), info, values, time.monotonic() - start)


@pytest.fixture(scope="module")
def dl_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("buildroot-dl")
    yield d
    # nothing may have been downloaded by any make target run here
    assert list(d.iterdir()) == []


@pytest.fixture(scope="module")
def summary(request):
    rows: dict[tuple[str, str], dict] = {}
    yield rows
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not rows:
        return
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_sep("-", "Buildroot, checked by Buildroot itself")
        for (release, defconfig), row in sorted(rows.items()):
            reporter.write_line(f"{release} {defconfig}: " + ", ".join(f"{k} {v}" for k, v in row.items()))


@pytest.fixture(scope="module")
def configured(dl_dir, summary, tmp_path_factory) -> dict[tuple[str, str], Configured]:
    outs = tmp_path_factory.mktemp("buildroot-out")
    for release in RELEASES:
        buildroot_tree(release)  # unpacked one at a time
    # show-info reads every package of Buildroot: two at a time on two cores
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(ALL_COMBOS, pool.map(lambda c: configure(*c, dl_dir, outs), ALL_COMBOS), strict=True))
    for combo, c in done.items():
        summary.setdefault(combo, {})["show-info"] = f"{c.seconds:.0f} s"
    return done


# -- per release and defconfig -------------------------------------------------


@pytest.mark.parametrize("release,defconfig", ALL_COMBOS)
def test_defconfig_keeps_every_symbol(configured, summary, release, defconfig):
    c = configured[release, defconfig]
    wanted = read_config(defconfig_text(defconfig))
    lost = {sym: (value, c.config.get(sym, "n")) for sym, value in wanted.items() if c.config.get(sym, "n") != value}
    assert not lost, f"{release} {defconfig}: symbols changed by Kconfig (wanted, got): {lost}"
    summary[release, defconfig]["symbols kept"] = f"{len(wanted)}/{len(wanted)}"


def _hashed_files(br: Path, info_hashes: list[str]) -> set[str]:
    names = set()
    for hash_file in info_hashes:
        path = Path(hash_file) if os.path.isabs(hash_file) else br / hash_file
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512"):
                names.add(parts[2])
    return names


@pytest.mark.parametrize("release,defconfig", ALL_COMBOS)
def test_every_download_has_a_hash(configured, summary, release, defconfig):
    c = configured[release, defconfig]
    br = buildroot_tree(release)
    assert c.config.get("BR2_DOWNLOAD_FORCE_CHECK_HASHES") == "y"
    missing, hashed = [], 0
    for name, pkg in c.info.items():
        for download in pkg.get("downloads", []):
            if download["uris"][0].startswith("local+"):
                continue  # dpu-agent itself: this checkout
            if download["source"] in _hashed_files(br, pkg.get("hashes", [])):
                hashed += 1
            else:
                missing.append(f"{name} {pkg['version']}: {download['source']}")
    assert not missing, f"{release} {defconfig}: downloads without a hash: {missing}"
    summary[release, defconfig]["downloads with hashes"] = hashed


@pytest.mark.parametrize("release,defconfig", COMBOS)
def test_the_agents_packages_are_the_firmwares(configured, release, defconfig):
    c = configured[release, defconfig]
    # Buildroot's python-libyang from 2026.08 on, the tree's before: never both
    own = (buildroot_tree(release) / "package/python-libyang").is_dir()
    bindings = "python-libyang" if own else "dpu-python-libyang"
    assert bindings in c.info and ({"python-libyang", "dpu-python-libyang"} - {bindings}).isdisjoint(c.info)
    assert c.info[bindings]["version"] == make_variable("PYTHON_LIBYANG3")  # what make test-libyang3 runs
    assert c.info["libyang"]["version"].startswith("3.")
    for pkg in AGENT_PACKAGES:
        assert pkg in c.info, f"{release} {defconfig}: {pkg} is not selected"
    assert c.config["BR2_PACKAGE_LIBSSH_SERVER"] == "y"
    for pkg in NOT_ON_THE_IMAGE:
        assert pkg not in c.info, f"{release} {defconfig}: {pkg} is on the image"
    assert c.config["BR2_LINUX_KERNEL_CUSTOM_VERSION_VALUE"].strip('"') == c.info["linux"]["version"]
    for pkg in HOST_PACKAGES:
        assert pkg not in c.info, f"{pkg}: provisioning is off"


@pytest.mark.parametrize("release", RELEASES)
def test_build_time_provisioning_brings_host_dpu_agent(configured, release):
    c = configured[release, "dpu_qemu_x86_64_defconfig+provisioned"]
    for pkg in HOST_PACKAGES:
        assert pkg in c.info, f"{release}: {pkg} is not built for provisioning"
    assert "host-dpu-agent" in c.info["dpu-agent"]["dependencies"]
    assert c.info["host-dpu-python-libyang"]["version"] == make_variable("PYTHON_LIBYANG3")
    # the post-build script that runs it is the board's
    assert "/board/dpu/common/post-build.sh" in c.config["BR2_ROOTFS_POST_BUILD_SCRIPT"]


@pytest.mark.parametrize("release,defconfig", ALL_COMBOS)
def test_the_agents_packages_declare_their_licenses(configured, release, defconfig):
    """What `make legal-info` writes to its manifest for the agent's packages
    (show-info holds the same fields; legal-info itself needs the downloads)."""
    c = configured[release, defconfig]
    bindings = "python-libyang" if "python-libyang" in c.info else "dpu-python-libyang"
    host = HOST_PACKAGES if "+provisioned" in defconfig else ()
    for name in (*AGENT_PACKAGES, bindings, *host):
        pkg = c.info[name]
        assert pkg["licenses"] and pkg["licenses"] != "unknown", name
        assert pkg["license_files"], f"{name}: no license files"
        assert pkg["redistributable"], name
    agent = c.info["dpu-agent"]
    assert agent["licenses"] == "MIT" and agent["license_files"] == ["LICENSE"]
    assert re.search(r"^license = MIT$", (ROOT / "setup.cfg").read_text(), re.M)
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    # the license files of the tree's packages are checked against their .hash
    hash_lines = (TREE / "package/dpu-agent/dpu-agent.hash").read_text().splitlines()
    assert f"sha256  {_digest(ROOT / 'LICENSE')}  LICENSE" in hash_lines
    yang = c.info["dpu-agent-yang"]
    yang_hashed = _hashed_files(buildroot_tree(release), yang["hashes"])
    assert set(yang["license_files"]) <= yang_hashed


def test_the_yang_packages_license_is_true_to_its_modules(yang_dirs):
    """IETF modules carry the Simplified (BSD-2-Clause) or Revised (BSD-3-Clause)
    BSD license; RFC 5277's two carry no license text."""
    mk = (TREE / "package/dpu-agent-yang/dpu-agent-yang.mk").read_text()
    license_line = _mk_value(mk, "DPU_AGENT_YANG_LICENSE")
    found: dict[str, set[str]] = {"BSD-2-Clause": set(), "BSD-3-Clause": set(), "none": set()}
    for f in Path(yang_dirs[0]).glob("*.yang"):
        text = re.sub(r"\s+", " ", f.read_text())
        kind = "BSD-2-Clause" if "Simplified BSD License" in text else "BSD-3-Clause" if "Revised BSD License" in text else "none"
        found[kind].add(f.name.split("@")[0])
    downloads = _mk_value(mk, "DPU_AGENT_YANG_EXTRA_DOWNLOADS").split()
    installed = {u.rsplit("/", 1)[-1].split("@")[0].removesuffix(".yang") for u in downloads}
    installed.add(_mk_value(mk, "DPU_AGENT_YANG_SOURCE").removesuffix(".yang"))
    for kind, modules in found.items():
        modules &= installed
        if kind == "none":
            for module in modules:
                assert module in license_line, f"{module} has no license text: the license string must say so"
        elif modules:
            assert kind in license_line, f"{sorted(modules)} are {kind}"
    assert "BSD-2-Clause" in license_line and "BSD-3-Clause" in license_line


def make_variable(name: str) -> str:
    m = re.search(rf"^{name} := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert m, name
    return m.group(1)


# -- A/B images: RAUC, the boot loader, the disk layout --------------------------------

BOARDS = TREE / "board/dpu/qemu"
#: per defconfig: the board's directory, RAUC's boot-loader backend and the
#: packages that make that boot loader count the boots of a trial slot
AB_BOARDS = {
    "dpu_qemu_x86_64_defconfig": ("x86_64", "grub", ("grub2", "host-grub2")),
    "dpu_qemu_aarch64_virt_defconfig": ("aarch64-virt", "uboot", ("uboot", "uboot-tools", "host-uboot-tools")),
}
#: every A/B image: RAUC on the box (squashfs: its bundles), and on the build
#: host what lays out the disk and builds and signs the bundle
AB_PACKAGES = ("dpu-rauc", "rauc", "squashfs", "host-rauc", "host-squashfs", "host-openssl", "host-genimage",
               "host-dosfstools", "host-mtools")
#: the data partition's mount point: the agent's state dir
DATA_MOUNT = "/var/lib/dpu-agent"


def config_path(value: str) -> Path:
    """A path of the .config, with the external tree's variable expanded."""
    return Path(value.strip('"').replace(f"$({EXT_VAR})", str(TREE)))


def system_conf(board: str):
    import configparser

    conf = configparser.ConfigParser(interpolation=None, comment_prefixes=("#",))
    conf.read_string((BOARDS / board / "system.conf").read_text())
    return conf


def genimage_disk(board: str) -> tuple[list[tuple[str, dict[str, str]]], dict[str, str]]:
    """The disk image's partitions in the partition table, in order (so
    the n-th is /dev/vda<n>), and the boot partition's files (name in the
    partition -> input file)."""
    text = (BOARDS / board / "genimage.cfg").read_text()
    parts = []
    for name, body in re.findall(r"^\tpartition (\S+) \{\n(.*?)^\t\}", text, re.M | re.S):
        props = dict(re.findall(r'^\t\t([\w-]+) = "?([^"\n]*)"?$', body, re.M))
        if props.get("in-partition-table") != "no":
            parts.append((name, props))
    files = dict(re.findall(r'^\t\tfile (\S+) \{ image = "([^"]+)" \}$', text, re.M))
    return parts, files


def fstab() -> dict[str, tuple[str, str]]:
    """Mount point -> (device, type) of the QEMU boards' /etc/fstab."""
    lines = (BOARDS / "rootfs-overlay/etc/fstab").read_text().splitlines()
    return {f[1]: (f[0], f[2]) for f in (line.split() for line in lines if line and not line.startswith("#"))}


def _size(value: str) -> int:
    return int(value[:-1]) << {"K": 10, "M": 20, "G": 30}[value[-1]]


def linux_board_runs_openssl() -> bool:
    """Whether the Linux board's code (RaucSlots, LinuxBoard) runs the
    openssl binary itself (verify_bundle) rather than leaving the signature
    check to RAUC, which links libcrypto."""
    import ast

    tree = ast.parse((ROOT / "agent/hal/slots.py").read_text())
    rauc = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RaucSlots")
    code = [ast.unparse(rauc), (ROOT / "agent/hal/linux.py").read_text()]
    return any("verify_bundle" in text or "'openssl'" in text or '"openssl"' in text for text in code)


@pytest.mark.parametrize("release,defconfig", COMBOS)
def test_the_image_has_ab_slots_updated_by_rauc(configured, summary, release, defconfig):
    c = configured[release, defconfig]
    board, backend, loader = AB_BOARDS[defconfig]
    for pkg in (*AB_PACKAGES, *loader):
        assert pkg in c.info, f"{release} {defconfig}: {pkg} is not selected"
    assert {"rauc", "host-rauc", "host-genimage"} <= set(c.info["dpu-rauc"]["dependencies"])
    # dpu-agent's RaucSlots reads `rauc status --output-format=json`; without
    # the D-Bus service (no init script for it on a SysV image) the rauc
    # command does the work itself
    assert c.config["BR2_PACKAGE_RAUC_JSON"] == "y"
    assert c.config.get("BR2_PACKAGE_RAUC_DBUS", "n") == "n"
    if linux_board_runs_openssl():
        assert c.config.get("BR2_PACKAGE_LIBOPENSSL_BIN") == "y", "the Linux board runs openssl: the image needs it"
    assert config_path(c.config["BR2_PACKAGE_DPU_RAUC_SYSTEM_CONF"]) == BOARDS / board / "system.conf"
    assert f"{EXT_VAR})/board/dpu/qemu/rootfs-overlay" in c.config["BR2_ROOTFS_OVERLAY"]
    assert config_path(c.config["BR2_ROOTFS_POST_IMAGE_SCRIPT_ARGS"]) == BOARDS / board

    conf = system_conf(board)
    system = conf["system"]
    assert system["bootloader"] == backend
    assert system["activate-installed"] == "false"  # activating is the manager's (RaucSlots)
    assert system["bundle-formats"] == "-plain"  # verity bundles only: what post-image.sh makes
    assert system["data-directory"].startswith(DATA_MOUNT + "/")  # slot status survives an update
    assert conf["keyring"]["path"] == "/etc/rauc/keyring.pem"  # where dpu-rauc.mk installs it
    # system.conf goes where rauc looks by default (the agent runs rauc without --conf)
    mk = (TREE / "package/dpu-rauc/dpu-rauc.mk").read_text()
    assert "$(TARGET_DIR)/etc/rauc/system.conf" in mk and "$(TARGET_DIR)/etc/rauc/keyring.pem" in mk
    assert system["compatible"] == f"dpu-qemu-{board}"

    # the slots are the disk's partitions, the data and boot partitions the fstab's
    parts, boot_files = genimage_disk(board)
    device = {name: f"/dev/vda{n}" for n, (name, _) in enumerate(parts, 1)}
    slots = {conf[s]["bootname"]: (conf[s]["device"], conf[s]["type"]) for s in conf.sections() if s.startswith("slot.rootfs.")}
    assert slots == {"A": (device["rootfs-a"], "ext4"), "B": (device["rootfs-b"], "ext4")}
    props = dict(parts)
    assert props["rootfs-a"]["image"] == "rootfs.ext4" and "image" not in props["rootfs-b"]  # B: the first update's
    rootfs_size = _size(c.config["BR2_TARGET_ROOTFS_EXT2_SIZE"].strip('"'))
    assert _size(props["rootfs-a"]["size"]) >= rootfs_size and _size(props["rootfs-b"]["size"]) >= rootfs_size
    assert props["data"]["image"] == "data.ext4" and props["boot"]["image"] == "boot.vfat"
    mounts = fstab()
    assert mounts[DATA_MOUNT] == (device["data"], "ext4")
    assert mounts["/mnt/boot"] == (device["boot"], "vfat")
    assert "/board/dpu/common/post-fakeroot.sh" in c.config["BR2_ROOTFS_POST_FAKEROOT_SCRIPT"]  # no device keys in a bundle
    # the kernel is the slot's, with what RAUC needs (loop, squashfs, dm-verity)
    assert c.config["BR2_LINUX_KERNEL_INSTALL_TARGET"] == "y"
    assert f"{EXT_VAR})/board/dpu/common/linux-rauc.fragment" in c.config["BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES"]

    if backend == "grub":
        # grub-editenv on the box, for RAUC; the environment where GRUB reads it
        assert c.config["BR2_TARGET_GRUB2_INSTALL_TOOLS"] == "y" and c.config["BR2_TARGET_GRUB2_I386_PC"] == "y"
        assert c.config["BR2_TARGET_GRUB2_BOOT_PARTITION"] == '"hd0,msdos1"' and device["boot"] == "/dev/vda1"
        assert boot_files == {"boot/grub/grub.cfg": "grub.cfg", "boot/grub/grubenv": "grubenv"}
        assert system["grubenv"] == "/mnt/boot/boot/grub/grubenv"
        modules = set(c.config["BR2_TARGET_GRUB2_BUILTIN_MODULES_PC"].strip('"').split())
        assert {"loadenv", "test", "echo", "reboot", "linux", "ext2", "fat", "part_msdos", "biosdisk"} <= modules
        grub_cfg = (BOARDS / board / "grub.cfg").read_text()
        m = re.search(r'if \[ "\$slot" = "A" \]; then part=(\d); else part=(\d); fi', grub_cfg)
        assert m and (f"/dev/vda{m[1]}", f"/dev/vda{m[2]}") == (device["rootfs-a"], device["rootfs-b"])
        assert "(hd0,msdos$part)/boot/bzImage root=/dev/vda$part" in grub_cfg
        assert "rauc.slot=$slot" in grub_cfg and "save_env A_TRY B_TRY" in grub_cfg
    else:
        assert c.config["BR2_PACKAGE_UBOOT_TOOLS_FWPRINTENV"] == "y"
        assert c.config["BR2_TARGET_UBOOT_BOARD_DEFCONFIG"] == '"qemu_arm64"'
        assert f"{EXT_VAR})/board/dpu/qemu/aarch64-virt/rootfs-overlay" in c.config["BR2_ROOTFS_OVERLAY"]
        fragment = dict(re.findall(r"^(CONFIG_\w+)=(.*)$", (BOARDS / board / "u-boot.fragment").read_text(), re.M))
        fw_env = next(line.split() for line in (BOARDS / board / "rootfs-overlay/etc/fw_env.config").read_text().splitlines()
                      if line and not line.startswith("#"))
        # U-Boot, fw_setenv (RAUC) and the environment image agree on where and how big
        assert boot_files == {"boot.scr": "boot.scr", "uboot.env": "uboot-env.bin"}
        assert fragment["CONFIG_ENV_IS_IN_FAT"] == "y" and fragment["CONFIG_ENV_FAT_DEVICE_AND_PART"] == f'"0:{device["boot"][-1]}"'
        assert fw_env[0] == "/mnt/boot/" + fragment["CONFIG_ENV_FAT_FILE"].strip('"') == "/mnt/boot/uboot.env"
        assert int(fw_env[2], 16) == int(fragment["CONFIG_ENV_SIZE"], 16) == int(c.config["BR2_PACKAGE_HOST_UBOOT_TOOLS_ENVIMAGE_SIZE"].strip('"'), 16)
        assert config_path(c.config["BR2_PACKAGE_HOST_UBOOT_TOOLS_BOOT_SCRIPT_SOURCE"]) == BOARDS / board / "boot.cmd"
        boot_cmd = (BOARDS / board / "boot.cmd").read_text()
        # the tries RAUC gives back are the ones the script starts with
        assert f'setenv BOOT_A_LEFT {system["boot-attempts"]}' in boot_cmd and system["boot-attempts-primary"] == system["boot-attempts"]
        assert "setenv bootpart 2" in boot_cmd and "setenv bootpart 3" in boot_cmd and device["rootfs-a"] == "/dev/vda2"
    summary[release, defconfig]["A/B"] = f"rauc {c.info['rauc']['version']} + {backend}"


# -- the post-image step on dummy images ------------------------------------------------


AB_TOOLS = ("genimage", "rauc", "mksquashfs", "mkfs.ext4", "mkfs.vfat", "mcopy", "debugfs", "openssl")
UBOOT_TOOLS = ("mkimage", "mkenvimage", "fw_printenv")


def _missing_tools(tools) -> list[str]:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [t for t in tools if shutil.which(t, path=path) is None]


def dev_keys(dest: Path) -> Path:
    r = subprocess.run([str(TREE / "package/dpu-rauc/dev-keys.sh"), str(dest)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return dest


def _mbr(disk: Path) -> list[tuple[int, int, int, int]]:
    """(boot flag, type, first byte, size in bytes) of the MBR's entries."""
    import struct

    with open(disk, "rb") as f:
        mbr = f.read(512)
    assert mbr[510:] == b"\x55\xaa"
    entries = []
    for i in range(4):
        e = mbr[446 + 16 * i:462 + 16 * i]
        start, count = struct.unpack("<II", e[8:16])
        if e[4]:
            entries.append((e[0], e[4], start * 512, count * 512))
    return entries


def _read(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


@pytest.mark.parametrize("board", ["x86_64", "aarch64-virt"])
def test_post_image_lays_out_the_disk_and_signs_the_bundle(tmp_path, board):
    """board/dpu/common/post-image.sh as Buildroot runs it after the rootfs,
    with the host's genimage and rauc, on a small dummy rootfs: the disk
    has the layout system.conf and fstab name, and the bundle verifies
    against the keyring the image installs (and not against another)."""
    missing = _missing_tools(AB_TOOLS + (UBOOT_TOOLS if board == "aarch64-virt" else ()))
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make test installs them)")
    env = dict(os.environ, PATH=os.environ["PATH"] + ":/usr/sbin:/sbin")
    images, target, build, base = (tmp_path / d for d in ("images", "target", "build", "base"))
    for d in (images, target / "etc/rauc", target / "var/lib/dpu-agent/keys", build / "dpu-rauc", tmp_path / "rootfs/boot"):
        d.mkdir(parents=True)
    # what dpu-rauc.mk leaves: the development keys, the keyring on the target, the signing settings
    keys = dev_keys(base / "dpu-rauc-dev-keys")
    shutil.copy(keys / "ca.cert.pem", target / "etc/rauc/keyring.pem")
    shutil.copy(BOARDS / board / "system.conf", target / "etc/rauc/system.conf")
    mk = (TREE / "package/dpu-rauc/dpu-rauc.mk").read_text()
    assert "KEY=\"%s\"\\nCERT=\"%s\"\\nKEYRING=\"%s\"\\nDEVELOPMENT=%s\\nBUNDLE_VERSION=\"%s\"\\n" in mk
    (build / "dpu-rauc/bundle-signing.env").write_text(
        f'KEY="{keys}/signing.key.pem"\nCERT="{keys}/signing.cert.pem"\nKEYRING="{keys}/ca.cert.pem"\n'
        'DEVELOPMENT=yes\nBUNDLE_VERSION="1.2.3"\n')
    # provisioned state: into the data partition
    (target / "var/lib/dpu-agent/keys/host.key").write_bytes(b"device key")
    # the rootfs (what Buildroot made: rootfs.ext2 and the rootfs.ext4 link), with a kernel
    (tmp_path / "rootfs/boot/kernel").write_bytes(os.urandom(100_000))
    subprocess.run(["mkfs.ext4", "-q", "-d", str(tmp_path / "rootfs"), str(images / "rootfs.ext2"), "8M"], check=True, env=env)
    (images / "rootfs.ext4").symlink_to("rootfs.ext2")
    if board == "x86_64":  # GRUB's boot sector and core image (grub2's)
        (images / "boot.img").write_bytes(os.urandom(512))
        (images / "grub.img").write_bytes(os.urandom(30_000))
    else:  # host-uboot-tools': the boot script and U-Boot's default environment
        subprocess.run(["mkimage", "-A", "arm64", "-T", "script", "-C", "none", "-d", str(BOARDS / board / "boot.cmd"),
                        str(images / "boot.scr")], check=True, capture_output=True)
        (tmp_path / "env.txt").write_text("bootdelay=0\nkernel_addr_r=0x40400000\n")
        subprocess.run(["mkenvimage", "-s", "0x40000", "-o", str(images / "uboot-env.bin"), str(tmp_path / "env.txt")], check=True)
    script_env = dict(env, BINARIES_DIR=str(images), TARGET_DIR=str(target), BUILD_DIR=str(build), BASE_DIR=str(base))
    r = subprocess.run([str(TREE / "board/dpu/common/post-image.sh"), str(images), str(BOARDS / board)],
                       env=script_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "DEVELOPMENT key" in r.stderr and "NOT FOR PRODUCTION" in r.stderr

    # the disk: boot (bootable), slot A = the rootfs, slot B empty, the data
    disk = images / "disk.img"
    table = _mbr(disk)
    parts, _ = genimage_disk(board)
    assert [name for name, _ in parts] == ["boot", "rootfs-a", "rootfs-b", "data"]
    (boot_flag, boot_type, boot_at, _), (_, a_type, a_at, a_size), (_, _, b_at, b_size), (_, _, data_at, data_size) = table
    assert boot_flag == 0x80 and boot_type == 0x0C and boot_at == 1 << 20 and a_type == 0x83
    rootfs = (images / "rootfs.ext2").read_bytes()
    assert a_size == b_size == 256 << 20 and _read(disk, a_at, len(rootfs)) == rootfs
    assert _read(disk, b_at, 1 << 16) == bytes(1 << 16)
    data = (images / "data.ext4").read_bytes()
    assert data_size == len(data) and _read(disk, data_at, len(data)) == data
    cat = subprocess.run(["debugfs", "-R", "cat /keys/host.key", str(images / "data.ext4")], capture_output=True, env=env)
    assert cat.stdout == b"device key"
    # the boot loader's environment, as the boot loader and RAUC read it
    boot_vfat = images / "boot.vfat"
    if board == "x86_64":
        grubenv = subprocess.run(["mcopy", "-n", "-i", str(boot_vfat), "::boot/grub/grubenv", "-"], capture_output=True, check=True).stdout
        assert len(grubenv) == 1024 and grubenv.startswith(b"# GRUB Environment Block\n")
        assert grubenv.split(b"\n")[1:6] == [b"ORDER=A B", b"A_OK=1", b"A_TRY=0", b"B_OK=0", b"B_TRY=0"]
        if shutil.which("grub-editenv"):  # what RAUC's grub backend runs on the box
            block = tmp_path / "grubenv"
            block.write_bytes(grubenv)
            subprocess.run(["grub-editenv", str(block), "set", "ORDER=B A", "B_OK=1"], check=True)
            listed = subprocess.run(["grub-editenv", str(block), "list"], capture_output=True, text=True, check=True).stdout
            assert listed.split() == ["ORDER=B", "A", "A_OK=1", "A_TRY=0", "B_OK=1", "B_TRY=0"] and block.stat().st_size == 1024
        grub_cfg = subprocess.run(["mcopy", "-n", "-i", str(boot_vfat), "::boot/grub/grub.cfg", "-"], capture_output=True, check=True).stdout
        assert grub_cfg == (BOARDS / board / "grub.cfg").read_bytes()
        assert _read(disk, 0, 440) == (images / "boot.img").read_bytes()[:440]
    else:
        env_file = tmp_path / "uboot.env"
        subprocess.run(["mcopy", "-n", "-i", str(boot_vfat), "::uboot.env", str(env_file)], check=True)
        fw_env = (BOARDS / board / "rootfs-overlay/etc/fw_env.config").read_text().replace("/mnt/boot/uboot.env", str(env_file))
        (tmp_path / "fw_env.config").write_text(fw_env)
        # RAUC's uboot backend: fw_setenv and fw_printenv with the board's fw_env.config
        subprocess.run(["fw_setenv", "-c", str(tmp_path / "fw_env.config"), "BOOT_ORDER", "B A"], check=True, env=env)
        printed = subprocess.run(["fw_printenv", "-c", str(tmp_path / "fw_env.config")], capture_output=True, text=True, env=env)
        assert printed.returncode == 0 and "Bad CRC" not in printed.stderr, printed.stderr
        assert "kernel_addr_r=0x40400000" in printed.stdout and "BOOT_ORDER=B A" in printed.stdout

    # the bundle: signed, verified with the image's keyring, for this board
    bundle = images / "update.raucb"
    info = subprocess.run(["rauc", "info", f"--keyring={target / 'etc/rauc/keyring.pem'}", "--output-format=json", str(bundle)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert info.returncode == 0, info.stderr
    manifest = json.loads(info.stdout)
    assert manifest["compatible"] == system_conf(board)["system"]["compatible"] and manifest["version"] == "1.2.3"
    assert "DEVELOPMENT" in manifest["description"]
    assert [img["rootfs"]["filename"] for img in manifest["images"]] == ["rootfs.ext4"]
    other = dev_keys(tmp_path / "other-keys")
    refused = subprocess.run(["rauc", "info", f"--keyring={other / 'ca.cert.pem'}", str(bundle)],
                             capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode != 0 and "signature" in refused.stderr.lower(), refused.stderr


def test_the_grub_configuration_is_grub_script():
    if shutil.which("grub-script-check") is None:
        pytest.skip("grub-script-check is not installed (grub-common; make test installs it)")
    r = subprocess.run(["grub-script-check", str(BOARDS / "x86_64/grub.cfg")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    broken = (BOARDS / "x86_64/grub.cfg").read_text().replace("\nfi\n", "\n", 1)
    r = subprocess.run(["grub-script-check"], input=broken, capture_output=True, text=True)
    assert r.returncode != 0  # the check can fail


def test_the_development_keys_are_made_once_and_say_what_they_are(tmp_path):
    keys = dev_keys(tmp_path / "keys")
    before = {p.name: p.read_bytes() for p in keys.iterdir()}
    assert dev_keys(keys) == keys and {p.name: p.read_bytes() for p in keys.iterdir()} == before
    assert (keys / "signing.key.pem").stat().st_mode & 0o777 == 0o600 and keys.stat().st_mode & 0o777 == 0o700
    subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", str(keys / "signing.cert.pem")],
                             capture_output=True, text=True, check=True).stdout
    assert "NOT FOR PRODUCTION" in subject
    chain = subprocess.run(["openssl", "verify", "-CAfile", str(keys / "ca.cert.pem"), str(keys / "signing.cert.pem")],
                           capture_output=True, text=True)
    assert chain.returncode == 0, chain.stderr


def test_the_linux_board_runs_rauc_with_the_images_system_conf(monkeypatch, tmp_path):
    """dpu-rauc installs system.conf at RAUC's default path, so the agent's
    Linux board must run rauc without --conf (or with that path)."""
    from agent.hal import linux, slots

    given = []

    class Recorder:
        def __init__(self, state_dir: Path, *, conf: str | None = None, **_: object) -> None:
            given.append(conf)

    monkeypatch.setattr(slots, "RaucSlots", Recorder)
    board = linux.open_board(watchdog_path=None, state_dir=tmp_path)
    try:
        assert given and given[0] in (None, "/etc/rauc/system.conf")
    finally:
        board.close()


def test_post_fakeroot_keeps_the_state_dir_out_of_the_rootfs(tmp_path):
    """The rootfs goes into every update bundle: the data partition, not
    the rootfs, carries what provisioning wrote."""
    state = tmp_path / "var/lib/dpu-agent"
    (state / "keys").mkdir(parents=True)
    (state / "keys/host.key").write_text("device key")
    (state / "startup.cbor").write_text("config")
    r = subprocess.run([str(TREE / "board/dpu/common/post-fakeroot.sh"), str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert state.is_dir() and list(state.iterdir()) == []


# -- the agent on the image's stdlib ----------------------------------------------


def blocked_stdlib(c: Configured) -> set[str]:
    """The stdlib modules this defconfig's python3 leaves out, from the
    configure environment and options Buildroot's python3.mk computes."""
    blocked = set(re.findall(r"\bpy_cv_module_(\w+)=n/a", c.variables["PYTHON3_CONF_ENV"]))
    for option in c.variables["PYTHON3_CONF_OPTS"].split():
        if option in OPTION_MODULES:
            blocked.update(OPTION_MODULES[option])
        else:
            assert OPTIONS_KEEPING_MODULES.match(option), f"python3.mk option {option}: which modules does it leave out?"
    return blocked


#: run in a fresh interpreter: blocks the modules, imports every module of
#: the agent, then runs `dpu-agent selftest`
BLOCKED_RUN = r"""
import json, os, sys
blocked, allowed, host_only, argv = json.loads(sys.argv[1])
blocked, allowed = set(blocked), set(allowed)
stdlib = set(sys.stdlib_module_names)

class LeftOut:  # a meta path finder (importlib.abc itself imports zlib on 3.11)
    @staticmethod
    def find_spec(name, path=None, target=None):
        top = name.partition(".")[0]
        if name in blocked or top in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (left out of the image)", name=name)
        if top not in stdlib and top not in allowed and top != "agent":
            raise ModuleNotFoundError(f"No module named {name!r} (not on the image)", name=name)
        return None

early = sorted(m for m in sys.modules if m in blocked)
assert not early, f"already imported at startup: {early}"
sys.meta_path.insert(0, LeftOut)
import importlib
import agent
failed = {}
base = os.path.dirname(os.path.dirname(agent.__file__))
for top, dirs, files in os.walk(os.path.dirname(agent.__file__)):
    dirs[:] = sorted(d for d in dirs if os.path.exists(os.path.join(top, d, "__init__.py")))
    for f in sorted(files):
        if not f.endswith(".py"):
            continue
        name = os.path.relpath(os.path.join(top, f), base)[:-3].replace(os.sep, ".").removesuffix(".__init__")
        if name.startswith(tuple(host_only)):
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            failed[name] = exc.name or str(exc)
print(json.dumps({"failed": failed, "imported": len([m for m in sys.modules if m.startswith("agent")])}), flush=True)
from agent.cli import main
sys.exit(main(argv))
"""


def run_blocked(blocked: set[str], allowed: set[str], argv: list[str], env: dict) -> tuple[dict, subprocess.CompletedProcess]:
    r = subprocess.run([sys.executable, "-c", BLOCKED_RUN, json.dumps([sorted(blocked), sorted(allowed), HOST_ONLY, argv])],
                       capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    first, _, rest = r.stdout.partition("\n")
    assert first.startswith("{"), r.stdout + r.stderr
    return json.loads(first), subprocess.CompletedProcess(r.args, r.returncode, rest, r.stderr)


@pytest.mark.parametrize("release,defconfig", COMBOS)
def test_the_agent_runs_on_the_stdlib_the_defconfig_leaves(configured, summary, release, defconfig, tmp_path, yang_dirs):
    c = configured[release, defconfig]
    blocked = blocked_stdlib(c)
    assert {"_bz2", "_lzma", "_uuid"} <= blocked  # what every one of these defconfigs leaves out
    env = dict(os.environ, DPU_AGENT_YANG_DIR=yang_dirs[0])
    # only the image's third-party packages: asyncssh and cryptography are not on it
    loaded, r = run_blocked(blocked, IMAGE_PACKAGES, ["selftest", "--board", "sim", "--state-dir", str(tmp_path)], env)
    assert loaded["failed"] == {}, f"{release} {defconfig}: modules that do not import with {sorted(blocked)} left out"
    assert r.returncode == 0 and r.stdout.rstrip().endswith("selftest: ok"), r.stdout + r.stderr
    summary[release, defconfig]["stdlib modules blocked"] = len(blocked)
    summary[release, defconfig]["selftest"] = "passed"


def test_the_selftest_fails_when_the_image_lacks_a_module_the_agent_needs(tmp_path, yang_dirs):
    """The check above can fail: pyexpat (BR2_PACKAGE_PYTHON3_PYEXPAT) left out."""
    env = dict(os.environ, DPU_AGENT_YANG_DIR=yang_dirs[0])
    loaded, _ = run_blocked({"pyexpat", "zlib"}, IMAGE_PACKAGES, ["--version"], env)
    assert loaded["failed"].get("agent.datastore.persist") == "zlib"
    assert "pyexpat" in loaded["failed"].values()


# -- per release --------------------------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_check_package_passes(summary, release):
    br = buildroot_tree(release)
    for tool in ("shellcheck", "flake8"):
        assert shutil.which(tool), f"{tool} is missing (make test installs it)"
    files = sorted(str(p.relative_to(TREE)) for p in TREE.rglob("*") if p.is_file())
    # Buildroot's own interpreter choice: the system Python with python3-magic
    r = subprocess.run(["/usr/bin/python3", str(br / "utils/check-package"), "-b", *files],
                       cwd=TREE, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and re.search(r"^0 warnings generated$", r.stderr, re.M), r.stdout + r.stderr
    lines = re.search(r"^(\d+) lines processed$", r.stderr, re.M)
    assert lines and int(lines.group(1)) > 300  # it did read the tree
    for defconfig in DEFCONFIGS:
        summary.setdefault((release, defconfig), {})["check-package warnings"] = 0


# -- the tree itself ------------------------------------------------------------------


def test_agent_package_builds_from_this_checkout():
    mk = (TREE / "package/dpu-agent/dpu-agent.mk").read_text()
    assert f"DPU_AGENT_SITE = $({EXT_VAR})/.." in mk and "DPU_AGENT_SITE_METHOD = local" in mk
    setup = (ROOT / "setup.cfg").read_text()
    version = re.search(r"^version = (\S+)$", setup, re.M).group(1)
    assert f"DPU_AGENT_VERSION = {version}" in mk
    # the init script and the unit start the console script setuptools installs in /usr/bin
    assert re.search(r"^\s*dpu-agent = agent\.cli:main$", setup, re.M)
    assert '"/usr/bin/$DAEMON" --syslog run' in (TREE / "package/dpu-agent/S50dpu-agent").read_text()
    assert "ExecStart=/usr/bin/dpu-agent run" in (TREE / "package/dpu-agent/dpu-agent.service").read_text()


def test_init_script_parses():
    script = TREE / "package" / "dpu-agent" / "S50dpu-agent"
    for sh in ("busybox", "dash", "sh"):
        if shutil.which(sh):
            cmd = [sh, "sh", "-n", str(script)] if sh == "busybox" else [sh, "-n", str(script)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            break


def _mk_value(text: str, var: str) -> str:
    m = re.search(rf"^{var} = ((?:.*\\\n)*.*)$", text, re.M)
    assert m, var
    return m.group(1).replace("\\\n", " ")


def test_yang_package_downloads_the_locked_modules():
    mk = (TREE / "package/dpu-agent-yang/dpu-agent-yang.mk").read_text()
    variables = {v: _mk_value(mk, v) for v in re.findall(r"^(DPU_AGENT_YANG_\w+) = ", mk, re.M)}

    def expand(s: str) -> str:
        return re.sub(r"\$\((DPU_AGENT_YANG_\w+)\)", lambda m: expand(variables[m.group(1)]), s)

    site = expand(variables["DPU_AGENT_YANG_SITE"])
    urls = {f"{site}/{variables['DPU_AGENT_YANG_SOURCE']}"}
    for item in expand(variables["DPU_AGENT_YANG_EXTRA_DOWNLOADS"]).split():
        urls.add(item if "://" in item else f"{site}/{item}")
    lock = [line.split() for line in (ROOT / "tools/yang-modules.lock").read_text().splitlines() if line and not line.startswith("#")]
    assert urls == {entry[2] for entry in lock}
    hashes = dict(
        (name, digest) for _, digest, name in (line.split() for line in (TREE / "package/dpu-agent-yang/dpu-agent-yang.hash").read_text().splitlines() if line and not line.startswith("#"))
    )
    assert set(hashes) == {u.rsplit("/", 1)[1] for u in urls}
    for digest, name, url, *placeholders in lock:
        raw = url.rsplit("/", 1)[1]
        if not placeholders:
            assert hashes[raw] == digest, name
        else:
            # the source has the placeholder; the lock's digest is of the filled file
            assert placeholders == [f"YYYY-MM-DD={variables['DPU_AGENT_YANG_DRAFT_REVISION']}"]
            shared = ROOT.parent / "shared" / "yang" / name
            if shared.exists():
                filled = shared.read_bytes()
                assert hashlib.sha256(filled).hexdigest() == digest
                source = filled.replace(b"revision 2025-04-24", b"revision YYYY-MM-DD")
                assert hashlib.sha256(source).hexdigest() == hashes[raw], name


def test_python_libyang_is_the_version_the_agent_is_tested_with():
    mk = (TREE / "package/dpu-python-libyang/dpu-python-libyang.mk").read_text()
    version = make_variable("PYTHON_LIBYANG3")
    assert f"DPU_PYTHON_LIBYANG_VERSION = {version}" in mk
    assert f"libyang-{version}.tar.gz" in (TREE / "package/dpu-python-libyang/dpu-python-libyang.hash").read_text()


def test_post_build_script_provisions_a_fake_target_dir(tmp_path, yang_dirs):
    """board/dpu/common/post-build.sh as Buildroot runs it: host-dpu-agent's
    dpu-agent (here: this venv's) with the arguments of the .config."""
    import asyncssh

    target = tmp_path / "target"
    (target / "usr/share/dpu-agent").mkdir(parents=True)
    (target / "usr/share/dpu-agent/yang").symlink_to(yang_dirs[0])
    (target / "var/lib").mkdir(parents=True)
    images = tmp_path / "images"
    images.mkdir()
    host = tmp_path / "host"
    (host / "bin").mkdir(parents=True)
    (host / "bin/dpu-agent").symlink_to(Path(sys.executable).with_name("dpu-agent"))
    config = tmp_path / ".config"
    config.write_text("BR2_PACKAGE_DPU_AGENT=y\n# BR2_PACKAGE_DPU_AGENT_PROVISION is not set\n")
    env = dict(os.environ, BR2_EXTERNAL_DPU_AGENT_PATH=str(TREE), HOST_DIR=str(host), BINARIES_DIR=str(images),
               BR2_CONFIG=str(config))
    script = str(TREE / "board/dpu/common/post-build.sh")

    # without provisioning the image is left unprovisioned (the same keys in every box would be worse)
    r = subprocess.run([script, str(target)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "not provisioned" in r.stderr
    assert not (target / "var/lib/dpu-agent").exists()
    # provisioning without arguments is a mistake
    config.write_text('BR2_PACKAGE_DPU_AGENT_PROVISION=y\nBR2_PACKAGE_DPU_AGENT_PROVISION_ARGS=""\n')
    r = subprocess.run([script, str(target)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "PROVISION_ARGS is empty" in r.stderr

    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_public_key(str(tmp_path / "noc.pub"))
    (tmp_path / "site.toml").write_text(
        '[[managers]]\nname = "nms"\nendpoints = [ { name = "pma", url = "ssh://192.0.2.10" } ]\n'
        '[managers.users]\nadmin = "noc.pub"\n'
    )
    config.write_text('BR2_PACKAGE_DPU_AGENT_PROVISION=y\n'
                      f'BR2_PACKAGE_DPU_AGENT_PROVISION_ARGS="--from {tmp_path / "site.toml"} --serial-number LAB-0001"\n')
    r = subprocess.run([script, str(target)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads((images / "dpu-agent-provision.json").read_text())
    assert report["serial_number"] == "LAB-0001" and report["state_dir"] == "/var/lib/dpu-agent"
    assert report["managers"] == [{"name": "nms", "connection-type": "persistent",
                                   "endpoints": [{"name": "pma", "url": "ssh://192.0.2.10:4334"}]}]
    state = target / "var/lib/dpu-agent"
    assert (state / "startup.cbor").stat().st_mode & 0o777 == 0o600
    assert (state / "keys").stat().st_mode & 0o777 == 0o700
    keys = list((state / "keys").glob("*.key"))
    assert keys and all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
    # the image's own modules read it back
    show = subprocess.run([str(host / "bin/dpu-agent"), "show", "config", "--root", str(target)], capture_output=True, text=True,
                          timeout=60, env=dict(env, DPU_AGENT_YANG_DIR=str(tmp_path / "none")))
    assert show.returncode == 0 and '"remote-address":"192.0.2.10"' in show.stdout
