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

Persistent reservations with APTPL are kept in ``<state_dir>/disk-<name>.pr.json``.
A disk may replay every command found half-done after a restart except
COMPARE AND WRITE, whose compare would see its own earlier write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devemu.config_table import TableReader
from devemu.disk.device import Disk
from devemu.disk.image import BLOCK_SIZES, DiskImage, create_image
from devemu.errors import ConfigError, ImageError
from devemu.scsi.identity import Identity
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
)


def from_config(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> list[ServedDevice]:
    """One :class:`ServedDevice` for one ``[[disk]]`` table."""
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
    size_text = r.string("size", "", empty=True)
    size = 0
    if size_text:
        try:
            size = parse_size(size_text)
        except ValueError as err:
            raise r.error("size", str(err)) from None
        if size <= 0 or size % block_size:
            raise r.error("size", f"must be a positive multiple of the block size {block_size}")
    if not image_path.exists():
        if not size:
            raise ConfigError(
                path,
                f"{key}.image",
                f"{image_path} does not exist (create it: devemu disk create, or give a size)",
            )
        try:
            create_image(image_path, size, block_size)
        except ImageError as err:
            raise ConfigError(path, f"{key}.image", str(err)) from err
    try:
        image = DiskImage(image_path, block_size, read_only=read_only)
    except ImageError as err:
        raise ConfigError(path, f"{key}.image", str(err)) from err
    try:
        disk = Disk(image, identity, write_cache=write_cache)
        state_dir.mkdir(parents=True, exist_ok=True)
        disk.set_reservation_file(state_dir / f"disk-{dev_name}.pr.json")
    except (OSError, ImageError) as err:
        image.close()
        raise ConfigError(path, f"{key}", f"cannot keep reservation state: {err}") from err

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

    return [
        ServedDevice(
            name=dev_name,
            kind="disk",
            device=disk,
            size=disk.capacity * block_size,
            block_size=block_size,
            control={"status": lambda args: status()},
            status=status,
            close=disk.close,
        )
    ]
