"""``[[disk]]`` tables of the configuration file.

Keys::

    [[disk]]
    name = "disk0"              # LIO backstore name; default: the image's stem
    image = "disk0.img"         # required; relative to the config file's folder
    size = "1G"                 # create the image (sparse) at start when it is missing
    block_size = 512            # 512 or 4096
    read_only = false           # DATA PROTECT for every writing command
    write_cache = true          # WCE of the caching mode page at start
    vendor = "DEVEMU"           # INQUIRY strings (8 / 16 / 4 ASCII characters)
    product = "VIRTUAL DISK"
    revision = "0100"
    serial = "..."              # default: the name
    standards = "spc-4"         # INQUIRY claims: "spc-4" (SPC-4/SBC-3) or "spc-5" (SPC-5/SBC-4)

Persistent reservations with APTPL are kept in ``<state_dir>/disk-<name>.pr.json``.
A disk may replay every command found half-done after a restart except
COMPARE AND WRITE, whose compare would see its own earlier write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devemu.config_table import DevicePlan, TableReader, file_problem
from devemu.disk.claims import DEFAULT_STANDARDS, DISK_CLAIMS
from devemu.disk.device import Disk
from devemu.disk.image import BLOCK_SIZES, DiskImage, create_image
from devemu.errors import ConfigError, ImageError
from devemu.scsi.identity import Identity
from devemu.scsi.persistent_reservations import PersistentReservations
from devemu.served import ServedDevice
from devemu.sizes import parse_size

DEFAULT_VENDOR = "DEVEMU"
DEFAULT_PRODUCT = "VIRTUAL DISK"
DEFAULT_REVISION = "0100"

KNOWN_KEYS = (
    "name",
    "image",
    "size",
    "block_size",
    "read_only",
    "write_cache",
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
    image_path = r.file_path("image", base_dir)
    block_size = r.integer("block_size", 512)
    if block_size not in BLOCK_SIZES:
        raise r.error("block_size", f"must be 512 or 4096, not {block_size}")
    read_only = r.boolean("read_only", False)
    write_cache = r.boolean("write_cache", True)
    dev_name = r.name(image_path.stem)
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
    if image_path.exists():
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
        summary = f"disk {image_path} (created at start: {size} bytes)"
    pr_path = state_dir / f"disk-{dev_name}.pr.json"
    try:
        problem = file_problem(pr_path)
        if problem is None and pr_path.is_file():
            PersistentReservations(pr_path)
    except (OSError, ImageError) as err:
        problem = str(err)
    if problem:
        raise ConfigError(path, key, f"cannot keep reservation state: {problem}")

    def build() -> list[ServedDevice]:
        if not image_path.exists():
            try:
                create_image(image_path, size, block_size)
            except ImageError as err:
                raise r.error("image", str(err)) from err
        try:
            image = DiskImage(image_path, block_size, read_only=read_only)
        except ImageError as err:
            raise r.error("image", str(err)) from err
        try:
            disk = Disk(image, identity, write_cache=write_cache, claims=DISK_CLAIMS[standards])
            state_dir.mkdir(parents=True, exist_ok=True)
            disk.set_reservation_file(pr_path)
        except (OSError, ImageError) as err:
            image.close()
            raise ConfigError(path, key, f"cannot keep reservation state: {err}") from err
        return [_served(dev_name, image_path, image, disk)]

    return DevicePlan((dev_name,), summary, build)


def _served(name: str, image_path: Path, image: DiskImage, disk: Disk) -> ServedDevice:
    def status() -> dict[str, Any]:
        return {
            "image": str(image_path),
            "capacity": disk.capacity,
            "block_size": disk.block_size,
            "read_only": disk.read_only,
            "write_cache": disk.write_cache,
            "stopped": disk.stopped,
            "allocated_bytes": image.allocated_bytes(),
        }

    return ServedDevice(
        name=name,
        kind="disk",
        device=disk,
        size=disk.capacity * disk.block_size,
        block_size=disk.block_size,
        control={"status": lambda args: status()},
        status=status,
        close=disk.close,
    )


def from_config(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> list[ServedDevice]:
    """One :class:`ServedDevice` for one ``[[disk]]`` table: :func:`check`, then build."""
    return check(table, path=path, key=key, base_dir=base_dir, state_dir=state_dir).build()
