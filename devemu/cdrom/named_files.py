"""Files an image names (a BIN, an MDF, a CloneCD IMG): found only where they may be.

A CUE sheet, an MDS descriptor or a cdrdao TOC file names the files that
hold its sectors. Every such name is hostile: it is taken relative to the
naming file's folder (or absolute), symbolic links are followed, and the
real path must lie in one of the allowed roots (by default the naming
file's own folder) and be a regular file. Anything else is an
:class:`~devemu.errors.ImageError` naming the naming file and the place.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from devemu.errors import ImageError


class NamedFiles:
    """Resolves the names one image file holds, inside ``roots``."""

    def __init__(self, image: Path, roots: Sequence[Path] | None = None) -> None:
        self.image = image
        folder = image.parent
        self.folder = Path(os.path.realpath(folder))
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots or (folder,))

    def resolve(self, name: str, where: str) -> Path:
        """The real path of the file called ``name`` at ``where`` in the image file."""

        def fail(reason: str) -> ImageError:
            return ImageError(self.image, where, reason)

        if not name:
            raise fail("empty file name")
        bad = next((c for c in name if ord(c) < 0x20 or ord(c) == 0x7F), None)
        if bad is not None:
            raise fail(f"file name {name!r} holds the control character {bad!r}")
        try:
            target = Path(os.path.realpath(self.folder / name))
        except (OSError, ValueError) as err:
            raise fail(f"file name {name!r} cannot be used: {err}") from None
        if not any(target.is_relative_to(root) for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots)
            raise fail(f"file {name!r} is outside the allowed folders ({allowed})")
        try:
            st = target.stat()
        except OSError as err:
            raise fail(f"cannot open {target}: {err.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            raise fail(f"{target} is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise fail(f"{target} is not a regular file")
        return target

    def sibling(self, suffix: str, where: str) -> Path | None:
        """The file next to the image with its name and ``suffix`` (any case), if there is one."""
        stem = self.image.stem
        for candidate in (suffix.lower(), suffix.upper()):
            if (self.image.parent / f"{stem}{candidate}").exists():
                return self.resolve(f"{stem}{candidate}", where)
        return None
