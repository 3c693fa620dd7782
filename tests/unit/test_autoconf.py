"""oned.conf / vmm_execrc registration: exact edits on the stock files, idempotence, exact undo."""

from __future__ import annotations

import difflib
import os
from collections import Counter
from pathlib import Path
from typing import List, Tuple

import pytest
from fixtures.sim_oned import stock_etc_dir

from onesp.tools.install import autoconf, execrc, onedconf, options, registration
from onesp.tools.install.onedconf import OnedConfError
from onesp.tools.install.registration import Plan

ALL_HELPERS = frozenset(script for _, script in
                        registration.DEPLOY_HELPERS + registration.HOTPLUG_HELPERS + registration.SNAPSHOT_HELPERS)
FULL = Plan(ALL_HELPERS, True)
LOCAL = ("deploy=deploy.storpool,attach_disk=attach_disk.storpool,detach_disk=detach_disk.storpool,"
         "snapshotcreate=snapshot_create-storpool,"
         "snapshotrevert=snapshot_revert-storpool,snapshotdelete=snapshot_delete-storpool")


#: the supported range: every stock oned.conf from 6.10 to 7.4
VERSIONS = ("7.0.2", "6.10.5", "7.2.0", "7.4.0")


def stock(version: str, name: str = "oned.conf") -> str:
    return autoconf.read_text(str(stock_etc_dir(version) / name))


def changed_lines(before: str, after: str) -> Tuple[List[Tuple[str, str]], List[str]]:
    """(replaced line pairs, inserted lines) — deletions fail the caller's checks."""
    a, b = before.splitlines(), after.splitlines()
    replaced, inserted = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "replace":
            assert i2 - i1 == j2 - j1, "lines were removed or merged: %r -> %r" % (a[i1:i2], b[j1:j2])
            replaced += list(zip(a[i1:i2], b[j1:j2]))
        elif op == "insert":
            inserted += b[j1:j2]
        elif op == "delete":
            raise AssertionError("lines deleted: %r" % a[i1:i2])
    return replaced, inserted


@pytest.mark.parametrize("version", VERSIONS)
def test_register_touches_only_the_registration_lines(version):
    original = stock(version)
    outcome = registration.register(original, FULL)
    replaced, inserted = changed_lines(original, outcome.text)

    assert len(replaced) == 3, replaced
    kvm, tm, ds = replaced
    assert kvm[1] == kvm[0].replace('kvm -p"', 'kvm -p -l %s"' % LOCAL)
    assert tm[0].lstrip().startswith("ARGUMENTS") and tm[1] == tm[0][:-1] + ',storpool"'
    old_ds, new_ds = ds
    d_list, s_list = old_ds.split('"')[1].split(" -s ")
    assert new_ds == old_ds.replace(d_list, d_list + ",storpool").replace(s_list + '"', s_list + ',storpool"')
    ours = [registration.Restricted(name).describe() for name in registration.RESTRICTED_ATTRS
            if name != "CONTEXT/FILES"]  # the stock file restricts it already
    ours += [registration.Restricted(name, "IMAGE_RESTRICTED_ATTR").describe()
             for name in registration.IMAGE_RESTRICTED_ATTRS]
    ours += registration.Block("TM_MAD_CONF", registration.TM_MAD_CONF).render().splitlines()
    ours += registration.Block("DS_MAD_CONF", registration.DS_MAD_CONF).render().splitlines()
    # compared as multisets: difflib may pair a new closing bracket with an old one
    assert Counter(line for line in inserted if line.strip()) == Counter(ours)
    assert ours[:9] == ['VM_RESTRICTED_ATTR = "DISKSNAPSHOT_LIMIT"', 'VM_RESTRICTED_ATTR = "VMSNAPSHOT_LIMIT"',
                        'VM_RESTRICTED_ATTR = "VC_POLICY"', 'VM_RESTRICTED_ATTR = "SP_QOSCLASS"',
                        'VM_RESTRICTED_ATTR = "T_OS_NVRAM"', 'VM_RESTRICTED_ATTR = "T_OS"',
                        'VM_RESTRICTED_ATTR = "T_OS_LOADER"', 'IMAGE_RESTRICTED_ATTR = "SP_QOSCLASS"', "TM_MAD_CONF = ["]
    doc = onedconf.parse(outcome.text)
    (tm_conf,) = doc.vectors("TM_MAD_CONF", NAME="storpool")
    assert {a.name: a.value.text for a in tm_conf.attributes} == dict(registration.TM_MAD_CONF)
    # OpenNebula 7.2+ reads these as NO when absent: no live move between system datastores,
    # no move at all of a VM with disk snapshots
    assert (tm_conf.text("DS_LIVE_MIGRATE"), tm_conf.text("DS_MIGRATE_SNAP")) == ("YES", "YES")
    (ds_conf,) = doc.vectors("DS_MAD_CONF", NAME="storpool")
    assert {a.name: a.value.text for a in ds_conf.attributes} == dict(registration.DS_MAD_CONF)
    assert registration.missing(outcome.text, FULL) == []
    assert len(registration.missing(original, FULL)) == 14
    assert registration.missing(original, FULL)[-1] == 'VM_MAD NAME="kvm" ARGUMENTS -l %s' % LOCAL


@pytest.mark.parametrize("version", ("6.10.5", "7.0.2", "7.2.0", "7.4.0"))
def test_owners_cannot_set_what_names_front_end_files_or_changes_storpool_cost(version):
    """After AUTOCONF on each stock oned.conf, oned refuses these attributes from anyone but
    oneadmin, and every image datastore of the storpool TM gets DISK_TYPE=BLOCK."""
    doc = onedconf.parse(registration.register(stock(version), FULL).text)

    def restricted(entry):
        return {e.value.text for e in doc.named(entry) if e.value is not None}

    assert {"T_OS_NVRAM", "T_OS", "T_OS_LOADER", "CONTEXT/FILES", "SP_QOSCLASS", "VC_POLICY", "DISKSNAPSHOT_LIMIT",
            "VMSNAPSHOT_LIMIT"} <= restricted("VM_RESTRICTED_ATTR")
    assert {"SP_QOSCLASS", "SOURCE"} <= restricted("IMAGE_RESTRICTED_ATTR")
    (tm_conf,) = doc.vectors("TM_MAD_CONF", NAME="storpool")
    assert tm_conf.text("DISK_TYPE") == "BLOCK"
    without = stock(version).replace('VM_RESTRICTED_ATTR = "CONTEXT/FILES"\n', "")
    outcome = registration.register(without, FULL)
    assert 'VM_RESTRICTED_ATTR = "CONTEXT/FILES"' in outcome.text  # put back where an operator dropped it
    assert registration.unregister(outcome.text, outcome.records).text == without


@pytest.mark.parametrize("version", VERSIONS)
def test_register_twice_changes_nothing_and_unregister_gives_back_the_bytes(version):
    original = stock(version)
    first = registration.register(original, FULL)
    second = registration.register(first.text, FULL)
    assert second.text == first.text and second.records == [] and second.notes == []
    assert registration.unregister(first.text, first.records).text == original
    assert registration.unregister(original, []).text == original


def test_without_helpers_vm_mad_is_left_alone_and_snapshots_follow_the_override():
    original = stock("7.0.2")
    bare = registration.register(original, Plan(frozenset(), True))
    assert not any(r["item"].startswith("VM_MAD") for r in bare.records)
    assert '"-t 15 -r 0 kvm -p"' in bare.text
    hotplug = registration.register(original, Plan(ALL_HELPERS, False))
    assert ('"-t 15 -r 0 kvm -p -l deploy=deploy.storpool,attach_disk=attach_disk.storpool,detach_disk=detach_disk.storpool"'
            in hotplug.text)
    assert "snapshot_create-storpool" not in hotplug.text


def test_an_existing_local_action_list_is_extended_not_repeated():
    text = stock("7.0.2").replace('"-t 15 -r 0 kvm -p"', '"-t 15 -r 0 kvm -p -l deploy=deploy-tweaks,attach_disk=mine"')
    outcome = registration.register(text, FULL)
    (kvm,) = onedconf.parse(outcome.text).vectors("VM_MAD", NAME="kvm")
    args = kvm.text("ARGUMENTS")
    assert args.count("-l") == 1
    assert args == ("-t 15 -r 0 kvm -p -l deploy=deploy-tweaks,attach_disk=mine,detach_disk=detach_disk.storpool,"
                    "snapshotcreate=snapshot_create-storpool,snapshotrevert=snapshot_revert-storpool,"
                    "snapshotdelete=snapshot_delete-storpool")
    assert any("already runs attach_disk with mine" in note for note in outcome.notes)
    assert any("already runs deploy with deploy-tweaks" in note for note in outcome.notes)
    assert registration.unregister(outcome.text, outcome.records).text == text
    assert registration.missing(outcome.text, FULL) == [
        'VM_MAD NAME="kvm" ARGUMENTS -l deploy=deploy.storpool,attach_disk=attach_disk.storpool']


def test_absent_system_list_gets_one_datastores_defaults_plus_storpool():
    text = stock("7.0.2")
    (ds,) = onedconf.parse(text).vectors("DATASTORE_MAD")
    args = ds.text("ARGUMENTS")
    without = text.replace(args, args.split(" -s ")[0])
    outcome = registration.register(without, FULL)
    (ds,) = onedconf.parse(outcome.text).vectors("DATASTORE_MAD")
    assert ds.text("ARGUMENTS").endswith(" -s shared,ssh,ceph,storpool")
    assert registration.unregister(outcome.text, outcome.records).text == without


def test_option_forms_getoptlong_accepts():
    assert options.find("-t 15 -dfs,ceph", "-d", "--ds-types").items("-t 15 -dfs,ceph") == ["fs", "ceph"]
    args = "--tm-types=ssh,shared -t 3"
    option = options.find(args, "-d", "--tm-types")
    assert option.items(args) == ["ssh", "shared"]
    assert options.add_item(args, option, "storpool") == "--tm-types=ssh,shared,storpool -t 3"
    assert options.find("-t 15", "-d", "--tm-types") is None
    twice = "-d a -d b"
    assert options.find(twice, "-d", "--x").items(twice) == ["b"]  # GetoptLong keeps the last one


def test_an_existing_storpool_block_is_kept_and_its_differences_reported():
    text = stock("7.0.2") + '\nTM_MAD_CONF = [ NAME = "storpool", LN_TARGET = "SYSTEM", CLONE_TARGET = "SELF",\n' \
        '  SHARED = "yes", DS_MIGRATE = "yes", DRIVER = "raw", ALLOW_ORPHANS = "yes", TM_MAD_SYSTEM = "ssh" ]\n'
    outcome = registration.register(text, FULL)
    assert outcome.text.count('NAME = "storpool"') == 2  # the operator's TM block + our DS block
    assert not any(r["item"] == "TM_MAD_CONF storpool" for r in outcome.records)
    assert outcome.notes == ['TM_MAD_CONF NAME="storpool" has LN_TARGET="SYSTEM"; onesp expects "NONE"',
                             'TM_MAD_CONF NAME="storpool" has DISK_TYPE=nothing; onesp expects "BLOCK"']
    assert registration.differences(outcome.text) == outcome.notes


def test_a_storpool_block_written_before_7_2_gets_the_two_keys_and_gives_them_back():
    """The addon's (or an older onesp's) block has neither DS_LIVE_MIGRATE nor DS_MIGRATE_SNAP."""
    block = ('TM_MAD_CONF = [\n    NAME = "storpool", LN_TARGET = "NONE", CLONE_TARGET = "SELF", SHARED = "yes",\n'
             '    DS_MIGRATE = "yes", DRIVER = "raw", ALLOW_ORPHANS = "yes"\n]\n')
    text = stock("7.2.0") + "\n" + block
    assert registration.missing(text, FULL)[3] == 'DS_LIVE_MIGRATE, DS_MIGRATE_SNAP in TM_MAD_CONF with NAME="storpool"'
    outcome = registration.register(text, FULL)
    assert outcome.notes == ['TM_MAD_CONF NAME="storpool" has DISK_TYPE=nothing; onesp expects "BLOCK"']  # told, not changed
    (tm_conf,) = onedconf.parse(outcome.text).vectors("TM_MAD_CONF", NAME="storpool")
    assert tm_conf.text("DS_LIVE_MIGRATE") == "YES" and tm_conf.text("DS_MIGRATE_SNAP") == "YES"
    assert outcome.text.endswith('ALLOW_ORPHANS = "yes",\n    DS_LIVE_MIGRATE = "YES",\n    DS_MIGRATE_SNAP = "YES"\n]\n')
    assert registration.missing(outcome.text, FULL) == []
    assert registration.register(outcome.text, FULL).records == []
    assert registration.unregister(outcome.text, outcome.records).text == text
    # a value the operator chose is kept, and reported
    chosen = text.replace('ALLOW_ORPHANS = "yes"', 'ALLOW_ORPHANS = "yes", DS_MIGRATE_SNAP = "NO"')
    kept = registration.register(chosen, FULL)
    assert 'DS_MIGRATE_SNAP = "NO"' in kept.text and kept.text.count("DS_MIGRATE_SNAP") == chosen.count("DS_MIGRATE_SNAP")
    assert kept.notes == ['TM_MAD_CONF NAME="storpool" has DISK_TYPE=nothing; onesp expects "BLOCK"',
                          'TM_MAD_CONF NAME="storpool" has DS_MIGRATE_SNAP="NO"; onesp expects "YES"']


@pytest.mark.parametrize("broken, where", [
    ('TM_MAD = [ EXECUTABLE = "one_tm", ARGUMENTS = "-d ssh ]\n', "line 1"),
    ('DS_MAD_CONF = [ NAME = "x"\n\nFOO = "bar"\n', "line 1"),
    ('A = "b"\nC = \n', "line 2"),
])
def test_a_file_it_cannot_read_is_refused_with_the_line(broken, where):
    with pytest.raises(OnedConfError) as caught:
        registration.register(broken, FULL)
    assert where in str(caught.value)


def test_configure_leaves_an_unreadable_file_untouched(tmp_path):
    oned = tmp_path / "oned.conf"
    oned.write_bytes(b'TM_MAD = [ EXECUTABLE = "one_tm", ARGUMENTS = "-t 15 -d ssh ]\n')
    execrc_file = tmp_path / "vmm_execrc"
    execrc_file.write_bytes(b'LIVE_DISK_SNAPSHOTS="kvm-ssh"\n')
    reports = autoconf.configure(str(oned), str(execrc_file), FULL)
    assert reports[0].error and "never closed" in reports[0].error and reports[0].backup is None
    assert oned.read_bytes() == b'TM_MAD = [ EXECUTABLE = "one_tm", ARGUMENTS = "-t 15 -d ssh ]\n'
    assert sorted(p.name for p in tmp_path.iterdir())[:2] == ["oned.conf", "vmm_execrc"]
    assert execrc_file.read_bytes() == b'LIVE_DISK_SNAPSHOTS="kvm-ssh kvm-storpool"\n'
    assert "left unchanged" in reports[0].lines()[0]


@pytest.mark.parametrize("version", VERSIONS)
def test_configure_on_disk_keeps_a_copy_mode_and_is_idempotent(tmp_path, version):
    oned = tmp_path / "oned.conf"
    oned.write_bytes(stock(version).encode())
    os.chmod(oned, 0o640)
    rc = tmp_path / "vmm_execrc"
    rc.write_bytes(stock(version, "vmm_execrc").encode())
    first = autoconf.configure(str(oned), str(rc), FULL)
    assert all(r.error is None and r.backup for r in first)
    assert Path(first[0].backup).read_bytes() == stock(version).encode()
    assert os.stat(oned).st_mode & 0o777 == 0o640
    files_after_first = sorted(p.name for p in tmp_path.iterdir())
    second = autoconf.configure(str(oned), str(rc), FULL)
    assert all(not r.records and r.backup is None for r in second)
    assert sorted(p.name for p in tmp_path.iterdir()) == files_after_first
    recorded = {r.path: {"label": r.label, "records": r.records} for r in first}
    autoconf.unconfigure(recorded)
    assert oned.read_bytes() == stock(version).encode()
    assert rc.read_bytes() == stock(version, "vmm_execrc").encode()


@pytest.mark.parametrize("version", VERSIONS)
def test_live_disk_snapshots_gets_kvm_storpool(version):
    original = stock(version, "vmm_execrc")
    text, record, _ = execrc.register(original)
    (line,) = [x for x in text.splitlines() if x.startswith("LIVE_DISK_SNAPSHOTS=")]
    assert line.endswith(' kvm-storpool"')
    assert changed_lines(original, text)[1] == []
    assert execrc.register(text)[1] is None
    assert execrc.unregister(text, record) == original
    assert execrc.missing(original) and not execrc.missing(text)


def test_live_disk_snapshots_absent_or_unquoted():
    text, record, _ = execrc.register("# nothing here\n")
    assert text == '# nothing here\nLIVE_DISK_SNAPSHOTS="kvm-storpool"\n'
    assert execrc.unregister(text, record) == "# nothing here\n"
    with pytest.raises(OnedConfError, match="not a plain quoted list"):
        execrc.register("LIVE_DISK_SNAPSHOTS=kvm-ssh\n")


def test_plan_reads_the_override_and_the_installed_helpers(tmp_path):
    (tmp_path / "vmm" / "kvm").mkdir(parents=True)
    for name in ("attach_disk.storpool", "snapshot_create-storpool", "deploy"):
        (tmp_path / "vmm" / "kvm" / name).write_text("")
    rc = tmp_path / "addon-storpoolrc"
    assert autoconf.plan_for(str(tmp_path), [str(rc)]).local_actions() == (
        ("attach_disk", "attach_disk.storpool"), ("snapshotcreate", "snapshot_create-storpool"))
    rc.write_text("VMSNAPSHOT_OVERRIDE=0\n")
    assert autoconf.plan_for(str(tmp_path), [str(rc)]).local_actions() == (("attach_disk", "attach_disk.storpool"),)


def test_plan_reads_the_override_as_the_addon_spelled_it(tmp_path):
    (tmp_path / "vmm" / "kvm").mkdir(parents=True)
    (tmp_path / "vmm" / "kvm" / "snapshot_create-storpool").write_text("")
    rc = tmp_path / "addon-storpoolrc"
    for value, registered in (("T", True), ("On", True), ("disabled", False), ("", False)):
        rc.write_text("VMSNAPSHOT_OVERRIDE=%s\n" % value)
        plan = autoconf.plan_for(str(tmp_path), [str(rc)])
        assert bool(plan.local_actions()) is registered, value


def test_plan_registers_the_checkpoint_helpers_only_with_the_option_on(tmp_path):
    (tmp_path / "vmm" / "kvm").mkdir(parents=True)
    for name in ("save-storpool", "restore-storpool"):
        (tmp_path / "vmm" / "kvm" / name).write_text("")
    rc = tmp_path / "addon-storpoolrc"
    helpers = (("save", "save-storpool"), ("restore", "restore-storpool"))
    for text, registered in (("", ()), ("SP_CHECKPOINT=yes\n", helpers), ("SP_CHECKPOINT=nomigrate\n", helpers),
                             ("SP_CHECKPOINT_BD=1\n", helpers), ("SP_CHECKPOINT=no\n", ()),
                             ("SP_CHECKPOINT=sometimes\n", ())):
        rc.write_text(text)
        assert autoconf.plan_for(str(tmp_path), [str(rc)]).local_actions() == registered, text
