"""onesp run / decode / encode, as an operator uses them."""

import base64
import subprocess
import sys

MIB = 1024 * 1024


def onesp(*argv, env=None, stdin=b""):
    return subprocess.run([sys.executable, "-m", "onesp", *argv], input=stdin, capture_output=True, env=env)


def test_run_verbose_prints_calls_and_keeps_the_exit_contract(stack):
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)])
    stack.sp.volume_create("one-img-5-7-0", base_on="one-img-5", tags={"virt": "one"})
    r = onesp("run", "-v", "tm", "resize", stack.disk_path("node1", 7, 0), "32", "7", "100", env=stack.env)
    assert r.returncode == 0, r.stderr
    assert b"storpool: GET Volume one-img-5-7-0" in r.stderr
    assert b"storpool: POST VolumeUpdate one-img-5-7-0" in r.stderr
    assert stack.volume("one-img-5-7-0")["size"] == 32 * MIB
    assert stack.token.encode() not in r.stderr
    bad = onesp("run", "tm", "resize", "node1:/x", "32", "7", "100", env=stack.env)
    assert bad.returncode == 1
    assert bad.stderr.decode().splitlines() == ["tm resize: bad input: node1:/x is not a disk path"]


def test_decode_encode_roundtrip(tmp_path):
    xml = b"<DS_DRIVER_ACTION_DATA><IMAGE><ID>5</ID></IMAGE></DS_DRIVER_ACTION_DATA>"
    (tmp_path / "a.xml").write_bytes(xml)
    encoded = onesp("encode", str(tmp_path / "a.xml"))
    assert encoded.returncode == 0 and base64.b64decode(encoded.stdout) == xml
    decoded = onesp("decode", stdin=encoded.stdout)
    assert decoded.returncode == 0
    assert decoded.stdout.decode() == "<DS_DRIVER_ACTION_DATA>\n  <IMAGE>\n    <ID>5</ID>\n  </IMAGE>\n</DS_DRIVER_ACTION_DATA>\n"


def test_decode_refuses_hostile_input_in_one_line(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("TOP SECRET")
    doc = '<!DOCTYPE x [<!ENTITY e SYSTEM "file://%s">]><x>&e;</x>' % secret
    r = onesp("decode", base64.b64encode(doc.encode()).decode())
    assert r.returncode != 0 and b"TOP SECRET" not in r.stdout + r.stderr
    assert len(r.stderr.decode().strip().splitlines()) == 1
    assert onesp("decode", "%%%not base64").returncode != 0
