"""Alcohol 120% images: an ``.mds`` descriptor and the ``.mdf`` file of sectors.

The descriptor, as the published descriptions of the format give it (the
libmirage notes, the "MDS file format" write-ups), little endian:

- an 88-byte header: ``MEDIA DESCRIPTOR``, the version (1.x here; version
  2 descriptors are encrypted), the medium type (00h CD-ROM, 01h CD-R, 02h
  CD-RW; 10h and 12h are DVDs), the number of sessions and, at byte 80,
  the offset of the session blocks;
- a 24-byte session block per session: start and end (lead-out) LBA, the
  session number, the number of its blocks and of its lead-in blocks
  (points A0h, A1h, A2h), first and last track and the offset of its
  80-byte track blocks;
- a track block: the mode (A9h audio, AAh Mode 1, ABh Mode 2, ACh Mode 2
  form 1, ADh Mode 2 form 2), the sub-channel kind (08h: 96 bytes of
  interleaved P-W after each sector), ADR/CONTROL, the point (the track
  number), the offset of its extra block, the sector size in the MDF
  (2048, 2336, 2352, or 2448 with the sub-channel), the start LBA, the MDF
  offset of index 1, the number of files and the offset of its filename
  block;
- an extra block per track: the pregap (not stored in the MDF) and the
  length in sectors;
- a filename block: the offset of the file name (NUL-terminated, UTF-16
  when the next field is set); ``*.mdf`` means the descriptor's own name
  with the extension ``.mdf``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

from devemu.cdrom.disc import Disc, StoredSubchannel, TrackMode
from devemu.cdrom.image_layout import (
    RAW_SECTOR,
    RAW_WITH_SUBCHANNEL,
    PlannedTrack,
    StoredRun,
    assemble,
    control_fits,
)
from devemu.cdrom.named_files import NamedFiles
from devemu.errors import ImageError
from devemu.image_files import read_small_file

SIGNATURE = b"MEDIA DESCRIPTOR"
HEADER = struct.Struct("<16sBBHH")
SESSIONS_OFFSET = struct.Struct("<I")
SESSIONS_OFFSET_AT = 80
HEADER_SIZE = 88
SESSION = struct.Struct("<iiHBBHHII")
TRACK = struct.Struct("<BBBBBBBBBBBBIH18xIQII24x")
EXTRA = struct.Struct("<II")
FILENAME = struct.Struct("<II8x")
#: Medium types of a CD (CD-ROM, CD-R, CD-RW); DVDs are 10h and 12h.
CD_MEDIA = {0x00: "CD-ROM", 0x01: "CD-R", 0x02: "CD-RW"}
SUBCHANNEL_PW = 0x08
#: Track modes (low nibble of the mode byte) and the stored sector sizes each takes.
MODES = {
    0x9: ("audio", {2352: TrackMode.AUDIO}),
    0xA: ("Mode 1", {2048: TrackMode.MODE1_2048, 2352: TrackMode.MODE1_2352}),
    0xB: ("Mode 2", {2336: TrackMode.MODE2_2336, 2352: TrackMode.MODE2_2352}),
    0xC: ("Mode 2 form 1", {2352: TrackMode.MODE2_2352}),
    0xD: ("Mode 2 form 2", {2352: TrackMode.MODE2_2352}),
}
#: The mode byte a writer gives each track mode.
MODE_BYTES = {
    TrackMode.AUDIO: 0xA9,
    TrackMode.MODE1_2048: 0xAA,
    TrackMode.MODE1_2352: 0xAA,
    TrackMode.MODE2_2336: 0xAB,
    TrackMode.MODE2_2352: 0xAB,
}
#: Largest descriptor read (real ones are a few kB).
MAX_MDS = 1 << 24


class _Reader:
    def __init__(self, path: Path, roots: Sequence[Path] | None) -> None:
        self.path = path
        self.named = NamedFiles(path, roots)
        self.data = read_small_file(path, MAX_MDS, "an MDS descriptor")

    def fail(self, offset: int, reason: str) -> ImageError:
        return ImageError(self.path, f"offset 0x{offset:x}", reason)

    def unpack(self, layout: struct.Struct, offset: int, what: str) -> tuple[int, ...]:
        if offset < 0 or offset + layout.size > len(self.data):
            raise self.fail(offset, f"the {what} runs past the end of the file")
        return layout.unpack_from(self.data, offset)

    def load(self) -> Disc:
        if len(self.data) < HEADER_SIZE or not self.data.startswith(SIGNATURE):
            raise self.fail(0, "no MEDIA DESCRIPTOR signature: not an MDS file")
        _sig, major, minor, medium, sessions = HEADER.unpack_from(self.data)
        if major != 1:
            raise self.fail(16, f"MDS version {major}.{minor} is not supported (only 1.x)")
        if medium not in CD_MEDIA:
            raise self.fail(18, f"medium type 0x{medium:02x} is not a CD (DVD images are not read)")
        if not 1 <= sessions <= 99:
            raise self.fail(20, f"{sessions} sessions")
        (blocks_at,) = SESSIONS_OFFSET.unpack_from(self.data, SESSIONS_OFFSET_AT)
        planned: list[PlannedTrack] = []
        leadouts: list[int] = []
        for n in range(sessions):
            at = blocks_at + n * SESSION.size
            _start, end, number, all_blocks, _leadin, first, last, _, tracks_at = self.unpack(
                SESSION, at, f"session block {n + 1}"
            )
            if number != n + 1:
                raise self.fail(at + 8, f"session block {n + 1} holds session {number}")
            found = []
            for i in range(all_blocks):
                block_at = tracks_at + i * TRACK.size
                track = self.track(block_at, number)
                if track is not None:
                    found.append(track)
            if [t.number for t in found] != list(range(first, last + 1)):
                raise self.fail(
                    at + 12,
                    f"session {number} is said to hold tracks {first} to {last}, "
                    f"its track blocks hold {[t.number for t in found]}",
                )
            planned += found
            leadouts.append(end)
        return assemble(self.path, "mds", planned, leadouts)

    def track(self, at: int, session: int) -> PlannedTrack | None:
        (
            mode_byte,
            subchannel,
            adr_ctl,
            _tno,
            point,
            _m,
            _s,
            _f,
            _zero,
            _pm,
            _ps,
            _pf,
            extra_at,
            sector_size,
            start,
            offset,
            files,
            filename_at,
        ) = self.unpack(TRACK, at, "track block")
        if not 1 <= point <= 99:
            return None  # a lead-in block: A0h, A1h, A2h or a B0h/C0h pointer
        modes = MODES.get(mode_byte & 0x0F)
        if modes is None:
            raise self.fail(at, f"track {point}: mode byte 0x{mode_byte:02x} is not known")
        if subchannel not in (0, SUBCHANNEL_PW):
            raise self.fail(
                at + 1, f"track {point}: sub-channel kind 0x{subchannel:02x} is not known"
            )
        stored = sector_size - 96 if subchannel else sector_size
        mode = modes[1].get(stored)
        if mode is None or (subchannel and stored != RAW_SECTOR):
            raise self.fail(
                at + 14,
                f"track {point}: {modes[0]} sectors of {sector_size} bytes are not supported",
            )
        control = adr_ctl & 0x0F
        if not control_fits(mode, control):
            raise self.fail(at + 2, f"track {point}: CONTROL 0x{control:x} does not fit {modes[0]}")
        pregap, length = self.unpack(EXTRA, extra_at, f"extra block of track {point}")
        if length == 0:
            raise self.fail(extra_at + 4, f"track {point} has no sectors")
        if files != 1:
            raise self.fail(at + 48, f"track {point}: {files} files (one MDF is read)")
        mdf = self.mdf(filename_at, point)
        planned = PlannedTrack(
            point,
            session,
            mode,
            start - pregap,
            start,
            start + length,
            f"offset 0x{at:x}",
            control=control,
        )
        if subchannel:
            sub = StoredSubchannel(mdf, offset + RAW_SECTOR, RAW_WITH_SUBCHANNEL)
            planned.runs.append(
                StoredRun(start, length, mdf, offset, sector_size, file_type="MDF", subchannel=sub)
            )
        else:
            planned.runs.append(StoredRun(start, length, mdf, offset, file_type="MDF"))
        return planned

    def mdf(self, filename_at: int, point: int) -> Path:
        name_at, wide = self.unpack(FILENAME, filename_at, f"filename block of track {point}")
        if not 0 <= name_at < len(self.data):
            raise self.fail(filename_at, f"track {point}: the file name is not in the file")
        raw = self.data[name_at : name_at + 1024]
        if wide:
            end = next((i for i in range(0, len(raw) - 1, 2) if raw[i : i + 2] == b"\0\0"), None)
            text = raw[:end].decode("utf-16-le", "replace") if end is not None else None
        else:
            cut = raw.find(b"\0")
            text = raw[:cut].decode("latin-1") if cut >= 0 else None
        if text is None:
            raise self.fail(name_at, f"track {point}: the file name has no end")
        where = f"offset 0x{name_at:x}"
        if text.lower().startswith("*."):
            text = self.path.stem + text[1:]
        return self.named.resolve(text, where)


def load_mds(path: Path, allowed_roots: Sequence[Path] | None = None) -> Disc:
    """The disc of an Alcohol 120% descriptor and its MDF (opened, ready to read)."""
    disc = _Reader(path, allowed_roots).load()
    return disc.open_for(path)
