"""The host/system probe: its output, read as OpenNebula's monitor reads it, feeds the ONEHOST client id.

OpenNebula's monitord client runs every executable file of ``im/kvm-probes.d/host/system`` in
name order, with the host's arguments and an XML document on stdin, concatenates their
stdout and gives up on the whole set when one exits non-zero. oned parses the text as a
template (src/parsers/template_parser.l: ``NAME = VALUE`` or ``NAME = "VALUE"``, NAME of
letters, digits and ``_``, ``#`` comments) and merges it into the host's TEMPLATE, an
attribute replacing the one of the same name.
"""

import os
import re
import subprocess

import pytest

from onesp.sim.stack import REPO

PROBE_DIR = REPO / "im" / "kvm-probes.d" / "host" / "system"
PROBE = PROBE_DIR / "storpool_probe.sh"

_LINE = re.compile(r'[ \t]*(?P<name>[A-Za-z0-9_]+)[ \t]*=[ \t]*(?:"(?P<quoted>(?:[^"]|\\")*)"|(?P<plain>[^=#\s,\[\]]+))?[ \t]*\Z')


def parse_template(text):
    """OpenNebula's template syntax for single attributes; anything else (a vector, a stray
    quote, a name with other characters) is a parse error, as it is for oned."""
    attributes = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError("line %d does not parse: %r" % (number, line))
        value = match.group("quoted") if match.group("quoted") is not None else (match.group("plain") or "")
        attributes.append((match.group("name").upper(), value))
    return attributes


def run_like_monitord(tmp_path, confget_output=None, confget_exit=0):
    """Run the probe as the monitord client does; ``confget_output`` None: no storpool_confget."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if confget_output is not None:
        fake = bin_dir / "storpool_confget"
        fake.write_text("#!/bin/sh\ncat <<'END'\n%sEND\nexit %d\n" % (confget_output, confget_exit))
        fake.chmod(0o755)
    env = {"PATH": "%s:/usr/bin:/bin" % bin_dir, "LANG": "C"}
    proc = subprocess.run([str(PROBE), "kvm", "0", "node3"], input=b"<HOST><ID>3</ID></HOST>", capture_output=True,
                          env=env, timeout=30)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


CONF = "SP_API_HTTP_HOST=10.1.1.1\nSP_CLUSTER_ID=nzkr.b\nSP_CLUSTER_NAME=lab-1\nSP_OURID=17\n"


def test_probe_is_an_executable_of_the_host_system_directory():
    assert PROBE.is_file() and os.access(PROBE, os.X_OK)
    assert PROBE.read_text().startswith("#!/bin/sh\n")


def test_probe_reports_client_and_cluster_as_template_attributes(tmp_path):
    code, out, err = run_like_monitord(tmp_path, CONF)
    assert code == 0 and err == ""
    assert parse_template(out) == [("SP_OURID", "17"), ("SP_CLUSTER_ID", "nzkr.b"), ("SP_CLUSTER_NAME", "lab-1")]


@pytest.mark.parametrize("conf, expected", [
    ("SP_OURID='0042'\nSP_CLUSTER_ID=\"a.b\"\n", [("SP_OURID", "42"), ("SP_CLUSTER_ID", "a.b")]),
    ("SP_OURID=1\nSP_OURID=9\n", [("SP_OURID", "9")]),  # the last assignment wins, as in storpool.conf
    ("SP_OURID=0\n", []),
    ("SP_OURID=4096\n", []),
    ("SP_OURID=3x\nSP_CLUSTER_NAME=lab\" X=\"1\n", []),
    ("SP_OURID=\nSP_CLUSTER_NAME=two words\n", []),
])
def test_probe_leaves_out_what_is_unknown_or_not_plainly_valid(tmp_path, conf, expected):
    code, out, _ = run_like_monitord(tmp_path, conf)
    assert code == 0
    assert parse_template(out) == expected


def test_probe_never_fails_the_monitor(tmp_path):
    assert run_like_monitord(tmp_path, None) == (0, "", "")
    assert run_like_monitord(tmp_path, "garbage", confget_exit=3) == (0, "", "")


def test_a_host_monitored_with_the_probe_gets_its_client_id_from_onehost(stack, tmp_path):
    """node2 knows its client id (2) only through the probe: the ONEHOST source finds it there."""
    only_onehost = {"ONESP_STORPOOL_CLIENT_ID_SOURCES": "ONEHOST"}
    stack.oned.put("host", stack.b.host_xml(2, "node2"))  # no SP_OURID yet
    stack.put_image(5)
    stack.put_vm(7, disks=[stack.b.image_disk(0, 5, size=16)], context=False,
                 history=(stack.b.history("node2", hid=2, ds_id=101),))
    clone = ("clone", "fe:one-ds-100/one-img-5", stack.disk_path("node2", 7, 0), "7", "100")
    before = stack.tm(*clone, env=only_onehost)
    assert not before.ok and "no StorPool client id for host node2" in before.stderr
    code, out, _ = run_like_monitord(tmp_path, CONF.replace("SP_OURID=17", "SP_OURID=2"))
    assert code == 0
    stack.oned.put("host", stack.b.host_xml(2, "node2", template=dict(parse_template(out))))
    r = stack.tm(*clone, env=only_onehost)
    assert r.ok, r
    assert stack.clients_of("one-img-5-7-0") == {2: "rw"}
