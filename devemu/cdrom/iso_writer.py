"""Building ISO 9660 images from a folder (``devemu image iso``).

pycdlib writes the image: ISO 9660 level 4 names (ECMA-119 2nd edition /
ISO 9660:1999), with Joliet (UCS-2 names up to 64 characters) and Rock
Ridge 1.09 (POSIX names, modes) so Linux and Windows both see the
original names.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from devemu.atomic_file import replacing
from devemu.errors import DevemuError, ImageError, UsageError

#: Progress callback: (bytes done, bytes total).
Progress = Callable[[int, int], None]

_NOT_D_CHAR = re.compile(r"[^A-Z0-9_.]")
_JOLIET_MAX = 64
_LABEL_MAX = 32


def _iso_name(name: str, taken: set[str], *, directory: bool) -> str:
    """A unique ISO 9660 name for ``name`` among ``taken``."""
    base = _NOT_D_CHAR.sub("_", name.upper())
    if base.count(".") > 1 or directory:
        base = base.replace(".", "_")
    base = base[:30] or "_"
    candidate, n = base, 1
    while candidate in taken:
        suffix = f"_{n}"
        stem, dot, ext = base.partition(".")
        candidate = f"{stem[: 30 - len(suffix) - len(dot + ext)]}{suffix}{dot}{ext}"
        n += 1
    taken.add(candidate)
    return candidate


def make_iso(
    source: Path, out: Path, *, label: str = "CDROM", progress: Progress | None = None
) -> int:
    """Write an ISO 9660 image of the folder ``source`` to ``out``; return its size.

    The image is written beside ``out`` and renamed into place
    (:func:`~devemu.atomic_file.replacing`), so a failure leaves no half
    image under the name asked for.
    """
    if not source.is_dir():
        raise DevemuError(f"{_shown(source)}: not a folder")
    _check_label(label)
    if out.is_dir():
        raise ImageError(_shown(out), None, "is a folder, not an image file to write")
    if not out.parent.is_dir():
        raise ImageError(_shown(out), None, f"folder {_shown(out.parent)} does not exist")
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, joliet=3, rock_ridge="1.09", vol_ident=label.upper())
    cb = None
    if progress is not None:

        def cb(done: int, total: int, opaque: object) -> None:
            progress(done, total)

    try:
        _add_tree(iso, source, "", "")
        with replacing(out) as tmp:
            iso.write(str(tmp), progress_cb=cb)
        return out.stat().st_size
    except OSError as err:
        where = err.filename if isinstance(err.filename, str) else out
        raise ImageError(_shown(Path(where)), None, err.strerror or str(err)) from None
    except PyCdlibException as err:
        raise ImageError(_shown(out), None, f"cannot build the image: {err}") from None
    finally:
        iso.close()


def _shown(path: Path) -> str:
    """A path fit for a message, whatever bytes its name holds."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _check_label(label: str) -> None:
    """A volume identifier (ECMA-119 8.4.5) of at most 32 printable ASCII characters."""
    if len(label) > _LABEL_MAX:
        raise UsageError(f"label {label!r} is longer than {_LABEL_MAX} characters")
    bad = next((c for c in label if not 0x20 <= ord(c) <= 0x7E), None)
    if bad is not None:
        raise UsageError(
            f"label {label!r}: {bad!r} is not printable ASCII (ECMA-119 8.4.5 "
            "volume identifier: A-Z, 0-9 and _ are safest)"
        )


def _add_tree(iso: pycdlib.PyCdlib, folder: Path, iso_dir: str, joliet_dir: str) -> None:
    taken: set[str] = set()
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        try:
            entry.name.encode("utf-8")
        except UnicodeEncodeError:
            raise ImageError(
                _shown(Path(entry.path)),
                None,
                "the file name is not UTF-8; Joliet and Rock Ridge names need it (rename it)",
            ) from None
        st = entry.stat(follow_symlinks=False)
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir and not stat.S_ISREG(st.st_mode):
            continue
        name = _iso_name(entry.name, taken, directory=is_dir)
        iso_path = f"{iso_dir}/{name}"
        joliet_path = f"{joliet_dir}/{entry.name[:_JOLIET_MAX]}"
        mode = stat.S_IMODE(st.st_mode)
        if is_dir:
            iso.add_directory(
                iso_path, rr_name=entry.name, joliet_path=joliet_path, file_mode=mode | 0o040000
            )
            _add_tree(iso, Path(entry.path), iso_path, joliet_path)
        else:
            iso.add_file(
                entry.path,
                iso_path=f"{iso_path};1",
                rr_name=entry.name,
                joliet_path=joliet_path,
                file_mode=mode | 0o100000,
            )
