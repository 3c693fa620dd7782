"""install.sh into a temporary remotes tree: actions run from there, upgrade in place, exact uninstall."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

import pytest
from fixtures.sim_oned import stock_etc_dir

from onesp import __version__
from onesp.sim.stack import Result
from onesp.tools.install import compiled

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def install_sh(*args: str, env: Optional[Dict[str, str]] = None, python: str = sys.executable) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), "PYTHON": python,
            "ONESP_RC": ""}
    full.update(env or {})
    return subprocess.run(["bash", str(REPO / "install.sh"), *args], capture_output=True, text=True, env=full,
                          timeout=60, check=False)


def snapshot(root: Path) -> Dict[str, bytes]:
    """Every file under ``root`` with its bytes (directories as empty entries)."""
    found: Dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        found[key + "/" if path.is_dir() else key] = b"" if path.is_dir() else path.read_bytes()
    return found


@pytest.fixture
def remotes(tmp_path: Path) -> Path:
    path = tmp_path / "var" / "remotes"
    (path / "tm" / "ssh").mkdir(parents=True)
    (path / "tm" / "ssh" / "clone").write_text("#!/bin/sh\n# stock OpenNebula driver\n")
    (path / "vmm" / "kvm").mkdir(parents=True)
    (path / "vmm" / "kvm" / "deploy").write_text("#!/bin/sh\n")
    return path


def install(remotes: Path, *extra: str, **kwargs: object) -> subprocess.CompletedProcess:
    result = install_sh("--prefix", str(remotes), "--bindir", str(remotes.parent / "bin"), *extra, **kwargs)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_installed(remotes: Path, stack: object, kind_dir: str, action: str, *argv: str) -> Result:
    stack.in_process_expected = True  # type: ignore[attr-defined]  # another tree than the stack's server runs
    executable = remotes / kind_dir / action
    proc = subprocess.run([sys.executable, str(executable), *argv], capture_output=True, env=stack.env,  # type: ignore[attr-defined]
                          timeout=60, check=False)
    return Result([action, *argv], proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def test_an_installed_action_runs_from_the_remotes_tree(remotes, stack):
    install(remotes)
    shim = remotes / "tm" / "storpool" / "resize"
    assert os.access(shim, os.X_OK)
    assert (remotes / "lib" / "onesp" / "actions" / "tm" / "resize.py").is_file()
    assert not list(remotes.rglob("__pycache__")) and not list(remotes.rglob("*.pyc"))

    bad = run_installed(remotes, stack, "tm/storpool", "resize", "node1:/x/disk.0")
    assert bad.code != 0 and bad.error_lines == ["tm resize: bad input: resize takes 4 arguments, got 1"]

    stack.put_image(5, data=b"boot")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags={"virt": "one", "nloc": "one", "nvm": "7"})
    ok = run_installed(remotes, stack, "tm/storpool", "resize", stack.disk_path("node1", 7, 0), "64", "7", "100")
    assert ok.ok, ok
    assert stack.volume("one-img-5-7-0")["size"] == 64 * MIB
    assert stack.read_volume("one-img-5-7-0", 4) == b"boot"

    # the action really comes from the remotes tree, not from the checkout
    (remotes / "lib" / "onesp" / "actions" / "tm" / "resize.py").unlink()
    gone = run_installed(remotes, stack, "tm/storpool", "resize", stack.disk_path("node1", 7, 0), "80", "7", "100")
    assert gone.code != 0 and "No module named 'onesp.actions.tm.resize'" in gone.stderr


def test_manifest_lists_every_file_and_a_rerun_upgrades_in_place(remotes):
    first = install(remotes)
    record = json.loads((remotes / "onesp-install.json").read_text())
    assert record["version"] == __version__
    shipped = {str(p.relative_to(REPO)) for d in ("datastore/storpool", "tm/storpool", "vmm/kvm")
               for p in (REPO / d).iterdir() if p.is_file()}
    assert shipped <= set(record["files"])
    assert "lib/onesp/tools/install/onedconf.py" in record["files"] and "lib/onesp/__init__.py" in record["files"]
    assert "changed" in first.stdout and "next steps:" in first.stdout and "onehost sync --force" in first.stdout

    before = snapshot(remotes)
    again = install(remotes)
    assert "(0 changed)" in again.stdout
    assert snapshot(remotes) == before

    # a file an older version shipped and this one does not is removed by the upgrade
    record["files"]["tm/storpool/old_action"] = "0" * 64
    (remotes / "onesp-install.json").write_text(json.dumps(record))
    (remotes / "tm" / "storpool" / "old_action").write_text("#!/bin/sh\n")
    changed = (remotes / "tm" / "storpool" / "clone")
    changed.write_text("edited by hand\n")
    third = install(remotes)
    assert not (remotes / "tm" / "storpool" / "old_action").exists()
    assert "no longer part of onesp" in third.stdout
    assert changed.read_bytes() == (REPO / "tm" / "storpool" / "clone").read_bytes()


def test_uninstall_removes_exactly_what_was_installed_and_puts_back_what_it_replaced(remotes):
    # files of the bash addon: one replaced by ours, one onesp does not ship
    (remotes / "tm" / "storpool").mkdir(parents=True)
    addon_clone = b"#!/bin/bash\n# addon-storpool clone\n"
    (remotes / "tm" / "storpool" / "clone").write_bytes(addon_clone)
    (remotes / "tm" / "storpool" / "storpool_common.sh").write_bytes(b"# addon\n")
    before = snapshot(remotes)
    backups = remotes.parent / "onesp-backup"

    result = install(remotes)
    assert "storpool_common.sh" in result.stdout and "kept a copy of" in result.stdout
    assert (backups / "tm" / "storpool" / "clone").read_bytes() == addon_clone
    assert (remotes / "tm" / "storpool" / "clone").read_bytes() == (REPO / "tm" / "storpool" / "clone").read_bytes()
    assert (remotes.parent / "bin" / "onesp").is_file()
    install(remotes)  # a second run keeps the first copy of the addon's file
    assert (backups / "tm" / "storpool" / "clone").read_bytes() == addon_clone

    removed = install_sh("--prefix", str(remotes), "--uninstall")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert snapshot(remotes) == before
    assert not (remotes.parent / "bin" / "onesp").exists() and not backups.exists()
    again = install_sh("--prefix", str(remotes), "--uninstall")
    assert again.returncode == 1 and again.stderr.strip().startswith("install.sh: error: nothing to uninstall")


def test_addon_storpoolrc_is_never_overwritten(remotes):
    rc = remotes / "addon-storpoolrc"
    rc.write_text('ONE_PX="prod"\nSP_AUTH_TOKEN="secret"\n')
    first = install(remotes)
    assert rc.read_text() == 'ONE_PX="prod"\nSP_AUTH_TOKEN="secret"\n'
    assert "was left as it is; how it differs from onesp's defaults:" in first.stdout
    assert '    -ONE_PX="prod"' in first.stdout and '    +#ONE_PX="one"' in first.stdout

    # later, the shipped defaults change: the diff shows what changed in them, the file stays
    record = json.loads((remotes / "onesp-install.json").read_text())
    record["rc"]["shipped"] = record["rc"]["shipped"].replace('#ATTACH_TIMEOUT="20"', '#ATTACH_TIMEOUT="10"')
    (remotes / "onesp-install.json").write_text(json.dumps(record))
    second = install(remotes)
    assert "the shipped defaults changed:" in second.stdout
    assert '    -#ATTACH_TIMEOUT="10"' in second.stdout and '    +#ATTACH_TIMEOUT="20"' in second.stdout
    assert rc.read_text() == 'ONE_PX="prod"\nSP_AUTH_TOKEN="secret"\n'

    assert install_sh("--prefix", str(remotes), "--uninstall").returncode == 0
    assert rc.read_text() == 'ONE_PX="prod"\nSP_AUTH_TOKEN="secret"\n'  # not ours: stays


def test_our_rc_is_upgraded_when_untouched_and_kept_when_edited(remotes):
    rc = remotes / "addon-storpoolrc"
    install(remotes)
    assert rc.read_bytes() == (REPO / "addon-storpoolrc").read_bytes()
    assert oct(rc.stat().st_mode & 0o777) == "0o640"
    record = json.loads((remotes / "onesp-install.json").read_text())
    assert record["rc"]["installed"] is True
    rc.write_text(rc.read_text() + 'ONE_PX="edited"\n')
    out = install(remotes)
    assert "the shipped defaults changed" not in out.stdout and rc.read_text().endswith('ONE_PX="edited"\n')
    removed = install_sh("--prefix", str(remotes), "--uninstall")
    assert "kept %s: it was edited after installation" % rc in removed.stdout
    assert rc.exists()


@pytest.mark.parametrize("version", ["7.0.2", "6.10.5", "7.2.0", "7.4.0"])
def test_autoconf_through_install_sh_and_back(tmp_path, version):
    one = tmp_path / "one"
    (one / "var" / "remotes").mkdir(parents=True)
    (one / "etc" / "vmm_exec").mkdir(parents=True)
    oned = one / "etc" / "oned.conf"
    execrc = one / "etc" / "vmm_exec" / "vmm_execrc"
    oned.write_bytes((stock_etc_dir(version) / "oned.conf").read_bytes())
    execrc.write_bytes((stock_etc_dir(version) / "vmm_execrc").read_bytes())
    env = {"ONE_LOCATION": str(one), "AUTOCONF": "1"}

    first = install_sh("--bindir", "", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    text = oned.read_text()
    assert ",storpool -s " in text and 'NAME = "storpool"' in text and 'VM_RESTRICTED_ATTR = "SP_QOSCLASS"' in text
    assert "attach_disk=attach_disk.storpool" in text
    assert "kvm-storpool" in execrc.read_text()
    copies = sorted(p.name for p in (one / "etc").iterdir() if ".onesp-" in p.name)
    assert len(copies) == 1 and (one / "etc" / copies[0]).read_bytes() == (stock_etc_dir(version) / "oned.conf").read_bytes()
    assert "restart oned" in first.stdout

    second = install_sh("--bindir", "", env=env)
    assert second.returncode == 0 and "oned.conf %s: nothing to change" % oned in second.stdout
    assert sorted(p.name for p in (one / "etc").iterdir() if ".onesp-" in p.name) == copies
    assert "restart oned" not in second.stdout

    gone = install_sh("--uninstall", env={"ONE_LOCATION": str(one)})
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert oned.read_bytes() == (stock_etc_dir(version) / "oned.conf").read_bytes()
    assert execrc.read_bytes() == (stock_etc_dir(version) / "vmm_execrc").read_bytes()
    assert not (one / "var" / "remotes" / "tm").exists()


def test_autoconf_on_a_file_it_cannot_read_installs_but_fails_loudly(remotes, tmp_path):
    oned = tmp_path / "oned.conf"
    oned.write_text('TM_MAD = [ EXECUTABLE = "one_tm", ARGUMENTS = "-t 15 -d ssh\n')
    execrc = tmp_path / "vmm_execrc"
    execrc.write_text('LIVE_DISK_SNAPSHOTS="kvm-ssh"\n')
    result = install_sh("--prefix", str(remotes), "--bindir", "", "--autoconf", "--oned-conf", str(oned),
                        "--vmm-execrc", str(execrc))
    assert result.returncode == 1
    assert "left unchanged: cannot edit it safely: line 1: a string starts here and is never closed" in result.stdout
    assert "registration is incomplete" in result.stderr
    assert oned.read_text() == 'TM_MAD = [ EXECUTABLE = "one_tm", ARGUMENTS = "-t 15 -d ssh\n'
    assert (remotes / "tm" / "storpool" / "resize").is_file()


def test_prerequisites_are_checked_before_anything_is_copied(remotes, tmp_path):
    old = tmp_path / "python-old"
    old.write_text("#!/bin/sh\ncase \"$*\" in *-V*) echo 'Python 3.6.9';; esac\nexit 1\n")
    old.chmod(0o755)
    result = install_sh("--prefix", str(remotes), python=str(old))
    assert result.returncode == 1
    assert result.stderr.strip() == "install.sh: error: Python 3.6.9 is too old: onesp needs python 3.9 or newer"
    no_lxml = tmp_path / "python-no-lxml"
    no_lxml.write_text("#!/bin/sh\ncase \"$*\" in *lxml*) exit 1;; esac\nexec %s \"$@\"\n" % sys.executable)
    no_lxml.chmod(0o755)
    result = install_sh("--prefix", str(remotes), python=str(no_lxml))
    assert result.returncode == 1 and "python lxml is missing" in result.stderr
    assert not (remotes / "tm" / "storpool").exists()
    missing = install_sh("--prefix", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "does not exist: is OpenNebula installed?" in missing.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="changing ownership needs root")
def test_files_belong_to_the_owner(remotes):
    nobody = pwd.getpwnam("nobody")
    install(remotes, "--owner", "nobody")
    for path in [remotes / "tm" / "storpool" / "resize", remotes / "lib" / "onesp", remotes / "addon-storpoolrc",
                 remotes / "onesp-install.json"]:
        assert (path.stat().st_uid, path.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid), path
    assert (remotes / "tm" / "ssh" / "clone").stat().st_uid == 0  # OpenNebula's own files are not touched


def test_uninstall_keeps_later_edits_and_stops_when_oned_conf_is_unreadable(tmp_path):
    one = tmp_path / "one"
    (one / "var" / "remotes").mkdir(parents=True)
    (one / "etc" / "vmm_exec").mkdir(parents=True)
    oned = one / "etc" / "oned.conf"
    stock = (stock_etc_dir("7.0.2") / "oned.conf").read_text()
    oned.write_text(stock)
    (one / "etc" / "vmm_exec" / "vmm_execrc").write_bytes((stock_etc_dir("7.0.2") / "vmm_execrc").read_bytes())
    env = {"ONE_LOCATION": str(one), "AUTOCONF": "1"}
    assert install_sh("--bindir", "", env=env).returncode == 0

    # the operator adds something after the install: uninstall takes back only the registration
    oned.write_text(oned.read_text() + 'VM_RESTRICTED_ATTR = "MY_OWN"\n')
    broken = oned.read_text() + 'BROKEN = "no end\n'
    oned.write_text(broken)
    refused = install_sh("--uninstall", env={"ONE_LOCATION": str(one)})
    assert refused.returncode == 1 and "the drivers are still registered" in refused.stderr
    assert oned.read_text() == broken and (one / "var" / "remotes" / "tm" / "storpool" / "resize").is_file()

    oned.write_text(broken.replace('BROKEN = "no end\n', ""))
    done = install_sh("--uninstall", env={"ONE_LOCATION": str(one)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert oned.read_text() == stock + 'VM_RESTRICTED_ATTR = "MY_OWN"\n'


def test_uninstall_with_force_removes_the_files_anyway(tmp_path):
    one = tmp_path / "one"
    (one / "var" / "remotes").mkdir(parents=True)
    (one / "etc" / "vmm_exec").mkdir(parents=True)
    oned = one / "etc" / "oned.conf"
    oned.write_text((stock_etc_dir("6.10.5") / "oned.conf").read_text())
    (one / "etc" / "vmm_exec" / "vmm_execrc").write_bytes((stock_etc_dir("6.10.5") / "vmm_execrc").read_bytes())
    assert install_sh("--bindir", "", env={"ONE_LOCATION": str(one), "AUTOCONF": "1"}).returncode == 0
    oned.unlink()
    forced = install_sh("--uninstall", "--force", env={"ONE_LOCATION": str(one)})
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "cannot read or write it" in forced.stdout
    assert not (one / "var" / "remotes" / "onesp-install.json").exists()


def test_probe_and_retag_hook_are_installed_where_opennebula_runs_them(remotes: Path) -> None:
    system_probes = remotes / "im" / "kvm-probes.d" / "host" / "system"
    system_probes.mkdir(parents=True)
    (system_probes / "storpool_probe.sh").write_text("#!/bin/bash\n# the bash addon's probe\n")
    first = install(remotes)
    assert "kept a copy of %s" % (system_probes / "storpool_probe.sh") in first.stdout
    probe = system_probes / "storpool_probe.sh"
    assert probe.read_bytes() == (REPO / "im" / "kvm-probes.d" / "host" / "system" / "storpool_probe.sh").read_bytes()
    assert probe.stat().st_mode & 0o777 == 0o755
    template = (remotes / "hooks" / "storpool" / "retag.hook").read_text()
    command = next(line.split("=", 1)[1].strip().strip('"') for line in template.splitlines()
                   if line.startswith("COMMAND"))
    hook = remotes / "hooks" / command  # oned runs a relative COMMAND from <remotes>/hooks
    assert hook.is_file() and hook.stat().st_mode & 0o777 == 0o755
    assert 'CALL = "one.vm.update"' in template and 'ARGUMENTS = "$API"' in template
    assert "onehook create %s/hooks/storpool/retag.hook" % remotes in first.stdout
    install_sh("--prefix", str(remotes), "--uninstall")
    assert probe.read_text() == "#!/bin/bash\n# the bash addon's probe\n"
    assert not (remotes / "hooks" / "storpool").exists()


def test_the_action_server_unit_runs_the_installed_tree_and_is_taken_back(remotes, stack, tmp_path):
    """The unit's ExecStart and environment, run as written, serve the installed executables;
    uninstall removes the unit and only it."""
    units = tmp_path / "systemd"
    out = install(remotes, "--unit-dir", str(units)).stdout
    unit = units / "onesp-server.service"
    assert "installed the systemd unit %s" % unit in out and "systemctl enable --now onesp-server" in out
    fields = dict(line.split("=", 1) for line in unit.read_text().splitlines() if "=" in line and line[0].isalpha())
    assert fields["RuntimeDirectory"] == "onesp" and fields["RuntimeDirectoryMode"] == "0700"
    assert fields["KillMode"] == "process" and fields["User"]
    assert fields["Environment"] == "PYTHONPATH=%s" % (remotes / "lib")
    argv = fields["ExecStart"].split()
    assert argv[-2:] == ["--dir", "/run/onesp"]
    stack.stop_server()  # with ONESP_TEST_SERVER=1: this test's server takes the stack's directory
    server_dir = Path(stack.env["ONESP_SERVER_DIR"])
    env = dict(stack.env, PYTHONPATH=str(remotes / "lib"))
    server = subprocess.Popen(argv[:-1] + [str(server_dir)], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (server_dir / "server.sock").exists() and time.monotonic() < deadline:
            assert server.poll() is None, server.communicate()[1]
            time.sleep(0.02)
        result = run_installed(remotes, stack, "tm/storpool", "resize", stack.disk_path("node1", 7, 0), "x", "7",
                               "100")
        assert result.error_lines == ["tm resize: bad input: invalid size in MB 'x': expected a non-negative integer"]
        direct = subprocess.run([str(remotes / "tm" / "storpool" / "resize"), "node1:/x/disk.0", "y", "7", "100"],
                                capture_output=True, env=stack.env, timeout=60, check=False)  # as oned: the compiled client
        assert direct.stderr.decode().splitlines()[0] == result.error_lines[0].replace("'x'", "'y'")
        assert "running actions in-process" not in stack.log_text()
    finally:
        server.terminate()
        server.communicate(timeout=30)
    install_sh("--prefix", str(remotes), "--uninstall")
    assert not unit.exists()


@pytest.mark.skipif(compiled.compiler(os.environ) is None, reason="no C compiler here")
def test_the_compiled_client_is_built_for_this_machine_and_taken_back(remotes):
    """Built into the remotes tree (never copied from the source), recorded, executable;
    without a compiler the installer says so in one line and an older build goes."""
    relative = compiled.RELATIVE
    out = install(remotes).stdout
    built = remotes / relative
    assert "built the compiled client %s" % built in out
    assert built.stat().st_mode & 0o777 == 0o755
    manifest = json.loads((remotes / "onesp-install.json").read_text())
    assert relative in manifest["files"]
    again = install(remotes, env={"CC": str(remotes / "no-such-cc")}).stdout
    assert "could not be built with %s" % (remotes / "no-such-cc") in again
    assert not built.exists() and "removed %s" % built in again
    install(remotes)
    install_sh("--prefix", str(remotes), "--uninstall")
    assert not built.exists()
