"""What a tape drive remembers across a restart of the daemon.

With a ``state_dir`` each drive keeps one small JSON file,
``drive-<serial>.json``: the cartridge it holds (its path) and the mode
settings a host made (block length, 0 for variable; buffered mode).
The file is replaced atomically (:mod:`devemu.atomic_file`) each time one
of them changes, so ``kill -9`` leaves the old settings or the new ones.

Format::

    {"cartridge": "/srv/tapes/E01001L8.tape", "block_length": 0, "buffered_mode": 1}

A restarted drive re-opens the cartridge where the tape was (kept apart,
in :mod:`devemu.tape.position_spot`, since it changes with every motion),
and posts the POWER ON RESET unit attention.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from devemu.atomic_file import write_atomic


@dataclass(frozen=True, slots=True)
class DriveState:
    """The cartridge in the drive (or None) and the host's mode settings."""

    cartridge: Path | None
    block_length: int = 0
    buffered_mode: int = 1


def state_file(state_dir: Path, serial: str) -> Path:
    """The file a drive with ``serial`` keeps its state in."""
    return Path(state_dir) / f"drive-{serial}.json"


def save_drive_state(path: Path, state: DriveState) -> None:
    """Replace ``path`` with ``state`` (temporary file, fsync, rename, fsync of the folder)."""
    data = {
        "cartridge": str(state.cartridge) if state.cartridge else None,
        "block_length": state.block_length,
        "buffered_mode": state.buffered_mode,
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
        )
    except (TypeError, AttributeError) as err:
        raise ValueError(str(err)) from err
