"""Building ISO 9660 images from a folder (``devemu image iso``).

pycdlib writes the image: ISO 9660 level 4 names (ECMA-119 2nd edition /
ISO 9660:1999), with Joliet (UCS-2 names up to 64 characters) and Rock
Ridge 1.09 (POSIX names, modes, symbolic links) so Linux and Windows
both see the original names.

Nothing is changed or left out silently: :func:`make_iso` returns, with
the image's size, a note for each thing a reader of the disc would find
different from the folder: a label the ISO 9660 volume descriptor cannot
hold as given, an entry renamed to resolve a collision
(:mod:`devemu.cdrom.iso_names`), a symbolic link (stored as a Rock Ridge
symbolic link, which Joliet cannot show), and a FIFO, socket or device
node (skipped: no extension pycdlib writes can hold one).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from devemu.atomic_file import replacing
from devemu.cdrom.iso_names import iso_name, joliet_name, unique_names
from devemu.errors import DevemuError, ImageError, UsageError

#: Progress callback: (bytes done, bytes total).
Progress = Callable[[int, int], None]

#: Longest volume identifier (ECMA-119 8.4.5): 32 bytes.
_LABEL_MAX = 32
#: Longest Joliet volume identifier: the same 32 bytes hold 16 UCS-2 characters.
_JOLIET_LABEL_MAX = 16
_NOT_LABEL_D_CHAR = re.compile(r"[^A-Z0-9_]")

#: What each kind of entry that cannot go on the disc is called in a note.
_SKIPPED = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


@dataclass(frozen=True)
class IsoBuilt:
    """The image written: its size in bytes and the notes for the user, one line each."""

    size: int
    notes: tuple[str, ...]


def make_iso(
    source: Path,
    out: Path,
    *,
    label: str = "CDROM",
    progress: Progress | None = None,
    force: bool = False,
) -> IsoBuilt:
    """Write an ISO 9660 image of the folder ``source`` to ``out``.

    An existing ``out`` is replaced only with ``force``; otherwise it is
    refused before anything is read or written. The image is written
    beside ``out`` and renamed into place
    (:func:`~devemu.atomic_file.replacing`), so a failure leaves no half
    image under the name asked for.
    """
    if not source.is_dir():
        raise DevemuError(f"{_shown(source)}: not a folder")
    iso_label, notes = _labels(label)
    if out.is_dir():
        raise ImageError(_shown(out), None, "is a folder, not an image file to write")
    if not out.parent.is_dir():
        raise ImageError(_shown(out), None, f"folder {_shown(out.parent)} does not exist")
    if not force and os.path.lexists(out):
        raise ImageError(_shown(out), None, "already exists; not overwriting it (--force does)")
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, joliet=3, rock_ridge="1.09")
    _set_labels(iso, iso_label, label[:_JOLIET_LABEL_MAX])
    cb = None
    if progress is not None:

        def cb(done: int, total: int, opaque: object) -> None:
            progress(done, total)

    try:
        _Tree(iso, notes, _identity(out)).add(source, Path(), "", "")
        with replacing(out, overwrite=force) as tmp:
            iso.write(str(tmp), progress_cb=cb)
        return IsoBuilt(out.stat().st_size, tuple(notes))
    except FileExistsError:
        raise ImageError(
            _shown(out), None, "appeared while the image was built; not overwriting it"
        ) from None
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


def _labels(label: str) -> tuple[str, list[str]]:
    """The ISO 9660 volume identifier for ``label``, and notes on what changed.

    ECMA-119 8.4.5 writes the primary volume identifier in d-characters
    (A-Z, 0-9, ``_``): ``label`` is uppercased and any other character
    replaced with ``_``. The Joliet volume identifier keeps ``label`` as
    given, up to its 16 UCS-2 characters.
    """
    if len(label) > _LABEL_MAX:
        raise UsageError(f"label {label!r} is longer than {_LABEL_MAX} characters")
    bad = next((c for c in label if not 0x20 <= ord(c) <= 0x7E), None)
    if bad is not None:
        raise UsageError(
            f"label {label!r}: {bad!r} is not printable ASCII (ECMA-119 8.4.5 "
            "volume identifier: A-Z, 0-9 and _ are safest)"
        )
    iso_label = _NOT_LABEL_D_CHAR.sub("_", label.upper())
    notes: list[str] = []
    joliet = label[:_JOLIET_LABEL_MAX]
    joliet_told = (
        f"the Joliet label keeps {joliet!r}"
        if joliet == label
        else f"the Joliet label is {joliet!r} ({_JOLIET_LABEL_MAX} characters at most)"
    )
    if iso_label != label:
        notes.append(
            f"label {label!r} is {iso_label!r} in the ISO 9660 volume descriptor "
            f"(ECMA-119 8.4.5: A-Z, 0-9 and _ only); {joliet_told}"
        )
    elif joliet != label:
        notes.append(f"label {label!r}: {joliet_told}")
    return iso_label, notes


def _set_labels(iso: pycdlib.PyCdlib, label: str, joliet_label: str) -> None:
    """Write the volume identifiers (ECMA-119 8.4.5, 8.5.5): ``label`` and the Joliet one.

    pycdlib gives every volume descriptor the one ``vol_ident`` of
    ``new()``, which a Joliet descriptor cannot hold beyond 16
    characters; each is written here instead, padded with spaces like
    any identifier (ECMA-119 7.4.4), the Joliet one in UCS-2.
    """
    ascii_label = label.ljust(_LABEL_MAX).encode("ascii")
    iso.pvd.volume_identifier = ascii_label
    if iso.enhanced_vd is not None:
        iso.enhanced_vd.volume_identifier = ascii_label
    assert iso.joliet_vd is not None, "the image is created with Joliet"
    iso.joliet_vd.volume_identifier = joliet_label.ljust(_JOLIET_LABEL_MAX).encode("utf-16_be")


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path``, None if it does not exist."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


@dataclass
class _Tree:
    """The walk of the source folder: entries go to ``iso``, what a reader misses to ``notes``.

    ``output`` is the (device, inode) of the image being replaced, left
    out if it lies in the folder (``devemu image iso . out.iso --force``).
    """

    iso: pycdlib.PyCdlib
    notes: list[str]
    output: tuple[int, int] | None

    def add(self, folder: Path, shown: Path, iso_dir: str, joliet_dir: str) -> None:
        """Add ``folder``'s entries under ``iso_dir``/``joliet_dir`` (``shown`` in notes)."""
        entries = self._entries(folder, shown)
        names = unique_names([(e.name, stat.S_ISDIR(st.st_mode)) for e, st in entries])
        for (entry, st), (iso_leaf, joliet_leaf) in zip(entries, names, strict=True):
            where = shown / entry.name
            self._add_entry(
                entry, st, where, f"{iso_dir}/{iso_leaf}", f"{joliet_dir}/{joliet_leaf}"
            )

    def _entries(self, folder: Path, shown: Path) -> list[tuple[os.DirEntry[str], os.stat_result]]:
        entries = []
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
            kind = stat.S_IFMT(st.st_mode)
            where = _shown(shown / entry.name)
            if kind in _SKIPPED:
                self.notes.append(f"{where}: skipped, {_SKIPPED[kind]} cannot go on a disc")
            elif (st.st_dev, st.st_ino) == self.output:
                self.notes.append(f"{where}: skipped, the image being replaced")
            else:
                entries.append((entry, st))
        return entries

    def _add_entry(
        self,
        entry: os.DirEntry[str],
        st: os.stat_result,
        where: Path,
        iso_path: str,
        joliet_path: str,
    ) -> None:
        is_dir = stat.S_ISDIR(st.st_mode)
        is_link = stat.S_ISLNK(st.st_mode)
        iso_leaf = iso_path.rpartition("/")[2]
        joliet_leaf = None if is_link else joliet_path.rpartition("/")[2]
        _note_renames(self.notes, where, entry.name, iso_leaf, joliet_leaf, directory=is_dir)
        mode = stat.S_IMODE(st.st_mode)
        if is_dir:
            self.iso.add_directory(
                iso_path, rr_name=entry.name, joliet_path=joliet_path, file_mode=mode | 0o040000
            )
            self.add(Path(entry.path), where, iso_path, joliet_path)
        elif is_link:
            _add_symlink(self.iso, entry, where, f"{iso_path};1", self.notes)
        else:
            self.iso.add_file(
                entry.path,
                iso_path=f"{iso_path};1",
                rr_name=entry.name,
                joliet_path=joliet_path,
                file_mode=mode | 0o100000,
            )


def _note_renames(
    notes: list[str],
    where: Path,
    name: str,
    iso_leaf: str,
    joliet_leaf: str | None,
    *,
    directory: bool,
) -> None:
    """Tell a Joliet name that is not the file's name, and an ISO name given a suffix."""
    if joliet_leaf is not None and joliet_leaf != name:
        why = (
            "another name here agrees with it in the first 64 characters or up to case"
            if joliet_leaf != joliet_name(name)
            else "64 characters at most, no control characters nor * / : ; ? \\"
        )
        notes.append(f"{_shown(where)}: Joliet name {joliet_leaf!r} ({why})")
    if iso_leaf != iso_name(name, directory=directory):
        notes.append(
            f"{_shown(where)}: ISO 9660 name {iso_leaf!r} (another name here shortens to "
            f"{iso_name(name, directory=directory)!r})"
        )


def _add_symlink(
    iso: pycdlib.PyCdlib, entry: os.DirEntry[str], where: Path, iso_path: str, notes: list[str]
) -> None:
    """A symbolic link as a Rock Ridge SL entry (RRIP 1.09 4.1.3); its target is never read."""
    target = os.readlink(entry.path)
    try:
        target.encode("utf-8")
    except UnicodeEncodeError:
        notes.append(f"{_shown(where)}: skipped, a symbolic link whose target is not UTF-8")
        return
    iso.add_symlink(symlink_path=iso_path, rr_symlink_name=entry.name, rr_path=target)
    notes.append(
        f"{_shown(where)}: stored as a Rock Ridge symbolic link to {target!r} "
        "(Joliet has no symbolic links: Windows does not show it)"
    )
