"""Typed reading of one table of the configuration file.

Every family's ``[[...]]`` table and the ``[daemon]`` table are read the
same way: keys not listed are refused, each value is checked for its type
(and range) when it is read, and every refusal is a
:class:`~devemu.errors.ConfigError` naming the file and the dotted key,
``disk[0].block_size``. Names, INQUIRY strings (SPC-5 6.7.2) and paths
relative to the configuration file's folder follow one rule everywhere.

Reading a table yields a :class:`DevicePlan`: the table checked, nothing
created yet. Making a plan may read files (an image's header, a state
file) but never writes one; :meth:`DevicePlan.build` is the first step
that creates images, cartridges or state. The ``*_problem`` functions
tell, without creating anything, why a file or folder the plan will
create later could not be made.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from devemu.errors import ConfigError, ImageError
from devemu.scsi.identity import Identity
from devemu.scsi.persistent_reservations import PersistentReservations
from devemu.served import ServedDevice

#: LIO backstore names: configfs folder names the UIO name can carry.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NAME_RULE = "use 1 to 64 of A-Z a-z 0-9 _ - (a LIO name)"

#: The INQUIRY strings of a device, in :class:`Identity` order.
IDENTITY_FIELDS = ("vendor", "product", "revision", "serial")


def resolve_path(base_dir: Path, value: str) -> Path:
    """``value`` with ``~`` expanded; a relative path is taken from ``base_dir``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """One table, checked, nothing created: what it serves and how to build it.

    ``names`` are the LIO backstore names it will serve, in LUN order;
    ``summary`` is one line for ``devemu serve --check``; ``build`` creates
    what is missing (images, cartridges, state) and returns the devices,
    refusing with a :class:`~devemu.errors.ConfigError` what changed since.
    """

    names: tuple[str, ...]
    summary: str
    build: Callable[[], list[ServedDevice]]


def _mode(path: Path) -> int | None:
    """``st_mode`` of ``path`` (symlinks followed); None when it does not exist.

    A place that cannot be looked at (no search permission: ``--check`` run
    by a user who is not the one serving) raises PermissionError.
    """
    try:
        return path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None


def folder_problem(path: Path) -> str | None:
    """Why ``path`` is not a folder and could not become one; None when it is or can.

    The nearest part of ``path`` that exists must be a folder. Places that
    cannot be looked at are not held against it (the serving user may see them).
    """
    for place in (path, *path.parents):
        try:
            mode = _mode(place)
        except PermissionError:
            return None
        if mode is None:
            continue
        if stat.S_ISDIR(mode):
            return None
        what = "a file" if stat.S_ISREG(mode) else "not a folder"
        if place == path:
            return f"{path} is {what}, not a folder"
        return f"{path} cannot be made: {place} is {what}"
    return None


def reservation_problem(path: Path) -> str | None:
    """Why ``path`` cannot hold a device's persistent reservations; None when it can.

    Not a regular file that can be made, or one that is there but is not a
    reservation state file (:mod:`devemu.scsi.persistent_reservations`).
    """
    try:
        problem = file_problem(path)
        if problem is None and path.is_file():
            PersistentReservations(path)
    except (OSError, ImageError) as err:
        return str(err)
    return problem


def file_problem(path: Path) -> str | None:
    """Why ``path`` is not a regular file and could not be created; None when it is or can."""
    try:
        mode = _mode(path)
    except PermissionError:
        return None
    if mode is None:
        return folder_problem(path.parent)
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file"
    return None


class TableReader:
    """Typed access to one table's keys, every refusal a ConfigError on the right key.

    ``key`` is the table's own place (``disk[0]``, ``library[0].drives[1]``);
    a value missing with no default is refused as "is required".
    """

    def __init__(
        self, table: dict[str, Any], *, path: Path, key: str, known: tuple[str, ...]
    ) -> None:
        self.table = table
        self.path = path
        self.key = key
        for field in table:
            if field not in known:
                raise self.error(field, f"unknown key (known: {', '.join(known)})")

    def error(self, field: str, reason: str) -> ConfigError:
        """The refusal of ``field`` of this table."""
        return ConfigError(self.path, f"{self.key}.{field}", reason)

    def _value(self, field: str, default: Any) -> Any:
        value = self.table.get(field, default)
        if value is None:
            raise self.error(field, "is required")
        return value

    def string(self, field: str, default: str | None = None, *, empty: bool = False) -> str:
        """A string; an empty one only where ``empty`` allows it."""
        value = self._value(field, default)
        if not isinstance(value, str):
            raise self.error(field, f"must be a string, not {value!r}")
        if not value and not empty:
            raise self.error(field, "must be a non-empty string")
        return value

    def boolean(self, field: str, default: bool | None = None) -> bool:
        """``true`` or ``false``."""
        value = self._value(field, default)
        if not isinstance(value, bool):
            raise self.error(field, f"must be true or false, not {value!r}")
        return value

    def integer(
        self,
        field: str,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
    ) -> int:
        """A whole number (not a boolean); from ``low`` to ``high`` when both are given."""
        value = self._value(field, default)
        wanted = "an integer"
        fits = isinstance(value, int) and not isinstance(value, bool)
        if low is not None and high is not None:
            wanted += f" from {low} to {high}"
            fits = fits and low <= value <= high
        if not fits:
            raise self.error(field, f"must be {wanted}, not {value!r}")
        return int(value)

    def name(self, default: str | None = None) -> str:
        """The ``name`` key: a LIO backstore name (:data:`NAME_PATTERN`)."""
        value = self.string("name", default, empty=True)
        if not NAME_PATTERN.match(value):
            raise self.error("name", f"{value!r}: {NAME_RULE}")
        return value

    def file_path(self, field: str, base_dir: Path, default: str | None = None) -> Path:
        """A path; a relative one is taken from ``base_dir`` (the file's folder)."""
        return resolve_path(base_dir, self.string(field, default))

    def identity(self, defaults: Identity) -> Identity:
        """``vendor``, ``product``, ``revision`` and ``serial`` over ``defaults`` (style kept)."""
        values: dict[str, Any] = {
            field: self.string(field, getattr(defaults, field), empty=True)
            for field in IDENTITY_FIELDS
        }
        for field, value in values.items():
            try:
                Identity(**{field: value})
            except UnicodeEncodeError:
                raise self.error(field, f"{value!r} is not printable ASCII") from None
            except ValueError as err:
                raise self.error(field, str(err)) from None
        return replace(defaults, **values)
