"""The library's inventory on disk: one JSON file, replaced atomically.

Which cartridge sits in which element, where it came from, and which
cartridges the operator has taken out must survive a crash at any
instant. The file is never rewritten in place: a new version goes to a
temporary file in the same folder, is flushed with ``fsync``, renamed
over the old one (``rename`` is atomic on POSIX file systems) and the
folder is flushed so the rename itself is durable. A reader therefore
always finds either the complete old version or the complete new one;
a temporary left behind by a kill is ignored and replaced next time.

Format (``version`` 1)::

    {"format": "devemu-library", "version": 1,
     "elements": [{"address": 1024, "barcode": "E01001L8", "file": "E01001L8.tape",
                   "source": null, "operator_placed": false}, ...],
     "exported": ["E01009L8"]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devemu.atomic_file import write_atomic
from devemu.errors import ImageError

FORMAT = "devemu-library"
VERSION = 1


@dataclass(frozen=True, slots=True)
class Occupant:
    """A cartridge in an element.

    ``file`` is the cartridge file's name inside the library's cartridge
    folder. ``source`` is the element address it was last moved from
    (SMC-3 SVALID + source storage element address), None when unknown
    (placed by the configuration or by the operator). ``operator_placed``
    is true for a cartridge the operator put into an import/export
    element (SMC-3 IMPEXP).
    """

    barcode: str
    file: str
    source: int | None = None
    operator_placed: bool = False


@dataclass(slots=True)
class InventoryState:
    """Everything the state file holds."""

    occupants: dict[int, Occupant] = field(default_factory=dict)
    exported: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "elements": [
                {
                    "address": address,
                    "barcode": o.barcode,
                    "file": o.file,
                    "source": o.source,
                    "operator_placed": o.operator_placed,
                }
                for address, o in sorted(self.occupants.items())
            ],
            "exported": sorted(self.exported),
        }

    @classmethod
    def from_json(cls, data: Any, path: Path) -> InventoryState:
        """Check and convert a parsed state file; errors name the file and entry."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ImageError(path, None, f"not a {FORMAT} state file")
        if data.get("version") != VERSION:
            raise ImageError(path, None, f"state version {data.get('version')!r} is not {VERSION}")
        elements = data.get("elements")
        exported = data.get("exported", [])
        if not isinstance(elements, list):
            raise ImageError(path, "elements", "must be a list")
        if not isinstance(exported, list) or not all(isinstance(b, str) for b in exported):
            raise ImageError(path, "exported", "must be a list of barcodes")
        state = cls(exported=set(exported))
        seen: set[str] = set()
        for i, entry in enumerate(elements):
            where = f"elements[{i}]"
            if not isinstance(entry, dict):
                raise ImageError(path, where, "must be an object")
            address = entry.get("address")
            barcode = entry.get("barcode")
            name = entry.get("file")
            source = entry.get("source")
            placed = entry.get("operator_placed", False)
            if not isinstance(address, int) or not 0 <= address <= 0xFFFF:
                raise ImageError(path, where, f"bad element address {address!r}")
            if not isinstance(barcode, str) or not barcode:
                raise ImageError(path, where, f"bad barcode {barcode!r}")
            if not isinstance(name, str) or not name or "/" in name:
                raise ImageError(path, where, f"bad cartridge file name {name!r}")
            if source is not None and (not isinstance(source, int) or not 0 <= source <= 0xFFFF):
                raise ImageError(path, where, f"bad source address {source!r}")
            if not isinstance(placed, bool):
                raise ImageError(path, where, "operator_placed must be true or false")
            if address in state.occupants:
                raise ImageError(path, where, f"element 0x{address:04x} listed twice")
            if barcode in seen:
                raise ImageError(path, where, f"barcode {barcode} is in two elements")
            seen.add(barcode)
            state.occupants[address] = Occupant(barcode, name, source, placed)
        return state


def load_state(path: Path) -> InventoryState | None:
    """The state in ``path``, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ImageError(path, None, f"cannot read: {err.strerror}") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ImageError(path, f"line {err.lineno}, column {err.colno}", err.msg) from err
    return InventoryState.from_json(data, path)


def save_state(path: Path, state: InventoryState) -> None:
    """Replace ``path`` with ``state``: temp file, fsync, rename, fsync folder."""
    payload = json.dumps(state.to_json(), indent=1).encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, payload)
