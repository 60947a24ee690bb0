"""``[[cdrom]]`` tables of the configuration file -> served optical drives.

Keys: ``name`` (the LIO backstore name), ``image`` (ISO, CUE, NRG, MDS, CCD or TOC file;
absent or empty = an empty drive with the tray closed), ``profile``
(``auto``, ``cd``, ``dvd`` or ``bd``), ``vendor``, ``product``,
``revision``, ``serial``. Relative image paths are taken from the
configuration file's folder.

A drive that records: ``burn_dir`` (the folder written discs are kept
in, each in a folder ``<name>-NNN`` of its own; default
``<state_dir>/discs`` when ``blank`` is given), ``blank`` (``cd-r``,
``cd-rw``, ``dvd+rw``, ``dvd-rw`` or ``bd-re``: the drive starts with a blank
disc of that type instead of ``image``) and ``capacity`` (its size, such as
``650M``; a full disc of its type by default: an 80-minute CD). A restarted
daemon puts back the recordable disc the drive held
(:func:`devemu.cdrom.recording.current_recording`).

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
from devemu.cdrom.media import BlankMedium, sectors_for
from devemu.cdrom.profiles import SETTINGS
from devemu.cdrom.recording import Recording, current_recording, new_recording, set_current
from devemu.config_table import DevicePlan, TableReader, folder_problem, resolve_path
from devemu.errors import ImageError
from devemu.scsi.identity import Identity
from devemu.served import ServedDevice
from devemu.sizes import parse_size

KNOWN_KEYS = (
    "name",
    "image",
    "profile",
    "vendor",
    "product",
    "revision",
    "serial",
    "burn_dir",
    "blank",
    "capacity",
)
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
    blank = r.string("blank", "", empty=True)
    medium: BlankMedium | None = None
    sectors = 0
    if blank:
        if image_path is not None:
            raise r.error("blank", "a drive starts with an image or a blank disc, not both")
        try:
            medium = BlankMedium.from_label(blank)
        except ValueError as err:
            raise r.error("blank", str(err)) from None
        capacity = r.string("capacity", "", empty=True)
        try:
            sectors = sectors_for(medium, parse_size(capacity) if capacity else None)
        except ValueError as err:
            raise r.error("capacity", str(err)) from None
    elif r.string("capacity", "", empty=True):
        raise r.error("capacity", "a capacity goes with blank (the type of the blank disc)")
    burn = r.string("burn_dir", "", empty=True)
    burn_root = resolve_path(base_dir, burn) if burn else (state_dir / "discs" if blank else None)
    if burn_root is not None:
        problem = folder_problem(burn_root)
        if problem:
            raise r.error("burn_dir", problem)
    if image_path is not None:
        _load(r, image_path).close()

    def build() -> list[ServedDevice]:
        device = CdromDevice(identity, profile=profile, burn_root=burn_root, name=name)
        rec = _recording(r, burn_root, name, medium, sectors)
        if rec is not None:
            device.recording = rec
            device.disc = rec.disc()
        elif image_path is not None:
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

    what = f"blank {medium.label}" if medium is not None else str(image_path or "empty")
    return DevicePlan((name,), f"optical drive, {what}", build)


def _recording(
    r: TableReader, root: Path | None, name: str, medium: BlankMedium | None, sectors: int
) -> Recording | None:
    """The recordable disc the drive held before a restart, else a new blank one."""
    if root is None:
        return None
    try:
        rec = current_recording(root, name)
        if rec is None and medium is not None:
            rec = new_recording(root, name, medium, sectors)
            set_current(root, name, rec)
    except ImageError as err:
        raise r.error("burn_dir", str(err)) from None
    except OSError as err:
        raise r.error("burn_dir", f"{root}: {err.strerror}") from None
    return rec


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
