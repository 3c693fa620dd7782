"""The table of configuration keys: name, type, default and what each one does.

This is the single list of keys onesp understands. ``config`` resolves values for
them, the shipped ``addon-storpoolrc`` documents them, and a test checks that
every key the code reads is here and in docs/configuration.md.

Names are the bash addon's, so an existing addon-storpoolrc keeps working. Keys
of the addon that onesp does not implement are listed in ``IGNORED`` so that a
file using them loads without error (and ``onesp doctor`` can say so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

#: What happens to a value onesp cannot read (``Setting.on_bad``):
#: ``fail``    every action fails with one configuration error naming the key, file and line;
#: ``default`` the built-in default is used, with a warning (log, ``onesp doctor``) naming file and line;
#: ``digits``  the digits of the value are used, as the addon did (``20s`` is 20); none: as ``default``;
#: ``no``      (booleans) anything but 1/y/yes/t/true/on reads as no, as the addon's ``boolTrue``
#:             did; a value that is not 0/n/no/f/false/off either is warned about.
ON_BAD = ("fail", "default", "digits", "no")


@dataclass(frozen=True)
class Setting:
    """One configuration key: its type, default, documentation and where it may be set."""

    name: str
    kind: str  # str, int, bool, delay, words, choice
    default: str
    doc: str
    datastore: bool = False  # may be overridden by a datastore template attribute
    choices: Tuple[str, ...] = ()  # kind "choice": the allowed values, lower case (read case-insensitively)
    on_bad: str = "fail"  # see ON_BAD

    @property
    def bad_rule(self) -> str:
        """The rule for an unreadable value: booleans always read the addon's way."""
        return "no" if self.kind == "bool" else self.on_bad


def _s(name: str, kind: str, default: str, doc: str, datastore: bool = False,
       choices: Tuple[str, ...] = (), on_bad: str = "fail") -> Setting:
    return Setting(name, kind, default, doc, datastore, choices, on_bad)


SETTINGS: Tuple[Setting, ...] = (
    # -- identity and naming
    _s("ONE_PX", "str", "one", "Prefix of every StorPool object of this OpenNebula instance."),
    _s("LOC_TAG", "str", "nloc", "Name of the instance tag."),
    _s("LOC_TAG_VAL", "str", "", "Value of the instance tag (default: ONE_PX)."),
    _s("VM_TAG", "str", "nvm", "Name of the tag holding the VM id."),
    _s("VMSNAPSHOT_TAG", "str", "ONESNAP", "Marker in the names of VM snapshots."),
    _s("DEFAULT_QOSCLASS", "str", "", "QoS class (tag qc) used when no image, VM or datastore sets one."),
    # -- StorPool API
    _s("SP_API_HTTP_HOST", "str", "127.0.0.1", "StorPool API address.", datastore=True),
    _s("SP_API_HTTP_PORT", "int", "81", "StorPool API port.", datastore=True),
    _s("SP_AUTH_TOKEN", "str", "", "StorPool API token (kept out of logs and argv).", datastore=True),
    _s("SP_API_CONNECT_TIMEOUT", "int", "3", "Seconds to wait for a connection to the StorPool API.", on_bad="default"),
    _s("SP_API_TIMEOUT", "int", "300", "Seconds to wait for a StorPool API answer.", on_bad="default"),
    _s("STORPOOL_RETRIES", "int", "5", "Retries of a StorPool call that failed transiently (never of a refusal).",
       on_bad="default"),
    _s("ATTACH_TIMEOUT", "int", "20", "Seconds StorPool waits for a client when attaching.", on_bad="digits"),
    _s("SP_DEV_DIR", "str", "/dev/storpool", "Directory where attached volumes appear on hosts."),
    # -- behaviour of the actions
    _s(
        "DELAY_DELETE",
        "delay",
        "48h",
        "Keep deleted disks and images as anonymous snapshots for this long (<n>[smhd]; empty deletes at once).",
    ),
    _s("NO_VOLUME_TEMPLATE", "bool", "1", "Clones inherit their parent's template instead of the datastore's."),
    _s("READONLY_MODE", "choice", "rw", "Attach mode for READONLY disks, CDROMs and the context ISO (rw or ro).",
       choices=("rw", "ro")),
    _s(
        "STORPOOL_CLIENT_ID_SOURCES",
        "words",
        "ONEHOST LOCAL FROMHOST",
        "Where a host's StorPool client id is looked up, in order (ONEHOST, LOCAL, FROMHOST).",
    ),
    _s("COMMON_DOMAIN", "str", "", "Domain appended to host names when looking up client ids."),
    _s("SP_SYSTEM", "choice", "ssh", "System datastore mode: ssh (VM dirs copied) or shared.", datastore=True,
       choices=("ssh", "shared")),
    _s("SP_TEMPLATE_PROPAGATE", "bool", "1", "Propagate template changes to existing volumes.", datastore=True),
    _s("SKIP_UNDEPLOY_SSH", "bool", "0", "Do not copy the VM directory to the front-end on stop/undeploy."),
    _s("CLEAN_SRC_ON_UNDEPLOY", "bool", "1", "With SKIP_UNDEPLOY_SSH, remove the VM directory on the source host."),
    _s("FORCE_DETACH_OTHER_MV", "bool", "1", "On moves, detach the disk from every other host first."),
    _s("FORCE_DETACH_OTHER_CONTEXT", "bool", "1", "After deploy, detach the VM's volumes from other hosts."),
    _s("TAG_CONTEXT_ISO", "bool", "1", "Tag the context ISO volume."),
    _s("SP_DISK_LIMITS", "bool", "0", "A disk's TOTAL_IOPS_SEC and TOTAL_BYTES_SEC become its volume's StorPool "
       "limits (iops, bw).", datastore=True),
    _s("DISKSNAPSHOT_LIMIT", "str", "", "Maximum disk snapshots per disk (empty: no limit).", datastore=True),
    _s("DISK_SNAPSHOT_FSFREEZE", "bool", "0", "Freeze guest filesystems around live disk snapshots."),
    _s("DISK_SAVEAS_FSFREEZE", "bool", "0", "Freeze guest filesystems around a live disk save-as."),
    _s("VMSNAPSHOT_OVERRIDE", "bool", "1", "Enable the atomic StorPool VM snapshot helpers."),
    _s("VMSNAPSHOT_FSFREEZE", "bool", "0", "Freeze guest filesystems around VM snapshots."),
    _s("VMSNAPSHOT_DELETE_ON_TERMINATE", "bool", "1", "Delete a VM's VM snapshots when its disks are deleted."),
    _s("VMSNAPSHOT_ENABLE_LIMIT", "bool", "1", "Enforce VMSNAPSHOT_LIMIT."),
    _s("VMSNAPSHOT_LIMIT", "str", "", "Maximum VM snapshots per VM (empty: no limit).", datastore=True),
    _s("VMSNAPSHOT_EXCLUDE_READONLY", "bool", "0", "Leave READONLY disks out of VM snapshots."),
    _s("DS_CP_REPORT_FORMAT", "bool", "1",
       "ds cp always prints 'SOURCE raw' (oned 6.0+ needs the format); 0 only lets UPDATE_IMAGE_ON_IMPORT run."),
    _s("UPDATE_IMAGE_ON_IMPORT", "bool", "0", "After import, set the image's DRIVER and FORMAT to raw in oned."),
    _s("DS_CP_FORCE_DEV_PREFIX", "str", "", "With UPDATE_IMAGE_ON_IMPORT, also set the image's DEV_PREFIX (e.g. sd)."),
    _s("REMOTE_BACKUP_DELETE", "str", "", "<location>[:<args>]: back up a volume to that location before deleting it.",
       datastore=True),
    _s("EXPORT_BRIDGE_LIST", "words", "", "Hosts used for marketplace export (datastore attribute wins).", datastore=True),
    _s("EXPORT_FILE_FORMAT", "str", "", "Export as a converted file (raw, qcow2) instead of the device."),
    _s("EXPORT_QEMU_IMG_ARGS", "str", "", "Extra qemu-img convert options for EXPORT_FILE_FORMAT (e.g. -c), split like a shell."),
    _s("DOWNLOADER", "str", "", "OpenNebula's downloader.sh for rsync://, restic://, s3://, ssh:// and rbd:// image PATHs "
       "(default: datastore/downloader.sh of the remotes tree onesp is installed in)."),
    _s("EXPORT_TRANSPORT", "str", "ssh", "Scheme of the IMPORT_SOURCE URL an export reports (<scheme>://<bridge>:<file>)."),
    _s("STAGING_DIR", "str", "/var/tmp", "Directory on the bridge host for temporary files of imports (non-raw images)"
       " and exports."),
    _s("DOWNLOAD_TIMEOUT", "int", "60", "An http(s) download (ds cp, ds stat) that brings less than 64 KiB in this many"
       " seconds, answer included, is given up.", on_bad="default"),
    _s("SP_SPACE_USED_LVMWAY", "bool", "0", "Report storedSize instead of spaceUsed as disk size in monitoring."),
    _s("MONITOR_VMSNAPSHOTS", "bool", "0", "tm monitor also reports VM snapshot sizes."),
    _s("ALT_STATS", "bool", "0", "Datastore free space also counts StorPool's internal reserve."),
    _s("AUDIT_ORPHAN_GRACE", "delay", "1h", "onesp audit never removes an orphan younger than this"
       " (an action may still be making it)."),
    # -- tools and hosts
    _s("LOCK_DIR", "str", "/var/lock/one/onesp", "Directory of the lock files that keep two actions on one VM or one volume apart"
       " (under OpenNebula's own lock directory, which only oneadmin can write)."),
    _s("ONE_XMLRPC", "str", "", "oned's XML-RPC endpoint when the environment sets none (the addon's rc file could export it)."),
    _s("HOST_EXEC", "choice", "ssh", "How commands reach hosts: ssh, or local (run on this machine; tests, demo).",
       choices=("ssh", "local")),
    _s("SSH", "str", "ssh", "ssh command used to reach hosts (may carry options)."),
    _s("SSH_TIMEOUT", "int", "60", "Seconds a host command may take (mkfs and imports excluded).", on_bad="default"),
    _s("SCRIPTS_REMOTE_DIR", "str", "/var/tmp/one", "Where oned keeps its driver scripts on hosts (the stock kvm scripts)."),
    _s("T_PERSISTENT_CDROM", "str", "", "Empty CD-ROM trays (0-4) deploy gives a VM whose template does not say"
       " (VM attribute T_PERSISTENT_CDROM); CDROMs with DEV_PREFIX=hd are then inserted and ejected, not hot-plugged."),
    _s("SP_CHECKPOINT", "choice", "no", "Memory checkpoints (suspend, stop, cold migration) kept in a StorPool volume"
       " (the VM's rawcheckpoint volume) instead of the VM directory: yes or nomigrate (both: the save/restore helpers"
       " write it through the volume's device); no or empty: in the VM directory.", choices=("no", "yes", "nomigrate")),
    _s("SP_CHECKPOINT_BD", "bool", "0", "The same as SP_CHECKPOINT=yes (the addon's block-device form of it)."),
    _s("LIBVIRT_URI", "str", "qemu:///system", "libvirt connection of virsh on hosts (VM snapshot freeze, revert)."),
    _s("QEMU_IMG", "str", "qemu-img", "qemu-img command."),
    _s("MKSWAP", "str", "mkswap", "mkswap command on hosts."),
    _s("MKFS", "str", "mkfs", "mkfs command."),
    _s("MKISOFS", "str", "genisoimage", "ISO builder for the context disk (genisoimage, mkisofs or xorriso -as mkisofs); "
       "the default gives way to xorriso -as mkisofs where genisoimage is not installed."),
    _s("OVMF_PATH", "words", "/var/lib/one/remotes/OVMF /usr/share/OVMF /usr/share/edk2 /usr/share/AAVMF",
       "Front-end directories UEFI NVRAM templates (T_OS_NVRAM template=) may be read from; a bare name is looked "
       "up in the first."),
    _s("CONTEXT_PACKAGES_DIR", "str", "/usr/share/one/context",
       "What goes into the context ISO of a VM with INCLUDE_CONTEXT_PACKAGES (OpenNebula's guest packages)."),
    # -- logging
    _s("LOG_TO_FILE", "bool", "0", "Also append log lines to LOG_FILE."),
    _s("LOG_FILE", "str", "/var/log/one/addon-storpool.log", "Log file used when LOG_TO_FILE is set."),
    _s("LOG_LEVEL", "choice", "info", "Log verbosity: debug, info, warning or error.",
       choices=("debug", "info", "warning", "error"), on_bad="default"),
    _s("SYSLOG", "bool", "1", "Log to syslog (tags tm_sp_<action>, ds_sp_<action>, vmm_sp_<action>)."),
)

BY_NAME: Dict[str, Setting] = {s.name: s for s in SETTINGS}

#: Keys of the bash addon that load without error but change nothing here (with the reason).
IGNORED: Dict[str, str] = {
    "AUTO_TEMPLATE": "templates are managed by the StorPool administrator",
    "PROPAGATE_YES": "see SP_TEMPLATE_PROPAGATE",
    "SP_COMPRESSION": "a checkpoint on StorPool is written to its volume as the save makes it, uncompressed",
    "UPDATE_ONE_DISK_SIZE": "onesp never writes oned's database",
    "ONE_TPM_SAVE": "vTPM state stays in the VM directory; VM snapshots always carry it (in the VM's SWTPM volume)",
    "DEPLOY_TWEAKS": "deploy tweaks are not part of onesp",
    "VMSNAPSHOT_EXCLUDE_CDROM": "CDROMs are always left out of VM snapshots",
    "VMSNAPSHOT_SLEEP": "freeze timing is fixed",
    "VMSNAPSHOT_SLEEP_REMOTE": "freeze timing is fixed",
    "ONE_CALL_RETRIES": "oned reads retry on connection errors",
    "NO_PROXY_API": "the StorPool client ignores proxies",
    "SP_IMPORT_CGROUPS": "not implemented",
    "CLONE_COMPRESSION": "cross-cluster clone is not implemented",
    "COPY_CMD_DD_BS": "block size is chosen by qemu-img",
    "COPY_CMD_DS_BS": "block size is chosen by qemu-img",
    "DEBUG": "use LOG_LEVEL=debug",
    "ONE_ARGS": "oned is reached through XML-RPC",
    "MONITOR_ADDRESS": "tm monitor reads monitord's address from monitord.conf",
    "MONITOR_PORT": "tm monitor reads monitord's port from monitord.conf",
    "MONITOR_SEND_UDP": "tm monitor always sends over UDP, as OpenNebula's own probes do",
    "MV_DETACH_ALL": "each disk's tm mv moves its own volume in one call",
    "CDROM_BACKWARD_COMPATIBILITY": "CDROMs are per-VM clones; onesp audit lists an image volume left attached",
    "FORCE_DETACH_BY_TAG": "finding a VM's volumes by tag means listing every volume of the cluster; the VM document names them",
    "RAFT_LEADER_IP": "no periodic job runs on the front-end, so none has to find the RAFT leader",
    "MONITOR_HOST_ID": "VM disk sizes go to monitord as host -1 (the datastore side), as OpenNebula's datastore probes send them",
    "NC_WAIT_TIME": "tm monitor sends its messages over UDP without nc",
    "NVRAM_TEMPLATE_PATH": "used by the addon's deploy tweak os.py on hosts; deploy tweaks are not part of onesp",
    "PING_COUNT": "tm delete never pings a host before cleaning up",
    "UPDATE_IMAGE_LOCK_STRING": "an image update oned refuses is logged, not retried",
    "VMSNAPSHOT_ATOMIC": "VM snapshots are always one atomic group snapshot",
    "VMSNAPSHOT_FSFREEZE_MULTIDISKS": "the whole VM is frozen once around its group snapshot (VMSNAPSHOT_FSFREEZE)",
    "DD": "images are written with qemu-img",
    "TAR": "the VM directory is copied with the hosts' own tar (through the front-end)",
    "WGET": "ds cp downloads http(s) images itself",
    "AWK": "no awk is run",
    "DU": "no du is run",
    "STAT": "no stat is run",
    "JQ_BIN": "StorPool answers are read by onesp itself",
    "QEMU_PROTOCOL": "used by the addon's migrate tweaks; they are not part of onesp",
    "MIGRATE_OPTIONS": "used by the addon's migrate tweaks; they are not part of onesp",
    "SYNC_TIME": "used by the addon's migrate tweaks; they are not part of onesp",
    "MONITOR_SYNC_REMOTE": "monitor_helper-sync is not needed: tm monitor and ds monitor ask StorPool directly",
    "SP_JSON_PATH": "monitor_helper-sync is not needed: tm monitor and ds monitor ask StorPool directly",
    "SP_FE_JSON_PATH": "monitor_helper-sync is not needed: tm monitor and ds monitor ask StorPool directly",
    "ONE_VM_POOL_RUN": "monitor_helper-sync is not needed: tm monitor and ds monitor ask StorPool directly",
    "ONE_VM_POOL_XML": "monitor_helper-sync is not needed: tm monitor and ds monitor ask StorPool directly",
    "ONE_VM_POOL_MINUTES": "monitor_helper-sync is not needed: tm monitor and ds monitor ask StorPool directly",
    "ONEDATASTORE_XML": "monitor_helper-sync is not needed: tm monitor and ds monitor ask StorPool directly",
    "sshConnectTimeout": "monitor_helper-sync is not needed: tm monitor and ds monitor ask StorPool directly",
    "sshConnectionAttempts": "monitor_helper-sync is not needed: tm monitor and ds monitor ask StorPool directly",
}

#: Families of addon keys, by prefix, that load without error but change nothing here.
IGNORED_PREFIXES: Tuple[str, ...] = ("DEBUG_", "DDEBUG_", "DDDEBUG_", "DDDDEBUG_", "T_", "SP_CMD_", "SP_TEMPLATE_STATUS_",
                                     "SP_VOLUME_SPACE_", "SP_SNAPSHOT_SPACE_", "SP_VOLUME_STATUS_", "SP_VOLUME_LIST_",
                                     "SP_SNAPSHOT_LIST_")
