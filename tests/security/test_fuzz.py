"""Fuzzing what oned hands the drivers: DS driver actions (XML on stdin) and TM arguments.

For every example: no traceback; a failure exits non-zero with exactly one plain line naming
the action (never "internal error", no control characters); input known to be invalid always
fails and makes no StorPool call; and no shell ever runs part of the input — the canary
payloads (conftest.Canary) are put at every position of every value and never create their
file. Hostile paths keep the test's temporary directory as their prefix, so what an action
creates on the "host" (this machine, local runner: the same quoted ``sh -c`` string ssh
would carry) stays inside it.

Most examples run in-process (onesp.runtime.driver.run_action: the same error contract); fewer run
the executables as oned does. CI runs a few hundred examples, derandomized; the ``slow``
tests (ONESP_SLOW=1) run 10,000 per target with fresh randomness.
"""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from .fuzz_inputs import (
    BAD_HOSTS,
    BAD_IDS,
    BAD_PAIR_HOSTS,
    HOSTILE_PATHS,
    URL_PASSWORD,
    Canary,
    encode,
    hostile_argument,
    mutate_document,
    random_input,
    shell_bait,
)

MIB = 1024 * 1024


def fuzz_settings(examples: int, random: bool = False) -> settings:
    """Hypothesis settings: derandomized for CI (the same examples every run), random for the
    slow run. No example database: a test must not write into the checkout."""
    return settings(max_examples=examples, derandomize=not random, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


#: Defects already pinned by a strict xfail test (test_numbers_beyond_32_bits_...): the fuzzer
#: counts them (hypothesis statistics, "known defect") instead of stopping at the first one, so a
#: long run still explores everything else. Remove an entry when its defect is fixed.
KNOWN_DEFECTS: Tuple[str, ...] = ()


def check(contract: Any, result: Any, kind: str, action: str, must_fail: bool) -> None:
    for signature in KNOWN_DEFECTS:
        if signature in result.stderr and result.code != 0:
            event("known defect: %s" % signature)
            return
    contract(result, kind, action, must_fail)
    assert URL_PASSWORD not in result.stdout + result.stderr, result


# -- DS: driver-action documents --------------------------------------------------------------------


@dataclass(repr=False)
class DsWorld:
    documents: Dict[str, Tuple[str, str]]  # action -> (argv id, driver action XML)
    env: Dict[str, str]

    def __repr__(self) -> str:  # shown by hypothesis in every failure report: keep it short
        return "DsWorld(%s)" % ", ".join(sorted(self.documents))


@pytest.fixture
def ds_world(stack: Any, tmp_path: Path) -> DsWorld:
    """Image 5 (persistent, snapshots 0 and 1), a raw file to import, and a valid document per action."""
    b = stack.b
    safe = tmp_path / "images"
    safe.mkdir()
    (safe / "disk.raw").write_bytes(b"fuzz" * 1024 + bytes(MIB - 4096))
    ds = stack.put_datastore(100, template={"SAFE_DIRS": str(safe)})
    snapshots = [b.disk_snapshot(0), b.disk_snapshot(1, parent=0)]
    stack.put_image(5, persistent=True, data=b"five", snapshots=snapshots)
    stack.sp.volume_snapshot("one-img-5", "one-img-5-snap0")
    stack.sp.volume_snapshot("one-img-5", "one-img-5-snap1")
    stack.put_image(11, data=b"to be removed")
    snap_image = b.image_xml(5, persistent=True, target_snapshot=0, state=4, size=16, snapshots=snapshots)

    def action(image: Any = None, **kwargs: Any) -> str:
        return b.ds_driver_action_xml(ds, image, **kwargs)

    documents = {
        "cp": ("8", action(b.image_xml(8, source="", path=str(safe / "disk.raw"), state=4, size=1))),
        "mkfs": ("9", action(b.image_xml(9, type="DATABLOCK", source="", state=4, size=4, fs="ext4"))),
        "rm": ("11", action(b.image_xml(11))),
        "stat": ("0", action(image_path=str(safe / "disk.raw"))),
        "clone": ("6", action(b.image_xml(6, source="", path="one-ds-100/one-img-5", state=4, cloning_id=5))),
        "snap_delete": ("5", action(b.image_xml(5, persistent=True, target_snapshot=1, state=4, size=16,
                                                snapshots=snapshots))),
        "snap_revert": ("5", action(snap_image)),
        "snap_flatten": ("5", action(snap_image)),
        "monitor": ("100", action()),
        "export": ("3", action(b.image_xml(5, persistent=True, size=16))),
    }
    staging = tmp_path / "staging"
    staging.mkdir()
    # Downloads (a mutated PATH may be a URL) go to a closed local port: the network stays untouched.
    env = {"ONESP_STAGING_DIR": str(staging), "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "no_proxy": ""}
    return DsWorld(documents, env)


def ds_document_example(data: Any, world: DsWorld, run: Callable[..., Any], canary: Canary, contract: Any,
                        text_argv: bool) -> None:
    action = data.draw(st.sampled_from(sorted(world.documents)), label="action")
    object_id, xml = world.documents[action]
    must_fail = False
    if data.draw(st.integers(0, 9), label="bad id?") == 0:
        object_id, must_fail = data.draw(st.sampled_from(BAD_IDS + canary.payloads), label="id"), True
    argv, stdin = encode(data, mutate_document(data, xml, canary), object_id)
    if text_argv:
        assume(not any("\x00" in a for a in argv))
    result = run("ds", action, argv, stdin=stdin, env=world.env)
    check(contract, result, "ds", action, must_fail)
    canary.check()


def ds_random_example(data: Any, world: DsWorld, run: Callable[..., Any], canary: Canary, contract: Any,
                      text_argv: bool) -> None:
    action = data.draw(st.sampled_from(sorted(world.documents)), label="action")
    payload = data.draw(random_input(canary), label="input")
    form = data.draw(st.sampled_from(["stdin", "dash", "argv"]), label="form")
    object_id = world.documents[action][0]
    if form == "argv":
        text = payload.decode("utf-8", "replace")
        if text_argv:
            assume("\x00" not in text)
        argv, stdin = [text, object_id], b""
    else:
        argv, stdin = (["-", object_id] if form == "dash" else [object_id]), payload
    result = run("ds", action, argv, stdin=stdin, env=world.env)
    check(contract, result, "ds", action, must_fail=True)
    canary.check()


# -- TM (and ds export.delete): positional arguments ----------------------------------------------------


@dataclass(repr=False)
class TmWorld:
    templates: Dict[Tuple[str, str], List[Tuple[str, str]]]  # (kind, action) -> [(position kind, value)]
    prefixes: Dict[str, str]  # position value -> the directory its hostile variants must stay under
    stdin: Dict[str, bytes] = field(default_factory=dict)
    files: List[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return "TmWorld(%s)" % ", ".join(action for _, action in sorted(self.templates))


@pytest.fixture
def tm_world(stack: Any, tmp_path: Path, canary: Canary) -> Iterator[TmWorld]:
    """VM 7 on node1: disk 0 cloned from image 5, disk 1 persistent image 6, disk 2 volatile, context disk 3."""
    b = stack.b
    stack.put_image(5, data=b"five")
    stack.put_image(6, persistent=True, data=b"six")
    stack.put_image(9, create_volume=False, source="")
    vm = stack.put_vm(7, disks=[b.image_disk(0, 5, size=16), b.image_disk(1, 6, persistent=True, size=16),
                                b.volatile_disk(2, 16)])
    files = tmp_path / "context"
    files.mkdir()
    (files / "context.sh").write_text("HOSTNAME='fuzz'\n")
    hostile_files = []
    for payload in canary.payloads:  # real files whose paths (and, without "/", names) carry every payload
        path = "%s/f%s" % (files, payload)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write("x\n")
        hostile_files.append(path)
    loc = str(stack.ds_location)
    disk = {n: stack.disk_path("node1", 7, n) for n in range(4)}
    vm_dir = "%s/101/7" % loc
    export = "%s/one-img-5-export-abc123" % stack.dev_dir
    t: Dict[Tuple[str, str], List[Tuple[str, str]]] = {
        ("tm", "clone"): [("fe", "fe:one-ds-100/one-img-5"), ("hp", disk[0]), ("id", "7"), ("id", "100")],
        ("tm", "ln"): [("fe", "fe:one-ds-100/one-img-6"), ("hp", disk[1]), ("id", "7"), ("id", "100")],
        ("tm", "mv"): [("hp", disk[0]), ("hp", stack.disk_path("node2", 7, 0)), ("id", "7"), ("id", "100")],
        ("tm", "mkswap"): [("id", "16"), ("hp", disk[2]), ("id", "7"), ("id", "101")],
        ("tm", "mkimage"): [("id", "16"), ("fmt", "raw"), ("hp", disk[2]), ("id", "7"), ("id", "101")],
        ("tm", "context"): [("file", str(files / "context.sh")), ("file", hostile_files[0]), ("hp", disk[3]),
                            ("id", "7"), ("id", "101")],
        ("tm", "mvds"): [("hp", disk[1]), ("source", "one-ds-100/one-img-6"), ("id", "7"), ("id", "100")],
        ("tm", "cpds"): [("hp", disk[0]), ("source", "one-ds-100/one-img-9"), ("snap", "-1"), ("id", "7"),
                         ("id", "100")],
        ("tm", "delete"): [("hp", disk[0]), ("id", "7"), ("id", "100")],
        ("tm", "resize"): [("hp", disk[0]), ("id", "32"), ("id", "7"), ("id", "100")],
        ("tm", "restore"): [("hp", "node1:" + vm_dir), ("id", "7"), ("id", "20"), ("snap", "-1"), ("snap", "-1")],
        ("ds", "export_delete"): [("host", "node2"), ("path", export)],
    }
    for action in ("snap_create", "snap_create_live", "snap_delete", "snap_revert"):
        t[("tm", action)] = [("hp", disk[0]), ("snap", "0"), ("id", "7"), ("id", "100")]
    for action in ("premigrate", "postmigrate", "failmigrate"):
        t[("tm", action)] = [("host", "node1"), ("host", "node2"), ("path", vm_dir), ("id", "7"), ("id", "101")]
    for action in ("prebackup", "postbackup"):
        t[("tm", action)] = [("hp", "node1:" + vm_dir), ("disks", "0:1"), ("deploy", "one-7"), ("id", "7"),
                             ("id", "101")]
    prefixes = {export: str(stack.dev_dir)}
    stdin = {a: base64.b64encode(vm.encode()) for a in ("premigrate", "postmigrate", "failmigrate")}
    stdin.update({a: vm.encode() for a in ("prebackup", "postbackup")})
    yield TmWorld(t, prefixes, stdin, hostile_files)
    # rm works through deep trees without recursion, unlike pytest's own clean-up of old runs
    subprocess.run(["rm", "-rf", "--", str(stack.ds_location), str(files)], check=False)


def tm_example(data: Any, world: TmWorld, run: Callable[..., Any], stack: Any, canary: Canary, contract: Any,
               text_argv: bool) -> None:
    kind, action = data.draw(st.sampled_from(sorted(world.templates)), label="action")
    template = world.templates[(kind, action)]
    argv = [value for _, value in template]
    must_fail = False
    baited = [i for i, (kind, _) in enumerate(template) if kind in ("hp", "path", "file")]
    if baited and data.draw(st.booleans(), label="valid but hostile?"):
        chosen = [i for i in baited if data.draw(st.booleans(), label="bait %d?" % i)] or baited[:1]
        for position in chosen:
            argv[position] = shell_bait(data, world, template[position][0], argv[position], canary)
        positions = []
    else:
        positions = data.draw(st.lists(st.integers(0, len(template) - 1), min_size=1, max_size=2, unique=True),
                              label="positions")
    for position in positions:
        argv[position], bad = hostile_argument(data, world, template[position][0], argv[position], canary)
        must_fail = must_fail or bad
    variable = action in ("context", "premigrate", "postmigrate", "failmigrate", "prebackup", "postbackup")
    arity = data.draw(st.sampled_from(["same"] * 8 + ["fewer", "more"]), label="arity")
    if arity == "fewer" or (arity == "more" and not variable):
        argv = argv[:-1] if arity == "fewer" else argv + ["extra"]
        must_fail = must_fail or not variable or len(argv) < 3
    stdin = world.stdin.get(action, b"")
    if stdin and data.draw(st.integers(0, 3), label="mutated document?") == 0:
        document = stdin if stdin.startswith(b"<") else base64.b64decode(stdin)
        stdin = base64.b64encode(mutate_document(data, document.decode(), canary))
    if text_argv:
        assume(not any("\x00" in a for a in argv))
    stack.ctl.reset_calls()
    result = run(kind, action, argv, stdin=stdin)
    check(contract, result, kind, action, must_fail)
    if must_fail:
        assert stack.ctl.calls() == [], "refused input still reached StorPool: %s" % (result,)
    canary.check()


def subprocess_runner(stack: Any) -> Callable[..., Any]:
    def run(kind: str, action: str, argv: List[str], stdin: bytes = b"", env: Any = None) -> Any:
        executable = "export.delete" if action == "export_delete" else action
        return stack.run(kind, executable, *argv, stdin=stdin, env=env, timeout=60)
    return run


# -- the targets: CI (few examples) -----------------------------------------------------------------------


@pytest.mark.parametrize("case", [
    "system datastore id from the path", "digits-only host name", "digits-only BRIDGE_LIST entry",
])
def test_numbers_beyond_32_bits_reaching_oned_fail_with_a_clear_line(stack, in_process, contract, case):
    """Found by the slow fuzz run (then fixed): a number oned's 32-bit XML-RPC integers cannot
    carry, from a path component, a digits-only host name or BRIDGE_LIST entry, is refused with
    one line instead of escaping as an OverflowError."""
    b = stack.b
    stack.put_image(5)
    vm = stack.put_vm(7, disks=[b.image_disk(0, 5, size=16)], lcm_state=4,
                      history=(b.history("node1", hid=1), b.history("node2", hid=2)))
    if case == "system datastore id from the path":
        kind, action = "tm", "clone"
        result = in_process(kind, action, ["fe:one-ds-100/one-img-5",
                                           "node1:%s/2147483648/7/disk.0" % stack.ds_location, "7", "100"])
    elif case == "digits-only host name":
        kind, action = "tm", "premigrate"
        result = in_process(kind, action, ["node1", "4294967296", "%s/101/7" % stack.ds_location, "7", "101"],
                            stdin=base64.b64encode(vm.encode()))
    else:
        kind, action = "ds", "export"
        ds = b.datastore_xml(100, bridge_list=("4294967296",))
        result = in_process(kind, action, ["3"], stdin=stack.ds_action(ds, b.image_xml(5, persistent=True, size=16)))
    contract(result, kind, action, must_fail=True)


def test_every_hostile_image_path_is_refused_with_one_clear_line(stack, in_process, ds_world, contract):
    """What the fuzzer only samples for IMAGE/PATH, exhaustively: ds cp and ds stat refuse each
    (never an internal error) without showing a URL's password or making a volume."""
    volumes = stack.volume_names()
    for action in ("cp", "stat"):
        object_id, xml = ds_world.documents[action]
        for path in HOSTILE_PATHS:
            root = etree.fromstring(xml.encode())
            for node in root.iter("PATH"):
                node.text = path
            result = in_process("ds", action, [object_id], stdin=base64.b64encode(etree.tostring(root)),
                                env=ds_world.env)
            check(contract, result, "ds", action, must_fail=True)
    assert URL_PASSWORD not in stack.log_text()
    assert stack.volume_names() == volumes


def test_every_bad_id_and_host_in_every_position_is_refused_before_any_call(stack, in_process, tm_world, contract):
    """The sure cases, exhaustively: what the fuzzer only samples."""
    for (kind, action), template in sorted(tm_world.templates.items()):
        for position, (what, value) in enumerate(template):
            if what in ("id", "snap"):
                bad = BAD_IDS + ([] if what == "snap" else ["-1"])
            elif what in ("host", "hp", "fe"):
                bad = BAD_HOSTS if what == "host" else [h + value[value.index(":"):] for h in BAD_PAIR_HOSTS]
            else:
                continue
            for text in bad:
                argv = [v for _, v in template]
                argv[position] = text
                stack.ctl.reset_calls()
                result = in_process(kind, action, argv, stdin=tm_world.stdin.get(action, b""))
                contract(result, kind, action, must_fail=True)
                assert stack.ctl.calls() == [], result


@fuzz_settings(120)
@given(data=st.data())
def test_ds_actions_on_mutated_documents(in_process, ds_world, canary, contract, data):
    ds_document_example(data, ds_world, in_process, canary, contract, text_argv=False)


@fuzz_settings(60)
@given(data=st.data())
def test_ds_actions_on_random_bytes(in_process, ds_world, canary, contract, data):
    ds_random_example(data, ds_world, in_process, canary, contract, text_argv=False)


@fuzz_settings(150)
@given(data=st.data())
def test_tm_actions_on_hostile_arguments(stack, in_process, tm_world, canary, contract, data):
    tm_example(data, tm_world, in_process, stack, canary, contract, text_argv=False)


@fuzz_settings(12)
@given(data=st.data())
def test_ds_executables_on_mutated_documents(stack, ds_world, canary, contract, data):
    ds_document_example(data, ds_world, subprocess_runner(stack), canary, contract, text_argv=True)


@fuzz_settings(12)
@given(data=st.data())
def test_tm_executables_on_hostile_arguments(stack, tm_world, canary, contract, data):
    tm_example(data, tm_world, subprocess_runner(stack), stack, canary, contract, text_argv=True)


# -- the same targets at scale, outside CI (ONESP_SLOW=1) ----------------------------------------------------


@pytest.mark.slow
@fuzz_settings(10000, random=True)
@given(data=st.data())
def test_slow_ds_actions_on_mutated_documents(in_process, ds_world, canary, contract, data):
    ds_document_example(data, ds_world, in_process, canary, contract, text_argv=False)


@pytest.mark.slow
@fuzz_settings(10000, random=True)
@given(data=st.data())
def test_slow_ds_actions_on_random_bytes(in_process, ds_world, canary, contract, data):
    ds_random_example(data, ds_world, in_process, canary, contract, text_argv=False)


@pytest.mark.slow
@fuzz_settings(10000, random=True)
@given(data=st.data())
def test_slow_tm_actions_on_hostile_arguments(stack, in_process, tm_world, canary, contract, data):
    tm_example(data, tm_world, in_process, stack, canary, contract, text_argv=False)


@pytest.mark.slow
@fuzz_settings(1000, random=True)
@given(data=st.data())
def test_slow_ds_executables_on_mutated_documents(stack, ds_world, canary, contract, data):
    ds_document_example(data, ds_world, subprocess_runner(stack), canary, contract, text_argv=True)


@pytest.mark.slow
@fuzz_settings(1000, random=True)
@given(data=st.data())
def test_slow_tm_executables_on_hostile_arguments(stack, tm_world, canary, contract, data):
    tm_example(data, tm_world, subprocess_runner(stack), stack, canary, contract, text_argv=True)
