"""What a tape drive remembers across a restart of the daemon.

With a ``state_dir`` each drive keeps one small JSON file,
``drive-<serial>.json``: the cartridge it holds (its path) and the mode
settings a host made (block length, 0 for variable; buffered mode; the
parameter bytes of the mode pages that change what the drive does with
the data, by "page/subpage" in hex: logical block protection, 0Ah/F0h,
and the programmable early warning, 10h/01h, SSC-5 8.3).
The file is replaced atomically (:mod:`devemu.atomic_file`) each time one
of them changes, so ``kill -9`` leaves the old settings or the new ones.

Format::

    {"cartridge": "/srv/tapes/E01001L8.tape", "block_length": 0, "buffered_mode": 1,
     "mode_pages": {"0a/f0": "020400c0...", "10/01": "000001dc..."}}

A restarted drive re-opens the cartridge where the tape was (kept apart,
in :mod:`devemu.tape.position_spot`, since it changes with every motion),
keeps the registrations and reservation hosts made (``drive-<serial>.pr.json``,
:mod:`devemu.scsi.persistent_reservations`: LTFS reserves the drive for
as long as it mounts a cartridge), and posts the POWER ON RESET unit
attention.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devemu.atomic_file import write_atomic


@dataclass(frozen=True, slots=True)
class DriveState:
    """The cartridge in the drive (or None) and the host's mode settings."""

    cartridge: Path | None
    block_length: int = 0
    buffered_mode: int = 1
    #: (page, subpage) -> the page's parameter bytes (after its header) as the host set them.
    mode_pages: Mapping[tuple[int, int], bytes] = field(default_factory=dict)


def state_file(state_dir: Path, serial: str) -> Path:
    """The file a drive with ``serial`` keeps its state in."""
    return Path(state_dir) / f"drive-{serial}.json"


def reservation_file(state_dir: Path, serial: str) -> Path:
    """The file a drive with ``serial`` keeps its persistent reservations in (SPC-5 5.13)."""
    return Path(state_dir) / f"drive-{serial}.pr.json"


def save_drive_state(path: Path, state: DriveState) -> None:
    """Replace ``path`` with ``state`` (temporary file, fsync, rename, fsync of the folder)."""
    data = {
        "cartridge": str(state.cartridge) if state.cartridge else None,
        "block_length": state.block_length,
        "buffered_mode": state.buffered_mode,
        "mode_pages": {
            f"{page:02x}/{subpage:02x}": body.hex()
            for (page, subpage), body in sorted(state.mode_pages.items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data).encode())


def load_drive_state(path: Path) -> DriveState | None:
    """The state in ``path``, None when there is none; ValueError when unreadable."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cartridge = data.get("cartridge")
        if cartridge is not None and not isinstance(cartridge, str):
            raise TypeError(f"cartridge is {type(cartridge).__name__}, not a path")
        return DriveState(
            cartridge=Path(cartridge) if cartridge else None,
            block_length=int(data.get("block_length", 0)),
            buffered_mode=int(data.get("buffered_mode", 1)),
            mode_pages=_mode_pages(data.get("mode_pages", {})),
        )
    except (TypeError, AttributeError) as err:
        raise ValueError(str(err)) from err


def _mode_pages(data: object) -> dict[tuple[int, int], bytes]:
    """``{"0a/f0": "hex", ...}`` as (page, subpage) -> bytes; ValueError when malformed."""
    if not isinstance(data, dict):
        raise TypeError(f"mode_pages is {type(data).__name__}, not an object")
    pages: dict[tuple[int, int], bytes] = {}
    for key, body in data.items():
        page, _, subpage = str(key).partition("/")
        if not isinstance(body, str):
            raise TypeError(f"mode page {key} is {type(body).__name__}, not hex")
        pages[int(page, 16), int(subpage, 16)] = bytes.fromhex(body)
    return pages
