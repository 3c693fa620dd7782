"""What the StorPool API answers, as far as onesp reads it: typed records of its JSON.

The API sends more (see the StorPool API reference). ``total=False``: an emulator or an older
StorPool may leave a field out, so readers use ``.get()`` where the answer may lack it. The
client (``storpoolapi.StorPool``) gives the decoded JSON these types in its typed methods.
"""

from __future__ import annotations

from typing import Any, Dict, List, TypedDict, Union

ClientId = Union[int, str]
#: An iops or bw limit: a number, or "-" for none (StorPool answers "-"; "-" in a request clears one).
Limit = Union[int, str]


class Volume(TypedDict, total=False):
    """A volume's summary (``Volume``, ``VolumesList``; ``VolumeGetInfo`` and ``VolumesSpace`` add fields)."""

    name: str
    globalId: str
    parentName: str  # "" without a parent
    templateName: str  # "" without a template
    size: int  # bytes
    replication: int
    placeAll: str
    placeTail: str
    placeHead: str
    iops: Limit
    bw: Limit
    limitType: str
    reuseServer: bool
    creationTimestamp: int
    tags: Dict[str, str]
    clusterId: str
    clusterName: str
    storedSize: int  # VolumesSpace, SnapshotsSpace
    spaceUsed: int  # VolumesSpace, SnapshotsSpace


class Snapshot(Volume, total=False):
    """A snapshot's summary (``Snapshot``, ``SnapshotsList``, ``VolumeListSnapshots``)."""

    onVolume: str  # the volume it was taken from while that exists, else "-"
    autoName: bool
    bound: bool
    deleted: bool
    transient: bool
    targetDeleteDate: int  # UNIX time of its scheduled deletion; 0 or absent: none
    recoveringFromRemote: bool


class Attachment(TypedDict, total=False):
    """One item of ``AttachmentsList``."""

    volume: str
    snapshot: bool
    client: int
    rights: str  # rw, ro
    pos: int
    globalId: str


class Template(TypedDict, total=False):
    """A volume template (``VolumeTemplateDescribe``, ``VolumeTemplatesList``)."""

    id: int
    name: str
    parentName: str
    placeAll: str
    placeTail: str
    placeHead: str
    replication: int
    size: Limit
    iops: Limit
    bw: Limit
    limitType: str
    reuseServer: bool


class TemplateStatus(TypedDict, total=False):
    """One item of ``VolumeTemplatesStatus``: a template's capacity and use."""

    id: int
    name: str
    placeAll: str
    placeTail: str
    placeHead: str
    replication: int
    size: int
    totalSize: int
    storedSize: int
    onDiskSize: int
    availablePlaceAll: int
    availablePlaceTail: int
    availablePlaceHead: int
    capacityPlaceAll: int
    capacityPlaceTail: int
    capacityPlaceHead: int
    stored: Dict[str, Any]  # capacity, free, internal and the same per placement group: read by monitoring


class Made(TypedDict, total=False):
    """The answer of a call that makes an object (VolumeCreate, VolumeSnapshot, VolumeBackup, ...)."""

    ok: bool
    generation: int
    name: str
    globalId: str
    autoName: str  # VolumeSnapshot without a name
    snapshotGlobalId: str
    snapshotVisibleVolumeId: int
    remoteId: str  # VolumeBackup: the backup's id at the location


class GroupMember(TypedDict, total=False):
    volume: str
    volumeGlobalId: str
    snapshot: str
    snapshotGlobalId: str
    remoteId: str


class GroupMade(TypedDict, total=False):
    """The answer of VolumesGroupSnapshot."""

    ok: bool
    generation: int
    snapshots: List[GroupMember]
