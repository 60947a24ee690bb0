"""Replacing a file so that a crash leaves either its old version or its new one.

POSIX offers one atomic step, ``rename(2)`` within a file system; making
the result durable takes a flush on each side of it:

1. the new version is written to a temporary file in the same folder
   (so the rename never crosses a file system),
2. the temporary file is flushed with ``fsync``, so the name never points
   at data still in the page cache,
3. it is renamed over the old file,
4. the folder is flushed with ``fsync``, so the rename itself survives a
   power cut.

A reader therefore always finds the complete old version or the complete
new one. A temporary left behind by ``kill -9`` is a hidden
``.<name>.tmp`` beside the file; the next replacement overwrites it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_path(path: Path) -> Path:
    """The temporary file a replacement of ``path`` is written to."""
    return path.with_name(f".{path.name}.tmp")


def fsync_directory(folder: Path) -> None:
    """Flush ``folder`` itself: the names created, renamed or removed in it."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, path: Path, *, overwrite: bool = True) -> None:
    if overwrite:
        os.replace(tmp, path)
    else:
        _publish_new(tmp, path)
    fsync_directory(path.parent)


def _publish_new(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless ``path`` exists (FileExistsError then).

    ``link(2)`` fails with EEXIST rather than replace a name, which
    ``rename(2)`` cannot promise; a file system without hard links gets
    the check and the rename, one step apart.
    """
    try:
        os.link(tmp, path)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError:
        if os.path.lexists(path):
            tmp.unlink(missing_ok=True)
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync of the folder."""
    tmp = temporary_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    _publish(tmp, path)


@contextmanager
def replacing(path: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path for a writer that needs a file name; ``path`` on success.

    The body writes the temporary file and closes it; on leaving, the
    file is flushed, renamed over ``path`` and the folder flushed. If the
    body raises, the temporary file is removed and ``path`` is untouched.
    Without ``overwrite``, an existing ``path`` (even one created while
    the body ran) is kept and FileExistsError raised.
    """
    tmp = temporary_path(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _publish(tmp, path, overwrite=overwrite)
