"""Opening any disc image by its kind: a CUE sheet or an ISO 9660 file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devemu.cdrom.cue import load_cue
from devemu.cdrom.disc import Disc
from devemu.cdrom.iso import load_iso
from devemu.cdrom.msf import lba_to_msf


def load_image(path: str | Path) -> Disc:
    """The disc in ``path`` (a ``.cue`` sheet, anything else is read as ISO 9660)."""
    p = Path(path).resolve()
    if p.suffix.lower() == ".cue":
        return load_cue(p)
    return load_iso(p)


def describe(disc: Disc) -> dict[str, Any]:
    """A plain summary of a disc: what ``devemu image info`` and ``status`` show."""
    out: dict[str, Any] = {
        "image": str(disc.path),
        "kind": disc.kind,
        "sectors": disc.leadout,
        "size": disc.size_bytes,
        "sessions": [
            {
                "number": s.number,
                "leadout": s.leadout,
                "tracks": [
                    {
                        "number": t.number,
                        "mode": t.mode.label,
                        "start": t.start,
                        "msf": str(lba_to_msf(t.start)),
                        "pregap": t.start - t.pregap,
                        "length": t.length,
                        **({"isrc": t.isrc} if t.isrc else {}),
                        **({"title": t.title} if t.title else {}),
                    }
                    for t in s.tracks
                ],
            }
            for s in disc.sessions
        ],
    }
    if disc.iso is not None:
        out["label"] = disc.iso.label
        out["joliet"] = disc.iso.joliet
        out["rock_ridge"] = disc.iso.rock_ridge
        out["udf"] = disc.iso.udf
        out["el_torito"] = disc.iso.el_torito
    if disc.catalog:
        out["catalog"] = disc.catalog
    if disc.title:
        out["title"] = disc.title
    return out
