"""Compiled bytecode for the guest, laid over the host's root.

The guest's root is the host's, read-only, and its Python does not write
bytecode (``PYTHONDONTWRITEBYTECODE``), so every module without an
up-to-date ``__pycache__`` file on the host is compiled again by every
guest process, at the speed of an emulated CPU. A host that does not
write bytecode itself (the variable set there too) leaves the whole
devemu package in that state: compiling it took seconds of each daemon
start.

:func:`ensure_bytecode` compiles, on the host, every source file of the
devemu package, of its runtime dependencies and of the standard library
whose host ``__pycache__`` file is missing or stale, into a separate tree
(the *layer*) that mirrors the absolute paths:
``LAYER/<folder>/__pycache__/<name>.<tag>.pyc``. The guest mounts the
layer above the host root in its overlay, so its Python finds the
bytecode where it always looks, and the host's source tree is never
written. A file is only compiled again when its source changes: the
header of a timestamp-based ``.pyc`` records the source's mtime and size
(PEP 552), which is what the guest's Python checks too.
"""

from __future__ import annotations

import importlib.util
import os
import py_compile
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Packages ``devemu serve`` imports besides the standard library (pyproject dependencies).
RUNTIME_PACKAGES = ("construct", "pycdlib")

#: Standard library folders the guest never imports from.
SKIPPED_FOLDERS = frozenset(
    {
        "__pycache__",
        "site-packages",
        "dist-packages",
        "test",
        "tests",
        "idlelib",
        "tkinter",
        "turtledemo",
        "lib2to3",
        "ensurepip",
    }
)

_HEADER_SIZE = 16
_FLAG_HASH_BASED = 0x1


def source_files(root: Path) -> Iterator[Path]:
    """Every ``.py`` file under ``root`` (or ``root`` itself), skipping :data:`SKIPPED_FOLDERS`."""
    if root.is_file():
        if root.suffix == ".py":
            yield root
        return
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_FOLDERS)
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(folder) / name


def is_fresh(pyc: Path, source: os.stat_result) -> bool:
    """True when ``pyc`` holds this interpreter's bytecode for a source with stat ``source``.

    Hash-based files (PEP 552) are taken as they are: the guest's Python
    treats them exactly as the host's does.
    """
    try:
        with pyc.open("rb") as handle:
            header = handle.read(_HEADER_SIZE)
    except OSError:
        return False
    if len(header) < _HEADER_SIZE or header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(header[4:8], "little")
    if flags & _FLAG_HASH_BASED:
        return True
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    return mtime == int(source.st_mtime) & 0xFFFFFFFF and size == source.st_size & 0xFFFFFFFF


def guest_cache_path(source: Path) -> Path:
    """Where the guest's Python (no ``-O``, no ``PYTHONPYCACHEPREFIX``) looks for bytecode."""
    return source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"


def layer_path(layer: Path, pyc: Path) -> Path:
    """Where the layer holds the bytecode the guest looks for at the absolute path ``pyc``."""
    return layer / pyc.relative_to(pyc.anchor)


def default_roots() -> list[Path]:
    """The devemu package, its runtime dependencies and the standard library, resolved."""
    import devemu  # noqa: PLC0415 - the package this module belongs to

    roots = [Path(devemu.__file__).resolve().parent]
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            roots += [Path(p).resolve() for p in spec.submodule_search_locations]
        elif spec.origin:
            roots.append(Path(spec.origin).resolve())
    roots.append(Path(sysconfig.get_paths()["stdlib"]).resolve())
    return roots


def ensure_bytecode(layer: Path, roots: Iterable[Path] | None = None) -> int:
    """Compile into ``layer`` what the host lacks up-to-date bytecode for; return the count.

    Sources that do not compile are left to the guest (which reports the
    error where the module is imported).
    """
    compiled = 0
    for root in default_roots() if roots is None else roots:
        for source in source_files(root):
            try:
                stat = source.stat()
            except OSError:
                continue
            own = guest_cache_path(source)
            if is_fresh(own, stat):
                continue
            target = layer_path(layer, own)
            if is_fresh(target, stat):
                continue
            try:
                py_compile.compile(
                    str(source),
                    cfile=str(target),
                    dfile=str(source),
                    doraise=True,
                    optimize=0,
                    invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
                )
            except (py_compile.PyCompileError, OSError):
                continue
            compiled += 1
    return compiled


def bytecode_layer(cache: Path) -> Path:
    """The layer for this interpreter under the VM cache."""
    return cache / "bytecode" / sys.implementation.cache_tag
