"""config: precedence, shell-style parsing without a shell, typed values, clear errors."""

import pytest

from onesp.runtime import config, configfiles
from onesp.runtime.errors import ConfigError
from onesp.runtime.settings import SETTINGS


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
    ("DELAY_DELETE=48x", "DELAY_DELETE"),
    ("READONLY_MODE=rx", "READONLY_MODE"),
    ("SP_SYSTEM=nfs", "SP_SYSTEM"),
    ("HOST_EXEC=rsh", "HOST_EXEC"),
    ("SP_API_HTTP_PORT=81x", "SP_API_HTTP_PORT"),
    ("VM_TAG=a=b", "VM_TAG"),
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
           "ONESP_SP_AUTH_TOKEN": "pinned", "ONESP_DELAY_DELETE": ""}
    cfg = load(tmp_path, "DELAY_DELETE=1h\n", env=env, sp_conf="SP_AUTH_TOKEN=filetoken\n")
    assert cfg.SP_AUTH_TOKEN == "pinned"
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
    parsed = configfiles.parse_assignments(text.replace("\n#", "\n"), str(rc))
    for setting in SETTINGS:
        assert setting.name in parsed, "addon-storpoolrc does not document %s" % setting.name
        assert parsed[setting.name][0] == setting.default, setting.name
    assert config.load(env={"ONESP_RC": str(rc), "ONESP_STORPOOL_CONF": "/nonexistent"}).ONE_PX == "one"


# -- the addon's spellings, its shipped file and its documentation's examples ------------------

DATA = __import__("pathlib").Path(__file__).resolve().parent / "data"


def uncommented(text):
    """Every commented-out assignment made active, as an administrator would uncomment it."""
    return "\n".join(line[1:] if line.startswith("#") and "=" in line else line for line in text.splitlines())


def test_values_the_addon_accepts_load_with_its_meaning(tmp_path):
    rc = ("VMSNAPSHOT_FSFREEZE=T\nDISK_SNAPSHOT_FSFREEZE=Yes\nSKIP_UNDEPLOY_SSH=ON\nTAG_CONTEXT_ISO=f\n"
          "NO_VOLUME_TEMPLATE=FALSE\nREADONLY_MODE=RO\nSP_SYSTEM=Shared\nATTACH_TIMEOUT=20s\nLOG_LEVEL=DEBUG\n")
    cfg = load(tmp_path, rc)
    assert (cfg.VMSNAPSHOT_FSFREEZE, cfg.DISK_SNAPSHOT_FSFREEZE, cfg.SKIP_UNDEPLOY_SSH) == (True, True, True)
    assert (cfg.TAG_CONTEXT_ISO, cfg.NO_VOLUME_TEMPLATE) == (False, False)
    assert (cfg.READONLY_MODE, cfg.SP_SYSTEM, cfg.LOG_LEVEL) == ("ro", "shared", "debug")
    assert cfg.ATTACH_TIMEOUT == 20
    assert cfg.warnings == ()
    assert cfg.with_datastore({"SP_SYSTEM": "SSH"}, "datastore 0").SP_SYSTEM == "ssh"


def test_an_empty_boolean_is_no_as_in_the_addon(tmp_path):
    cfg = load(tmp_path, "VMSNAPSHOT_OVERRIDE=\nFORCE_DETACH_OTHER_MV=''\n")
    assert cfg.VMSNAPSHOT_OVERRIDE is False and cfg.FORCE_DETACH_OTHER_MV is False and cfg.warnings == ()


@pytest.mark.parametrize("line, key, used", [
    ("VMSNAPSHOT_DELETE_ON_TERMINATE=maybe", "VMSNAPSHOT_DELETE_ON_TERMINATE", False),  # boolTrue: not true
    ("ATTACH_TIMEOUT=soon", "ATTACH_TIMEOUT", 20),
    ("SP_API_TIMEOUT=5min", "SP_API_TIMEOUT", 300),
    ("SP_API_CONNECT_TIMEOUT=1.5", "SP_API_CONNECT_TIMEOUT", 3),
    ("STORPOOL_RETRIES=many", "STORPOOL_RETRIES", 5),
    ("SSH_TIMEOUT=x", "SSH_TIMEOUT", 60),
    ("LOG_LEVEL=verbose", "LOG_LEVEL", "info"),
])
def test_unreadable_values_that_fall_back_are_warned_about_with_file_and_line(tmp_path, line, key, used):
    cfg = load(tmp_path, "# first line\n" + line + "\n")
    assert cfg.get(key) == used
    assert len(cfg.warnings) == 1
    assert cfg.warnings[0].startswith("%s in %s line 2: " % (key, tmp_path / "addon-storpoolrc")), cfg.warnings


def test_every_key_has_a_rule_for_unreadable_values():
    from onesp.runtime.settings import ON_BAD

    for setting in SETTINGS:
        assert setting.bad_rule in ON_BAD, setting.name
        assert (setting.kind == "choice") == bool(setting.choices), setting.name


def test_the_addons_shipped_rc_file_loads_as_shipped_and_uncommented(tmp_path):
    text = (DATA / "addon-shipped-rc").read_text()
    cfg = load(tmp_path, text)
    assert cfg.MKSWAP == "/usr/sbin/mkswap"
    assert (cfg.VMSNAPSHOT_FSFREEZE, cfg.VMSNAPSHOT_DELETE_ON_TERMINATE, cfg.VMSNAPSHOT_ENABLE_LIMIT) == (False, True, True)
    assert cfg.unknown == {} and cfg.warnings == ()

    cfg = load(tmp_path, uncommented(text))
    assert cfg.unknown == {}, "addon keys onesp does not know: %s" % sorted(cfg.unknown)
    assert cfg.warnings == ()
    assert (cfg.ONE_PX, cfg.VM_TAG, cfg.LOC_TAG, cfg.LOC_TAG_VAL) == ("one", "nvm", "nloc", "one")
    assert cfg.SP_TEMPLATE_PROPAGATE is True and cfg.UPDATE_IMAGE_ON_IMPORT is False and cfg.DS_CP_REPORT_FORMAT is True
    assert cfg.DS_CP_FORCE_DEV_PREFIX == "sd"
    assert cfg.ONE_XMLRPC == "http://localhost:2633/RPC2"
    assert cfg.oned_environment({})["ONE_XMLRPC"] == "http://localhost:2633/RPC2"
    assert cfg.oned_environment({"ONE_XMLRPC": "http://fe:2633/RPC2"})["ONE_XMLRPC"] == "http://fe:2633/RPC2"
    assert cfg.DELAY_DELETE == 48 * 3600
    assert (cfg.EXPORT_FILE_FORMAT, cfg.EXPORT_QEMU_IMG_ARGS, cfg.EXPORT_TRANSPORT) == ("qcow2", "-c -T none -t none", "ssh")


def test_the_addons_built_in_defaults_written_out_mean_the_same(tmp_path):
    cfg = load(tmp_path, (DATA / "addon-builtin-defaults").read_text())
    assert cfg.unknown == {} and cfg.warnings == ()
    defaults = load(tmp_path)
    same = ("VMSNAPSHOT_OVERRIDE", "VMSNAPSHOT_TAG", "VMSNAPSHOT_FSFREEZE", "VMSNAPSHOT_DELETE_ON_TERMINATE",
            "VMSNAPSHOT_LIMIT", "SP_SYSTEM", "NO_VOLUME_TEMPLATE", "SKIP_UNDEPLOY_SSH", "CLEAN_SRC_ON_UNDEPLOY",
            "DISKSNAPSHOT_LIMIT", "UPDATE_IMAGE_ON_IMPORT", "VM_TAG", "FORCE_DETACH_OTHER_MV",
            "FORCE_DETACH_OTHER_CONTEXT", "DELAY_DELETE", "DISK_SNAPSHOT_FSFREEZE", "DS_CP_REPORT_FORMAT",
            "READONLY_MODE", "DISK_SAVEAS_FSFREEZE", "TAG_CONTEXT_ISO", "ATTACH_TIMEOUT", "ONE_PX",
            "DEFAULT_QOSCLASS", "EXPORT_BRIDGE_LIST", "SP_TEMPLATE_PROPAGATE")
    assert {k: cfg.get(k) for k in same} == {k: defaults.get(k) for k in same}
    assert cfg.STORPOOL_CLIENT_ID_SOURCES == ("LOCAL", "ONEHOST", "FROMHOST", "HOSTHOSTNAME", "BRIDGELIST", "CLONEGW")


#: Every addon-storpoolrc example of the addon's documentation (docs/*.md of addon-storpool),
#: with what it means there.
DOC_EXAMPLES = [
    ("SP_CHECKPOINT_BD=1\n", {}),  # advanced_configuration: accepted, checkpoints stay in the VM directory
    ("DISKSNAPSHOT_LIMIT=15\n", {"DISKSNAPSHOT_LIMIT": "15"}),
    ("VMSNAPSHOT_FSFREEZE=1\n", {"VMSNAPSHOT_FSFREEZE": True}),
    ("VMSNAPSHOT_ENABLE_LIMIT=1\n", {"VMSNAPSHOT_ENABLE_LIMIT": True}),
    ("VMSNAPSHOT_LIMIT=10\n", {"VMSNAPSHOT_LIMIT": "10"}),
    ('REMOTE_BACKUP_DELETE="clusterB:tag del=y"\n', {"REMOTE_BACKUP_DELETE": "clusterB:tag del=y"}),
    ('SP_JSON_PATH="/tmp/"\nSP_FE_JSON_PATH="/var/cache/addon-storpool-monitor"\n'
     'SP_TEMPLATE_STATUS_JSON="storpool_template_status.json"\nSP_TEMPLATE_STATUS_RUN="storpool -j template status"\n'
     'SP_VOLUME_SPACE_JSON="storpool_volume_usedSpace.json"\nSP_VOLUME_SPACE_RUN="storpool -j volume usedSpace"\n'
     'SP_SNAPSHOT_SPACE_JSON="storpool_snapshot_space.json"\nSP_SNAPSHOT_SPACE_RUN="storpool -j snapshot space"\n'
     'MONITOR_SYNC_REMOTE="YES"\nSP_TEMPLATE_PROPAGATE="YES"\n#DEBUG_MONITOR_SYNC=1\n', {"SP_TEMPLATE_PROPAGATE": True}),
    ('export SP_JSON_PATH="/sharedfs"\nexport MONITOR_SYNC_REMOTE="NO"\n', {}),
    ("LOC_TAG=site\nLOC_TAG_VAL=${ONE_PX}\nVM_TAG=vm\n", {"LOC_TAG": "site", "LOC_TAG_VAL": "one", "VM_TAG": "vm"}),
    ('DELAY_DELETE="12h"\n', {"DELAY_DELETE": 12 * 3600}),
    ("DELAY_DELETE=1s\n", {"DELAY_DELETE": 1}),
    ("VMSNAPSHOT_OVERRIDE=1\n", {"VMSNAPSHOT_OVERRIDE": True}),  # configuration_tips
    ("SCHED_DS_REQUIREMENTS=\"TM_MAD=storpool\"\n", None),  # configuration_tips: a VM attribute, not an rc key
    ("T_BLK_QUEUES=YES\nT_PERSISTENT_CDROM=4\nT_PERSISTENT_CDROM_TYPE=\"file\"\nT_CPUTUNE_PERIOD=100000\n"
     "T_CPUTUNE_SHARES_KEEP=1\n", {}),  # deploy_tweaks
    ("RAFT_LEADER_IP=1.2.3.4\n", {}),  # installation
    ("DEFAULT_QOSCLASS=QoS_class_tag_name\n", {"DEFAULT_QOSCLASS": "QoS_class_tag_name"}),  # qosclass
    ("DEBUG_SP_QOSCLASS=1\n", {}),
    ("NVRAM_TEMPLATE_PATH=/var/tmp/one/OVMF\n", {}),  # uefi_boot
    ("SP_SYSTEM=shared\n", {"SP_SYSTEM": "shared"}),  # upgrade_notes-5.2.1
    ("AUTO_TEMPLATE=1\n", {}),
    ("export ONE_XMLRPC=http://one.example:2633/RPC2\n", {"ONE_XMLRPC": "http://one.example:2633/RPC2"}),
]


@pytest.mark.parametrize("text, meaning", DOC_EXAMPLES)
def test_every_configuration_example_of_the_addons_docs_loads(tmp_path, text, meaning):
    cfg = load(tmp_path, text)
    assert cfg.warnings == ()
    if meaning is None:  # not an rc key: doctor names it
        assert set(cfg.unknown) == {"SCHED_DS_REQUIREMENTS"}
        return
    assert cfg.unknown == {}, sorted(cfg.unknown)
    assert {key: cfg.get(key) for key in meaning} == meaning


# -- the token goes only where it belongs -----------------------------------------------------


def test_a_datastore_with_its_own_api_but_no_token_gets_no_token(tmp_path):
    cfg = load(tmp_path, sp_conf="SP_API_HTTP_HOST=10.0.0.1\nSP_AUTH_TOKEN=fe-token\n")
    assert cfg.token_endpoint == ("10.0.0.1", 81)
    for attributes, key in (({"SP_API_HTTP_HOST": "10.9.9.9"}, "SP_API_HTTP_HOST"),
                            ({"SP_API_HTTP_PORT": "8081"}, "SP_API_HTTP_PORT")):
        with pytest.raises(ConfigError) as err:
            cfg.with_datastore(attributes, "datastore 101")
        assert str(err.value).startswith("%s in datastore 101 points the StorPool API at " % key)
        assert "fe-token" not in str(err.value)
    own = cfg.with_datastore({"SP_API_HTTP_HOST": "10.9.9.9", "SP_AUTH_TOKEN": "ds-token"}, "datastore 101")
    assert (own.endpoint, own.SP_AUTH_TOKEN, own.token_endpoint) == (("10.9.9.9", 81), "ds-token", ("10.9.9.9", 81))
    same = cfg.with_datastore({"SP_API_HTTP_HOST": "10.0.0.1", "SP_QOSCLASS": "gold"}, "datastore 102")
    assert same.SP_AUTH_TOKEN == "fe-token"  # its endpoint is the front-end's own


def test_the_token_is_bound_to_the_endpoint_of_the_layer_that_set_it(tmp_path):
    # storpool.conf has only the token: it goes with the address the rc file gives
    cfg = load(tmp_path, "SP_API_HTTP_HOST=10.0.0.9\n", sp_conf="SP_AUTH_TOKEN=t1\n")
    assert cfg.endpoint == cfg.token_endpoint == ("10.0.0.9", 81)
    # the environment points elsewhere without a token of its own
    with pytest.raises(ConfigError) as err:
        load(tmp_path, env={"SP_API_HTTP_HOST": "10.0.0.7"}, sp_conf="SP_API_HTTP_HOST=10.0.0.1\nSP_AUTH_TOKEN=t1\n")
    assert "environment variable SP_API_HTTP_HOST" in str(err.value) and "t1" not in str(err.value)
    # a token set with its endpoint higher up is fine
    cfg = load(tmp_path, "SP_AUTH_TOKEN=rc\n", env={"SP_API_HTTP_HOST": "10.0.0.7", "SP_AUTH_TOKEN": "env"})
    assert (cfg.SP_AUTH_TOKEN, cfg.endpoint) == ("env", ("10.0.0.7", 81))


#: Variables the addon's scripts (datastore/storpool/*, tm/storpool/*, vmm/kvm/*) read from its
#: configuration: the boolTrue switches, the ${KEY:-default} reads and the keys its
#: storpool_common.sh and monitor_helper-sync give defaults to (bash internals, oned's own
#: environment and per-run script variables left out).
ADDON_SCRIPT_KEYS = """
ALT_STATS ATTACH_TIMEOUT AUTO_TEMPLATE AWK CDROM_BACKWARD_COMPATIBILITY CLEAN_SRC_ON_UNDEPLOY CLONE_COMPRESSION
COMMON_DOMAIN COPY_CMD_DD_BS COPY_CMD_DS_BS DD DEFAULT_QOSCLASS DELAY_DELETE DISKSNAPSHOT_LIMIT DISK_SAVEAS_FSFREEZE
DISK_SNAPSHOT_FSFREEZE DS_CP_FORCE_DEV_PREFIX DS_CP_REPORT_FORMAT DU EXPORT_BRIDGE_LIST EXPORT_FILE_FORMAT
EXPORT_QEMU_IMG_ARGS EXPORT_TRANSPORT FORCE_DETACH_BY_TAG FORCE_DETACH_OTHER_CONTEXT FORCE_DETACH_OTHER_MV JQ_BIN
LIBVIRT_URI LOC_TAG LOC_TAG_VAL LOG_TO_FILE MIGRATE_OPTIONS MKFS MKISOFS MKSWAP MONITOR_ADDRESS MONITOR_HOST_ID
MONITOR_PORT MONITOR_SEND_UDP MONITOR_SYNC_REMOTE MONITOR_VMSNAPSHOTS MV_DETACH_ALL NC_WAIT_TIME NO_PROXY_API
NO_VOLUME_TEMPLATE NVRAM_TEMPLATE_PATH ONE_ARGS ONE_CALL_RETRIES ONE_PX ONE_TPM_SAVE ONE_VM_POOL_MINUTES
ONE_VM_POOL_RUN ONE_VM_POOL_XML ONE_XMLRPC OVMF_PATH PING_COUNT PROPAGATE_YES QEMU_IMG QEMU_PROTOCOL RAFT_LEADER_IP
READONLY_MODE SCRIPTS_REMOTE_DIR SKIP_UNDEPLOY_SSH SP_API_CONNECT_TIMEOUT SP_API_HTTP_HOST SP_API_HTTP_PORT
SP_AUTH_TOKEN SP_CHECKPOINT SP_CHECKPOINT_BD SP_CMD_SNAPSHOT_SPACE SP_CMD_TEMPLATE_STATUS_IMAGE
SP_CMD_TEMPLATE_STATUS_SYSTEM SP_CMD_VOLUME_SPACE SP_COMPRESSION SP_FE_JSON_PATH SP_IMPORT_CGROUPS SP_JSON_PATH
SP_SNAPSHOT_LIST_RUN SP_SNAPSHOT_SPACE_MINUTES SP_SPACE_USED_LVMWAY SP_SYSTEM SP_TEMPLATE_PROPAGATE
SP_TEMPLATE_STATUS_MINUTES SP_VOLUME_LIST_RUN SP_VOLUME_SPACE_MINUTES SP_VOLUME_STATUS_RUN SSH STAGING_DIR STAT
STORPOOL_CLIENT_ID_SOURCES STORPOOL_RETRIES SYNC_TIME TAG_CONTEXT_ISO TAR T_PERSISTENT_CDROM UPDATE_IMAGE_LOCK_STRING
UPDATE_IMAGE_ON_IMPORT UPDATE_ONE_DISK_SIZE VMSNAPSHOT_DELETE_ON_TERMINATE VMSNAPSHOT_ENABLE_LIMIT
VMSNAPSHOT_EXCLUDE_CDROM VMSNAPSHOT_EXCLUDE_READONLY VMSNAPSHOT_FSFREEZE VMSNAPSHOT_LIMIT VMSNAPSHOT_OVERRIDE
VMSNAPSHOT_SLEEP VMSNAPSHOT_SLEEP_REMOTE VMSNAPSHOT_TAG VM_TAG WGET DEBUG_COMMON DEBUG_SP_QOSCLASS DDEBUG_TRAPS
DDDDEBUG_TM_MONITOR_DS sshConnectTimeout sshConnectionAttempts
""".split()


def test_every_key_the_addons_scripts_read_is_used_or_known_unused():
    from onesp.runtime.settings import BY_NAME

    neither = [key for key in ADDON_SCRIPT_KEYS if key not in BY_NAME and not config.known_unused(key)]
    assert neither == [], "addon keys neither used nor listed as known-unused: %s" % neither
    assert not [key for key in ADDON_SCRIPT_KEYS if key in BY_NAME and config.known_unused(key)]
