"""tm resize, run as oned runs it."""

MIB = 1024 * 1024


def test_resize_grows_the_disk_volume_and_keeps_bytes(stack):
    stack.put_image(5, data=b"boot")
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags={"virt": "one", "nloc": "one", "nvm": "7"})
    r = stack.tm("resize", stack.disk_path("node1", 7, 0), "64", "7", "100")
    assert r.ok, r
    assert stack.volume("one-img-5-7-0")["size"] == 64 * MIB
    assert stack.read_volume("one-img-5-7-0", 4) == b"boot"
    again = stack.tm("resize", stack.disk_path("node1", 7, 0), "32", "7", "100")
    assert again.ok, again
    assert stack.volume("one-img-5-7-0")["size"] == 64 * MIB  # never shrinks


def test_resize_of_a_missing_volume_is_one_clear_line(stack):
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    r = stack.tm("resize", stack.disk_path("node1", 7, 0), "64", "7", "100")
    assert r.code != 0
    assert r.error_lines == [r.stderr.splitlines()[0]]
    assert r.error_lines[0].startswith("tm resize: resize volume one-img-5-7-0 to 64 MB: not found:")
    assert "Traceback" not in r.stderr


def test_resize_bad_arguments(stack):
    r = stack.tm("resize", "node1:/var/lib/one/datastores/101/7", "64", "7", "100")
    assert r.code != 0 and r.error_lines == ["tm resize: bad input: node1:/var/lib/one/datastores/101/7 is not a disk path"]
    r = stack.tm("resize", "node1:/x/disk.0", "64M", "7", "100")
    assert r.code != 0 and "invalid size in MB '64M'" in r.stderr
