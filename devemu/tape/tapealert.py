"""TapeAlert: the flags a tape drive raises, how it reports them and when they clear.

Theory of operation
-------------------
TapeAlert (SSC-5 4.2, TapeAlert application client interface, and
annex A) is 64 flags, 01h to 40h, each a condition the drive has met: a
write to a write-protected cartridge (09h), a cartridge the drive cannot
read (0Ch), a hard write error (03h with 06h), ... :data:`FLAG_CAUSES`
lists the flags this drive can raise, each with the event that raises
it; exactly those are claimed in the TapeAlert Supported Flags VPD page
(B2h, SSC-5 8.4.4), whose flag bitmap is bytes 4 to 11 (flag 01h in the
top bit of byte 4), followed by four reserved bytes.

A raised flag is seen in three places:

- the TapeAlert log page (2Eh, SSC-5 8.2, TapeAlert log page): one
  parameter per flag, value 1 once raised; reading the page sets the
  flags back to zero (SSC-5: the flags are set to zero once the page has
  been read): those whose parameter went to the host, so that reading
  the header alone to learn the page's length (as sg_logs does) clears
  nothing;
- the TapeAlert Response log page (12h, SSC-5 8.2, TapeAlert Response
  log page): the flags as one 64-bit bitmap that reading does not
  clear. A flag stays set there while its condition lasts: the flags of
  :data:`CARTRIDGE_FLAGS` (the cartridge's own conditions) clear when
  the cartridge leaves the drive, SSC-5 annex A's "cleared on unload";
- the TAPEALERT FLAGS attribute of the MAM (0002h, SPC-5 7.4.2.2),
  which READ ATTRIBUTE computes from the same set as page 12h.

Raising a flag is also an informational exception (SPC-5 7.5.10): the
Informational Exceptions Control mode page (1Ch) says whether and how it
is reported (:mod:`devemu.scsi.informational_exceptions`).
:class:`TapeAlertDevice` is the part of a drive or a library's changer
that raises flags and clears them as they are read; each says which
flags it can raise (:data:`SUPPORTED` for the drive,
:mod:`devemu.changer.tapealert` for the changer).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from construct import Const, GreedyRange, Int8ub, Int16ub, Int64ub, Padding, Struct

from devemu.scsi.informational_exceptions import InformationalExceptions
from devemu.scsi.log_sense import log_page, log_parameter


class TapeAlertFlag(IntEnum):
    """The TapeAlert flags this drive raises (SSC-5 annex A)."""

    HARD_ERROR = 0x03
    MEDIA = 0x04
    READ_FAILURE = 0x05
    WRITE_FAILURE = 0x06
    WRITE_PROTECT = 0x09
    NO_REMOVAL = 0x0A
    CLEANING_MEDIA = 0x0B
    UNSUPPORTED_FORMAT = 0x0C
    READ_ONLY_FORMAT = 0x11
    CLEAN_NOW = 0x14
    EXPIRED_CLEANING_MEDIA = 0x16
    LOADING_FAILURE = 0x37
    WORM_OVERWRITE_ATTEMPTED = 0x3C


#: When each flag is raised (what the drive's code does is the authority; this is its index).
FLAG_CAUSES: dict[TapeAlertFlag, str] = {
    TapeAlertFlag.HARD_ERROR: "a read or write the cartridge file refuses (MEDIUM ERROR)",
    TapeAlertFlag.MEDIA: "the same: the medium is at fault",
    TapeAlertFlag.READ_FAILURE: "a READ the cartridge file refuses (MEDIUM ERROR 11h/00h)",
    TapeAlertFlag.WRITE_FAILURE: "a WRITE the cartridge file refuses (MEDIUM ERROR 0Ch/00h)",
    TapeAlertFlag.WRITE_PROTECT: "writing to a write-protected cartridge (DATA PROTECT 27h/00h)",
    TapeAlertFlag.NO_REMOVAL: "an UNLOAD while the host prevents medium removal",
    TapeAlertFlag.CLEANING_MEDIA: "loading a cleaning cartridge: the drive is cleaned, ejects it",
    TapeAlertFlag.UNSUPPORTED_FORMAT: "loading a cartridge of a generation the drive cannot read",
    TapeAlertFlag.READ_ONLY_FORMAT: "loading a cartridge the drive reads but cannot write",
    TapeAlertFlag.CLEAN_NOW: "the cleaning-required fault (devemu.tape.faults), until cleaned",
    TapeAlertFlag.EXPIRED_CLEANING_MEDIA: "loading a cleaning cartridge used up (CLEANING_USES)",
    TapeAlertFlag.LOADING_FAILURE: "a cartridge the load-failure fault keeps from threading",
    TapeAlertFlag.WORM_OVERWRITE_ATTEMPTED: "overwriting data on a WORM cartridge",
}

#: The flags this drive claims in VPD page B2h.
SUPPORTED: frozenset[int] = frozenset(FLAG_CAUSES)

#: Conditions of the cartridge in the drive: they end when it leaves (SSC-5 annex A).
CARTRIDGE_FLAGS: frozenset[int] = frozenset(
    {
        TapeAlertFlag.HARD_ERROR,
        TapeAlertFlag.MEDIA,
        TapeAlertFlag.READ_FAILURE,
        TapeAlertFlag.WRITE_FAILURE,
        TapeAlertFlag.WRITE_PROTECT,
        TapeAlertFlag.NO_REMOVAL,
        TapeAlertFlag.CLEANING_MEDIA,
        TapeAlertFlag.UNSUPPORTED_FORMAT,
        TapeAlertFlag.READ_ONLY_FORMAT,
        TapeAlertFlag.EXPIRED_CLEANING_MEDIA,
        TapeAlertFlag.LOADING_FAILURE,
        TapeAlertFlag.WORM_OVERWRITE_ATTEMPTED,
    }
)

# --- the flags' state -------------------------------------------------------------------


@dataclass(slots=True)
class TapeAlerts:
    """The flags raised: ``unread`` for log page 2Eh, ``active`` for log page 12h."""

    unread: set[int] = field(default_factory=set)
    active: set[int] = field(default_factory=set)

    def raise_flags(self, *flags: int) -> None:
        self.unread.update(flags)
        self.active.update(flags)

    def clear_read(self, codes: Iterable[int]) -> None:
        """Log page 2Eh parameters ``codes`` went to the host: those flags are cleared."""
        self.unread.difference_update(codes)

    def condition_over(self, *flags: int) -> None:
        """The conditions of ``flags`` ended (log page 12h); 2Eh keeps them until read."""
        self.active.difference_update(flags)

    def cartridge_removed(self) -> None:
        """The cartridge left: its own conditions are over (log page 12h)."""
        self.active -= CARTRIDGE_FLAGS

    def __contains__(self, flag: int) -> bool:
        return flag in self.active or flag in self.unread


# --- pages ------------------------------------------------------------------------------

TAPEALERT_RESPONSE_LOG_PAGE = 0x12
TAPEALERT_LOG_PAGE = 0x2E

#: SSC-5 8.4.4: TapeAlert Supported Flags VPD page after its 4-byte header.
SupportedFlags = Struct("flags" / Int64ub, Padding(4))

#: SSC-5 8.2 (TapeAlert log page): one TapeAlert log parameter (code = flag number, value 0 or 1).
TapeAlertParameter = Struct(
    "parameter_code" / Int16ub,
    "control" / Const(0x03, Int8ub),
    "parameter_length" / Const(1, Int8ub),
    "flag" / Int8ub,
)
TapeAlertParameters = GreedyRange(TapeAlertParameter)
#: Bytes before the first parameter of a log page, and of one TapeAlert parameter.
LOG_PAGE_HEADER = 4
PARAMETER_LENGTH = TapeAlertParameter.sizeof()


def flag_bits(flags: set[int] | frozenset[int]) -> int:
    """64 flags as a 64-bit number, flag 01h the most significant bit."""
    value = 0
    for f in flags:
        value |= 1 << (64 - f)
    return value


def bits_flags(value: int) -> set[int]:
    """The flags set in a 64-bit flag number (the inverse of :func:`flag_bits`)."""
    return {f for f in range(1, 65) if value >> (64 - f) & 1}


def supported_flags_body(flags: frozenset[int]) -> bytes:
    """The bytes of VPD page B2h after its header."""
    out: bytes = SupportedFlags.build({"flags": flag_bits(flags)})
    return out


def tapealert_log_page(flags: set[int]) -> bytes:
    """Log page 2Eh (SSC-5 8.2, TapeAlert log page): parameters 0001h-0040h, 1 if raised."""
    params = TapeAlertParameters.build(
        [{"parameter_code": code, "flag": int(code in flags)} for code in range(1, 65)]
    )
    return log_page(TAPEALERT_LOG_PAGE, params)


def log_page_flags(page: bytes) -> set[int]:
    """The flags raised in log page 2Eh (the inverse of :func:`tapealert_log_page`)."""
    return {p.parameter_code for p in TapeAlertParameters.parse(page[4:]) if p.flag & 1}


def response_log_page(flags: set[int]) -> bytes:
    """Log page 12h (SSC-5 8.2, TapeAlert Response log page): parameter 0000h, a bitmap."""
    return log_page(
        TAPEALERT_RESPONSE_LOG_PAGE, log_parameter(0x0000, flag_bits(flags).to_bytes(8, "big"))
    )


# --- the device ------------------------------------------------------------------------


class TapeAlertDevice(InformationalExceptions):
    """A device with TapeAlert flags: a tape drive (SSC-5 4.2) or a media changer (SMC-3).

    The device sets :attr:`tapealerts` before SPC initialisation and
    serves :func:`tapealert_log_page` as its log page 2Eh.
    """

    tapealerts: TapeAlerts

    def raise_tapealert(self, *flags: int) -> None:
        """Raise TapeAlert ``flags``: an informational exception, reported as MRIE says."""
        self.tapealerts.raise_flags(*flags)
        self.informational_exception()

    def log_page_sent(self, page_code: int, parameter_pointer: int, length: int) -> None:
        """The flags of log page 2Eh that went to the host are cleared (SSC-5 4.2,
        TapeAlert: cleared once read; a read of the header alone, as sg_logs makes
        to learn the length, clears nothing)."""
        if page_code != TAPEALERT_LOG_PAGE:
            return
        first = max(1, parameter_pointer)
        whole = max(0, length - LOG_PAGE_HEADER) // PARAMETER_LENGTH
        self.tapealerts.clear_read(range(first, first + whole))
