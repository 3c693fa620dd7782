"""config: precedence, shell-style parsing without a shell, typed values, clear errors."""

import pytest

from onesp import config
from onesp.errors import ConfigError
from onesp.settings import SETTINGS


def load(tmp_path, rc_text=None, env=None, sp_conf=None, sp_conf_d=None, hostname="fe1"):
    files = []
    if rc_text is not None:
        rc = tmp_path / "addon-storpoolrc"
        rc.write_text(rc_text)
        files.append(str(rc))
    spc = tmp_path / "storpool.conf"
    if sp_conf is not None:
        spc.write_text(sp_conf)
    spd = tmp_path / "storpool.conf.d"
    if sp_conf_d:
        spd.mkdir()
        for name, text in sp_conf_d.items():
            (spd / name).write_text(text)
    return config.load(env=env or {}, rc_files=files, storpool_conf=str(spc), storpool_conf_d=str(spd),
                       hostname=hostname)


def test_defaults(tmp_path):
    cfg = load(tmp_path)
    assert cfg.ONE_PX == "one" and cfg.LOC_TAG_VAL == "one"
    assert cfg.DELAY_DELETE == 48 * 3600
    assert cfg.ATTACH_TIMEOUT == 20 and cfg.NO_VOLUME_TEMPLATE is True
    assert cfg.SP_API_HTTP_PORT == 81 and cfg.SP_AUTH_TOKEN == ""
    assert cfg.origin("ONE_PX") == "built-in default"


def test_every_setting_default_converts():
    for setting in SETTINGS:
        config.convert(setting, setting.default, "built-in default")


def test_rc_file_shell_syntax(tmp_path):
    rc = """
# comment
export ONE_PX=two
LOC_TAG_VAL="${ONE_PX}-site"   # trailing comment
DELAY_DELETE='12h'
DEFAULT_QOSCLASS=tier\\-1
MKSWAP=$(echo /tmp/pwned)
if [ -f /x ]; then
  ATTACH_TIMEOUT=7
fi
UNKNOWN_KEY=1
"""
    cfg = load(tmp_path, rc)
    assert cfg.ONE_PX == "two"
    assert cfg.LOC_TAG_VAL == "two-site"
    assert cfg.DELAY_DELETE == 12 * 3600
    assert cfg.DEFAULT_QOSCLASS == "tier-1"
    assert cfg.MKSWAP == "mkswap"  # command substitution is never run, the line is skipped
    assert cfg.ATTACH_TIMEOUT == 7  # a plain assignment, whatever surrounds it
    assert "UNKNOWN_KEY" in cfg.unknown
    assert "addon-storpoolrc line 4" in cfg.origin("LOC_TAG_VAL")


def test_rc_never_runs_a_shell(tmp_path):
    marker = tmp_path / "ran"
    load(tmp_path, "ONE_PX=`touch %s`\nLOC_TAG=$(touch %s)\nA=1; touch %s\n" % (marker, marker, marker))
    assert not marker.exists()


@pytest.mark.parametrize("line, key", [
    ("ATTACH_TIMEOUT=20s", "ATTACH_TIMEOUT"),
    ("DELAY_DELETE=48x", "DELAY_DELETE"),
    ("NO_VOLUME_TEMPLATE=maybe", "NO_VOLUME_TEMPLATE"),
    ("READONLY_MODE=rx", "READONLY_MODE"),
    ("ONE_PX=one.two", "ONE_PX"),
    ("SP_API_HTTP_PORT=70000", "SP_API_HTTP_PORT"),
])
def test_bad_values_name_key_and_file(tmp_path, line, key):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, line + "\n")
    assert key in str(err.value)
    assert "addon-storpoolrc" in str(err.value)


def test_storpool_conf_sections_and_order(tmp_path):
    cfg = load(
        tmp_path,
        "SP_API_HTTP_HOST=10.0.0.9\n",
        sp_conf="SP_API_HTTP_HOST=10.0.0.1\nSP_AUTH_TOKEN=111\n[fe1]\nSP_API_HTTP_PORT=8081\n[other]\nSP_AUTH_TOKEN=999\n",
        sp_conf_d={"50-x.conf": "SP_AUTH_TOKEN=222\n", ".hidden.conf": "SP_AUTH_TOKEN=333\n", "x.txt": "SP_AUTH_TOKEN=4\n"},
    )
    assert cfg.SP_API_HTTP_HOST == "10.0.0.1"  # storpool.conf beats addon-storpoolrc
    assert cfg.SP_API_HTTP_PORT == 8081  # host section
    assert cfg.SP_AUTH_TOKEN == "222"  # later file wins, hidden and non-.conf files ignored


def test_environment_and_onesp_overrides(tmp_path):
    env = {"SP_AUTH_TOKEN": "envtoken", "SP_API_HTTP_PORT": "9000", "ONESP_SP_API_HTTP_PORT": "9001",
           "ONESP_DELAY_DELETE": ""}
    cfg = load(tmp_path, "DELAY_DELETE=1h\n", env=env, sp_conf="SP_AUTH_TOKEN=filetoken\n")
    assert cfg.SP_AUTH_TOKEN == "envtoken"
    assert cfg.SP_API_HTTP_PORT == 9001
    assert cfg.DELAY_DELETE == 0  # ONESP_ wins, and empty means delete at once


def test_datastore_attributes_override_but_not_pinned(tmp_path):
    cfg = load(tmp_path, env={"ONESP_SP_AUTH_TOKEN": "pinned"})
    ds = cfg.with_datastore({"SP_API_HTTP_HOST": "10.9.9.9", "SP_AUTH_TOKEN": "dstoken", "SP_SYSTEM": "shared",
                             "SP_API_HTTP_PORT": "", "ONE_PX": "evil"}, "datastore 100")
    assert ds.SP_API_HTTP_HOST == "10.9.9.9" and ds.origin("SP_API_HTTP_HOST") == "datastore 100"
    assert ds.SP_AUTH_TOKEN == "pinned"
    assert ds.SP_SYSTEM == "shared"
    assert ds.SP_API_HTTP_PORT == 81  # empty attribute changes nothing (the addon wiped the rc value)
    assert ds.ONE_PX == "one"  # not a datastore-level key
    with pytest.raises(ConfigError) as err:
        cfg.with_datastore({"SP_SYSTEM": "nfs"}, "datastore 101")
    assert "datastore 101" in str(err.value)


def test_limits(tmp_path):
    cfg = load(tmp_path, "DISKSNAPSHOT_LIMIT=5\n")
    assert cfg.limit("DISKSNAPSHOT_LIMIT") == 5
    assert cfg.limit("DISKSNAPSHOT_LIMIT", "3", None) == 3
    assert cfg.limit("VMSNAPSHOT_LIMIT") is None
    with pytest.raises(ConfigError):
        cfg.limit("DISKSNAPSHOT_LIMIT", "many")


def test_onesp_rc_env_selects_files(tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("ONE_PX=viaenv\n")
    cfg = config.load(env={"ONESP_RC": str(rc), "ONESP_STORPOOL_CONF": str(tmp_path / "none")})
    assert cfg.ONE_PX == "viaenv"


def test_shipped_rc_documents_every_setting_with_its_default():
    from pathlib import Path

    rc = Path(__file__).resolve().parents[2] / "addon-storpoolrc"
    text = rc.read_text()
    parsed = config.parse_assignments(text.replace("\n#", "\n"), str(rc))
    for setting in SETTINGS:
        assert setting.name in parsed, "addon-storpoolrc does not document %s" % setting.name
        assert parsed[setting.name][0] == setting.default, setting.name
    assert config.load(env={"ONESP_RC": str(rc), "ONESP_STORPOOL_CONF": "/nonexistent"}).ONE_PX == "one"
