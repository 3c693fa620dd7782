"""A VM's disks from deploy to terminate, through the transfer lines oned writes for them."""

MIB = 1024 * 1024


def _prolog(stack, context_sh):
    disk = lambda d: stack.disk_path("node1", 7, d)  # noqa: E731
    return [
        ("clone", "fe:one-ds-100/one-img-5", disk(0), "7", "100"),
        ("ln", "fe:one-ds-100/one-img-6", disk(1), "7", "100"),
        ("mkimage", "32", "raw", disk(2), "7", "101"),
        ("mkswap", "16", disk(3), "7", "101"),
        ("context", str(context_sh), disk(4), "7", "101"),
    ]


def _epilog(stack):
    disk = lambda d: stack.disk_path("node1", 7, d)  # noqa: E731
    return [
        ("delete", disk(0), "7", "100"),
        ("mvds", disk(1), "one-ds-100/one-img-6", "7", "100"),
        ("delete", disk(2), "7", "101"),
        ("delete", disk(3), "7", "101"),
        ("delete", stack.vm_dir("node1", 7), "7", "101"),
    ]


def _run_all(stack, lines):
    for line in lines:
        r = stack.tm(*line)
        assert r.ok, (line, r)


def test_deploy_use_and_terminate_leave_only_the_images(stack):
    stack.put_image(5, size_mb=16, data=b"os image")
    stack.put_image(6, size_mb=16, persistent=True, data=b"database")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=64, original_size=16),
                           stack.b.image_disk(1, 6, persistent=True, size=16),
                           stack.b.volatile_disk(2, 32, fs="ext4"),
                           stack.b.volatile_disk(3, 16, kind="swap")],
                 user_template={"VC_POLICY": "daily", "SP_QOSCLASS": "gold"})
    context_sh = stack.root / "vms" / "7" / "context.sh"
    context_sh.parent.mkdir(parents=True)
    context_sh.write_text("HOSTNAME='vm7'\n")
    images = stack.state()["volumes"]

    _run_all(stack, _prolog(stack, context_sh))
    vm_dir = stack.ds_location / "101" / "7"
    assert sorted(p.name for p in vm_dir.iterdir() if not p.name.endswith(".monitor")) == [
        "disk.0", "disk.1", "disk.2", "disk.3", "disk.4"]
    assert {a["volume"] for a in stack.attachments()} == {
        "one-img-5-7-0", "one-img-6", "one-sys-7-2-raw", "one-sys-7-3-swap", "one-sys-7-4-iso"}
    with open(vm_dir / "disk.0", "r+b") as dev:
        dev.seek(40 * MIB)
        dev.write(b"written by the guest")
    with open(vm_dir / "disk.1", "r+b") as dev:
        dev.write(b"DATABASE")

    deployed = stack.state()
    _run_all(stack, _prolog(stack, context_sh))  # oned retrying the whole prolog changes nothing
    assert stack.state() == deployed
    with open(vm_dir / "disk.0", "rb") as dev:
        dev.seek(40 * MIB)
        assert dev.read(20) == b"written by the guest"
        dev.seek(0)
        assert dev.read(8) == b"os image"

    _run_all(stack, _epilog(stack))
    state = stack.state()
    assert sorted(state["volumes"]) == ["one-img-5", "one-img-6"]
    assert state["volumes"]["one-img-5"] == images["one-img-5"]
    assert stack.attachments() == []
    assert stack.volume("one-img-6")["tags"] == {"virt": "one", "nloc": "one"}
    assert stack.read_volume("one-img-6", 8) == b"DATABASE"
    kept = {name: s for name, s in state["snapshots"].items()}
    assert all(s["targetDeleteDate"] for s in kept.values()), kept
    assert sorted(name.split("@")[0] for name in kept) == ["one-img-5-7-0", "one-sys-7-2-raw", "one-sys-7-3-swap"]
    disk0 = next(name for name in kept if name.startswith("one-img-5-7-0@"))
    assert stack.read_volume(disk0, 20, offset=40 * MIB, snapshot=True) == b"written by the guest"
    assert not vm_dir.exists()

    _run_all(stack, _epilog(stack))  # and so does retrying the epilog
    assert stack.state() == state
