"""``[[disk]]`` tables of the configuration file.

Keys::

    [[disk]]
    name = "disk0"              # LIO backstore name; default: the image's stem
    image = "disk0.img"         # required; relative to the config file's folder
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

import re
from pathlib import Path
from typing import Any

from devemu.disk.device import Disk
from devemu.disk.image import BLOCK_SIZES, DiskImage
from devemu.disk.opcodes import Opcode
from devemu.errors import ConfigError, ImageError
from devemu.scsi.command import Command
from devemu.scsi.identity import Identity
from devemu.served import ServedDevice

DEFAULT_VENDOR = "DEVEMU"
DEFAULT_PRODUCT = "VIRTUAL DISK"
DEFAULT_REVISION = "0100"

KNOWN_KEYS = (
    "name",
    "image",
    "block_size",
    "read_only",
    "write_cache",
    "vendor",
    "product",
    "revision",
    "serial",
)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def may_replay(cmd: Command) -> bool:
    """Replay policy: everything is idempotent on a disk but COMPARE AND WRITE."""
    return bool(cmd.cdb) and cmd.cdb[0] != Opcode.COMPARE_AND_WRITE


_TYPE_NAMES: dict[type, str] = {str: "a string", bool: "true or false", int: "an integer"}


def _get(
    table: dict[str, Any], name: str, kind: type, default: Any, *, path: Path, key: str
) -> Any:
    """``table[name]`` (or ``default``), refused unless it is a ``kind``."""
    value = table.get(name, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(path, f"{key}.{name}", f"must be {_TYPE_NAMES[kind]}, not {value!r}")
    return value


def from_config(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> list[ServedDevice]:
    """One :class:`ServedDevice` for one ``[[disk]]`` table."""
    for name in table:
        if name not in KNOWN_KEYS:
            raise ConfigError(
                path, f"{key}.{name}", f"unknown key (known: {', '.join(KNOWN_KEYS)})"
            )
    if "image" not in table:
        raise ConfigError(path, f"{key}.image", "missing: the image file to serve")
    image_value = _get(table, "image", str, None, path=path, key=key)
    if not image_value:
        raise ConfigError(path, f"{key}.image", "must be a non-empty string")
    image_path = Path(image_value).expanduser()
    if not image_path.is_absolute():
        image_path = base_dir / image_path
    block_size = _get(table, "block_size", int, 512, path=path, key=key)
    if block_size not in BLOCK_SIZES:
        raise ConfigError(path, f"{key}.block_size", f"must be 512 or 4096, not {block_size}")
    read_only = _get(table, "read_only", bool, False, path=path, key=key)
    write_cache = _get(table, "write_cache", bool, True, path=path, key=key)
    dev_name = _get(table, "name", str, image_path.stem, path=path, key=key)
    if not _NAME.match(dev_name):
        raise ConfigError(
            path, f"{key}.name", f"{dev_name!r}: use 1 to 64 of A-Z a-z 0-9 _ - (a LIO name)"
        )
    strings = {
        field: _get(table, field, str, default, path=path, key=key)
        for field, default in (
            ("vendor", DEFAULT_VENDOR),
            ("product", DEFAULT_PRODUCT),
            ("revision", DEFAULT_REVISION),
            ("serial", dev_name),
        )
    }
    for field, value in strings.items():
        try:
            Identity(**{field: value})
        except ValueError as err:
            reason = str(err) if "characters" in str(err) else f"{value!r} is not printable ASCII"
            raise ConfigError(path, f"{key}.{field}", reason) from err
    identity = Identity(**strings)
    if not image_path.exists():
        raise ConfigError(
            path, f"{key}.image", f"{image_path} does not exist (create it: devemu disk create)"
        )
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
            may_replay=may_replay,
            control={"status": lambda args: status()},
            status=status,
            close=disk.close,
        )
    ]
