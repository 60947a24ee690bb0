"""SEND CUE SHEET (MMC-6 6.33): the layout of a Session At Once recording.

The cue sheet is a list of 8-byte entries (MMC-6 table 581): CTL/ADR,
track number, index, data form, SCMS, and the absolute MSF address where
the index starts. Entry 0 is the lead-in (track 00h), the last the
lead-out (track AAh); between them, each track's index 0 (its pregap, if
any) and index 1. :func:`parse_cue_sheet` turns it into a
:class:`SaoPlan`: the tracks with their first sector, index 1 and end,
the mode each is recorded in and how many bytes the host sends a sector.

Data forms this drive records (MMC-6 table 583 and 585): 00h CD-DA, 2352
bytes a sector from the host; 01h CD-DA the drive fills with zeros
(nothing from the host); 10h CD-ROM Mode 1, 2048 bytes from the host;
14h Mode 1 the drive fills. Others are INVALID FIELD IN PARAMETER LIST
with the field pointer on the entry's data form byte.

Catalog number (ADR 2) and ISRC (ADR 3) entries carry no address and may
come before the lead-in entry (cdrdao puts the catalog number first).
Bit 6 of the lead-in entry's data form (41h, MMC-6 table 584) says the
host writes the lead-in's R-W sub-channel: the CD-TEXT packs, 96 bytes a
sector from the lead-in start to the first pregap
(:mod:`devemu.cdrom.leadin_text`).
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Array, GreedyRange, Int8ub, Struct

from devemu.cdrom.disc import TrackMode
from devemu.cdrom.msf import msf_to_lba
from devemu.scsi.sense import (
    INVALID_FIELD_IN_PARAMETER_LIST,
    PARAMETER_LIST_LENGTH_ERROR,
    SenseError,
    param_field,
)

ENTRY_SIZE = 8
LEAD_IN = 0x00
LEAD_OUT = 0xAA

#: MMC-6 table 581: one cue sheet entry.
CueEntry = Struct(
    "ctl_adr" / Int8ub,
    "tno" / Int8ub,
    "index" / Int8ub,
    "data_form" / Int8ub,
    "scms" / Int8ub,
    "msf" / Array(3, Int8ub),
)
CueSheet = GreedyRange(CueEntry)

#: Data form -> (track mode, bytes a sector the host sends).
DATA_FORMS: dict[int, tuple[TrackMode, int]] = {
    0x00: (TrackMode.AUDIO, 2352),
    0x01: (TrackMode.AUDIO, 0),
    0x10: (TrackMode.MODE1_2048, 2048),
    0x14: (TrackMode.MODE1_2048, 0),
}
#: Data form bits 5-0 of a lead-in or lead-out entry (bit 6 CD-TEXT in the lead-in).
_LEAD_FORM_MASK = 0x3F
#: Lead-in data form bit 6: the host sends the lead-in's R-W sub-channel (CD-TEXT).
LEADIN_RW = 0x40
#: ADR of entries without an address: catalog number (2) and ISRC (3).
_NO_ADDRESS = (0x02, 0x03)


@dataclass(frozen=True, slots=True)
class Region:
    """Sectors ``start`` to ``end - 1`` of track ``track``, ``host_size`` bytes each
    from the host (0: the drive fills them)."""

    track: int
    start: int
    end: int
    mode: TrackMode
    host_size: int


@dataclass(frozen=True, slots=True)
class PlannedTrack:
    number: int
    mode: TrackMode
    first: int
    start: int
    end: int
    control: int


@dataclass(frozen=True, slots=True)
class SaoPlan:
    """What a Session At Once recording writes, from ``first`` to the lead-out."""

    tracks: tuple[PlannedTrack, ...]
    regions: tuple[Region, ...]
    leadout: int
    #: The host writes the lead-in's R-W sub-channel (CD-TEXT) before the first pregap.
    leadin_text: bool = False

    @property
    def first(self) -> int:
        return self.regions[0].start

    def region_at(self, lba: int) -> Region | None:
        for r in self.regions:
            if r.start <= lba < r.end:
                return r
        return None


def _bad(entry: int, byte: int) -> SenseError:
    return SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(entry * ENTRY_SIZE + byte))


def parse_cue_sheet(data: bytes, *, first_track: int, first_lba: int, sectors: int) -> SaoPlan:
    """The plan of a cue sheet, checked against the disc (MMC-6 6.33.3).

    ``first_track`` is the number the first track must have, ``first_lba``
    where its pregap must start (150 blocks before the next writable
    address), ``sectors`` the last possible lead-out.
    """
    if not data or len(data) % ENTRY_SIZE:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    entries = CueSheet.parse(data)
    lead = 0
    while lead < len(entries) and entries[lead].ctl_adr & 0x0F in _NO_ADDRESS:
        lead += 1
    if len(entries) - lead < 3 or entries[lead].tno != LEAD_IN:
        raise _bad(lead, 1)
    if entries[-1].tno != LEAD_OUT:
        raise _bad(len(entries) - 1, 1)
    leadin_text = bool(entries[lead].data_form & LEADIN_RW)
    points: list[tuple[int, int, int, int, int]] = []  # (entry, tno, index, lba, form)
    for i, e in enumerate(entries[lead + 1 :], lead + 1):
        adr = e.ctl_adr & 0x0F
        if adr in _NO_ADDRESS:
            continue  # catalog number and ISRC entries carry no address
        if adr != 0x01:
            raise _bad(i, 0)
        m, s, f = e.msf
        if s >= 60 or f >= 75:
            raise _bad(i, 5)
        lba = msf_to_lba(m, s, f)
        if points and lba < points[-1][3]:
            raise _bad(i, 5)
        form = e.data_form
        if e.tno == LEAD_OUT:
            form &= _LEAD_FORM_MASK
        elif form not in DATA_FORMS:
            raise _bad(i, 3)
        points.append((i, e.tno, e.index, lba, form))
    leadout = points[-1][3]
    if points[-1][1] != LEAD_OUT or leadout > sectors:
        raise _bad(points[-1][0], 5)
    body = points[:-1]
    if not body or body[0][3] != first_lba:
        raise _bad(body[0][0] if body else 0, 5)
    regions: list[Region] = []
    tracks: list[PlannedTrack] = []
    expected = first_track
    for n, (i, tno, index, lba, form) in enumerate(body):
        end = body[n + 1][3] if n + 1 < len(body) else leadout
        mode, size = DATA_FORMS[form]
        if tno != expected and tno != expected - 1:
            raise _bad(i, 1)
        if tno == expected:
            if tracks and tracks[-1].start < 0:
                raise _bad(i, 2)
            tracks.append(
                PlannedTrack(
                    tno, mode, lba, lba if index == 1 else -1, end, entries[i].ctl_adr >> 4
                )
            )
            expected += 1
        elif index == 1 and tracks[-1].start < 0:
            last = tracks[-1]
            tracks[-1] = PlannedTrack(last.number, last.mode, last.first, lba, end, last.control)
        else:
            last = tracks[-1]
            tracks[-1] = PlannedTrack(
                last.number, last.mode, last.first, last.start, end, last.control
            )
        if tracks[-1].mode is not mode:
            raise _bad(i, 3)
        if index > 99:
            raise _bad(i, 2)
        if end > lba:
            regions.append(Region(tno, lba, end, mode, size))
        last = tracks[-1]
        tracks[-1] = PlannedTrack(last.number, last.mode, last.first, last.start, end, last.control)
    for t in tracks:
        if t.start < 0 or t.start >= t.end:
            raise _bad(0, 1)
    return SaoPlan(tuple(tracks), tuple(regions), leadout, leadin_text)
