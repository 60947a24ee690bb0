"""Nero Burning ROM images (``.nrg``): sector data followed by a chain of chunks.

The layout, as the published descriptions of the format give it (the
Wikipedia "NRG (file format)" article, the libmirage and Aaru notes):

- a footer in the last bytes: ``NERO`` and a 32-bit offset (version 1),
  or ``NER5`` and a 64-bit offset (version 2, Nero 5.5 on) of the first
  chunk; all integers are big endian;
- chunks, each a 4-character id, a 32-bit length and the body, up to
  ``END!``. Version 1 chunks hold 32-bit fields, version 2 ones 64-bit:
  ``CUES``/``CUEX`` the cue points of a session (8 bytes each: ADR/CONTROL,
  track and index in BCD, a zero byte, then the address: MSF in version 1,
  a signed LBA in version 2; track AAh is the lead-out), ``DAOI``/``DAOX``
  a disc-at-once session (a 22-byte header: length, 13-character catalog
  number, a byte, the TOC type, first and last track; then per track the
  12-character ISRC, sector size, mode, and the file offsets of its
  index 0, index 1 and end), ``ETNF``/``ETN2`` track-at-once tracks (file
  offset, length in bytes, mode, start LBA), ``SINF`` the track count of
  a session, ``CDTX`` CD-TEXT packs; others (``MTYP``, ``DINF``, ``TOCT``,
  ``RELO``) are passed over.

A DAO session's chunks come in order (its cue points, then its DAO
block); each DAO chunk, or each ETN chunk, is one session.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from devemu.cdrom.disc import DEFAULT_PREGAP, Disc, StoredSubchannel, TrackMode
from devemu.cdrom.image_layout import (
    RAW_WITH_SUBCHANNEL,
    PlannedTrack,
    StoredRun,
    assemble,
    control_fits,
)
from devemu.cdrom.msf import from_bcd, msf_to_lba
from devemu.errors import ImageError
from devemu.image_files import regular_file

V1_FOOTER = b"NERO"
V2_FOOTER = b"NER5"
CHUNK_HEAD = struct.Struct(">4sI")
#: Largest chunk chain read (real ones are a few kB).
MAX_CHAIN = 1 << 24
LEADOUT_TRACK = 0xAA

CUE_POINT = struct.Struct(">BBBBi")
DAO_HEADER = struct.Struct(">I13sBBBBB")
DAO_TRACK_V1 = struct.Struct(">12sHB3xIII")
DAO_TRACK_V2 = struct.Struct(">12sHB3xQQQ")
ETN_V1 = struct.Struct(">IIIII")
ETN_V2 = struct.Struct(">QQIIQ")
SINF = struct.Struct(">I")


@dataclass(frozen=True)
class NrgMode:
    """A Nero track mode code: the track mode, bytes a sector and whether P-W follows."""

    mode: TrackMode
    sector_size: int

    @property
    def with_subchannel(self) -> bool:
        return self.sector_size == RAW_WITH_SUBCHANNEL


#: Nero's track mode codes (Mode 2 form 1 stored as 2048 bytes, code 02h, is not taken).
MODES = {
    0x00: NrgMode(TrackMode.MODE1_2048, 2048),
    0x03: NrgMode(TrackMode.MODE2_2336, 2336),
    0x05: NrgMode(TrackMode.MODE1_2352, 2352),
    0x06: NrgMode(TrackMode.MODE2_2352, 2352),
    0x07: NrgMode(TrackMode.AUDIO, 2352),
    0x0F: NrgMode(TrackMode.MODE1_2352, RAW_WITH_SUBCHANNEL),
    0x10: NrgMode(TrackMode.AUDIO, RAW_WITH_SUBCHANNEL),
    0x11: NrgMode(TrackMode.MODE2_2352, RAW_WITH_SUBCHANNEL),
}
#: The mode code of a track mode, without and with sub-channel (for writers).
CODES = {(m.mode, m.with_subchannel): code for code, m in MODES.items()}


@dataclass(frozen=True)
class Chunk:
    name: str
    offset: int  # of the chunk's body in the file
    body: bytes


class _Reader:
    def __init__(self, path: Path, roots: Sequence[Path] | None) -> None:
        self.path = path
        self.size = regular_file(path, "a Nero image").st_size
        self.cdtext: bytes | None = None
        self.catalog: str | None = None
        #: The number the next track-at-once track takes.
        self.next_number = 1

    def fail(self, offset: int, reason: str) -> ImageError:
        return ImageError(self.path, f"offset 0x{offset:x}", reason)

    def chunks(self) -> list[Chunk]:
        with self.path.open("rb") as f:
            if self.size < 12:
                raise self.fail(0, f"{self.size} bytes is too short for a Nero image")
            f.seek(self.size - 12)
            tail = f.read(12)
            if tail[:4] == V2_FOOTER:
                footer_at, first = self.size - 12, struct.unpack(">Q", tail[4:])[0]
            elif tail[4:8] == V1_FOOTER:
                footer_at, first = self.size - 8, struct.unpack(">I", tail[8:])[0]
            else:
                raise self.fail(self.size - 8, "no NERO or NER5 footer: not a Nero image")
            if not 0 <= first < footer_at:
                raise self.fail(
                    footer_at, f"the first chunk's offset 0x{first:x} is not in the file"
                )
            if footer_at - first > MAX_CHAIN:
                raise self.fail(first, f"a chunk chain of {footer_at - first} bytes is too long")
            f.seek(first)
            chain = f.read(footer_at - first)
        out: list[Chunk] = []
        at = 0
        while True:
            if at + CHUNK_HEAD.size > len(chain):
                raise self.fail(first + at, "the chunk chain ends without an END! chunk")
            raw_name, length = CHUNK_HEAD.unpack_from(chain, at)
            name = raw_name.decode("latin-1")
            body_at = at + CHUNK_HEAD.size
            if name == "END!":
                return out
            if body_at + length > len(chain):
                raise self.fail(
                    first + at, f"chunk {name!r} of {length} bytes runs past the footer"
                )
            out.append(Chunk(name, first + body_at, chain[body_at : body_at + length]))
            at = body_at + length

    def load(self) -> Disc:
        chunks = self.chunks()
        sessions: list[list[PlannedTrack]] = []
        leadouts: list[int] = []
        cues: list[Chunk] = []
        for chunk in chunks:
            if chunk.name in ("CUES", "CUEX"):
                cues.append(chunk)
            elif chunk.name in ("DAOI", "DAOX"):
                if len(cues) != len(sessions) + 1:
                    raise self.fail(chunk.offset, f"{chunk.name} chunk without its cue points")
                tracks, leadout = self.dao_session(cues[-1], chunk, len(sessions) + 1)
                sessions.append(tracks)
                leadouts.append(leadout)
            elif chunk.name in ("ETNF", "ETN2"):
                tracks, leadout = self.tao_session(chunk, len(sessions) + 1, leadouts)
                sessions.append(tracks)
                leadouts.append(leadout)
            elif chunk.name == "CDTX":
                if not chunk.body or len(chunk.body) % 18:
                    raise self.fail(chunk.offset, "CDTX chunk is not a list of 18-byte packs")
                self.cdtext = chunk.body
        sinf = [c for c in chunks if c.name == "SINF"]
        for number, (chunk, tracks) in enumerate(zip(sinf, sessions, strict=False), 1):
            if len(chunk.body) < SINF.size:
                raise self.fail(chunk.offset, "SINF chunk is shorter than 4 bytes")
            (count,) = SINF.unpack_from(chunk.body)
            if count != len(tracks):
                raise self.fail(
                    chunk.offset,
                    f"SINF says session {number} has {count} tracks, not {len(tracks)}",
                )
        if not sessions:
            raise self.fail(0, "no DAOI/DAOX or ETNF/ETN2 chunk: the image holds no session")
        planned = [t for s in sessions for t in s]
        return assemble(
            self.path,
            "nrg",
            planned,
            leadouts,
            catalog=self.catalog,
            cdtext=self.cdtext,
            file_sizes={self.path: self.size},
        )

    def mode(self, code: int, where: int, sector_size: int | None = None) -> NrgMode:
        mode = MODES.get(code)
        if mode is None:
            raise self.fail(where, f"track mode code 0x{code:02x} is not supported")
        if sector_size is not None and sector_size != mode.sector_size:
            raise self.fail(
                where, f"mode 0x{code:02x} has {mode.sector_size}-byte sectors, not {sector_size}"
            )
        return mode

    def cue_points(self, chunk: Chunk) -> dict[int, dict[int, tuple[int, int]]]:
        """track -> index -> (LBA, ADR/CONTROL byte)."""
        body = chunk.body
        if not body or len(body) % CUE_POINT.size:
            raise self.fail(chunk.offset, f"{chunk.name} chunk is not a list of 8-byte cue points")
        points: dict[int, dict[int, tuple[int, int]]] = {}
        for at in range(0, len(body), CUE_POINT.size):
            adr_ctl, track, index, _zero, address = CUE_POINT.unpack_from(body, at)
            if chunk.name == "CUES":
                m, s, f = body[at + 5], body[at + 6], body[at + 7]
                if s >= 60 or f >= 75:
                    raise self.fail(chunk.offset + at, f"cue point time {m}:{s}:{f} is not valid")
                address = msf_to_lba(m, s, f)
            if track != LEADOUT_TRACK:
                track = from_bcd(track)
            points.setdefault(track, {})[from_bcd(index)] = (address, adr_ctl)
        return points

    def dao_session(self, cue: Chunk, dao: Chunk, session: int) -> tuple[list[PlannedTrack], int]:
        points = self.cue_points(cue)
        body = dao.body
        layout = DAO_TRACK_V1 if dao.name == "DAOI" else DAO_TRACK_V2
        if len(body) < DAO_HEADER.size:
            raise self.fail(dao.offset, f"{dao.name} chunk is shorter than its header")
        _length, mcn, _a, _toc, _b, first, last = DAO_HEADER.unpack_from(body)
        count = last - first + 1
        if count < 1 or DAO_HEADER.size + count * layout.size != len(body):
            raise self.fail(
                dao.offset,
                f"{dao.name} chunk of {len(body)} bytes does not hold tracks {first} to {last}",
            )
        catalog = mcn.rstrip(b"\0 ").decode("ascii", "replace")
        if catalog and session == 1:
            if not (len(catalog) == 13 and catalog.isdigit()):
                raise self.fail(dao.offset + 4, f"catalog number {catalog!r} is not 13 digits")
            self.catalog = catalog
        leadout_point = points.get(LEADOUT_TRACK, {}).get(1)
        if leadout_point is None:
            raise self.fail(cue.offset, f"{cue.name} chunk has no lead-out cue point")
        leadout = leadout_point[0]
        tracks: list[PlannedTrack] = []
        for i in range(count):
            number = first + i
            at = DAO_HEADER.size + i * layout.size
            where = dao.offset + at
            isrc_raw, sector_size, code, index0, index1, end = layout.unpack_from(body, at)
            mode = self.mode(code, where, sector_size)
            cue_points = points.get(number)
            if cue_points is None or 1 not in cue_points:
                raise self.fail(cue.offset, f"{cue.name} chunk has no index 1 of track {number}")
            start, adr_ctl = cue_points[1]
            control = adr_ctl >> 4
            if not control_fits(mode.mode, control):
                raise self.fail(
                    where, f"track {number}'s CONTROL 0x{control:x} does not fit {mode.mode.label}"
                )
            pregap = cue_points.get(0, (start, 0))[0]
            if (
                not index0 <= index1 <= end
                or (index1 - index0) % sector_size
                or (end - index1) % sector_size
            ):
                raise self.fail(
                    where, f"track {number}'s file offsets {index0}, {index1}, {end} do not fit"
                )
            stored_pregap = (index1 - index0) // sector_size
            body_sectors = (end - index1) // sector_size
            others = tuple(lba for n, (lba, _) in sorted(cue_points.items()) if n >= 2)
            planned = PlannedTrack(
                number,
                session,
                mode.mode,
                pregap,
                start,
                start + body_sectors,
                f"offset 0x{where:x}",
                control=control,
                indexes=others,
                isrc=_isrc(isrc_raw),
            )
            if stored_pregap + body_sectors:
                planned.runs.append(
                    self.run(start - stored_pregap, stored_pregap + body_sectors, index0, mode)
                )
            tracks.append(planned)
        for before, after in pairwise(tracks):
            if before.end != after.pregap:
                raise ImageError(
                    self.path,
                    after.where,
                    f"track {before.number} ends at {before.end} in the file but track "
                    f"{after.number}'s index 0 is at {after.pregap}",
                )
        self.next_number = last + 1
        return tracks, leadout

    def tao_session(
        self, chunk: Chunk, session: int, leadouts: list[int]
    ) -> tuple[list[PlannedTrack], int]:
        layout = ETN_V1 if chunk.name == "ETNF" else ETN_V2
        body = chunk.body
        if not body or len(body) % layout.size:
            raise self.fail(chunk.offset, f"{chunk.name} chunk is not a list of track entries")
        tracks: list[PlannedTrack] = []
        first_number = self.next_number
        for i, at in enumerate(range(0, len(body), layout.size)):
            offset, length, code, start, _ = layout.unpack_from(body, at)
            where = chunk.offset + at
            mode = self.mode(code & 0xFF, where)
            if length == 0 or length % mode.sector_size:
                raise self.fail(where, f"{length} bytes is not a whole number of sectors")
            number = first_number + i
            if tracks:
                pregap = tracks[-1].end
            elif leadouts:
                pregap = start - DEFAULT_PREGAP
            else:
                pregap = start - DEFAULT_PREGAP if start else 0
            planned = PlannedTrack(
                number,
                session,
                mode.mode,
                pregap,
                start,
                start + length // mode.sector_size,
                f"offset 0x{where:x}",
                control=0 if mode.mode.is_audio else 0x04,
            )
            planned.runs.append(self.run(start, length // mode.sector_size, offset, mode))
            tracks.append(planned)
        self.next_number = first_number + len(tracks)
        return tracks, tracks[-1].end

    def run(self, start: int, count: int, offset: int, mode: NrgMode) -> StoredRun:
        if mode.with_subchannel:
            sub = StoredSubchannel(self.path, offset + 2352, RAW_WITH_SUBCHANNEL)
            return StoredRun(
                start,
                count,
                self.path,
                offset,
                RAW_WITH_SUBCHANNEL,
                file_type="NRG",
                subchannel=sub,
            )
        return StoredRun(start, count, self.path, offset, file_type="NRG")


def _isrc(raw: bytes) -> str | None:
    text = raw.rstrip(b"\0 ").decode("ascii", "replace")
    return text or None


def load_nrg(path: Path, allowed_roots: Sequence[Path] | None = None) -> Disc:
    """The disc of a Nero image (opened, ready to read); ImageError if it is not one."""
    try:
        disc = _Reader(path, allowed_roots).load()
    except OSError as err:
        raise ImageError(path, None, f"cannot read: {err.strerror}") from None
    return disc.open_for(path, "")
