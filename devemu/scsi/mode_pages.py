"""Mode pages as values: current, changeable, default and saved, SPC-5 7.5.

A device declares its pages once, as :class:`ModePage` values holding the
default parameter bytes and the changeable mask. :class:`ModePageSet`
answers MODE SENSE for any page control (current, changeable, default,
saved; SPC-5 6.13 table 153) and applies MODE SELECT parameter pages,
refusing any change to a bit that the mask does not allow with INVALID
FIELD IN PARAMETER LIST and the field pointer on it (SPC-5 6.11).

Page formats, SPC-5 7.5.7: page_0 format is ``[PS|SPF=0|page][length]``,
sub_page format is ``[PS|SPF=1|page][subpage][length(2)]``.

Page code 00h is vendor specific and does not require the page format
(SPC-5 7.5.1). A device type that answers it declares
:func:`no_page_mode_page`: MODE SENSE for page 00h then returns the mode
parameter header and the block descriptor with no page after them, which
is how tape drives answer the MODE SENSE(6) that Linux st sends when it
opens a tape (page 00h, allocation length 12: header and one general
block descriptor). A device that does not declare it refuses page 00h
like any other page it lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum

from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    PARAMETER_LIST_LENGTH_ERROR,
    FieldPointer,
    SenseError,
    cdb_field,
    param_field,
)

ALL_PAGES = 0x3F
ALL_SUBPAGES = 0xFF
#: Page code 00h: vendor specific, no page format required (SPC-5 7.5.1).
VENDOR_NO_PAGE = 0x00


class PageControl(IntEnum):
    """The PC field of MODE SENSE, SPC-5 6.13.1 table 153."""

    CURRENT = 0
    CHANGEABLE = 1
    DEFAULT = 2
    SAVED = 3


@dataclass(slots=True)
class ModePage:
    """One mode page: its parameters (the bytes after the page header).

    ``on_change`` runs after a MODE SELECT has passed the mask check, with
    the new parameter bytes; it may raise :class:`SenseError` to refuse
    values that are changeable bits but not acceptable (a block length the
    drive cannot do) and is where a device applies them. A parameter list
    field pointer it gives counts from the first byte of those parameter
    bytes; the page set moves it to the byte in the whole list.

    ``page_format`` false marks a vendor-specific page that has no page
    header (page code 00h, SPC-5 7.5.1): MODE SENSE returns its parameter
    bytes as they are, and MODE SELECT cannot address it.
    """

    page: int
    default: bytes
    changeable: bytes
    subpage: int = 0
    saveable: bool = False
    on_change: Callable[[bytes], None] | None = None
    page_format: bool = True
    current: bytearray = field(init=False)
    saved: bytes = field(init=False)

    def __post_init__(self) -> None:
        if len(self.changeable) != len(self.default):
            raise ValueError(f"mode page 0x{self.page:02x}: mask and default differ in length")
        self.current = bytearray(self.default)
        self.saved = bytes(self.default)

    @property
    def key(self) -> tuple[int, int]:
        return (self.page, self.subpage)

    def values(self, pc: PageControl) -> bytes:
        if pc is PageControl.CURRENT:
            return bytes(self.current)
        if pc is PageControl.CHANGEABLE:
            return self.changeable
        if pc is PageControl.DEFAULT:
            return self.default
        return self.saved

    def encode(self, pc: PageControl) -> bytes:
        """The page with its header, SPC-5 7.5.7 tables 451 and 452.

        A page without page format is its parameter bytes alone.
        """
        body = self.values(pc)
        if not self.page_format:
            return body
        ps = 0x80 if self.saveable else 0
        if self.subpage == 0:
            return bytes([ps | self.page, len(body)]) + body
        return bytes([ps | 0x40 | self.page, self.subpage]) + len(body).to_bytes(2, "big") + body

    def set_current(self, data: bytes) -> None:
        """Replace the current values from device logic (no mask check)."""
        if len(data) != len(self.default):
            raise ValueError(f"mode page 0x{self.page:02x}: wrong length")
        self.current[:] = data


class ModePageSet:
    """The mode pages of one logical unit, keyed by (page, subpage)."""

    __slots__ = ("_pages",)

    def __init__(self, pages: Iterable[ModePage] = ()) -> None:
        self._pages: dict[tuple[int, int], ModePage] = {}
        for p in pages:
            self.add(p)

    def add(self, page: ModePage) -> None:
        self._pages[page.key] = page

    def get(self, page: int, subpage: int = 0) -> ModePage | None:
        return self._pages.get((page, subpage))

    def __iter__(self) -> Iterator[ModePage]:
        return iter(sorted(self._pages.values(), key=lambda p: p.key))

    def __contains__(self, key: object) -> bool:
        return key in self._pages

    def sense(self, page: int, subpage: int, pc: PageControl, *, page_byte: int = 2) -> bytes:
        """Encoded pages for a MODE SENSE request (SPC-5 6.13.1).

        ``page == 0x3F`` returns every page (with ``subpage == 0xFF``, every
        subpage too). An unknown page is INVALID FIELD IN CDB pointing at
        the page code byte.
        """
        if page == ALL_PAGES:
            pages = [p for p in self if subpage == ALL_SUBPAGES or p.subpage == 0]
        elif subpage == ALL_SUBPAGES:
            pages = [p for p in self if p.page == page]
        else:
            one = self.get(page, subpage)
            pages = [one] if one is not None else []
        if not pages:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(page_byte, 5))
        return b"".join(p.encode(pc) for p in pages)

    def select(self, data: bytes, *, offset: int = 0, save: bool = False) -> list[ModePage]:
        """Apply MODE SELECT parameter pages (the part after header and descriptors).

        ``offset`` is where ``data`` starts inside the whole parameter list,
        so field pointers name the right byte. Every page is checked before
        any is applied: a refused list changes nothing. Returns the pages
        that were changed.
        """
        staged: list[tuple[ModePage, bytes, int]] = []
        pos = 0
        while pos < len(data):
            start = offset + pos
            if len(data) - pos < 2:
                raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
            spf = bool(data[pos] & 0x40)
            code = data[pos] & 0x3F
            if spf:
                if len(data) - pos < 4:
                    raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
                sub = data[pos + 1]
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                hdr = 4
            else:
                sub, length, hdr = 0, data[pos + 1], 2
            page = self.get(code, sub)
            if page is None or not page.page_format:
                raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(start, 5))
            if length != len(page.default):
                raise SenseError(
                    INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(start + hdr - 1)
                )
            body = data[pos + hdr : pos + hdr + length]
            if len(body) != length:
                raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
            for i, (new, cur, mask) in enumerate(
                zip(body, page.current, page.changeable, strict=True)
            ):
                bad = (new ^ cur) & ~mask
                if bad:
                    raise SenseError(
                        INVALID_FIELD_IN_PARAMETER_LIST,
                        field=param_field(start + hdr + i, bad.bit_length() - 1),
                    )
            staged.append((page, bytes(body), start + hdr))
            pos += hdr + length
        changed = []
        for page, body, at in staged:
            if page.on_change is not None:
                _apply_change(page.on_change, body, at)
            if bytes(page.current) != body:
                changed.append(page)
            page.current[:] = body
            if save:
                page.saved = body
        return changed


def _apply_change(on_change: Callable[[bytes], None], body: bytes, at: int) -> None:
    """Run a page's ``on_change``; its parameter list field pointer counts from the page body."""
    try:
        on_change(body)
    except SenseError as err:
        pointer = err.field
        if pointer is not None and not pointer.in_cdb:
            err.field = FieldPointer(pointer.byte + at, pointer.bit, in_cdb=False)
        raise


def no_page_mode_page() -> ModePage:
    """Vendor-specific page 00h holding no parameters (SPC-5 7.5.1).

    A device that declares it answers MODE SENSE for page 00h with the mode
    parameter header and the block descriptor only: what Linux st reads
    when it opens a tape (MODE SENSE(6), page 00h, allocation length 12)
    to learn density, block length, write protection and buffered mode.
    """
    return ModePage(VENDOR_NO_PAGE, b"", b"", page_format=False)


CONTROL_MODE_PAGE = 0x0A
#: D_SENSE: descriptor format sense data (SPC-5 7.5.8 table 462, byte 2 bit 2).
D_SENSE = 0x04
#: GLTSD: no implicit saving of log parameters (SPC-5 7.5.8).
GLTSD = 0x02
#: QUEUE ALGORITHM MODIFIER 1: unrestricted reordering allowed.
UNRESTRICTED_REORDERING = 0x10


def control_mode_page() -> ModePage:
    """The control mode page every logical unit has, SPC-5 7.5.8.

    Fixed sense data by default; D_SENSE is the only changeable bit, so an
    initiator may switch the device to descriptor format sense data.
    """
    default = bytes([GLTSD, UNRESTRICTED_REORDERING, 0, 0, 0, 0, 0, 0, 0, 0])
    changeable = bytes([D_SENSE, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    return ModePage(CONTROL_MODE_PAGE, default, changeable)
