"""The disc model: sessions, tracks and where every sector's bytes live.

Theory of operation
-------------------
An image loader (:mod:`devemu.cdrom.iso`, :mod:`devemu.cdrom.cue`) turns a
file into one immutable :class:`Disc`, computed once: its sessions, each
with tracks and a lead-out, and a sorted list of :class:`Extent` values
mapping runs of logical block addresses to bytes in a file (or to
generated silence for a pregap or postgap that is not in the file).
Every command reads the same model; nothing re-parses the image.

Reading takes operations, not CDBs: :meth:`Disc.read_sectors` is given a
start LBA, a count, a :class:`SectorFormat` (which parts of each 2352-byte
sector to return, MMC-6 6.20 table 379 "READ CD") and the data-in
buffers. Data stored as 2048-byte user data gets its sync, header, EDC
and ECC generated (:mod:`devemu.cdrom.sector`); raw 2352-byte sectors are
served as stored. A READ (10)/(12) of 2048-byte sectors inside
:attr:`Disc.fast_range` is one ``os.preadv`` straight into the buffers
(:meth:`Disc.read_user_data`). The reading methods check what they are
asked for and answer a bad range or sector type with the sense data of
MMC-6 (LOGICAL BLOCK ADDRESS OUT OF RANGE, ILLEGAL MODE FOR THIS TRACK).

Addresses follow MMC-6 4.2.3: track 1 starts at LBA 0 after the
150-sector pregap of MSF 00:02:00; a second session starts after the
previous session's lead-out (6750 sectors for the first, 2250 later),
its lead-in (4500) and the 150-sector pregap of its first track
(ECMA-130 / Orange Book multisession layout).
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from devemu.cdrom import sector as raw
from devemu.cdrom.scatter import Scatter
from devemu.cdrom.subchannel import (
    SubchannelKind,
    formatted_q,
    interleave,
    q_of_raw,
    q_subchannel,
    raw_pw,
)
from devemu.errors import ImageError
from devemu.scsi.sense import (
    ILLEGAL_MODE_FOR_THIS_TRACK,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    SenseError,
)

_preadv = os.preadv

#: Sectors of a lead-out: the first session's and any later one's.
FIRST_LEADOUT_LENGTH = 6750
NEXT_LEADOUT_LENGTH = 2250
LEADIN_LENGTH = 4500
DEFAULT_PREGAP = 150
C2_BYTES = 294


class TrackMode(Enum):
    """How a track's sectors are recorded and stored (CUE sheet TRACK modes).

    The value is (name, bytes stored per sector in the image).
    """

    AUDIO = ("AUDIO", 2352)
    MODE1_2048 = ("MODE1/2048", 2048)
    MODE1_2352 = ("MODE1/2352", 2352)
    MODE2_2336 = ("MODE2/2336", 2336)
    MODE2_2352 = ("MODE2/2352", 2352)

    @property
    def label(self) -> str:
        return self.value[0]

    @property
    def stored_size(self) -> int:
        return self.value[1]

    @property
    def is_audio(self) -> bool:
        return self is TrackMode.AUDIO

    @property
    def user_size(self) -> int:
        """User data bytes per sector (MMC-6 table 379): 2352 audio, 2048 Mode 1, 2336 Mode 2."""
        if self is TrackMode.AUDIO:
            return 2352
        return raw.USER_DATA_SIZE if self.data_mode == 1 else 2336

    @property
    def data_mode(self) -> int:
        """The data mode of READ TRACK INFORMATION (MMC-6 6.27.3): 1, 2 or 0xF."""
        if self is TrackMode.AUDIO:
            return 0x0F
        return 1 if self in (TrackMode.MODE1_2048, TrackMode.MODE1_2352) else 2

    @classmethod
    def from_label(cls, label: str) -> TrackMode:
        for mode in cls:
            if mode.label == label.upper():
                return mode
        raise ValueError(f"unknown track mode {label!r}")


class SectorType(Enum):
    """The expected sector type of READ CD, MMC-6 6.20 table 376."""

    ANY = 0
    CDDA = 1
    MODE1 = 2
    MODE2_FORMLESS = 3
    MODE2_FORM1 = 4
    MODE2_FORM2 = 5


@dataclass(frozen=True, slots=True)
class SectorFormat:
    """Which parts of each sector a read returns (READ CD byte 9 and 10).

    ``header`` is the header code: 0 none, 1 the 4-byte header, 2 the
    sub-header only, 3 both. ``c2`` is 0, 294 (C2 error bits) or 296
    (with the block error byte and a pad byte). ``subchannel`` selects
    none, raw P-W (96 bytes), formatted Q (16) or R-W (96).
    """

    sync: bool = False
    header: int = 0
    user_data: bool = True
    edc_ecc: bool = False
    c2: int = 0
    subchannel: SubchannelKind = SubchannelKind.NONE

    @property
    def is_user_only(self) -> bool:
        return (
            self.user_data
            and not self.sync
            and self.header == 0
            and not self.edc_ecc
            and self.c2 == 0
            and self.subchannel is SubchannelKind.NONE
        )


USER_DATA = SectorFormat()
RAW = SectorFormat(sync=True, header=3, user_data=True, edc_ecc=True)


class FastRange(NamedTuple):
    """LBAs ``first`` to ``end - 1`` are 2048-byte Mode 1 user data in one file.

    Sector ``lba`` of the range is at byte ``offset + (lba - first) * 2048``
    of ``fd``: a READ (10/12) inside it (MMC-6 6.15) is one ``os.preadv``
    with no track or extent search.
    """

    first: int
    end: int
    fd: int
    offset: int


@dataclass(frozen=True, slots=True)
class StoredSubchannel:
    """Where an image keeps the 96 P-W sub-channel bytes of an extent's sectors.

    Sector ``i`` of the extent has its bytes at ``offset + i * stride`` of
    ``path``; ``linear`` is the de-interleaved order (12 bytes of P, then
    Q, ... W: CloneCD's SUB file), else the raw interleaved order READ CD
    returns (MMC-6 6.20.2 table 380: bit 7 of each byte is P).
    """

    path: Path
    offset: int
    stride: int = 96
    linear: bool = False


@dataclass(frozen=True, slots=True)
class Extent:
    """A run of sectors: ``count`` sectors from ``start`` stored in ``path``.

    ``path`` None means the sectors are not in any file (a PREGAP or
    POSTGAP of the sheet): audio silence or empty data sectors. ``swap``
    marks 16-bit big-endian audio (the MOTOROLA file type); ``file_type``
    is the file's type as the sheet names it (BINARY, MOTOROLA, WAVE),
    ISO for an ISO 9660 image, or NRG, MDF, IMG. ``stride`` is set when
    each sector takes more bytes of the file than its mode stores (2448:
    raw sectors each followed by 96 bytes of P-W), ``subchannel`` when
    the image stores the sectors' sub-channel data.
    """

    start: int
    count: int
    mode: TrackMode
    path: Path | None = None
    offset: int = 0
    swap: bool = False
    file_type: str = "BINARY"
    #: Bytes a sector takes in the file when more than its mode's (2448: 2352 + 96 of P-W).
    stride: int = 0
    subchannel: StoredSubchannel | None = None

    @property
    def end(self) -> int:
        return self.start + self.count

    @property
    def sector_size(self) -> int:
        """Bytes from one sector to the next in the file."""
        return self.stride or self.mode.stored_size


@dataclass(frozen=True, slots=True)
class Track:
    """One track (MMC-6 4.2.3.5): its number, mode, indexes and flags.

    ``pregap`` is the LBA of index 0 (equal to ``start`` without one),
    ``start`` the LBA of index 1, ``end`` the first LBA after the track
    (the next track's index 0 or the lead-out). ``indexes`` holds the
    LBA of index 1, 2, ... in order. ``generated_pregap`` and ``postgap``
    count the sectors of a CUE sheet's PREGAP and POSTGAP, which no file
    holds.
    """

    number: int
    session: int
    mode: TrackMode
    start: int
    end: int
    pregap: int
    indexes: tuple[int, ...] = ()
    dcp: bool = False
    four_channel: bool = False
    pre_emphasis: bool = False
    scms: bool = False
    isrc: str | None = None
    title: str | None = None
    performer: str | None = None
    songwriter: str | None = None
    generated_pregap: int = 0
    postgap: int = 0

    @property
    def control(self) -> int:
        """The Q sub-channel CONTROL nibble (MMC-6 table 425 / ECMA-130 22.3.1)."""
        value = 0x04 if not self.mode.is_audio else 0
        if self.four_channel:
            value |= 0x08
        if self.dcp:
            value |= 0x02
        if self.pre_emphasis:
            value |= 0x01
        return value

    @property
    def length(self) -> int:
        """Sectors from index 1 to the end of the track."""
        return self.end - self.start

    def index_at(self, lba: int) -> int:
        if lba < self.start:
            return 0
        return bisect.bisect_right(self.indexes, lba) if self.indexes else 1


@dataclass(frozen=True, slots=True)
class Session:
    """One session: its tracks and the LBA where its lead-out starts."""

    number: int
    tracks: tuple[Track, ...]
    leadout: int

    @property
    def first_track(self) -> Track:
        return self.tracks[0]

    @property
    def last_track(self) -> Track:
        return self.tracks[-1]

    @property
    def disc_type(self) -> int:
        """The disc type of the full TOC point A0 (MMC-6 table 500): 0x00 or 0x20 (XA)."""
        xa = any(t.mode in (TrackMode.MODE2_2336, TrackMode.MODE2_2352) for t in self.tracks)
        return 0x20 if xa else 0x00


@dataclass(frozen=True, slots=True)
class IsoInfo:
    """What pycdlib found in an ISO 9660 file system."""

    label: str
    joliet: bool
    #: The Joliet volume identifier, which may keep case and characters the label loses.
    joliet_label: str | None
    rock_ridge: bool
    udf: bool
    el_torito: bool


@dataclass(frozen=True, eq=False)
class Disc:
    """An immutable disc: the model every optical command reads.

    ``kind`` is ``"iso"`` or ``"cue"``. Open file descriptors of the
    image's files are held in ``_fds`` until :meth:`close`.
    """

    path: Path
    kind: str
    sessions: tuple[Session, ...]
    extents: tuple[Extent, ...]
    catalog: str | None = None
    title: str | None = None
    performer: str | None = None
    songwriter: str | None = None
    iso: IsoInfo | None = None
    #: CD-TEXT packs read from a CDTEXTFILE (18 bytes each), if the sheet names one.
    cdtext_packs: bytes | None = None
    _fds: dict[Path, int] = field(default_factory=dict, repr=False)
    _extent_starts: list[int] = field(default_factory=list, repr=False)
    _track_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._extent_starts[:] = [e.start for e in self.extents]
        self._track_starts[:] = [t.pregap for t in self.tracks]

    # --- opening and closing ----------------------------------------------------

    def open(self) -> Disc:
        """Open every file the disc reads from (read only); returns self."""
        for ext in self.extents:
            sub = ext.subchannel.path if ext.subchannel is not None else None
            for path in (ext.path, sub):
                if path is not None and path not in self._fds:
                    self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.__dict__.pop("fast_range", None)
        return self

    def open_for(self, description: Path, what: str = "a file it names") -> Disc:
        """:meth:`open`, an OSError being an ImageError that names ``description``
        (the CUE sheet, descriptor or image file the disc was read from)."""
        try:
            return self.open()
        except OSError as err:
            self.close()
            opened = f"cannot open {what}" if what else "cannot open"
            raise ImageError(description, None, f"{opened}: {err.strerror}") from None

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self.__dict__.pop("fast_range", None)

    # --- layout -----------------------------------------------------------------

    @property
    def tracks(self) -> tuple[Track, ...]:
        return tuple(t for s in self.sessions for t in s.tracks)

    @property
    def first_track(self) -> Track:
        return self.sessions[0].tracks[0]

    @property
    def last_track(self) -> Track:
        return self.sessions[-1].tracks[-1]

    @property
    def leadout(self) -> int:
        """LBA of the last session's lead-out: one past the last readable sector (0 blank)."""
        return self.sessions[-1].leadout if self.sessions else 0

    @property
    def size_bytes(self) -> int:
        """User data size the drive reports (2048 bytes per sector)."""
        return self.leadout * raw.USER_DATA_SIZE

    @property
    def label(self) -> str | None:
        return self.iso.label if self.iso is not None else None

    @cached_property
    def is_plain_data(self) -> bool:
        """One session of one Mode 1 track stored as 2048-byte sectors (an ISO)."""
        return len(self.extents) == 1 and self.extents[0].mode is TrackMode.MODE1_2048

    @cached_property
    def fast_range(self) -> FastRange | None:
        """The longest run of LBAs a READ (10/12) serves with one ``os.preadv``.

        A run lies in one extent stored as 2048-byte Mode 1 sectors in an
        open file and in one Mode 1/2048 track (its pregap included: READ
        treats a pregap by its track's mode), before the lead-out. None
        when the disc has no such run or is closed.
        """
        best: FastRange | None = None
        leadout = self.leadout
        for ext in self.extents:
            if ext.mode is not TrackMode.MODE1_2048 or ext.path is None:
                continue
            fd = self._fds.get(ext.path)
            if fd is None:
                continue
            for track in self.tracks:
                if track.mode is not TrackMode.MODE1_2048:
                    continue
                first = max(ext.start, track.pregap)
                end = min(ext.end, track.end, leadout)
                if end > first and (best is None or end - first > best.end - best.first):
                    best = FastRange(first, end, fd, ext.offset + (first - ext.start) * 2048)
        return best

    @property
    def has_audio(self) -> bool:
        return any(t.mode.is_audio for t in self.tracks)

    def track(self, number: int) -> Track | None:
        for t in self.tracks:
            if t.number == number:
                return t
        return None

    def track_at(self, lba: int) -> Track | None:
        """The track whose pregap or body holds ``lba`` (None in gaps and lead-outs)."""
        i = bisect.bisect_right(self._track_starts, lba) - 1
        if i < 0:
            return None
        t = self.tracks[i]
        return t if t.pregap <= lba < t.end else None

    def session_of(self, track: Track) -> Session:
        return self.sessions[track.session - 1]

    def extent_at(self, lba: int) -> Extent | None:
        i = bisect.bisect_right(self._extent_starts, lba) - 1
        if i < 0:
            return None
        e = self.extents[i]
        return e if e.start <= lba < e.end else None

    # --- reading ----------------------------------------------------------------

    def read_sectors(self, lba: int, count: int, fmt: SectorFormat, into: list[memoryview]) -> int:
        """Place ``count`` sectors from ``lba`` into ``into``; return the bytes written.

        The caller has checked that every sector exists and has the type
        it asked for (:meth:`track_at`).
        """
        out = Scatter(into)
        end = lba + count
        while lba < end:
            ext = self.extent_at(lba)
            if ext is None:
                raise ValueError(f"LBA {lba} is not recorded")
            n = min(end, ext.end) - lba
            if fmt.is_user_only and ext.path is not None and ext.mode is TrackMode.MODE1_2048:
                fd = self._fds[ext.path]
                out.preadv(fd, ext.offset + (lba - ext.start) * 2048, n * 2048)
            else:
                for i in range(n):
                    self._one_sector(ext, lba + i, fmt, out)
            lba += n
        return out.written

    def read_user_data(self, lba: int, count: int, into: list[memoryview]) -> int:
        """READ (10)/(12), MMC-6 6.15: ``count`` 2048-byte user data blocks from ``lba``.

        Inside :attr:`fast_range`, into buffers of exactly the transfer,
        this is one ``os.preadv``; anything else (other sectors, another
        buffer size, a short read of a shortened file, an I/O error) takes
        the general path, which checks the range and every sector's type
        (Mode 1 or Mode 2 form 1 only) and reads sector by sector.
        """
        span = self.fast_range
        if span is not None and count:
            first, end, fd, offset = span
            nbytes = count << 11
            if (
                first <= lba
                and lba + count <= end
                and (len(into[0]) if len(into) == 1 else sum(map(len, into))) == nbytes
            ):
                try:
                    if _preadv(fd, into, offset + ((lba - first) << 11)) == nbytes:
                        return nbytes
                except OSError:
                    pass
        self.check_range(lba, count)
        if count == 0:
            return 0
        if not self.is_plain_data:
            self.check_types(lba, count, SectorType.ANY, user=True)
        return self.read_sectors(lba, count, USER_DATA, into)

    def check_range(self, lba: int, count: int) -> None:
        """LOGICAL BLOCK ADDRESS OUT OF RANGE unless ``lba`` to ``lba + count`` is on the disc."""
        if lba < 0 or lba + count > self.leadout:
            raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=lba & 0xFFFFFFFF)

    def check_types(self, lba: int, count: int, expected: SectorType, *, user: bool) -> None:
        """Every sector in range is recorded and of the expected type.

        ``user`` is a READ (10/12): Mode 1 or Mode 2 form 1 only; else
        ILLEGAL MODE FOR THIS TRACK at the first other sector (MMC-6 6.15.3).
        """
        end = lba + count
        pos = lba
        while pos < end:
            track = self.track_at(pos)
            if track is None:
                raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=pos)
            stop = min(end, track.end)
            mode = track.mode
            if mode in (TrackMode.MODE2_2336, TrackMode.MODE2_2352) and (
                user or expected not in (SectorType.ANY,)
            ):
                for p in range(pos, stop):
                    ext = self.extent_at(p)
                    assert ext is not None
                    kind = sector_type_of(mode, self.raw_sector(ext, p))
                    want = SectorType.MODE2_FORM1 if user else expected
                    if kind is not want:
                        raise SenseError(ILLEGAL_MODE_FOR_THIS_TRACK, information=p)
            else:
                kind = sector_type_of(mode, None)
                if user and kind is not SectorType.MODE1:
                    raise SenseError(ILLEGAL_MODE_FOR_THIS_TRACK, information=pos)
                if not user and expected is not SectorType.ANY and kind is not expected:
                    raise SenseError(ILLEGAL_MODE_FOR_THIS_TRACK, information=pos)
            pos = stop

    def stored_sector(self, ext: Extent, lba: int) -> bytes:
        """The bytes the image holds for one sector (generated for gaps)."""
        size = ext.mode.stored_size
        if ext.path is None:
            return bytes(size)
        at = ext.offset + (lba - ext.start) * ext.sector_size
        data = os.pread(self._fds[ext.path], size, at)
        if len(data) < size:
            data = data.ljust(size, b"\0")
        if ext.swap:
            swapped = bytearray(size)
            swapped[0::2] = data[1::2]
            swapped[1::2] = data[0::2]
            data = bytes(swapped)
        return data

    def raw_sector(self, ext: Extent, lba: int) -> bytes:
        """The full 2352-byte sector as it is on the disc."""
        data = self.stored_sector(ext, lba)
        mode = ext.mode
        if mode is TrackMode.AUDIO or mode is TrackMode.MODE1_2352 or mode is TrackMode.MODE2_2352:
            if ext.path is None and mode is TrackMode.MODE1_2352:
                return bytes(raw.mode1_sector(lba, bytes(2048)))
            if ext.path is None and mode is TrackMode.MODE2_2352:
                return bytes(raw.mode2_sector(lba, bytes(2336)))
            return data
        if mode is TrackMode.MODE1_2048:
            return bytes(raw.mode1_sector(lba, data))
        return bytes(raw.mode2_sector(lba, data))

    def _one_sector(self, ext: Extent, lba: int, fmt: SectorFormat, out: Scatter) -> None:
        mode = ext.mode
        if mode is TrackMode.AUDIO:
            if fmt.user_data:
                out.write(self.stored_sector(ext, lba))
        elif fmt.is_user_only and mode is TrackMode.MODE1_2048:
            out.write(self.stored_sector(ext, lba))
        else:
            sec = self.raw_sector(ext, lba)
            out.write(select_fields(sec, mode, fmt))
        if fmt.c2:
            out.zeros(fmt.c2)
        if fmt.subchannel is not SubchannelKind.NONE:
            out.write(self.subchannel(lba, fmt.subchannel))

    def subchannel(self, lba: int, kind: SubchannelKind) -> bytes:
        """The sub-channel data of a sector in the format READ CD asks for.

        Sub-channel bytes the image stores are returned as stored: raw
        P-W as they are, formatted Q from their Q bits, R-W as their low
        six bits (not de-interleaved or corrected: MMC-6 6.20.2 asks that
        of a drive reading CD+G packs, and no image here is read as such).
        Without stored bytes the Q channel is generated.
        """
        ext = self.extent_at(lba)
        if ext is not None and ext.subchannel is not None:
            pw = self.stored_subchannel(ext, lba)
            if kind is SubchannelKind.RAW_PW:
                return pw
            if kind is SubchannelKind.FORMATTED_Q:
                return formatted_q(q_of_raw(pw))
            return bytes(b & 0x3F for b in pw)
        track = self.track_at(lba)
        if track is None:
            q = q_subchannel(0, 0xAA, 1, lba - self.leadout, lba)
            pause = False
        else:
            index = track.index_at(lba)
            rel = lba - track.start if index else track.start - lba
            q = q_subchannel(track.control, track.number, index, rel, lba)
            pause = index == 0
        if kind is SubchannelKind.FORMATTED_Q:
            return formatted_q(q)
        if kind is SubchannelKind.RAW_PW:
            return raw_pw(q, pause)
        return bytes(96)

    def stored_subchannel(self, ext: Extent, lba: int) -> bytes:
        """The 96 interleaved P-W bytes the image holds for ``lba`` (zeros past its end)."""
        sub = ext.subchannel
        assert sub is not None
        data = os.pread(self._fds[sub.path], 96, sub.offset + (lba - ext.start) * sub.stride)
        data = data.ljust(96, b"\0")
        return interleave(data) if sub.linear else data


def data_layout(mode: TrackMode, sector: bytes) -> tuple[int, int, bool]:
    """(start, end) of the user data in a raw sector, and whether it has a sub-header."""
    if mode in (TrackMode.MODE1_2048, TrackMode.MODE1_2352):
        return 16, 2064, False
    sub = sector[16:20]
    if sub == sector[20:24] and sub != b"\x00\x00\x00\x00":
        if sub[2] & raw.SUBMODE_FORM2:
            return 24, 2348, True
        return 24, 2072, True
    return 16, 2352, False


def sector_type_of(mode: TrackMode, sector: bytes | None) -> SectorType:
    """The READ CD sector type of a sector of ``mode`` (its raw bytes for Mode 2)."""
    if mode is TrackMode.AUDIO:
        return SectorType.CDDA
    if mode in (TrackMode.MODE1_2048, TrackMode.MODE1_2352):
        return SectorType.MODE1
    if sector is None:
        return SectorType.MODE2_FORMLESS
    _start, end, xa = data_layout(mode, sector)
    if not xa:
        return SectorType.MODE2_FORMLESS
    return SectorType.MODE2_FORM2 if end == 2348 else SectorType.MODE2_FORM1


def select_fields(sector: bytes, mode: TrackMode, fmt: SectorFormat) -> bytes:
    """The parts of a raw data sector that ``fmt`` selects, in sector order."""
    start, end, xa = data_layout(mode, sector)
    parts: list[bytes] = []
    if fmt.sync:
        parts.append(sector[0:12])
    if fmt.header & 1:
        parts.append(sector[12:16])
    if fmt.header & 2 and xa:
        parts.append(sector[16:24])
    if fmt.user_data:
        parts.append(sector[start:end])
    if fmt.edc_ecc:
        parts.append(sector[end:2352])
    return b"".join(parts)


def user_data(sector: bytes, mode: TrackMode) -> bytes:
    """The 2048 user bytes of a Mode 1 or Mode 2 form 1 raw sector."""
    start, _end, _ = data_layout(mode, sector)
    return sector[start : start + 2048]
