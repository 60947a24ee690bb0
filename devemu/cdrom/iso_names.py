"""Names on an ISO 9660 disc: ISO 9660 identifiers, Joliet names, and their collisions.

A folder's entries get three names on the disc:

- the Rock Ridge name (RRIP 1.09 4.1.4 NM): the POSIX name itself;
- the ISO 9660 file identifier (ECMA-119 7.5, 7.6): d-characters (A-Z,
  0-9, ``_``) and one dot for a file, shortened to :data:`ISO_MAX`
  characters with the extension kept;
- the Joliet name (Joliet specification 3.3): UCS-2, any character but
  the controls and ``* / : ; ? \\``, at most 64 characters. pycdlib
  counts that limit in UTF-8 bytes (:data:`JOLIET_MAX_BYTES`), so a name
  of non-ASCII characters is shortened further; the extension is kept.

Shortening can make two names of one folder equal, and Windows compares
Joliet names without regard to case. :func:`unique_names` resolves every
collision instead of dropping an entry: the first name in sorted order
keeps its natural form, the others get a numeric suffix (``~1`` in
Joliet, ``_1`` in ISO 9660) inside the length limit, never taking a name
another entry has naturally.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

#: Longest ISO 9660 file identifier written (without the ``;1`` version).
ISO_MAX = 30
#: Longest Joliet name, in UTF-8 bytes as pycdlib measures it (64 UCS-2 characters at most).
JOLIET_MAX_BYTES = 64
#: Longest extension kept whole when a name is shortened (dot included).
_EXT_MAX = 9

_NOT_D_CHAR = re.compile(r"[^A-Z0-9_.]")
_NOT_JOLIET = re.compile(r"[\x00-\x1f*/:;?\\]")


def _split_ext(name: str) -> tuple[str, str]:
    """``("stem", ".ext")``: the extension is the last dot's part if it is short."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(dot + ext) > _EXT_MAX:
        return name, ""
    return stem, dot + ext


def _fit(stem: str, tail: str, fits: Callable[[str], bool]) -> str:
    """``stem + tail`` with ``stem`` cut, character by character, until it fits."""
    while stem and not fits(stem + tail):
        stem = stem[:-1]
    return stem + tail


def _iso_fits(name: str) -> bool:
    return len(name) <= ISO_MAX


def _joliet_fits(name: str) -> bool:
    return len(name.encode("utf-8")) <= JOLIET_MAX_BYTES


def iso_name(name: str, *, directory: bool) -> str:
    """The natural ISO 9660 identifier of ``name`` (ECMA-119 7.5.1, 7.6.1)."""
    base = _NOT_D_CHAR.sub("_", name.upper())
    if base.count(".") > 1 or directory:
        base = base.replace(".", "_")
    stem, ext = _split_ext(base)
    return _fit(stem, ext, _iso_fits) if stem or ext else "_"


def joliet_name(name: str) -> str:
    """The natural Joliet name of ``name``: forbidden characters replaced, shortened."""
    stem, ext = _split_ext(_NOT_JOLIET.sub("_", name))
    return _fit(stem, ext, _joliet_fits) or "_"


def _suffixed(natural: str, n: int, mark: str, fits: Callable[[str], bool]) -> str:
    stem, ext = _split_ext(natural)
    return _fit(stem, f"{mark}{n}{ext}", fits)


def _resolve(
    naturals: Sequence[str], key: Callable[[str], str], mark: str, fits: Callable[[str], bool]
) -> list[str]:
    first: dict[str, int] = {}
    for i, natural in enumerate(naturals):
        first.setdefault(key(natural), i)
    used = set(first)
    out: list[str] = []
    for i, natural in enumerate(naturals):
        if first[key(natural)] == i:
            out.append(natural)
            continue
        n = 1
        while key(candidate := _suffixed(natural, n, mark, fits)) in used:
            n += 1
        used.add(key(candidate))
        out.append(candidate)
    return out


def unique_names(entries: Sequence[tuple[str, bool]]) -> list[tuple[str, str]]:
    """``(ISO 9660 name, Joliet name)`` for each ``(name, is_directory)`` of one folder.

    ``entries`` are in the order names are given out (sorted by name);
    every returned name is unique in its folder: ISO 9660 names exactly,
    Joliet names regardless of case.
    """
    iso = _resolve([iso_name(n, directory=d) for n, d in entries], str, "_", _iso_fits)
    joliet = _resolve([joliet_name(n) for n, _ in entries], str.casefold, "~", _joliet_fits)
    return list(zip(iso, joliet, strict=True))
