"""``[[cdrom]]`` tables of the configuration file -> served optical drives.

Keys: ``name`` (the LIO backstore name), ``image`` (ISO or CUE file;
absent or empty = an empty drive with the tray closed), ``profile``
(``auto``, ``cd``, ``dvd`` or ``bd``), ``vendor``, ``product``,
``revision``, ``serial``. Relative image paths are taken from the
configuration file's folder.

Replay policy after a restart: every optical command may run again
except START STOP UNIT, which moves the tray.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from devemu.cdrom.control import control_ops
from devemu.cdrom.device import CdromDevice
from devemu.cdrom.image import load_image
from devemu.cdrom.profiles import SETTINGS
from devemu.errors import ConfigError, ImageError
from devemu.scsi.command import Command
from devemu.scsi.identity import Identity
from devemu.served import ServedDevice

KNOWN_KEYS = ("name", "image", "profile", "vendor", "product", "revision", "serial")
DEFAULTS = {"vendor": "DEVEMU", "product": "VIRTUAL CDROM", "revision": "0100"}
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
START_STOP_UNIT = 0x1B
#: dev_size of the backstore: the size of a full CD (the drive answers READ CAPACITY itself).
NOMINAL_SIZE = 333000 * 2048


def may_replay(cmd: Command) -> bool:
    """Everything but START STOP UNIT may be replayed after a restart."""
    return cmd.opcode != START_STOP_UNIT


def _string(table: dict[str, Any], field: str, default: str, path: Path, key: str) -> str:
    value = table.get(field, default)
    if not isinstance(value, str):
        raise ConfigError(path, f"{key}.{field}", f"must be a string, not {type(value).__name__}")
    return value


def from_config(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> list[ServedDevice]:
    """One optical drive for one ``[[cdrom]]`` table."""
    for field in table:
        if field not in KNOWN_KEYS:
            raise ConfigError(
                path, f"{key}.{field}", f"unknown key (known: {', '.join(KNOWN_KEYS)})"
            )
    name = _string(table, "name", "", path, key)
    if not _NAME.match(name):
        raise ConfigError(path, f"{key}.name", f"{name!r}: use 1 to 64 of A-Z a-z 0-9 _ -")
    profile = _string(table, "profile", "auto", path, key)
    if profile not in SETTINGS:
        raise ConfigError(
            path, f"{key}.profile", f"{profile!r} is not one of {', '.join(SETTINGS)}"
        )
    strings = {f: _string(table, f, d, path, key) for f, d in DEFAULTS.items()}
    serial = _string(table, "serial", name, path, key)
    try:
        identity = Identity(serial=serial, **strings)
    except ValueError as err:
        raise ConfigError(path, key, str(err)) from None
    device = CdromDevice(identity, profile=profile)
    image = _string(table, "image", "", path, key)
    if image:
        image_path = Path(image).expanduser()
        if not image_path.is_absolute():
            image_path = base_dir / image_path
        try:
            disc = load_image(image_path)
        except ImageError as err:
            raise ConfigError(path, f"{key}.image", str(err)) from None
        device.disc = disc
    size = device.disc.size_bytes if device.disc is not None else NOMINAL_SIZE
    return [
        ServedDevice(
            name=name,
            kind="cdrom",
            device=device,
            size=max(size, NOMINAL_SIZE),
            block_size=2048,
            may_replay=may_replay,
            control=control_ops(device),
            status=device.status,
            close=device.close,
        )
    ]
