"""Bring the ``qc`` and ``vc-policy`` tags of this instance's volumes in line with oned, now.

A VM's VC_POLICY and SP_QOSCLASS, an image's SP_QOSCLASS and a datastore's SP_QOSCLASS feed
the tags the actions write when they make or link a volume. When one of them changes later
(``onevm update``, ``oneimage update``, ``onedatastore update``) the volumes keep the old
tags until a redeploy; ``onesp retag`` and the ``one.vm.update`` API hook set them again.

What each volume should carry is computed by the functions the actions use (``disks.qos_of``,
``VM.vc_policy``), never a second copy of the precedence:

- every StorPool volume of a VM (``disks.vm_volumes``, plus its NVRAM volume when it has one):
  ``qc`` by the precedence of the action that made it, ``vc-policy`` the VM's VC_POLICY;
- with ``--datastore`` or ``--all``, also the own volume of every image no VM holds as a
  persistent disk: ``qc`` by image > its datastore > DEFAULT_QOSCLASS (its ``vc-policy`` is
  left alone: the actions never write one there).

Snapshots are not retagged: their tags record what the volume carried when they were taken.
Only volumes tagged as this instance's (``virt``/``nloc``) are changed; another instance's
volume of the same name is listed as skipped. The context ISO is considered only with
TAG_CONTEXT_ISO on, as only then the actions tag it.

Cost: for one VM, ``one.vm.info``, ``one.datastore.info`` of its datastores and
``one.image.info`` of its persistent images, then one StorPool ``Volume`` read per volume of
that VM — never a cluster listing, since the hook runs on every ``one.vm.update``. For a
datastore or everything: ``one.vmpool.infoextended``, ``one.imagepool.info`` and
``one.datastorepool.info``, and one ``VolumesList`` per StorPool API endpoint, whatever
the number of VMs. Then one ``VolumeUpdate`` (tags only) per volume that changes.

The changes of one VM (or one image) are one unit: if a ``VolumeUpdate`` fails, the unit's
earlier updates are undone and the next unit goes on; the run then exits non-zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple, TypeVar

from . import disks, volumes
from .actioncontext import Context
from .errors import NotFound, OnespError
from .naming import Names
from .tagging import QOS_TAG, VC_POLICY_TAG, check_tag

if TYPE_CHECKING:
    from ..one import Datastore, Image, Vm
    from .config import Config
    from .storpoolanswers import Volume

#: VM state DONE: its volumes are gone (or going).
_DONE = 6
_View = TypeVar("_View")


@dataclass(frozen=True)
class Target:
    """A volume and the managed tags it should carry ("" = none); ``unit`` groups the
    volumes changed together, ``datastore`` is the one whose StorPool API holds it."""

    volume: str
    owner: str
    unit: str
    wanted: Mapping[str, str]
    datastore: Optional["Datastore"]
    optional: bool = False  # may not exist (the NVRAM volume of a VM without UEFI): not listed as absent


@dataclass(frozen=True)
class Change:
    volume: str
    owner: str
    tag: str
    old: str
    new: str


@dataclass
class Outcome:
    changes: List[Change] = field(default_factory=list)
    checked: int = 0
    absent: List[str] = field(default_factory=list)  # expected volumes that do not exist (yet)
    skipped: List[str] = field(default_factory=list)  # "<volume>: reason"
    failed: List[str] = field(default_factory=list)  # one line per unit that could not be done

    def as_dict(self) -> Dict[str, Any]:
        return {"changes": [asdict(c) for c in self.changes], "checked": self.checked, "absent": self.absent,
                "skipped": self.skipped, "failed": self.failed}


def tag_value(value: Optional[str], tag: str) -> str:
    """A tag value as the actions write it: stripped and validated (a value StorPool does not
    accept is refused here as it is at deploy), "" when unset."""
    text = (value or "").strip()
    if text:
        check_tag(tag, text)
    return text


def vm_targets(cfg: "Config", vm: "Vm", datastore: Callable[[int], Optional["Datastore"]],
               image: Callable[[int], Optional["Image"]]) -> List[Target]:
    """What every StorPool volume of ``vm`` should carry (``datastore(id)`` and ``image(id)``
    answer None for an object oned no longer has)."""
    names = cfg.names
    system_ds = datastore(vm.system_ds_id) if vm.system_ds_id is not None else None
    on_storpool = disks.system_on_storpool(vm, datastore)
    vc_policy = tag_value(vm.vc_policy, VC_POLICY_TAG)
    unit = "VM %d" % vm.id
    by_id = {d.disk_id: d for d in vm.disks}
    targets: List[Target] = []
    for volume in disks.vm_volumes(names, vm, on_storpool, include_context=cfg.TAG_CONTEXT_ISO):
        disk = by_id.get(volume.disk_id)
        image_ds = datastore(disk.datastore_id) if disk is not None and disk.datastore_id is not None else None
        img = None
        if volume.type_tag in ("PERS", "PERSRO") and disk is not None and disk.image_id is not None:
            img = image(disk.image_id)
        qc = tag_value(disks.qos_of(cfg, vm, volume, system_ds, img, image_ds), QOS_TAG)
        home = system_ds if disk is None or disk.is_volatile else (image_ds or system_ds)
        targets.append(Target(volume.name, "disk %d of VM %d" % (volume.disk_id, vm.id), unit,
                              {QOS_TAG: qc, VC_POLICY_TAG: vc_policy}, home))
    if on_storpool:
        nvram = disks.DiskVolume(-1, names.nvram(vm.id), "NVRAM", False, True)
        qc = tag_value(disks.qos_of(cfg, vm, nvram, system_ds), QOS_TAG)
        targets.append(Target(nvram.name, "NVRAM of VM %d" % vm.id, unit, {QOS_TAG: qc, VC_POLICY_TAG: vc_policy},
                              system_ds, optional=True))
    return targets


def image_targets(cfg: "Config", images: Iterable["Image"], datastore: Callable[[int], Optional["Datastore"]],
                  held: Set[str]) -> List[Target]:
    """The own volume of each image on a storpool datastore that no VM holds as a persistent
    disk (``held``: those volumes follow their VM, even when the VM's tags cannot be computed)."""
    targets = []
    for img in images:
        ds = datastore(img.datastore_id)
        name = disks.stored_image_volume(cfg.names, img, ds)
        if name is None or name in held:
            continue
        qc = tag_value(disks.qos_image(cfg, img, ds), QOS_TAG)
        targets.append(Target(name, "image %d" % img.id, "image %d" % img.id, {QOS_TAG: qc}, ds))
    return targets


def differences(target: Target, tags: Mapping[str, str]) -> List[Change]:
    return [Change(target.volume, target.owner, key, tags.get(key, ""), value)
            for key, value in target.wanted.items() if tags.get(key, "") != value]


class Retagger:
    """One run of ``onesp retag`` (or of the hook) against one oned and its StorPool clusters."""

    def __init__(self, ctx: Context, dry_run: bool = False) -> None:
        self.ctx = ctx
        self.cfg = ctx.base_config
        self.dry_run = dry_run
        self.outcome = Outcome()
        self._datastores: Dict[int, Optional[Datastore]] = {}  # None: oned no longer has it
        self._images: Dict[int, Optional[Image]] = {}
        self._listed: Dict[Tuple[str, int], Dict[str, Volume]] = {}  # endpoint -> VolumesList by name

    # -- oned lookups -------------------------------------------------------------------------------
    def _fetch(self, cache: Dict[int, Optional[_View]], fetch: Callable[[int], _View], obj_id: int) -> Optional[_View]:
        if obj_id not in cache:
            try:
                cache[obj_id] = fetch(obj_id)
            except NotFound:
                cache[obj_id] = None
        return cache[obj_id]

    def datastore(self, ds_id: int) -> Optional["Datastore"]:
        return self._fetch(self._datastores, self.ctx.one.datastore, ds_id)

    def image(self, image_id: int) -> Optional["Image"]:
        return self._fetch(self._images, self.ctx.one.image, image_id)

    # -- selections ---------------------------------------------------------------------------------
    def vm(self, vm_id: int) -> Outcome:
        """Retag the volumes of one VM, reading each of them (no listing)."""
        with self.ctx.step("read VM %d" % vm_id):
            vm = self.ctx.one.vm(vm_id)
        if vm.state != _DONE:
            self._unit(vm_targets(self.cfg, vm, self.datastore, self.image), listed=False)
        return self.outcome

    def pools(self, datastore_id: Optional[int] = None) -> Outcome:
        """Retag every VM and free image (or those touching datastore ``datastore_id``), from
        the three pools and one volume listing per StorPool endpoint."""
        one = self.ctx.one
        with self.ctx.step("read the datastore pool"):
            for ds in one.datastore_pool():
                self._datastores[ds.id] = ds
        if datastore_id is not None and datastore_id not in self._datastores:
            raise NotFound("oned has no datastore %d" % datastore_id)
        with self.ctx.step("read the image pool"):
            images = one.image_pool()
        self._images.update((img.id, img) for img in images)
        with self.ctx.step("read the VM pool"):
            vms = [vm for vm in one.vm_pool() if vm.state != _DONE]
        known = self._datastores.get
        held: Set[str] = set()
        units: List[List[Target]] = []
        for vm in vms:
            held.update(_persistent_volumes(self.cfg.names, vm))
            try:
                targets = vm_targets(self.cfg, vm, known, self._images.get)
            except OnespError as exc:
                self.outcome.failed.append("VM %d: %s: %s" % (vm.id, exc.kind, exc))
                continue
            if datastore_id is None or _touches(vm, datastore_id):
                units.append(targets)
        for img in image_targets(self.cfg, images, known, held):
            if datastore_id is None or img.datastore is not None and img.datastore.id == datastore_id:
                units.append([img])
        for targets in units:
            self._unit(targets, listed=True)
        return self.outcome

    # -- applying -----------------------------------------------------------------------------------
    def _current(self, target: Target, listed: bool) -> Optional[Volume]:
        self._use(target)
        if not listed:
            with self.ctx.step("read volume %s" % target.volume):
                return self.ctx.sp.volume_or_none(target.volume)
        key = self.ctx.config.endpoint
        if key not in self._listed:
            with self.ctx.step("list the volumes at %s:%d" % key):
                self._listed[key] = {v["name"]: v for v in self.ctx.sp.volumes()}
        return self._listed[key].get(target.volume)

    def _use(self, target: Target) -> None:
        if target.datastore is not None:
            self.ctx.use_datastore(target.datastore)
        else:
            self.ctx.config = self.cfg

    def _unit(self, targets: List[Target], listed: bool) -> None:
        """Apply the changes of one VM or image; undo them all if one fails."""
        planned: List[Tuple[Target, Dict[str, str], List[Change]]] = []
        for target in targets:
            current = self._current(target, listed)
            if current is None:
                if not target.optional:
                    self.outcome.absent.append(target.volume)
                continue
            self.outcome.checked += 1
            tags = current.get("tags") or {}
            if not self.ctx.tags.is_ours(tags):
                self.outcome.skipped.append("%s: not tagged as this instance's (%s=%s)"
                                            % (target.volume, self.ctx.tags.loc_key, tags.get(self.ctx.tags.loc_key, "")))
                continue
            found = differences(target, tags)
            if found:
                planned.append((target, tags, found))
        if self.dry_run:
            for _, _, found in planned:
                self.outcome.changes.extend(found)
            return
        done: List[Change] = []
        try:
            for target, tags, found in planned:
                self._use(target)
                volumes.retag(self.ctx, target.volume, {c.tag: c.new for c in found}, previous=tags)
                done.extend(found)
        except OnespError as exc:
            step = getattr(exc, "step", None) or self.ctx.current_step
            undone = self.ctx.undo_stack.run()
            self.outcome.failed.append("%s: %s: %s: %s (rolled back %d step(s))"
                                       % (targets[0].unit, step, exc.kind, exc, undone))
            return
        self.ctx.undo_stack.drop()
        self.outcome.changes.extend(done)


def _persistent_volumes(names: Names, vm: "Vm") -> List[str]:
    """The image volumes ``vm`` holds as persistent disks (from SOURCE, whatever else is wrong with the VM)."""
    found = []
    for disk in vm.disks:
        if disk.source and disk.image_id is not None and not disk.clone and not disk.is_cdrom:
            try:
                found.append(names.volume_from_source(disk.source))
            except OnespError:
                continue
    return found


def _touches(vm: "Vm", datastore_id: int) -> bool:
    """The VM runs on system datastore ``datastore_id`` or has a disk from an image in it."""
    return vm.system_ds_id == datastore_id or any(d.datastore_id == datastore_id for d in vm.disks)
