"""The elements of a medium changer and where they sit, SMC-3 4.2 and 7.3.3.

A medium changer is a set of elements (SMC-3 4.2.1): one medium
transport element (the robot's hand), storage elements (slots),
import/export elements (the mail slot an operator reaches) and data
transfer elements (the tape drives). Every element has a 16-bit element
address; each type occupies one contiguous range, reported by the element
address assignment mode page (SMC-3 7.3.3).

The ranges follow the layout real libraries and mhvtl use, and which mtx,
the Linux ``ch`` driver and backup software read without surprises::

    medium transport   0x0001
    data transfer      0x0100 ...   (up to 512 drives)
    import/export      0x0300 ...   (up to 256 mail slots)
    storage            0x0400 ...   (up to 64511 slots)

Element number ``n`` of a type (1-based, as ``mtx`` and operators count)
has address ``first + n - 1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum


class ElementType(IntEnum):
    """Element type codes, SMC-3 6.11.2 table 33 (0 = all types in a request)."""

    ALL = 0
    MEDIUM_TRANSPORT = 1
    STORAGE = 2
    IMPORT_EXPORT = 3
    DATA_TRANSFER = 4

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    ElementType.ALL: "all",
    ElementType.MEDIUM_TRANSPORT: "transport",
    ElementType.STORAGE: "slot",
    ElementType.IMPORT_EXPORT: "mailslot",
    ElementType.DATA_TRANSFER: "drive",
}

TRANSPORT_ADDRESS = 0x0001
FIRST_DRIVE_ADDRESS = 0x0100
FIRST_IMPORT_EXPORT_ADDRESS = 0x0300
FIRST_STORAGE_ADDRESS = 0x0400

MAX_DRIVES = FIRST_IMPORT_EXPORT_ADDRESS - FIRST_DRIVE_ADDRESS
MAX_IMPORT_EXPORT = FIRST_STORAGE_ADDRESS - FIRST_IMPORT_EXPORT_ADDRESS
MAX_STORAGE = 0x10000 - FIRST_STORAGE_ADDRESS


@dataclass(frozen=True, slots=True)
class Element:
    """One element: its address, type and 1-based number within the type."""

    address: int
    type: ElementType
    number: int

    @property
    def name(self) -> str:
        """``slot 3``, ``drive 1``, ``mailslot 2``, ``transport 1``."""
        return f"{self.type.label} {self.number}"


@dataclass(frozen=True, slots=True)
class ElementRange:
    """A contiguous run of addresses of one type (one row of SMC-3 table 107)."""

    type: ElementType
    first: int
    count: int

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and self.first <= address < self.first + self.count

    def __iter__(self) -> Iterator[Element]:
        for i in range(self.count):
            yield Element(self.first + i, self.type, i + 1)


@dataclass(frozen=True, slots=True)
class ElementLayout:
    """Where every element of one library sits.

    ``drives``, ``import_export`` and ``slots`` are counts; there is always
    exactly one medium transport element.
    """

    drives: int
    slots: int
    import_export: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.drives <= MAX_DRIVES:
            raise ValueError(f"drives must be 1 to {MAX_DRIVES}, not {self.drives}")
        if not 1 <= self.slots <= MAX_STORAGE:
            raise ValueError(f"slots must be 1 to {MAX_STORAGE}, not {self.slots}")
        if not 0 <= self.import_export <= MAX_IMPORT_EXPORT:
            raise ValueError(
                f"import_export must be 0 to {MAX_IMPORT_EXPORT}, not {self.import_export}"
            )

    @property
    def ranges(self) -> tuple[ElementRange, ...]:
        """The four ranges in ascending address order."""
        return (
            ElementRange(ElementType.MEDIUM_TRANSPORT, TRANSPORT_ADDRESS, 1),
            ElementRange(ElementType.DATA_TRANSFER, FIRST_DRIVE_ADDRESS, self.drives),
            ElementRange(
                ElementType.IMPORT_EXPORT, FIRST_IMPORT_EXPORT_ADDRESS, self.import_export
            ),
            ElementRange(ElementType.STORAGE, FIRST_STORAGE_ADDRESS, self.slots),
        )

    def range_of(self, type_: ElementType) -> ElementRange:
        for r in self.ranges:
            if r.type is type_:
                return r
        raise ValueError(f"no single range for {type_!r}")

    def __iter__(self) -> Iterator[Element]:
        """Every element, in ascending address order."""
        for r in self.ranges:
            yield from r

    def element(self, address: int) -> Element | None:
        """The element at ``address``, or None when no element has it."""
        for r in self.ranges:
            if address in r:
                return Element(address, r.type, address - r.first + 1)
        return None

    def by_number(self, type_: ElementType, number: int) -> Element | None:
        """Element ``number`` (1-based) of ``type_``, or None when out of range."""
        r = self.range_of(type_)
        if 1 <= number <= r.count:
            return Element(r.first + number - 1, type_, number)
        return None

    def mtx_slot(self, number: int) -> Element | None:
        """The element ``mtx`` calls slot ``number``: storage first, then import/export."""
        if 1 <= number <= self.slots:
            return self.by_number(ElementType.STORAGE, number)
        return self.by_number(ElementType.IMPORT_EXPORT, number - self.slots)
