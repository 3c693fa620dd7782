"""``onesp doctor`` rows for the operational pieces: the host probe and the retag API hook.

host probe   ``im/kvm-probes.d/host/system/storpool_probe.sh`` is in the remotes tree and
             executable (oned's monitor runs only executable files), and which hosts of the
             storpool clusters report SP_OURID in their template (the probe reaches a host
             with ``onehost sync --force``; host/system probes run every SYSTEM_HOST period)
retag hook   oned has an API hook on one.vm.update running ``storpool/retag``
             (``one.hookpool.info``); the bash addon's ``volumecare/vc-policy.sh`` hook is
             no longer registered
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, List

if TYPE_CHECKING:  # doctor_checks imports this module when it runs
    from ..one import Datastore
    from .doctor_checks import Doctor

PROBE = "im/kvm-probes.d/host/system/storpool_probe.sh"
HOOK_COMMAND = "storpool/retag"
HOOK_TEMPLATE = "hooks/storpool/retag.hook"
ADDON_HOOK_COMMAND = "volumecare/vc-policy.sh"


def host_probe(doctor: "Doctor", datastores: List["Datastore"]) -> None:
    from .doctor_checks import OK, WARN

    path = os.path.join(doctor.places.remotes, PROBE)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        doctor.add("host probe", WARN, "%s is missing or not executable: hosts do not report SP_OURID" % path,
                   "run install.sh, then onehost sync --force")
        return
    if doctor.one is None or not datastores:
        doctor.add("host probe", OK, "%s installed" % path)
        return
    clusters = {cluster for ds in datastores for cluster in ds.cluster_ids}
    hosts = [h for h in doctor.one.host_pool() if h.cluster_id in clusters]
    silent = [h.name for h in hosts if h.sp_ourid is None]
    if silent:
        doctor.add("host probe", WARN, "%s installed; %d of %d hosts report no SP_OURID yet: %s"
                   % (path, len(silent), len(hosts), ", ".join(silent[:5]) + (" ..." if len(silent) > 5 else "")),
                   "onehost sync --force, then wait for the next host monitoring (or onehost forceupdate)")
        return
    doctor.add("host probe", OK, "%s installed; %d hosts report SP_OURID" % (path, len(hosts)))


def retag_hook(doctor: "Doctor") -> None:
    from ..runtime.errors import OnespError
    from .doctor_checks import OK, SKIP, WARN

    if doctor.one is None:
        doctor.add("retag hook", SKIP, "oned is not usable")
        return
    try:
        hooks = doctor.one.hook_pool()
    except OnespError as exc:
        doctor.add("retag hook", WARN, "cannot list oned's hooks: %s" % exc, "run as oneadmin")
        return
    template = os.path.join(doctor.places.remotes, HOOK_TEMPLATE)
    ours = [h for h in hooks if h.type == "api" and h.call == "one.vm.update"
            and (h.command or "").rstrip("/").endswith(HOOK_COMMAND)]
    addon = [h for h in hooks if ADDON_HOOK_COMMAND in (h.command or "")]
    if addon:
        doctor.add("retag hook", WARN, "the bash addon's hook %s (id %d) still runs %s"
                   % (addon[0].name, addon[0].id, addon[0].command),
                   "onehook delete %d%s" % (addon[0].id, "" if ours else "; onehook create %s" % template))
    elif not ours:
        doctor.add("retag hook", WARN, "no API hook on one.vm.update runs %s: a VM's new VC_POLICY or "
                   "SP_QOSCLASS reaches its volumes only with onesp retag" % HOOK_COMMAND,
                   "onehook create %s (as oneadmin)" % template)
    else:
        doctor.add("retag hook", OK, "hook %s (id %d) runs %s on one.vm.update" % (ours[0].name, ours[0].id,
                                                                                  ours[0].command))
