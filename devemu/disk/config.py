"""``[[disk]]`` tables of the configuration file.

Keys::

    [[disk]]
    name = "disk0"              # LIO backstore name; default: the image's stem
    image = "disk0.img"         # required; relative to the config file's folder, or an
                                # NBD URI: "nbd://HOST:PORT/EXPORT", "nbd+unix:///EXPORT?socket=PATH"
    format = "qcow2"            # qcow2, vmdk, vhdx or raw: served through a qemu-storage-daemon
                                # of devemu's own (default: by the suffix; a plain file otherwise)
    size = "1G"                 # create the image (sparse) at start when it is missing
    block_size = 512            # 512 or 4096
    read_only = false           # DATA PROTECT for every writing command
    removable = false           # RMB=1: eject, load, insert another image (devemu.disk.removable)
    write_cache = true          # WCE of the caching mode page at start
    queue_depth = 32            # NBD (and qcow2...) disks: commands in flight on the connection
                                # at once, 1 to 1024 (1: one at a time, each waited for)
    vendor = "DEVEMU"           # INQUIRY strings (8 / 16 / 4 ASCII characters)
    product = "VIRTUAL DISK"
    revision = "0100"
    serial = "..."              # default: the name
    standards = "spc-4"         # INQUIRY claims: "spc-4" (SPC-4/SBC-3) or "spc-5" (SPC-5/SBC-4)

Persistent reservations with APTPL are kept in ``<state_dir>/disk-<name>.pr.json``,
a sanitize running or failed in ``<state_dir>/disk-<name>.sanitize.json``
(:mod:`devemu.disk.sanitize`).
An image in a format of :data:`~devemu.disk.storage_daemon.FORMATS` gets a
qemu-storage-daemon whose socket lives in ``<state_dir>/disk-<name>.qsd/``
(:mod:`devemu.disk.storage_daemon`).
A disk may replay every command found half-done after a restart except
COMPARE AND WRITE, whose compare would see its own earlier write.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from devemu.config_table import DevicePlan, TableReader, file_problem, reservation_problem
from devemu.disk.claims import DEFAULT_STANDARDS, DISK_CLAIMS
from devemu.disk.control import control_ops
from devemu.disk.device import BlockImage, Disk
from devemu.disk.image import BLOCK_SIZES, DiskImage, create_image
from devemu.disk.nbd import DEFAULT_QUEUE_DEPTH, MAX_QUEUE_DEPTH, NbdImage, is_nbd_uri
from devemu.disk.removable import MediumState, RemovableDisk
from devemu.disk.storage_daemon import (
    CREATE_FORMATS,
    FORMATS,
    StorageDaemon,
    create,
    format_for,
)
from devemu.errors import ConfigError, ImageError
from devemu.scsi.identity import Identity
from devemu.served import ServedDevice
from devemu.sizes import parse_size

log = logging.getLogger(__name__)

DEFAULT_VENDOR = "DEVEMU"
DEFAULT_PRODUCT = "VIRTUAL DISK"
DEFAULT_REVISION = "0100"

KNOWN_KEYS = (
    "name",
    "image",
    "format",
    "size",
    "block_size",
    "read_only",
    "removable",
    "write_cache",
    "queue_depth",
    "vendor",
    "product",
    "revision",
    "serial",
    "standards",
)


def check(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> DevicePlan:
    """Check one ``[[disk]]`` table and the files it names; create nothing.

    An existing image is opened read-only to check its size against the
    block size; a missing one needs ``size`` and a folder it can go in.
    An existing reservation state file is read.
    """
    r = TableReader(table, path=path, key=key, known=KNOWN_KEYS)
    if "image" not in table:
        raise r.error("image", "missing: the image file to serve")
    uri = r.string("image")
    if not is_nbd_uri(uri):
        uri = ""
    image_path = Path(uri) if uri else r.file_path("image", base_dir)
    fmt = None
    if "format" in table:
        fmt = r.string("format")
        if uri or fmt not in FORMATS:
            choices = ", ".join(FORMATS)
            raise r.error(
                "format",
                f"must be one of {choices} for an image file, not {fmt!r}"
                if not uri
                else "an NBD export has no image format of devemu's to choose",
            )
    if not uri:
        fmt = format_for(image_path, fmt)
    block_size = r.integer("block_size", 512)
    if block_size not in BLOCK_SIZES:
        raise r.error("block_size", f"must be 512 or 4096, not {block_size}")
    read_only = r.boolean("read_only", False)
    removable = r.boolean("removable", False)
    write_cache = r.boolean("write_cache", True)
    queue_depth = r.integer("queue_depth", DEFAULT_QUEUE_DEPTH, 1, MAX_QUEUE_DEPTH)
    dev_name = r.name(image_path.stem if not uri else None)
    identity = r.identity(Identity(DEFAULT_VENDOR, DEFAULT_PRODUCT, DEFAULT_REVISION, dev_name))
    standards = r.string("standards", DEFAULT_STANDARDS)
    if standards not in DISK_CLAIMS:
        choices = " or ".join(f'"{name}"' for name in DISK_CLAIMS)
        raise r.error("standards", f"must be {choices}, not {standards!r}")
    size_text = r.string("size", "", empty=True)
    size = 0
    if size_text:
        try:
            size = parse_size(size_text)
        except ValueError as err:
            raise r.error("size", str(err)) from None
        if size <= 0 or size % block_size:
            raise r.error("size", f"must be a positive multiple of the block size {block_size}")
    if "queue_depth" in table and not (uri or fmt):
        raise r.error("queue_depth", "only a disk served over NBD (a URI, or qcow2...) has one")
    if (uri or fmt) and removable:
        raise r.error("removable", "a removable disk serves plain image files only")
    if uri:
        if size:
            raise r.error("size", "an NBD export has the size its server gives it")
        summary = f"disk on NBD export {uri}"
    elif fmt and image_path.exists():
        problem = file_problem(image_path)
        if problem:
            raise r.error("image", problem)
        summary = f"disk {image_path} ({fmt}, through qemu-storage-daemon)"
    elif image_path.exists():
        try:
            DiskImage(image_path, block_size, read_only=True).close()
        except ImageError as err:
            raise r.error("image", str(err)) from err
        summary = f"disk {image_path}"
    else:
        if not size:
            raise r.error(
                "image",
                f"{image_path} does not exist (create it: devemu disk create, or give a size)",
            )
        problem = file_problem(image_path)
        if problem:
            raise r.error("image", problem)
        kind = f"{fmt}, " if fmt else ""
        summary = f"disk {image_path} ({kind}created at start: {size} bytes)"
    pr_path = state_dir / f"disk-{dev_name}.pr.json"
    sanitize_path = state_dir / f"disk-{dev_name}.sanitize.json"
    medium_path = state_dir / f"disk-{dev_name}.medium.json"
    try:
        medium = MediumState(medium_path)
    except ImageError as err:
        raise ConfigError(path, key, str(err)) from None
    roots = (image_path.parent, base_dir)
    problem = reservation_problem(pr_path)
    if problem:
        raise ConfigError(path, key, f"cannot keep reservation state: {problem}")

    def build() -> list[ServedDevice]:
        if not uri and not image_path.exists():
            try:
                if fmt in CREATE_FORMATS:
                    create(image_path, fmt, size)
                else:
                    create_image(image_path, size, block_size)
            except ImageError as err:
                raise r.error("image", str(err)) from err
        medium_image = _remembered_image(medium, image_path, roots) if removable else image_path
        image: BlockImage
        try:
            if uri:
                image = NbdImage(uri, block_size, read_only=read_only, queue_depth=queue_depth)
            elif fmt:
                image = _through_storage_daemon(
                    image_path,
                    fmt,
                    block_size,
                    read_only,
                    _run_dir(state_dir, dev_name),
                    queue_depth,
                )
            else:
                image = DiskImage(medium_image, block_size, read_only=read_only)
        except ImageError as err:
            raise r.error("image", str(err)) from err
        try:
            claims = DISK_CLAIMS[standards]
            if removable and isinstance(image, DiskImage):
                disk: Disk = RemovableDisk(
                    image, identity, write_cache=write_cache, claims=claims, roots=roots
                )
            else:
                disk = Disk(image, identity, write_cache=write_cache, claims=claims)
            state_dir.mkdir(parents=True, exist_ok=True)
            disk.set_reservation_file(pr_path)
        except (OSError, ImageError) as err:
            image.close()
            raise ConfigError(path, key, f"cannot keep reservation state: {err}") from err
        try:
            disk.set_sanitize_file(sanitize_path)
        except (OSError, ImageError) as err:
            disk.close()
            raise ConfigError(path, key, f"cannot keep sanitize state: {err}") from err
        _restore(disk, medium)
        return [_served(dev_name, disk, medium)]

    return DevicePlan((dev_name,), summary, build)


def _run_dir(state_dir: Path, name: str) -> Path:
    """The private folder of a disk's storage daemon socket: in the state folder, or
    under the temporary folder when that path is too long for a Unix socket."""
    run_dir = state_dir / f"disk-{name}.qsd"
    if len(os.fsencode(run_dir)) <= 90:
        return run_dir
    digest = hashlib.sha256(os.fsencode(state_dir.resolve())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"devemu-{digest}-disk-{name}.qsd"


def _through_storage_daemon(
    image_path: Path,
    fmt: str,
    block_size: int,
    read_only: bool,
    run_dir: Path,
    queue_depth: int = DEFAULT_QUEUE_DEPTH,
) -> NbdImage:
    """Start a qemu-storage-daemon on ``image_path`` and connect to its export."""
    server = StorageDaemon(image_path, fmt, run_dir, read_only=read_only)
    server.start()
    try:
        return NbdImage(
            server.uri,
            block_size,
            read_only=read_only,
            path=image_path,
            revive=server.revive,
            release=server.stop,
            queue_depth=queue_depth,
        )
    except BaseException:
        server.stop()
        raise


def _remembered_image(medium: MediumState, configured: Path, roots: tuple[Path, ...]) -> Path:
    """The image a removable disk held when it stopped, if it is still there and allowed."""
    remembered = medium.data.get("image")
    if not isinstance(remembered, str):
        return configured
    candidate = Path(remembered)
    real = Path(os.path.realpath(candidate))
    if candidate.is_file() and any(real.is_relative_to(os.path.realpath(r)) for r in roots):
        return candidate
    return configured


def _restore(disk: Disk, medium: MediumState) -> None:
    """Protection and the loaded state as they were when the daemon stopped."""
    if medium.data.get("protected"):
        disk.write_protected = True
    if isinstance(disk, RemovableDisk):
        if medium.data.get("loaded") is False:
            disk.unload()
            disk.media_events.clear()
            disk.operational_change = False
        disk.medium_changed = lambda: _save_quietly(disk, medium)


def _save_quietly(disk: Disk, medium: MediumState) -> None:
    try:
        medium.save(disk)
    except OSError as err:
        log.error("cannot record the medium state in %s: %s", medium.path, err)


def _served(name: str, disk: Disk, medium: MediumState) -> ServedDevice:
    def status() -> dict[str, Any]:
        image = disk.image
        out: dict[str, Any] = {
            "image": str(image.path),
            "capacity": disk.capacity,
            "block_size": disk.block_size,
            "read_only": disk.read_only,
            "write_protected": disk.write_protected,
            "write_cache": disk.write_cache,
            "stopped": disk.stopped,
            "sanitize": disk.sanitizer.phase.name.lower(),
        }
        if isinstance(disk, RemovableDisk):
            out.update(disk.medium_state())
        if image.fd >= 0:
            out["allocated_bytes"] = image.allocated_bytes()
        if isinstance(image, NbdImage):
            out["nbd"] = image.uri
            out["connected"] = image.connected
        return out

    return ServedDevice(
        name=name,
        kind="disk",
        device=disk,
        size=disk.capacity * disk.block_size,
        block_size=disk.block_size,
        control=control_ops(disk, medium, status),
        status=status,
        close=disk.close,
    )


def from_config(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> list[ServedDevice]:
    """One :class:`ServedDevice` for one ``[[disk]]`` table: :func:`check`, then build."""
    return check(table, path=path, key=key, base_dir=base_dir, state_dir=state_dir).build()
