"""Opening any disc image by its kind: a CUE sheet or an ISO 9660 file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devemu.cdrom.cue import load_cue
from devemu.cdrom.disc import Disc
from devemu.cdrom.iso import load_iso
from devemu.cdrom.msf import lba_to_msf
from devemu.errors import ImageError


def load_image(path: str | Path, allowed_roots: Sequence[Path] | None = None) -> Disc:
    """The disc in ``path`` (a ``.cue`` sheet, anything else is read as ISO 9660).

    ``allowed_roots`` are the folders a CUE sheet's files may lie in (by
    default the sheet's own folder); every failure is an ImageError.
    """
    try:
        p = Path(path).resolve()
    except (OSError, ValueError, RuntimeError) as err:
        raise ImageError(Path(path), None, f"cannot open: {err}") from None
    if p.suffix.lower() == ".cue":
        return load_cue(p, allowed_roots)
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
