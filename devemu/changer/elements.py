"""The elements of a medium changer and where they sit, SMC-3 4.2 and 7.3.3.

A medium changer is a set of elements (SMC-3 4.2.1): one medium
transport element (the robot's hand), storage elements (slots),
import/export elements (the mail slot an operator reaches) and data
transfer elements (the tape drives). Every element has a 16-bit element
address; each type occupies one contiguous range, reported by the element
address assignment mode page (SMC-3 7.3.3).

Where each range starts is an :class:`ElementBases`; the generic one
follows the layout real libraries and mhvtl use, and which mtx, the Linux
``ch`` driver and backup software read without surprises::

    medium transport   0x0001
    data transfer      0x0100 ...   (up to 512 drives)
    import/export      0x0300 ...   (up to 256 mail slots)
    storage            0x0400 ...   (up to 64511 slots)

A product personality (:mod:`devemu.personality`) starts them where its
vendor's manual says. A range may hold as many elements as fit before the
next range starts (or the end of the 16-bit address space).

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

#: Element addresses are 16 bits (SMC-3 6.11.4).
ADDRESS_SPACE = 0x10000


@dataclass(frozen=True, slots=True)
class ElementBases:
    """The first element address of each type (SMC-3 7.3.3 table 107)."""

    transport: int
    data_transfer: int
    import_export: int
    storage: int

    def __post_init__(self) -> None:
        firsts = [self.transport, self.data_transfer, self.import_export, self.storage]
        if len(set(firsts)) != len(firsts) or not all(0 <= a < ADDRESS_SPACE for a in firsts):
            raise ValueError(f"element bases must be four distinct 16-bit addresses: {self}")

    def first(self, type_: ElementType) -> int:
        return {
            ElementType.MEDIUM_TRANSPORT: self.transport,
            ElementType.DATA_TRANSFER: self.data_transfer,
            ElementType.IMPORT_EXPORT: self.import_export,
            ElementType.STORAGE: self.storage,
        }[type_]

    def room(self, type_: ElementType) -> int:
        """How many elements of ``type_`` fit before the next range starts."""
        first = self.first(type_)
        later = [
            a
            for a in (self.transport, self.data_transfer, self.import_export, self.storage)
            if a > first
        ]
        return min(later, default=ADDRESS_SPACE) - first


#: devemu's own layout (the module docstring's table).
GENERIC_BASES = ElementBases(
    transport=0x0001, data_transfer=0x0100, import_export=0x0300, storage=0x0400
)

TRANSPORT_ADDRESS = GENERIC_BASES.transport
FIRST_DRIVE_ADDRESS = GENERIC_BASES.data_transfer
FIRST_IMPORT_EXPORT_ADDRESS = GENERIC_BASES.import_export
FIRST_STORAGE_ADDRESS = GENERIC_BASES.storage


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
    exactly one medium transport element. ``bases`` says where each type
    starts.
    """

    drives: int
    slots: int
    import_export: int = 0
    bases: ElementBases = GENERIC_BASES

    def __post_init__(self) -> None:
        for what, count, low, type_ in (
            ("drives", self.drives, 1, ElementType.DATA_TRANSFER),
            ("slots", self.slots, 1, ElementType.STORAGE),
            ("import_export", self.import_export, 0, ElementType.IMPORT_EXPORT),
        ):
            high = self.bases.room(type_)
            if not low <= count <= high:
                raise ValueError(f"{what} must be {low} to {high}, not {count}")

    @property
    def ranges(self) -> tuple[ElementRange, ...]:
        """The four ranges in ascending address order."""
        counts = {
            ElementType.MEDIUM_TRANSPORT: 1,
            ElementType.DATA_TRANSFER: self.drives,
            ElementType.IMPORT_EXPORT: self.import_export,
            ElementType.STORAGE: self.slots,
        }
        ranges = (ElementRange(t, self.bases.first(t), n) for t, n in counts.items())
        return tuple(sorted(ranges, key=lambda r: r.first))

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
