"""Hostile and oversized input to the oned document readers: BadInput, nothing else.

"No file read" is checked with a FIFO: opening a FIFO that has no writer
blocks, so a parser that tried to read the entity would hang the child
process instead of answering. "No network" is checked with a listener on
127.0.0.1 that must see no connection.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onesp.one import MAX_DOCUMENT_BYTES, decode_base64, decode_driver_action, decode_vm_document, parse_xml, xmlsafe
from onesp.runtime.errors import BadInput
from onesp.sim.oned.builders import b64, datastore_xml, ds_driver_action_xml, image_xml, vm_xml

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        '<!ENTITY lol%d "%s">' % (i, ("&lol%s;" % (i - 1 if i > 1 else "")) * 10) for i in range(1, 10)
    )
    + ']><VM><NAME>&lol9;</NAME></VM>'
)


def run_isolated(code: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Run ``code`` in a child limited to 1 GiB of address space.

    ``peak_kb()`` in the child reads VmHWM, which (unlike ru_maxrss) starts
    afresh at exec and so does not inherit the test runner's own peak.
    """
    wrapper = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

        def peak_kb():
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
            raise RuntimeError("no VmHWM")
        """
    ) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=timeout)


def test_billion_laughs_is_refused_quickly_in_bounded_memory():
    code = """
    from onesp.one import parse_xml, decode_driver_action
    from onesp.runtime.errors import BadInput
    doc = %r
    for fn in (parse_xml, decode_driver_action):
        try:
            fn(doc)
        except BadInput as exc:
            print("BadInput:", exc)
    print("maxrss_kb", peak_kb())
    """ % BILLION_LAUGHS
    done = run_isolated(code)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("BadInput:") and "DOCTYPE" in lines[0]
    assert lines[1].startswith("BadInput:")
    assert int(lines[2].split()[1]) < 200 * 1024


def test_external_entity_to_a_local_file_is_not_opened(tmp_path):
    fifo = tmp_path / "secret"
    os.mkfifo(fifo)
    docs = [
        '<!DOCTYPE VM [<!ENTITY e SYSTEM "file://%s">]><VM><NAME>&e;</NAME></VM>' % fifo,
        '<!DOCTYPE VM SYSTEM "%s"><VM><NAME>x</NAME></VM>' % fifo,
        '<!DOCTYPE VM [<!ENTITY %% p SYSTEM "%s"> %%p;]><VM/>' % fifo,
    ]
    code = """
    from onesp.one import parse_xml, xmlsafe
    from onesp.runtime.errors import BadInput
    from lxml import etree
    for doc in %r:
        try:
            parse_xml(doc)
            print("parsed")
        except BadInput:
            print("refused")
        # second line of defence: both parsers themselves, with the prolog check bypassed
        try:
            root = xmlsafe._parse(doc.encode(), "doc")
            print("raw", etree.tostring(root).decode())
        except (etree.XMLSyntaxError, BadInput):
            print("raw-error")
    """ % (docs,)
    done = run_isolated(code, timeout=15)  # a read of the FIFO would block until this expires
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0::2] == ["refused"] * 3


def test_external_entity_to_a_url_makes_no_connection():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    url = "http://127.0.0.1:%d/payload" % port
    docs = [
        '<!DOCTYPE VM [<!ENTITY e SYSTEM "%s">]><VM><NAME>&e;</NAME></VM>' % url,
        '<!DOCTYPE VM SYSTEM "%s"><VM><NAME>x</NAME></VM>' % url,
        '<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE VM [<!ENTITY %% p SYSTEM "%s"> %%p;]><VM/>' % url,
    ]
    try:
        for doc in docs:
            with pytest.raises(BadInput, match="DOCTYPE"):
                parse_xml(doc)
            with pytest.raises(BadInput):
                decode_driver_action(b64(doc))
            try:

                xmlsafe._parse(doc.encode(), "doc")
            except Exception:
                pass
        with pytest.raises(socket.timeout):
            conn, _ = listener.accept()
            conn.close()
    finally:
        listener.close()


def test_fifty_megabyte_document_is_refused_before_parsing():
    code = """
    import time
    from onesp.one import parse_xml, decode_vm_document
    from onesp.runtime.errors import BadInput
    import base64
    doc = b"<VM><ID>1</ID><NAME>" + b"a" * 50000000 + b"</NAME></VM>"
    started = time.monotonic()
    for fn, data in ((parse_xml, doc), (decode_vm_document, base64.b64encode(doc))):
        try:
            fn(data)
        except BadInput as exc:
            print("BadInput:", exc)
    print("seconds", time.monotonic() - started)
    print("maxrss_kb", peak_kb())
    """
    done = run_isolated(code)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "BadInput: XML document is 50.0 MB, over the 41.9 MB limit"
    assert lines[1].startswith("BadInput: VM document is 66.7 MB")
    assert float(lines[2].split()[1]) < 2.0
    assert int(lines[3].split()[1]) < 400 * 1024


def test_tens_of_megabytes_still_parse_and_pools_may_be_larger():
    big_text = "x" * (30 * 1000 * 1000)
    root = parse_xml("<VM><ID>1</ID><NAME>%s</NAME></VM>" % big_text)
    assert len(root.findtext("NAME")) == len(big_text)
    many = "<IMAGE_POOL>" + "<IMAGE><ID>1</ID><NAME>%s</NAME></IMAGE>" % ("y" * 1000) * 50000 + "</IMAGE_POOL>"
    assert len(many) > MAX_DOCUMENT_BYTES
    with pytest.raises(BadInput, match="over the"):
        parse_xml(many)
    assert len(parse_xml(many, max_bytes=xmlsafe.MAX_POOL_BYTES)) == 50000


@pytest.mark.parametrize(
    "data, message",
    [
        ("", "not an XML document"),
        ("   ", "not an XML document"),
        ("<VM><ID>1</ID>", "not well-formed"),
        ("<VM xmlns='urn:x'><ID>1</ID></VM>", "namespace"),
        ("<VM><a:ID xmlns:a='urn:y'>1</a:ID></VM>", "namespace"),
        ("<VM><xml:ID>1</xml:ID></VM>", "namespace"),  # the xml prefix needs no declaration
        ("<VM><?pi x?><ID>1</ID></VM>junk", "not well-formed"),
        (b"\xff\xfe<\x00V\x00M\x00>\x00", "NUL"),
        ("<!ENTITY x 'y'><VM/>", "DOCTYPE"),
        ("<" * 5 + "VM>", "not well-formed"),
        ("<a>" * 300000 + "</a>", "nested deeper than 256"),
    ],
)
def test_malformed_documents_are_bad_input(data, message):
    with pytest.raises(BadInput, match=message):
        parse_xml(data)


def test_deep_nesting_is_refused_quickly_on_every_lxml():
    """lxml < 5 with huge_tree has no depth cap of its own: 300,000 levels took minutes."""
    code = """
    import time
    from onesp.one import parse_xml
    from onesp.runtime.errors import BadInput
    for depth in (256, 300000):
        doc = "<a>" * depth + "x" * 11000000 + "</a>" * depth
        started = time.monotonic()
        try:
            print(depth, len(parse_xml(doc).xpath("//a")), end=" ")
        except BadInput as exc:
            print(depth, exc, end=" ")
        print(time.monotonic() - started < 3.0)
    """
    done = run_isolated(code, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "256 256 True",
        "300000 XML document is nested deeper than 256 elements; oned documents are not True",
    ]


def test_root_element_is_checked():
    with pytest.raises(BadInput, match="expected a <DS_DRIVER_ACTION_DATA> document, got <VM>"):
        decode_driver_action("<VM><ID>1</ID></VM>")


@pytest.mark.parametrize(
    "data, message",
    [
        ("not base64!", "not valid base64"),
        ("QUJD=X", "not valid base64"),
        ("", "empty"),
        ("\n\n", "empty"),
        (base64.b64encode(b"\x00\x01binary").decode(), "NUL|not an XML document"),
        (base64.b64encode(b"<DS_DRIVER_ACTION_DATA><DATASTORE>").decode(), "not well-formed"),
    ],
)
def test_malformed_base64_is_bad_input(data, message):
    with pytest.raises(BadInput, match=message):
        decode_driver_action(data)


def test_base64_size_is_checked_before_decoding():
    with pytest.raises(BadInput, match="over the"):
        decode_base64("QUJD" * 1000, max_bytes=100)
    assert decode_base64("QUJD\nREVG\n") == b"ABCDEF"


def test_wrapped_and_plain_inputs_decode_alike():
    doc = ds_driver_action_xml(datastore_xml(100), image_xml(7))
    wrapped = "\n".join(b64(doc)[i:i + 60] for i in range(0, len(b64(doc)), 60)) + "\n"
    for form in (doc, doc.encode(), b64(doc), wrapped, wrapped.encode()):
        assert decode_driver_action(form).image.id == 7
    vm = vm_xml(5)
    assert decode_vm_document(b64(vm)).id == decode_vm_document(vm).id == 5


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_arbitrary_input_never_escapes_as_anything_but_bad_input(data):
    for decoder in (decode_driver_action, decode_vm_document):
        try:
            decoder(data)
        except BadInput:
            pass


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_mutated_documents_give_bad_input_or_a_view(data):
    doc = ds_driver_action_xml(datastore_xml(100), image_xml(7))
    start = data.draw(st.integers(0, len(doc) - 1))
    length = data.draw(st.integers(0, 20))
    junk = data.draw(st.text(alphabet="<>/&;!abcXYZ0123 -=\"'", max_size=10))
    mutated = doc[:start] + junk + doc[start + length:]
    try:
        decode_driver_action(mutated)
    except BadInput:
        pass
