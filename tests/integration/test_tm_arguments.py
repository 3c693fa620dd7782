"""Bad arguments to every TM action, run as oned runs it: exit non-zero, exactly one line on
stderr (the line each action printed before its arguments became per-action records, byte for
byte), and StorPool untouched."""

import pytest

DISK = "node1:/var/lib/one/datastores/101/7/disk.0"
VM_DIR = "node1:/var/lib/one/datastores/101/7"

CASES = [
    ('clone', ['fe:one-ds-1/one-img-5', DISK, '7'],
     'tm clone: bad input: clone takes 4 arguments, got 3'),
    ('clone', ['one-img-5', DISK, '7', '1'],
     "tm clone: bad input: invalid source 'one-img-5': expected <front-end>:<SOURCE>"),
    ('clone', ['fe;x:one-img-5', DISK, '7', '1'],
     "tm clone: bad input: invalid host name 'fe;x'"),
    ('clone', ['fe:one img', DISK, '7', '1'],
     "tm clone: bad input: invalid image SOURCE 'one img'"),
    ('ln', ['fe:one-img-5', 'node1', '7', '1'],
     "tm ln: bad input: invalid destination 'node1': expected host:path"),
    ('ln', ['fe:one-img-5', DISK, '-7', '1'],
     "tm ln: bad input: invalid VM id '-7': expected a non-negative integer"),
    ('mv', [DISK, 'node2:relative/disk.0', '7', '1'],
     "tm mv: bad input: invalid path 'relative/disk.0': not absolute"),
    ('mv', ['node1', 'node2', 'x', 'y'],
     "tm mv: bad input: invalid source 'node1': expected host:path"),
    ('mkswap', ['1e3', DISK, '7', '0'],
     "tm mkswap: bad input: invalid size in MB '1e3': expected a non-negative integer"),
    ('mkimage', ['10', 'raw;reboot', DISK, '7', '0'],
     "tm mkimage: bad input: invalid disk format 'raw;reboot'"),
    ('mkimage', ['10', 'raw', DISK, '7', '99999999999'],
     "tm mkimage: bad input: invalid datastore id '99999999999': expected a non-negative integer"),
    ('context', [DISK, '7'],
     'tm context: bad input: context takes 3 to 10000 arguments, got 2'),
    ('context', ['/tmp/a\nb', DISK, '7', '0'],
     "tm context: bad input: invalid context file '/tmp/a\\nb'"),
    ('context', ['/tmp/ctx.sh', 'node1:/a/../etc', '7', '0'],
     "tm context: bad input: invalid path '/a/../etc': relative components"),
    ('mvds', [DISK, 'one-img-1 ;id', '7', '0'],
     "tm mvds: bad input: invalid image SOURCE 'one-img-1 ;id'"),
    ('cpds', [DISK, 'one-ds-1/one-img-9', '-2', '7', '1'],
     "tm cpds: bad input: invalid snapshot id '-2': expected a non-negative integer"),
    ('cpds', [DISK, 'one-ds-1/one-img-9', '1', '7'],
     'tm cpds: bad input: cpds takes 5 arguments, got 4'),
    ('delete', ['$(id):/x', '7', '0'],
     "tm delete: bad input: invalid host name '$(id)'"),
    ('delete', [VM_DIR, '7', '0', 'extra'],
     'tm delete: bad input: delete takes 3 arguments, got 4'),
    ('snap_create', [DISK, 'x', '7', '0'],
     "tm snap_create: bad input: invalid snapshot id 'x': expected a non-negative integer"),
    ('snap_create_live', [DISK, '1', 'seven', '0'],
     "tm snap_create_live: bad input: invalid VM id 'seven': expected a non-negative integer"),
    # ARABIC-INDIC DIGIT ONE: int() reads it, the id check must not
    ('snap_delete', [DISK, '1', '7', '\u0661'],
     "tm snap_delete: bad input: invalid datastore id '\u0661': expected a non-negative integer"),
    ('snap_revert', ['node1:/a/b\nc/disk.0', '1', '7', '0'],
     "tm snap_revert: bad input: invalid path '/a/b\\nc/disk.0': control characters"),
    ('resize', [DISK, '99999999999999', '7', '0'],
     "tm resize: bad input: invalid size in MB '99999999999999': expected a non-negative integer"),
    ('premigrate', ['node1', '-oProxyCommand=x', VM_DIR, '7', '0'],
     "tm premigrate: bad input: invalid host name '-oProxyCommand=x'"),
    ('postmigrate', ['node1', 'node2', 'relative', '7', '0'],
     "tm postmigrate: bad input: invalid path 'relative': not absolute"),
    ('failmigrate', ['node1', 'node2', '/d/0/7', '7', '0', 'Bad TM'],
     "tm failmigrate: bad input: invalid TM_MAD name 'Bad TM'"),
    ('failmigrate', ['node1', 'node2', '/d/0/7'],
     'tm failmigrate: bad input: failmigrate takes 5 to 6 arguments, got 3'),
    ('prebackup', [VM_DIR, '0:x', 'one-7', '5', '7', '0'],
     "tm prebackup: bad input: invalid disk id 'x': expected a non-negative integer"),
    ('prebackup', ['node1', '0:x', 'one-7', '7', '0'],
     "tm prebackup: bad input: invalid disk id 'x': expected a non-negative integer"),
    ('prebackup_live', [VM_DIR, '0', 'one-7;', '7', '0'],
     "tm prebackup_live: bad input: invalid deploy id 'one-7;'"),
    ('postbackup', [VM_DIR, '0', 'one-7', '5', 'x', '0'],
     "tm postbackup: bad input: invalid VM id 'x': expected a non-negative integer"),
    ('postbackup_live', [VM_DIR, '0', 'one-7', '7', '0', '1', '2'],
     'tm postbackup_live: bad input: postbackup_live takes 5 to 6 arguments, got 7'),
    ('restore', [VM_DIR, '7', '-1', '-1', '-1'],
     "tm restore: bad input: invalid backup image id '-1': expected a non-negative integer"),
    ('restore', [VM_DIR, '7', '3', '-2', '-1'],
     "tm restore: bad input: invalid increment id '-2': expected a non-negative integer"),
    ('restore', [VM_DIR, '7', '3', '0', 'x'],
     "tm restore: bad input: invalid disk id 'x': expected a non-negative integer"),
]


@pytest.mark.parametrize("action, argv, line", CASES)
def test_bad_arguments_are_one_line_and_change_nothing(stack, action, argv, line):
    before = stack.state()
    r = stack.tm(action, *argv)
    assert r.code != 0 and r.error_lines == [line], r
    assert "Traceback" not in r.stderr
    assert stack.state() == before


def test_every_tm_action_with_arguments_is_covered():
    import pkgutil

    import onesp.actions.tm as tm_actions

    actions = {m.name for m in pkgutil.iter_modules(tm_actions.__path__) if not m.name.startswith("_")}
    assert actions - {"monitor"} == {action for action, _, _ in CASES}
