"""ds clone (oneimage clone): baseOn the source image's volume, with the target datastore's template."""

from __future__ import annotations

MIB = 1024 * 1024


def clone_action(stack, ds_id: int = 100, source: str = "one-ds-100/one-img-5", cloning_id: int = 5, **image) -> bytes:
    xml = stack.b.image_xml(6, source="", path=source, state=4, cloning_id=cloning_id, datastore_id=ds_id, **image)
    stack.oned.put("image", xml)
    return stack.ds_action(stack.oned.get("datastore", ds_id), xml)


def test_clone_within_the_datastore(stack):
    stack.put_image(5, data=b"original bytes", template={"SP_QOSCLASS": "gold"})
    stack.ctl.reset_calls()
    stdin = clone_action(stack, template={"SP_QOSCLASS": "gold"})
    r = stack.ds("clone", "6", stdin=stdin)
    assert r.ok, r
    assert r.stdout == "one-ds-100/one-img-6\n"
    assert stack.ctl.counts() == {"VolumeCreate": 1}
    assert stack.oned.call_log().calls == ()
    clone = stack.volume("one-img-6")
    assert (clone["templateName"], clone["size"]) == ("one-ds-100", 16 * MIB)
    assert clone["tags"] == {"virt": "one", "nloc": "one", "qc": "gold"}
    assert stack.read_volume("one-img-6", 14) == b"original bytes"
    stack.write_volume("one-img-6", b"changed")
    assert stack.read_volume("one-img-5", 14) == b"original bytes"
    before = stack.state()
    again = stack.ds("clone", stdin.decode(), "6")
    assert again.ok and again.stdout == r.stdout
    assert stack.state() == before


def test_clone_into_another_datastore_gets_its_template(stack):
    stack.put_image(5, data=b"abc")
    stack.put_datastore(102)
    stack.sp.template_create("one-ds-102", replication=2, placeAll="default", placeTail="default")
    r = stack.ds("clone", "6", stdin=clone_action(stack, ds_id=102))
    assert r.ok, r
    assert r.stdout == "one-ds-102/one-img-6\n"
    assert stack.volume("one-img-6")["templateName"] == "one-ds-102"
    assert [c[0] for c in stack.oned.call_log().calls] == ["one.image.info", "one.datastore.info"]


def test_clone_refusals(stack):
    stack.put_image(5)
    stack.put_datastore(103, sp={"API_HTTP_HOST": "192.0.2.1", "AUTH_TOKEN": "other-clusters-token"})
    stack.put_datastore(102)
    other = stack.b.image_xml(5, datastore_id=103)
    stack.oned.put("image", other)
    cross = stack.ds("clone", "6", stdin=clone_action(stack, ds_id=102, source="one-ds-103/one-img-5"))
    assert cross.code != 0 and len(cross.error_lines) == 1
    assert "unsupported: image 5 is in datastore 103 on the StorPool API at 192.0.2.1:" in cross.error_lines[0]
    missing = stack.ds("clone", "6", stdin=clone_action(stack, source="one-ds-100/one-img-8", cloning_id=8))
    assert missing.error_lines[0].startswith("ds clone: create volume one-img-6: not found:")
    wrong = stack.ds("clone", "6", stdin=clone_action(stack, source="one-ds-100/one-img-9"))
    assert wrong.error_lines == ["ds clone: bad input: image PATH one-ds-100/one-img-9 is not the volume one-img-5 "
                                 "of image 5"]
    none = stack.ds("clone", "6", stdin=clone_action(stack, cloning_id=-1))
    assert none.error_lines == ["ds clone: bad input: image 6 has no CLONING_ID: nothing to clone from"]
    assert stack.volume_names() == ["one-img-5"]


def test_clone_answer_lost_leaves_nothing(stack):
    stack.put_image(5)
    stack.ctl.inject_fault("VolumeCreate", error="busy", when="after", descr="lost")
    r = stack.ds("clone", "6", stdin=clone_action(stack))
    assert r.code != 0 and r.error_lines == ["ds clone: create volume one-img-6: busy: lost"]
    assert stack.volume_names() == ["one-img-5"]
