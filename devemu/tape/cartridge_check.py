"""Checking cartridge files before a library serves them.

A library names every bad cartridge in its folder at start, before an
initiator's MOVE MEDIUM would find it: a file that does not open (random
bytes, a damaged header, acknowledged records lost; see
:mod:`devemu.tape.cartridge`), or whose header barcode is not the one its
file name says (the library finds a cartridge by ``BARCODE.tape``, and
READ ELEMENT STATUS reports the header's volume tag). A torn, never
acknowledged tail is not a problem: opening the cartridge cuts it.
"""

from __future__ import annotations

from pathlib import Path

from devemu.errors import ImageError
from devemu.tape.cartridge import Cartridge

#: File name suffix of a cartridge file: ``E01001L8.tape``.
CARTRIDGE_SUFFIX = ".tape"


def barcode_problem(path: Path, barcode: str) -> str | None:
    """Why the header barcode ``barcode`` does not fit the file name, or None."""
    expected = path.name.removesuffix(CARTRIDGE_SUFFIX)
    if barcode == expected:
        return None
    return f"{path}: header barcode {barcode!r} differs from the file name {path.name!r}"


def check_cartridge(path: Path) -> str | None:
    """One line saying what is wrong with the cartridge file ``path``, or None if nothing.

    The file is opened read only (nothing is written, not even a torn tail
    cut), so this can run while a drive of another daemon holds it.
    """
    try:
        with Cartridge.open(path, read_only=True) as cart:
            return barcode_problem(path, cart.barcode)
    except ImageError as err:
        return str(err)


def check_cartridge_folder(folder: Path) -> list[str]:
    """The problems of every cartridge file in ``folder`` (none if it does not exist yet)."""
    if not folder.is_dir():
        return []
    problems = []
    for path in sorted(folder.glob(f"*{CARTRIDGE_SUFFIX}")):
        problem = check_cartridge(path)
        if problem is not None:
            problems.append(problem)
    return problems
