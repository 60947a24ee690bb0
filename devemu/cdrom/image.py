"""Opening any disc image by its kind.

A CUE sheet, a Nero NRG, an Alcohol MDS, a CloneCD CCD or a cdrdao TOC
image, by its extension, or else an ISO 9660 file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from devemu.cdrom.ccd import load_ccd
from devemu.cdrom.cdrdao_toc import load_toc
from devemu.cdrom.cdtext import read_cdtext
from devemu.cdrom.cue import load_cue
from devemu.cdrom.disc import Disc, Extent, Track
from devemu.cdrom.iso import load_iso
from devemu.cdrom.mds import load_mds
from devemu.cdrom.msf import lba_to_msf
from devemu.cdrom.nrg import load_nrg
from devemu.errors import ImageError

#: Image kinds by file name extension; anything else is read as ISO 9660.
LOADERS: dict[str, Callable[[Path, Sequence[Path] | None], Disc]] = {
    ".cue": load_cue,
    ".nrg": load_nrg,
    ".mds": load_mds,
    ".ccd": load_ccd,
    ".toc": load_toc,
}


def load_image(path: str | Path, allowed_roots: Sequence[Path] | None = None) -> Disc:
    """The disc in ``path``, by its extension (see LOADERS; anything else is ISO 9660).

    ``allowed_roots`` are the folders the files an image names (a CUE
    sheet's BIN, an MDS file's MDF, a TOC file's BIN) may lie in (by
    default the image's own folder); every failure is an ImageError.
    """
    try:
        p = Path(path).resolve()
    except (OSError, ValueError, RuntimeError) as err:
        raise ImageError(Path(path), None, f"cannot open: {err}") from None
    loader = LOADERS.get(p.suffix.lower())
    if loader is not None:
        return loader(p, allowed_roots)
    return load_iso(p)


#: The FLAGS of a CUE sheet (the Q sub-channel CONTROL bits, ECMA-130 22.3.1) by Track field.
_FLAGS = (("dcp", "DCP"), ("four_channel", "4CH"), ("pre_emphasis", "PRE"), ("scms", "SCMS"))
#: CD-TEXT items of a sheet, by Disc and Track field.
_TEXTS = ("title", "performer", "songwriter")


def describe(disc: Disc) -> dict[str, Any]:
    """Everything an image tells: what ``devemu image info`` shows and ``status`` reports.

    ``size`` is the bytes of the image's files that hold sectors (a raw
    BIN track of 2352-byte sectors counts 2352 bytes a sector),
    ``user_data`` the bytes a drive reads from the tracks' user data,
    pregaps and postgaps included (2048 a Mode 1 sector, 2336 Mode 2,
    2352 audio; MMC-6 table 379).
    CD-TEXT read from a CDTEXTFILE is under ``cdtext``, by track (0 the
    disc); the sheet's TITLE, PERFORMER and SONGWRITER are given as read.
    """
    file_sizes = {p: _file_size(p) for p in {e.path for e in disc.extents if e.path}}
    tracks = [_describe_track(disc, t, file_sizes) for t in disc.tracks]
    out: dict[str, Any] = {
        "image": str(disc.path),
        "kind": disc.kind,
        "sectors": disc.leadout,
        "size": sum(_stored_bytes(e, file_sizes) for e in disc.extents),
        "user_data": sum(t["user_data"] for t in tracks),
        "files": [
            {"path": str(path), "type": kind}
            for path, kind in dict.fromkeys((e.path, e.file_type) for e in disc.extents if e.path)
        ]
        + [{"path": str(path), "type": "SUB"} for path in _subchannel_files(disc)],
    }
    if disc.iso is not None:
        out["label"] = disc.iso.label
        out["joliet_label"] = disc.iso.joliet_label
        out["joliet"] = disc.iso.joliet
        out["rock_ridge"] = disc.iso.rock_ridge
        out["udf"] = disc.iso.udf
        out["el_torito"] = disc.iso.el_torito
    if disc.catalog:
        out["catalog"] = disc.catalog
    out.update({k: getattr(disc, k) for k in _TEXTS if getattr(disc, k)})
    if disc.cdtext_packs is not None:
        out["cdtext"] = {str(n): items for n, items in read_cdtext(disc.cdtext_packs).items()}
    by_number = iter(tracks)
    out["sessions"] = [
        {"number": s.number, "leadout": s.leadout, "tracks": [next(by_number) for _ in s.tracks]}
        for s in disc.sessions
    ]
    return out


def _subchannel_files(disc: Disc) -> list[Path]:
    """Files of stored sub-channel data apart from the sectors' files (a CloneCD SUB)."""
    return list(
        dict.fromkeys(
            e.subchannel.path
            for e in disc.extents
            if e.subchannel is not None and e.subchannel.path != e.path
        )
    )


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _stored_bytes(
    ext: Extent, file_sizes: dict[Path, int], lo: int = -(1 << 40), hi: int = 1 << 40
) -> int:
    """Bytes of ``ext``'s file holding its sectors from ``lo`` to ``hi - 1`` (0 for a gap)."""
    if ext.path is None:
        return 0
    first, end = max(ext.start, lo), min(ext.end, hi)
    if end <= first:
        return 0
    size = ext.sector_size
    begin = ext.offset + (first - ext.start) * size
    # A WAVE file's last sector may be short: count only the bytes the file has.
    return max(0, min(begin + (end - first) * size, file_sizes[ext.path]) - begin)


def _describe_track(disc: Disc, t: Track, file_sizes: dict[Path, int]) -> dict[str, Any]:
    # Sectors of the first track before LBA 0 are in its file but not on the disc's map.
    lo = t.pregap if t is not disc.first_track else -(1 << 40)
    in_track = [e for e in disc.extents if e.path and e.end > lo and e.start < t.end]
    indexes = ([(0, t.pregap)] if t.start > t.pregap else []) + list(
        enumerate(t.indexes or (t.start,), 1)
    )
    out: dict[str, Any] = {
        "number": t.number,
        "session": t.session,
        "mode": t.mode.label,
        "start": t.start,
        "msf": str(lba_to_msf(t.start)),
        "length": t.length,
        "pregap": t.start - t.pregap,
        "generated_pregap": t.generated_pregap,
        "postgap": t.postgap,
        "indexes": [{"number": n, "lba": lba, "msf": str(lba_to_msf(lba))} for n, lba in indexes],
        "flags": [name for field, name in _FLAGS if getattr(t, field)],
        "files": list(dict.fromkeys(str(e.path) for e in in_track)),
        "size": sum(_stored_bytes(e, file_sizes, lo, t.end) for e in in_track),
        "user_data": (t.end - t.pregap) * t.mode.user_size,
    }
    if t.isrc:
        out["isrc"] = t.isrc
    out.update({k: getattr(t, k) for k in _TEXTS if getattr(t, k)})
    return out


def info_lines(info: dict[str, Any]) -> list[str]:
    """The text form of :func:`describe`: every field it holds, one disc, file or track a line."""
    lines = [
        f"{info['image']}: {info['kind']}, {info['sectors']} sectors, {info['size']} bytes "
        f"in its files, {info['user_data']} bytes of user data"
    ]
    if "label" in info:
        ext = [k for k in ("joliet", "rock_ridge", "udf", "el_torito") if info[k]]
        joliet = info["joliet_label"]
        shown = f" (Joliet {joliet!r})" if joliet is not None and joliet != info["label"] else ""
        lines.append(f"  label {info['label']!r}{shown}, extensions: {', '.join(ext) or 'none'}")
    disc_fields = _fields(info, ("catalog", *_TEXTS))
    if disc_fields:
        lines.append(f"  disc: {disc_fields}")
    lines += [f"  file {f['path']} ({f['type']})" for f in info["files"]]
    for number, items in info.get("cdtext", {}).items():
        who = "disc" if number == "0" else f"track {number}"
        texts = ", ".join(f"{k.lower()} {v!r}" for k, v in items.items())
        lines.append(f"  CD-TEXT (CDTEXTFILE) {who}: {texts}")
    for s in info["sessions"]:
        lines.append(f"  session {s['number']} (lead-out at {s['leadout']})")
        for t in s["tracks"]:
            lines.append(
                f"    track {t['number']:2d} {t['mode']:<10} start {t['start']:>7} ({t['msf']})"
                f"  length {t['length']}  pregap {t['pregap']}  {t['size']} bytes"
                f" ({t['user_data']} user data)"
            )
            gaps = f"PREGAP {t['generated_pregap']}, POSTGAP {t['postgap']}"
            flags = " ".join(t["flags"]) or "none"
            lines.append(f"      flags {flags}, {gaps}, in {', '.join(t['files']) or 'no file'}")
            where = ", ".join(f"{i['number']:02d} at {i['lba']} ({i['msf']})" for i in t["indexes"])
            lines.append(f"      index {where}")
            track_fields = _fields(t, ("isrc", *_TEXTS))
            if track_fields:
                lines.append(f"      {track_fields}")
    return lines


def _fields(info: dict[str, Any], keys: tuple[str, ...]) -> str:
    return ", ".join(f"{k} {info[k]!r}" for k in keys if k in info)
