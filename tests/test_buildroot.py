"""The Buildroot BR2_EXTERNAL tree, checked offline: a real build downloads
sources CI cannot reach (buildroot/README.md says how to build it).

What is checked: every Kconfig symbol the tree uses is defined in the tree or
is one of Buildroot 2025.02's listed below; every make variable a .mk reads is
set there or is Buildroot's; files named by the defconfigs exist; the rules
of Buildroot's utils/check-package that apply to these files; the YANG
package's downloads match tools/yang-modules.lock. The init script runs on
the QEMU board (test_board.py); the post-build script on a fake TARGET_DIR.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "buildroot"
EXT_VAR = "BR2_EXTERNAL_DPU_AGENT_PATH"

#: Buildroot 2025.02 symbols the tree uses (the rest it defines itself)
BUILDROOT_SYMBOLS = {
    # toolchain and architecture
    "BR2_x86_64", "BR2_aarch64", "BR2_cortex_a53", "BR2_TOOLCHAIN_BUILDROOT_GLIBC",
    "BR2_USE_WCHAR", "BR2_USE_MMU", "BR2_TOOLCHAIN_HAS_THREADS", "BR2_STATIC_LIBS", "BR2_TOOLCHAIN_HAS_SYNC_4",
    "BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS", "BR2_PACKAGE_HOST_LINUX_HEADERS_CUSTOM_6_12",
    # packages
    "BR2_PACKAGE_PYTHON3", "BR2_PACKAGE_PYTHON3_SSL", "BR2_PACKAGE_PYTHON3_PYEXPAT", "BR2_PACKAGE_PYTHON3_DECIMAL",
    "BR2_PACKAGE_PYTHON_ASYNCSSH", "BR2_PACKAGE_PYTHON_CBOR2", "BR2_PACKAGE_PYTHON_CFFI", "BR2_PACKAGE_LIBYANG",
    "BR2_PACKAGE_HOST_QEMU", "BR2_PACKAGE_HOST_QEMU_SYSTEM_MODE",
    # system, kernel, images
    "BR2_GLOBAL_PATCH_DIR", "BR2_DOWNLOAD_FORCE_CHECK_HASHES", "BR2_SYSTEM_DHCP", "BR2_ROOTFS_OVERLAY",
    "BR2_ROOTFS_POST_BUILD_SCRIPT", "BR2_LINUX_KERNEL", "BR2_LINUX_KERNEL_CUSTOM_VERSION",
    "BR2_LINUX_KERNEL_CUSTOM_VERSION_VALUE", "BR2_LINUX_KERNEL_USE_CUSTOM_CONFIG", "BR2_LINUX_KERNEL_CUSTOM_CONFIG_FILE",
    "BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES", "BR2_LINUX_KERNEL_NEEDS_HOST_LIBELF", "BR2_LINUX_KERNEL_NEEDS_HOST_OPENSSL",
    "BR2_TARGET_ROOTFS_EXT2", "BR2_TARGET_ROOTFS_EXT2_4", "BR2_TARGET_ROOTFS_EXT2_SIZE", "BR2_TARGET_ROOTFS_TAR",
}

#: Buildroot make variables and functions a package .mk may read
BUILDROOT_MAKE = {"TARGET_DIR", "INSTALL", "sep", "@D", EXT_VAR, "eval", "python-package", "generic-package", "foreach", "notdir"}

SYMBOL = re.compile(r"\bBR2_[A-Za-z0-9_]+")


def config_ins() -> list[Path]:
    return sorted(TREE.rglob("Config.in"))


def defconfigs() -> list[Path]:
    return sorted((TREE / "configs").glob("*_defconfig"))


def makefiles() -> list[Path]:
    return sorted((TREE / "package").glob("*/*.mk"))


def test_external_tree_layout():
    desc = (TREE / "external.desc").read_text()
    assert re.search(r"^name: DPU_AGENT$", desc, re.M)
    desc_line = re.search(r"^desc: (.*)$", desc, re.M)
    assert desc_line and len(desc_line.group(1)) <= 40
    assert (TREE / "external.mk").read_text().strip() == f"include $(sort $(wildcard $({EXT_VAR})/package/*/*.mk))"
    sourced = re.findall(r'^source "\$' + EXT_VAR + r'/(.*)"$', (TREE / "Config.in").read_text(), re.M)
    packages = sorted(p.parent.name for p in (TREE / "package").glob("*/Config.in"))
    assert sorted(Path(s).parent.name for s in sourced) == packages
    for pkg in packages:
        assert (TREE / "package" / pkg / f"{pkg}.mk").is_file()


def test_every_kconfig_symbol_exists():
    defined = set()
    used: dict[str, str] = {}
    for f in config_ins():
        text = f.read_text()
        defined |= set(re.findall(r"^(?:menu)?config (BR2_\w+)$", text, re.M))
        for line in text.splitlines():
            if re.match(r"\s*(depends on|select|default|if)\b", line):
                for sym in SYMBOL.findall(line.split("#")[0]):
                    used.setdefault(sym, f.name)
    for f in defconfigs():
        for line in f.read_text().splitlines():
            m = re.match(r"(?:# )?(BR2_\w+)(=| is not set)", line)
            if m:
                used.setdefault(m.group(1), f.name)
    unknown = {s: where for s, where in used.items() if s not in defined and s not in BUILDROOT_SYMBOLS}
    assert not unknown
    # and the tree's own symbols are what the defconfigs turn on
    assert {"BR2_PACKAGE_DPU_AGENT", "BR2_PACKAGE_DPU_AGENT_YANG", "BR2_PACKAGE_PYTHON_LIBYANG"} <= defined


def test_every_make_variable_is_set_or_buildroots():
    kconfig = {sym for f in TREE.rglob("Config.in") for sym in re.findall(r"^\s*config (BR2_\w+)$", f.read_text(), re.M)}
    for mk in makefiles():
        text = mk.read_text()
        set_here = set(re.findall(r"^(?:define\s+)?([A-Z0-9_]+)\s*(?:[:+?]?=|$)", text, re.M))
        set_here |= set(re.findall(r"\$\(foreach (\w+),", text))  # loop variables
        prefix = mk.stem.replace("-", "_").upper() + "_"
        # <PKG>_DL_DIR and <PKG>_PKGDIR are set by the package infrastructure
        # $(name ...) with arguments is a function call (call, foreach, ...), not a variable
        for name in re.findall(r"\$\(([^$()\s,]+)\)", text):
            ok = (name in set_here or name in BUILDROOT_MAKE or name in kconfig
                  or name in (prefix + "DL_DIR", prefix + "PKGDIR"))
            assert ok, f"{mk.name}: $({name}) is neither set there nor Buildroot's"


def test_makefiles_follow_check_package():
    for mk in makefiles():
        lines = mk.read_text().splitlines()
        name = mk.stem
        assert lines[:6] == ["#" * 80, "#", f"# {name}", "#", "#" * 80, ""], mk.name
        assert lines[-1] == f"$(eval $({'python' if 'SETUP_TYPE' in mk.read_text() else 'generic'}-package))"
        prefix = name.replace("-", "_").upper() + "_"
        in_define = False
        for n, line in enumerate(lines, 1):
            assert line == line.rstrip(), f"{mk.name}:{n}: trailing space"
            if line.startswith("define "):
                in_define = True
                assert line.split()[1].startswith(prefix), f"{mk.name}:{n}"
                continue
            if line == "endef":
                in_define = False
                continue
            m = re.match(r"^([A-Z0-9_]+)\s*[:+?]?=", line)
            if m:
                assert m.group(1).startswith(prefix), f"{mk.name}:{n}: {m.group(1)} is not {prefix}*"
            if in_define and line:
                assert line.startswith("\t"), f"{mk.name}:{n}: indent with tabs"
            assert not re.search(r"[^$]\$\{\w+\}", line), f"{mk.name}:{n}: use $() not ${{}}"


def test_config_ins_follow_check_package():
    order = {"bool": 1, "prompt": 1, "string": 1, "default": 2, "depends": 3, "select": 4, "help": 5}
    for f in config_ins()[1:] if config_ins()[0] == TREE / "Config.in" else config_ins():
        state, in_help = 0, False
        for n, line in enumerate(f.read_text().splitlines(), 1):
            where = f"{f.relative_to(TREE)}:{n}"
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            word = line.split()[0]
            if word in ("config", "comment", "menu", "if", "endif", "source", "choice", "endchoice"):
                assert not line.startswith("\t"), where
                state, in_help = 0, False
                continue
            if in_help:
                assert re.match(r"^\t  \S.{0,61}$|^\t  .{0,62}$", line), f"{where}: help text: <tab><2 spaces><62 chars>"
                continue
            if word == "\\" or line.startswith("\t\t"):
                continue  # continuation of a depends line
            assert line.startswith("\t" + word), f"{where}: indent with one tab"
            assert order.get(word, state) >= state, f"{where}: attribute order"
            state = order.get(word, state)
            in_help = word == "help"
            assert line != "\tdefault n", where


def test_init_script_follows_check_package_and_parses():
    script = TREE / "package" / "dpu-agent" / "S50dpu-agent"
    text = script.read_text()
    assert os.access(script, os.X_OK)
    assert re.search(r'^DAEMON="dpu-agent"$', text, re.M)
    assert re.search(r'^PIDFILE="/var/run/\$DAEMON\.pid"$', text, re.M)
    for n, line in enumerate(text.splitlines(), 1):
        assert not re.match(r"^\t* ", line), f"S50dpu-agent:{n}: indent with tabs"
        assert line == line.rstrip(), f"S50dpu-agent:{n}: trailing space"
    for sh in ("busybox", "dash", "sh"):
        if shutil.which(sh):
            cmd = [sh, "sh", "-n", str(script)] if sh == "busybox" else [sh, "-n", str(script)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            break
    # installed by the package with the mode check-package asks for
    assert "$(INSTALL) -D -m 0755 $(DPU_AGENT_PKGDIR)/S50dpu-agent" in (TREE / "package/dpu-agent/dpu-agent.mk").read_text()


def test_defconfigs_name_files_that_exist():
    for f in defconfigs():
        for path in re.findall(r"\$\(" + EXT_VAR + r"\)/(\S+?)[\"\s]", f.read_text()):
            assert (TREE / path).exists(), f"{f.name}: {path}"
        assert "BR2_PACKAGE_DPU_AGENT=y" in f.read_text()
        assert "linux-watchdog.fragment" in f.read_text()
    fragment = (TREE / "board/dpu/common/linux-watchdog.fragment").read_text()
    assert "CONFIG_I6300ESB_WDT=y" in fragment and "# CONFIG_WATCHDOG_NOWAYOUT is not set" in fragment


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
    mk = (TREE / "package/python-libyang/python-libyang.mk").read_text()
    pinned = re.search(r"^libyang==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    assert f"PYTHON_LIBYANG_VERSION = {pinned}" in mk
    assert f"libyang-{pinned}.tar.gz" in (TREE / "package/python-libyang/python-libyang.hash").read_text()


def test_post_build_script_provisions_a_fake_target_dir(tmp_path, yang_dirs):
    import asyncssh

    target = tmp_path / "target"
    (target / "usr/share/dpu-agent").mkdir(parents=True)
    (target / "usr/share/dpu-agent/yang").symlink_to(yang_dirs[0])
    (target / "var/lib").mkdir(parents=True)
    images = tmp_path / "images"
    images.mkdir()
    env = dict(os.environ, BR2_EXTERNAL_DPU_AGENT_PATH=str(TREE), DPU_AGENT=str(Path(sys.executable).with_name("dpu-agent")),
               BINARIES_DIR=str(images))
    env.pop("DPU_AGENT_PROVISION_ARGS", None)
    script = str(TREE / "board/dpu/common/post-build.sh")

    # without site arguments the image is left unprovisioned (the same keys in every box would be worse)
    r = subprocess.run([script, str(target)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "not provisioned" in r.stderr
    assert not (target / "var/lib/dpu-agent").exists()

    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_public_key(str(tmp_path / "noc.pub"))
    (tmp_path / "site.toml").write_text(
        '[[managers]]\nname = "nms"\nendpoints = [ { name = "pma", url = "ssh://192.0.2.10" } ]\n'
        '[managers.users]\nadmin = "noc.pub"\n'
    )
    env["DPU_AGENT_PROVISION_ARGS"] = f"--from {tmp_path / 'site.toml'} --serial-number LAB-0001"
    r = subprocess.run([script, str(target)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads((images / "dpu-agent-provision.json").read_text())
    assert report["serial_number"] == "LAB-0001" and report["state_dir"] == "/var/lib/dpu-agent"
    assert report["managers"] == [{"name": "nms", "connection-type": "persistent",
                                   "endpoints": [{"name": "pma", "url": "ssh://192.0.2.10:4334"}]}]
    state = target / "var/lib/dpu-agent"
    assert (state / "running.cbor").stat().st_mode & 0o777 == 0o600
    assert (state / "keys").stat().st_mode & 0o777 == 0o700
    keys = list((state / "keys").glob("*.key"))
    assert keys and all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
    # the image's own modules read it back
    show = subprocess.run([env["DPU_AGENT"], "show", "config", "--root", str(target)], capture_output=True, text=True,
                          timeout=60, env=dict(env, DPU_AGENT_YANG_DIR=str(tmp_path / "none")))
    assert show.returncode == 0 and '"remote-address":"192.0.2.10"' in show.stdout
