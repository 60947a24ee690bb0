"""The first look at a file the user names as an image: is it one at all?

Every loader (ISO, CUE sheet, cartridge) starts here, so that a folder, a
device node, a FIFO or a missing file is the same one-line
:class:`~devemu.errors.ImageError` everywhere, and nothing blocks reading
a FIFO or reads a huge file whole.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from devemu.errors import ImageError


def regular_file(path: Path, what: str) -> os.stat_result:
    """The ``stat`` of ``path`` if it is a regular file; ImageError if not.

    ``what`` names what the file should be (``"an ISO image"``).
    """
    try:
        st = path.stat()
    except OSError as err:
        raise ImageError(path, None, f"cannot open: {err.strerror}") from None
    except ValueError as err:  # a NUL in the name
        raise ImageError(path, None, f"cannot open: {err}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(path, None, f"is a folder, not {what}")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(path, None, f"is not a regular file, so not {what}")
    return st


def read_small_file(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (a sheet, a state file)."""
    st = regular_file(path, what)
    if st.st_size > limit:
        raise ImageError(path, None, f"{st.st_size} bytes is too large for {what}")
    try:
        with path.open("rb") as f:
            return f.read(limit + 1)[:limit]
    except OSError as err:
        raise ImageError(path, None, f"cannot read: {err.strerror}") from None
