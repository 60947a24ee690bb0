"""``[[cdrom]]`` tables of the configuration file -> served optical drives.

Keys: ``name`` (the LIO backstore name), ``image`` (ISO, CUE, NRG, MDS, CCD or TOC file;
absent or empty = an empty drive with the tray closed), ``profile``
(``auto``, ``cd``, ``dvd`` or ``bd``), ``vendor``, ``product``,
``revision``, ``serial``. Relative image paths are taken from the
configuration file's folder.

Replay policy after a restart: every optical command may run again
except START STOP UNIT, which moves the tray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devemu.cdrom.control import control_ops
from devemu.cdrom.device import CdromDevice
from devemu.cdrom.disc import Disc
from devemu.cdrom.image import load_image
from devemu.cdrom.profiles import SETTINGS
from devemu.config_table import DevicePlan, TableReader, resolve_path
from devemu.errors import ImageError
from devemu.scsi.identity import Identity
from devemu.served import ServedDevice

KNOWN_KEYS = ("name", "image", "profile", "vendor", "product", "revision", "serial")
DEFAULT_VENDOR = "DEVEMU"
DEFAULT_PRODUCT = "VIRTUAL CDROM"
DEFAULT_REVISION = "0100"
#: dev_size of the backstore: the size of a full CD (the drive answers READ CAPACITY itself).
NOMINAL_SIZE = 333000 * 2048


def check(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> DevicePlan:
    """Check one ``[[cdrom]]`` table; its image is loaded (read only) and closed again."""
    r = TableReader(table, path=path, key=key, known=KNOWN_KEYS)
    name = r.name()
    profile = r.string("profile", "auto")
    if profile not in SETTINGS:
        raise r.error("profile", f"{profile!r} is not one of {', '.join(SETTINGS)}")
    identity = r.identity(Identity(DEFAULT_VENDOR, DEFAULT_PRODUCT, DEFAULT_REVISION, name))
    image = r.string("image", "", empty=True)
    image_path = resolve_path(base_dir, image) if image else None
    if image_path is not None:
        _load(r, image_path).close()

    def build() -> list[ServedDevice]:
        device = CdromDevice(identity, profile=profile)
        if image_path is not None:
            device.disc = _load(r, image_path)
        size = device.disc.size_bytes if device.disc is not None else NOMINAL_SIZE
        return [
            ServedDevice(
                name=name,
                kind="cdrom",
                device=device,
                size=max(size, NOMINAL_SIZE),
                block_size=2048,
                control=control_ops(device),
                status=device.status,
                close=device.close,
            )
        ]

    return DevicePlan((name,), f"optical drive, {image_path or 'empty'}", build)


def _load(r: TableReader, image_path: Path) -> Disc:
    try:
        return load_image(image_path)
    except ImageError as err:
        raise r.error("image", str(err)) from None
    except OSError as err:
        raise r.error("image", f"{image_path}: {err.strerror}") from None


def from_config(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> list[ServedDevice]:
    """One optical drive for one ``[[cdrom]]`` table: :func:`check`, then build."""
    return check(table, path=path, key=key, base_dir=base_dir, state_dir=state_dir).build()
