"""ds mkfs: an empty raw image of IMAGE/SIZE MB, with a filesystem when IMAGE/FS asks for one.

The volume ``<px>-img-<id>`` is created in one call with the datastore's template and the image
tags. A filesystem is made on the worker (a bridge, or the front-end) with a fixed command per
filesystem type; nothing from the image or datastore template reaches its arguments; a volume
that existed before this run is never formatted (``keep_adopted``). For a
disk save-as target (FORMAT ``save_as``) only the SOURCE is printed: tm cpds writes the volume
later. Prints the SOURCE.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Dict, List

from ...runtime import attaching, volumes
from ...runtime.errors import AlreadyExists, BadInput, ConfigError
from . import _common as common
from . import _worker as worker

#: Where this action stops rolling back: its first deletion (see volumes.PointOfNoReturn).
POINT_OF_NO_RETURN = volumes.FIRST_DELETION

if TYPE_CHECKING:
    from ...runtime.actioncontext import Context
    from ...runtime.config import Config

#: The filesystems mkfs makes (OpenNebula's default SUPPORTED_FS) and the fixed options for each:
#: force (the device is not a partition) and quiet.
FILESYSTEMS: Dict[str, List[str]] = {
    "ext2": ["-F", "-q"],
    "ext3": ["-F", "-q"],
    "ext4": ["-F", "-q"],
    "xfs": ["-f", "-q"],
}


def run(ctx: Context) -> str:
    image, datastore = common.action_image(ctx)
    source = common.source_line(ctx, datastore.id, image.id)
    if image.driver and image.driver.lower() != "raw":
        raise BadInput("image DRIVER is %s; StorPool images are raw" % image.driver)
    if image.is_save_as:
        ctx.log.info("image %d is a save-as target; tm cpds will write %s", image.id, source)
        return source
    if (image.format or "raw").lower() != "raw":
        raise BadInput("image FORMAT is %s; StorPool images are raw" % image.format)
    if image.size <= 0:
        raise BadInput("invalid image SIZE %d MB" % image.size)
    filesystem = (image.fs or "").strip().lower()
    if filesystem and filesystem not in FILESYSTEMS:
        raise BadInput("filesystem %s is not supported; use one of %s" % (filesystem, ", ".join(sorted(FILESYSTEMS))))
    volume = ctx.names.image(image.id)
    created = volumes.create(ctx, volume, size_mb=image.size, template=ctx.names.template(datastore.id),
                             tags=common.image_tags(ctx, image, datastore), owner=ctx.tags.instance())
    if filesystem:
        node = worker.choose(ctx, datastore.bridge_list, image.id)
        device = node.attach(ctx, volume)
        if created:
            with ctx.step("make a %s filesystem on %s on %s" % (filesystem, volume, node.name)):
                node.run_long(mkfs_argv(ctx.config, filesystem) + [device], what="mkfs -t %s" % filesystem)
        else:
            keep_adopted(ctx, node, device, volume, filesystem)
        attaching.detach(ctx, volume)
    return source


def keep_adopted(ctx: Context, node: worker.Worker, device: str, volume: str, filesystem: str) -> None:
    """Accept a volume this run did not create only if it holds exactly the wanted filesystem.

    A volume that already exists is formatted never: its tags say only which OpenNebula it
    belongs to, not that nothing was written since, and oned never runs mkfs twice for one
    image id once it has succeeded; so it is an earlier run's result, or data (an image of a
    re-created oned whose ids start again, a hand re-run for an image in use, a partitioned
    or reformatted disk) that a format would destroy.
    """
    with ctx.step("look for the %s filesystem on %s" % (filesystem, volume)):
        found = _filesystem_on(node, device)
        if found != filesystem:
            raise AlreadyExists("volume %s exists and holds %s, not a %s filesystem; an existing volume is never "
                                "formatted (remove it if it holds nothing and run again)"
                                % (volume, "a %s filesystem" % found if found else "no filesystem blkid knows",
                                   filesystem))
    ctx.log.info("%s already holds a %s filesystem from an earlier run; kept", volume, filesystem)


def _filesystem_on(node: worker.Worker, device: str) -> str:
    """The filesystem type on ``device`` (blkid), empty when none: a re-run never formats twice."""
    return node.host.run(["sh", "-c", 'blkid -o value -s TYPE -- "$1" || true', "sh", device],
                         what="blkid %s" % device).strip()


def mkfs_argv(cfg: Config, filesystem: str) -> List[str]:
    argv = shlex.split(cfg.MKFS)
    if not argv:
        raise ConfigError("MKFS is empty")
    return argv + ["-t", filesystem] + FILESYSTEMS[filesystem]
