"""A recordable disc: what has been written, where it is kept, and how it survives a crash.

Theory of operation
-------------------
A :class:`Recording` is a blank or partly written CD-R or CD-RW kept in
one folder of its own (made by :func:`new_recording` under the folder the
configuration names). It holds:

``state.json``
    the layout of every *completed* track (number, session, mode, where
    its index 0 and index 1 are, its end), how many sessions are closed
    and whether the disc is finalized; replaced atomically
    (:func:`devemu.atomic_file.write_atomic`);
``trackNN.bin``
    each track's sectors as written (2048 bytes a Mode 1 sector, 2352 an
    audio sector), from its first host-written sector on;
``cdtext.bin``
    the CD-TEXT packs a Session At Once recording wrote in its lead-in
    (:mod:`devemu.cdrom.leadin_text`), named by the CUE sheet's
    ``CDTEXTFILE``; written (atomically) before the state names it;
``disc.cue`` and, for one session of one Mode 1 track, ``disc.iso``
    the kept image: a CUE sheet over the track files (``REM SESSION`` for
    each session, ``PREGAP`` for the 150 blocks a Track-At-Once pregap
    the drive writes itself), which :func:`devemu.cdrom.image.load_image`
    and ``devemu image info`` read like any other; ``disc.iso`` is a hard
    link to the one track's file.

Order of writing, for ``kill -9`` at any moment: sectors go straight into
the track file at their place (``os.pwritev`` from the command's
buffers); a track completes (SYNCHRONIZE CACHE or CLOSE TRACK in TAO, the
last sector of a SAO cue sheet) by ``fsync`` of its file, then
``state.json`` is replaced, then the kept image. A restart reads
``state.json`` only: a track that was being written when the process
died is not in it and its sectors are dropped; every completed track is
readable, an open session stays open (MMC-6 4.5.3: the disc is
"incomplete" and its next writable address follows the last completed
track). The kept image is rewritten from the state on every load.

A reserved track (RESERVE TRACK, MMC-6 6.32) is part of the disc as
soon as it is reserved: the state names it (``reserved``: its number,
mode, start, size and the blocks written and made durable by the last
SYNCHRONIZE CACHE), so a restarted drive answers READ TRACK INFORMATION
for it as before and takes the rest of its blocks; sectors written into
it after the last synchronization are dropped like an open track's.

Addresses (MMC-6 4.2.3, ECMA-130 / Orange Book): the first track's index
1 is LBA 0; a Track-At-Once track after the first of its session starts
150 blocks after the previous one ends (its pregap, written by the
drive); the first track of a later session starts after the lead-out of
the previous session (6750 blocks after the first session, 2250 after
later ones), the lead-in (4500) and a 150-block pregap. These are the
addresses the CUE loader gives the same layout, so what is written is
read back at the address it was written to.

Paths: every name in the folder is made here (``trackNN.bin``,
``state.json``, ``disc.cue``, ``disc.iso``); the folder is opened once
and files are opened with ``O_NOFOLLOW``, so nothing outside it is
written even if a name inside is replaced by a symbolic link.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Set
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from devemu.atomic_file import fsync_directory, write_atomic
from devemu.cdrom import sector as raw
from devemu.cdrom.cue import parse_cue
from devemu.cdrom.disc import (
    DEFAULT_PREGAP,
    FIRST_LEADOUT_LENGTH,
    LEADIN_LENGTH,
    NEXT_LEADOUT_LENGTH,
    Disc,
    TrackMode,
)
from devemu.cdrom.format_state import FormatState
from devemu.cdrom.iso import DESCRIPTOR_SECTOR, SECTOR
from devemu.cdrom.media import BlankMedium
from devemu.errors import DevemuError, ImageError
from devemu.image_files import read_small_file
from devemu.iov import pwrite_all

STATE = "state.json"
CUE = "disc.cue"
ISO = "disc.iso"
CDTEXT = "cdtext.bin"
STATE_VERSION = 1
_MAX_STATE = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FOLDER = re.compile(r"^[A-Za-z0-9_-]{1,64}-[0-9]{3,}$")
#: The modes a track can be written in: audio and Mode 1 (TAO data block types 00h and 08h,
#: SAO data forms 00h/10h) and CD-ROM XA Mode 2 form 1 (data block type 0Ah), kept as the
#: 2336 bytes after each sector's header (MODE2/2336 of a CUE sheet).
WRITABLE_MODES = (TrackMode.AUDIO, TrackMode.MODE1_2048, TrackMode.MODE2_2336)
#: Bytes of a Mode 2 sector after the sub-header and the form 1 user data: EDC and ECC,
#: kept as zeros and generated when a raw sector is read (:func:`devemu.cdrom.sector.mode2_sector`).
_FORM1_TAIL = bytes(2336 - 8 - 2048)


def host_size(mode: TrackMode) -> int:
    """Bytes a sector of ``mode`` takes in a WRITE: 2048 for Mode 1 and XA form 1, 2352 audio."""
    return 2048 if mode is TrackMode.MODE2_2336 else mode.stored_size


#: Tracks on a CD (MMC-6 4.2.3.5: track numbers 1 to 99).
MAX_TRACKS = 99


class RecordingError(DevemuError):
    """A recording folder or its state file cannot be used."""


@dataclass(frozen=True, slots=True)
class WrittenTrack:
    """A completed track: sectors ``first`` to ``end - 1`` are in its file.

    ``first`` is the first host-written sector (index 0 when the host
    wrote the pregap, as in Session At Once), ``start`` index 1, and
    ``generated_pregap`` the blocks of pregap the drive wrote itself
    before ``first`` (150 for a Track-At-Once track after the first of its
    session; the first track of a session has its pregap by position).
    """

    number: int
    session: int
    mode: TrackMode
    first: int
    start: int
    end: int
    generated_pregap: int = 0

    @property
    def file_name(self) -> str:
        return f"track{self.number:02d}.bin"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["mode"] = self.mode.label
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WrittenTrack:
        return cls(
            number=int(data["number"]),
            session=int(data["session"]),
            mode=TrackMode.from_label(str(data["mode"])),
            first=int(data["first"]),
            start=int(data["start"]),
            end=int(data["end"]),
            generated_pregap=int(data.get("generated_pregap", 0)),
        )


@dataclass(slots=True)
class OpenTrack:
    """The track being written: its sectors from ``first`` to ``first + written - 1``."""

    number: int
    session: int
    mode: TrackMode
    first: int
    start: int
    fd: int
    generated_pregap: int = 0
    written: int = 0
    #: Blocks RESERVE TRACK set aside for it (MMC-6 6.32); 0 for a track that grows as written.
    reserved: int = 0
    #: The CD-ROM XA sub-header of a Mode 2 form 1 track's sectors (ECMA-130 14.4).
    subheader: bytes = raw.FORM1_SUBHEADER

    @property
    def next_address(self) -> int:
        return self.first + self.written

    @property
    def full(self) -> bool:
        """A reserved track whose every block is written."""
        return bool(self.reserved) and self.written >= self.reserved


@dataclass(slots=True)
class Recording:
    """One recordable disc in its folder: the completed tracks and the one being written."""

    folder: Path
    medium: BlankMedium
    #: Blocks from LBA 0 up to the last possible start of the lead-out.
    sectors: int
    tracks: list[WrittenTrack] = field(default_factory=list)
    closed_sessions: int = 0
    finalized: bool = False
    open_track: OpenTrack | None = None
    #: A rewritable DVD or BD once formatted: its one track is its formatted area.
    format: FormatState | None = None
    #: The CD-TEXT packs written in the lead-in (kept in ``cdtext.bin``), if any.
    cdtext: bytes | None = None
    _dir_fd: int = -1
    #: The formatted area's file, open for writes anywhere in it.
    _area_fd: int = -1
    #: Every track's sectors are in one file at their LBA (DVD, BD), not a file each (CD).
    shared_file: ClassVar[bool] = False

    # --- state ---------------------------------------------------------------------

    @property
    def blank(self) -> bool:
        return not self.tracks and self.open_track is None

    @property
    def random_access(self) -> bool:
        """Written at random in a formatted area (MMC-6 4.5.2 DVD+RW, 4.5.4 restricted
        overwrite, 4.8.3 BD-RE), not track after track: a DVD+RW or BD-RE, and a DVD-RW
        once formatted; a DVD-RW in sequential recording (profile 14h) is written like a
        DVD-R."""
        if self.medium is BlankMedium.DVD_RW:
            return self.format is not None
        return self.medium.overwritable

    @property
    def session(self) -> int:
        """The number of the session being (or to be) written: one past the closed ones."""
        return self.closed_sessions + 1

    @property
    def sessions(self) -> int:
        """Sessions on the disc, the open or empty one included (MMC-6 6.22.3.1.5)."""
        return self.closed_sessions if self.finalized else self.closed_sessions + 1

    @property
    def session_open(self) -> bool:
        """The last session holds tracks and is not closed (incomplete, MMC-6 table 509)."""
        if self.finalized:
            return False
        return self.open_track is not None or any(t.session == self.session for t in self.tracks)

    @property
    def next_track_number(self) -> int:
        return (self.tracks[-1].number if self.tracks else 0) + 1

    # --- layout: what a CD does; :mod:`devemu.cdrom.sequential` changes it for DVD and BD ---

    def track_file(self, number: int) -> str:
        """The file in the folder holding track ``number``'s sectors."""
        return f"track{number:02d}.bin"

    def pregap_of_next(self) -> int:
        """Blocks of pregap the drive writes before a Track-At-Once track it opens: 150 after
        a track of the same session (ECMA-130), none for a session's first track."""
        in_session = bool(self.tracks) and self.tracks[-1].session == self.session
        return DEFAULT_PREGAP if in_session else 0

    def write_mode(self, requested: TrackMode) -> TrackMode:
        """The mode a track opened by a WRITE records in: the one page 05h names."""
        return requested

    def next_track_start(self) -> int:
        """Index 1 of the next Track-At-Once track (its pregap is written by the drive)."""
        if not self.tracks:
            return 0
        last = self.tracks[-1]
        if last.session == self.session:
            return last.end + DEFAULT_PREGAP
        gap = FIRST_LEADOUT_LENGTH if last.session == 1 else NEXT_LEADOUT_LENGTH
        return last.end + gap + LEADIN_LENGTH + DEFAULT_PREGAP

    @property
    def next_writable(self) -> int | None:
        """Where the next Track-At-Once write goes (MMC-6 4.5.3.3): the open track's next
        address, else the invisible track's start; None on a finalized or full disc."""
        if self.finalized:
            return None
        if self.open_track is not None and not self.open_track.full:
            nwa = self.open_track.next_address
        else:
            nwa = self.invisible_start()
        return nwa if nwa < self.sectors else None

    def invisible_start(self) -> int:
        """Index 1 of the invisible track: after a reserved track, else the next track's."""
        track = self.open_track
        if track is not None and track.reserved:
            return track.start + track.reserved + DEFAULT_PREGAP
        if track is not None:
            return track.start
        return self.next_track_start()

    def reserve(self, mode: TrackMode, blocks: int) -> OpenTrack:
        """RESERVE TRACK (MMC-6 6.32): the invisible track becomes a track of ``blocks``."""
        start = self.next_track_start()
        track = self.begin_track(
            mode, first=start, start=start, generated_pregap=self.pregap_of_next()
        )
        track.reserved = blocks
        self.save()
        return track

    @property
    def free_blocks(self) -> int:
        nwa = self.next_writable
        return 0 if nwa is None else self.sectors - nwa

    # --- files ---------------------------------------------------------------------

    def _open_file(self, name: str, flags: int) -> int:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=self._dir_fd)

    def open_folder(self) -> None:
        if self._dir_fd < 0:
            self._dir_fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self.open_track is not None:
            os.close(self.open_track.fd)
            self.open_track = None
        self._close_area()
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    # --- writing -------------------------------------------------------------------

    def begin_track(
        self, mode: TrackMode, *, first: int, start: int, generated_pregap: int = 0
    ) -> OpenTrack:
        """Open the file of the next track; its first sector will be ``first``."""
        if self.open_track is not None:
            raise AssertionError("a track is already open")
        if mode not in WRITABLE_MODES:
            raise ValueError(f"cannot record {mode.label} tracks")
        number = self.next_track_number
        name = self.track_file(number)
        # O_NOFOLLOW: a symbolic link put in the track's place is refused (ELOOP).
        truncate = 0 if self.shared_file else os.O_TRUNC
        fd = self._open_file(name, os.O_RDWR | os.O_CREAT | truncate)
        self.open_track = OpenTrack(
            number, self.session, mode, first, start, fd, generated_pregap=generated_pregap
        )
        return self.open_track

    def write(self, lba: int, buffers: list[memoryview], count: int) -> None:
        """Store ``count`` sectors at ``lba``, the open track's next address.

        The caller has checked the address and that the buffers hold
        ``count`` sectors of the track's stored size.
        """
        track = self.open_track
        assert track is not None and lba == track.next_address
        size = track.mode.stored_size
        offset = (lba if self.shared_file else lba - track.first) * size
        if track.mode is TrackMode.MODE2_2336:
            buffers = [memoryview(_xa_form1(b"".join(buffers), track.subheader))]
        pwrite_all(track.fd, buffers, offset)
        track.written += count

    def write_zeros(self, count: int) -> None:
        """Store ``count`` empty sectors at the open track's next address."""
        track = self.open_track
        assert track is not None
        size = host_size(track.mode)
        zeros = bytes(size * min(count, 64))
        left = count
        while left:
            n = min(left, 64)
            self.write(track.next_address, [memoryview(zeros)[: n * size]], n)
            left -= n

    def flush(self) -> None:
        """Make the open track's written sectors durable (they are not on the disc yet);
        a reserved track's state records how many there are."""
        if self.open_track is not None:
            os.fsync(self.open_track.fd)
            if self.open_track.reserved:
                self.save()

    def keep_cdtext(self, packs: bytes) -> None:
        """Keep the lead-in's CD-TEXT packs; the next state names them."""
        write_atomic(self.folder / CDTEXT, packs)
        self.cdtext = packs

    def complete_track(self) -> WrittenTrack | None:
        """Close the open track: flush its file, record it, rewrite the kept image.

        A track of no sector is dropped (MMC-6 6.3.2.2: closing an empty
        invisible track does nothing).
        """
        track = self.open_track
        if track is None:
            return None
        self.open_track = None
        try:
            os.fsync(track.fd)
        finally:
            os.close(track.fd)
        if track.written == 0 or track.next_address <= track.start:
            self._drop_track_file(track.number)
            return None
        done = WrittenTrack(
            track.number,
            track.session,
            track.mode,
            track.first,
            track.start,
            track.next_address,
            track.generated_pregap,
        )
        self.tracks.append(done)
        self.save()
        return done

    def _drop_track_file(self, number: int) -> None:
        """Forget the sectors of a track that never completed."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.track_file(number), dir_fd=self._dir_fd)

    def close_session(self, *, finalize: bool) -> None:
        """Close the last session (MMC-6 6.3.2.3); ``finalize`` allows no further session."""
        track = self.open_track
        if track is not None and track.reserved and not track.full:
            self.write_zeros(track.reserved - track.written)
        self.complete_track()
        if self.finalized:
            return
        has_tracks = any(t.session == self.session for t in self.tracks)
        if has_tracks:
            self.closed_sessions += 1
        if finalize and self.tracks:
            self.finalized = True
        self.save()

    def erase(self, *, last_session_only: bool = False) -> None:
        """BLANK (MMC-6 6.2): the whole disc, or the last session's tracks."""
        if self.open_track is not None:
            os.close(self.open_track.fd)
            self._drop_track_file(self.open_track.number)
            self.open_track = None
        if last_session_only and self.tracks:
            last = self.tracks[-1].session
            drop = [t for t in self.tracks if t.session == last]
            self.tracks = [t for t in self.tracks if t.session != last]
            self.closed_sessions = min(self.closed_sessions, last - 1)
        else:
            drop, self.tracks = self.tracks, []
            self.closed_sessions = 0
        self.finalized = False
        if not self.tracks:
            self.cdtext = None
        self.save()
        if self.cdtext is None:
            _unlink(self.folder / CDTEXT)
        for t in drop:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(t.file_name, dir_fd=self._dir_fd)

    def unclose_last_session(self) -> None:
        """BLANK type 05h: the last session may be appended to again."""
        if self.finalized or self.closed_sessions:
            if not self.finalized:
                self.closed_sessions -= 1
            self.finalized = False
            if self.tracks and self.tracks[-1].session <= self.closed_sessions:
                self.closed_sessions = self.tracks[-1].session - 1
            self.save()

    # --- a formatted area, written anywhere (rewritable DVD and BD) ------------------

    def format_area(self, state: FormatState) -> None:
        """Lay out a new formatted area of ``state.blocks`` empty blocks (FORMAT UNIT).

        The area is track 1 of session 1, its file ``track01.bin`` (sparse:
        unwritten blocks read as zeros). Order for ``kill -9``: the file is
        emptied and sized and flushed, then ``state.json`` names the format.
        """
        self._close_area()
        if self.open_track is not None:  # a DVD-RW formatted in the middle of a track
            os.close(self.open_track.fd)
            self.open_track = None
        fd = self._open_file(self.track_file(1), os.O_RDWR | os.O_CREAT)
        try:
            os.ftruncate(fd, 0)
            os.ftruncate(fd, state.blocks * 2048)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.format = state
        self.tracks = [WrittenTrack(1, 1, TrackMode.MODE1_2048, 0, 0, state.blocks)]
        self.closed_sessions = 0
        self.finalized = False
        self.save()

    def unformat(self) -> None:
        """Forget the format and the area's blocks (a DVD-RW blanked to sequential mode)."""
        self._close_area()
        self.format = None
        self.erase()

    def write_area(self, lba: int, buffers: list[memoryview], count: int) -> None:
        """Store ``count`` blocks at ``lba`` of the formatted area (the caller checked the
        range and that the buffers hold ``count`` 2048-byte blocks)."""
        if self._area_fd < 0:
            self._area_fd = self._open_file(self.track_file(1), os.O_RDWR)
        pwrite_all(self._area_fd, buffers, lba * 2048)

    def flush_area(self) -> None:
        """Make every block written to the formatted area durable (SYNCHRONIZE CACHE, FUA)."""
        if self._area_fd >= 0:
            os.fdatasync(self._area_fd)

    def _close_area(self) -> None:
        if self._area_fd >= 0:
            os.close(self._area_fd)
            self._area_fd = -1

    def check_files(self, state: Path, keep: Set[str] = frozenset()) -> None:
        """Every completed track's file holds its sectors; sectors written after the last
        completed track (a track the process died writing) are dropped, and so are track
        files of no track but those in ``keep`` (a reserved track's)."""
        names = {t.file_name for t in self.tracks} | keep
        for t in self.tracks:
            need = (t.end - t.first) * t.mode.stored_size
            try:
                st = os.stat(t.file_name, dir_fd=self._dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                self.close()
                raise ImageError(state, None, f"{t.file_name} is missing") from None
            if not stat.S_ISREG(st.st_mode):
                self.close()
                raise ImageError(state, None, f"{t.file_name} is not a regular file")
            if st.st_size < need and self.format is None:
                self.close()
                raise ImageError(state, None, f"{t.file_name} holds {st.st_size} bytes of {need}")
            if st.st_size != need:
                # Sectors past the track's end were written after its last sync: cut them. A
                # formatted area cut short by a format that was stopped grows back empty.
                fd = self._open_file(t.file_name, os.O_WRONLY)
                try:
                    os.ftruncate(fd, need)
                finally:
                    os.close(fd)
        for leftover in os.listdir(self._dir_fd):
            if re.fullmatch(r"track[0-9]{2}\.bin", leftover) and leftover not in names:
                os.unlink(leftover, dir_fd=self._dir_fd)

    # --- the state file and the kept image -------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": STATE_VERSION,
            "medium": self.medium.label,
            "sectors": self.sectors,
            "closed_sessions": self.closed_sessions,
            "finalized": self.finalized,
            "tracks": [t.to_json() for t in self.tracks],
        }
        if self.format is not None:
            out["format"] = self.format.to_json()
        track = self.open_track
        # A reserved CD track is kept with its own file; a DVD or BD track is kept once
        # completed (its blocks share the disc's one file).
        if track is not None and track.reserved and not self.shared_file:
            out["reserved"] = {
                "number": track.number,
                "session": track.session,
                "mode": track.mode.label,
                "first": track.first,
                "start": track.start,
                "generated_pregap": track.generated_pregap,
                "blocks": track.reserved,
                "written": track.written,
                "subheader": track.subheader.hex(),
            }
        if self.cdtext is not None:
            out["cdtext"] = CDTEXT
        return out

    def save(self) -> None:
        """Replace ``state.json``, then the kept image (the CUE sheet, the ISO link)."""
        write_atomic(self.folder / STATE, json.dumps(self.to_json(), indent=1).encode() + b"\n")
        self._write_image()

    def cue_text(self) -> str:
        """The CUE sheet of the completed tracks (``REM SESSION`` for each session)."""
        lines = [f'CDTEXTFILE "{CDTEXT}"'] if self.cdtext is not None and self.tracks else []
        multisession = any(t.session > 1 for t in self.tracks)
        session = 0
        for t in self.tracks:
            if multisession and t.session != session:
                session = t.session
                lines.append(f"REM SESSION {session:02d}")
            lines.append(f'FILE "{t.file_name}" BINARY')
            lines.append(f"  TRACK {t.number:02d} {t.mode.label}")
            if t.generated_pregap:
                lines.append(f"    PREGAP {cue_time(t.generated_pregap)}")
            if t.start > t.first:
                lines.append(f"    INDEX 00 {cue_time(0)}")
            lines.append(f"    INDEX 01 {cue_time(t.start - t.first)}")
        return "\n".join(lines) + "\n" if lines else ""

    @property
    def iso_like(self) -> bool:
        """One session of one Mode 1 track holding an ISO 9660 volume descriptor at
        sector 16 (ECMA-119 8.1): its file is an ISO image."""
        if not (
            len(self.tracks) == 1
            and self.tracks[0].mode is TrackMode.MODE1_2048
            and self.tracks[0].first == 0
            and self.tracks[0].end > DESCRIPTOR_SECTOR
        ):
            return False
        fd = self._open_file(self.tracks[0].file_name, os.O_RDONLY)
        try:
            return os.pread(fd, 6, DESCRIPTOR_SECTOR * SECTOR)[1:6] == b"CD001"
        finally:
            os.close(fd)

    @property
    def image_path(self) -> Path:
        """The kept image: ``disc.iso`` for one data track, else ``disc.cue``."""
        return self.folder / (ISO if self.iso_like else CUE)

    def _write_image(self) -> None:
        text = self.cue_text()
        if text:
            write_atomic(self.folder / CUE, text.encode())
        else:
            _unlink(self.folder / CUE)
        _unlink(self.folder / ISO)
        if self.iso_like:
            os.link(
                self.tracks[0].file_name,
                ISO,
                src_dir_fd=self._dir_fd,
                dst_dir_fd=self._dir_fd,
                follow_symlinks=False,
            )
        fsync_directory(self.folder)

    def disc(self) -> Disc:
        """The readable disc: the completed tracks, opened (read only)."""
        text = self.cue_text()
        if not text:
            return Disc(self.folder / CUE, "blank", (), ())
        return parse_cue(self.folder / CUE, text, [self.folder.resolve()]).open()

    def describe(self) -> dict[str, Any]:
        """The disc's recording state for ``status`` (a rewritable DVD or BD: its format,
        written anywhere, no next writable address)."""
        nwa = None if self.random_access else self.next_writable
        return {
            "folder": str(self.folder),
            "blank_type": self.medium.label,
            "status": disc_status_name(self),
            "sessions": self.sessions,
            "closed_sessions": self.closed_sessions,
            "tracks": len(self.tracks),
            "next_writable": nwa,
            "free_blocks": self.free_blocks if nwa is not None else 0,
            "kept_image": str(self.image_path) if self.tracks else None,
            "writing": None
            if self.open_track is None
            else {"track": self.open_track.number, "written": self.open_track.written},
        } | ({"format": self.format.to_json()} if self.format is not None else {})


def _xa_form1(data: bytes, subheader: bytes) -> bytes:
    """2048-byte blocks as Mode 2 form 1 sectors after their header: sub-header twice,
    data, and room for the EDC/ECC."""
    head = subheader + subheader
    return b"".join(head + data[i : i + 2048] + _FORM1_TAIL for i in range(0, len(data), 2048))


def disc_status_name(rec: Recording) -> str:
    if rec.random_access:
        return "blank" if rec.format is None else "formatted"
    if rec.finalized:
        return "complete"
    return "blank" if rec.blank else "incomplete"


def cue_time(frames: int) -> str:
    """``mm:ss:ff`` of a CUE sheet for a count of frames (75 a second)."""
    return f"{frames // 4500:02d}:{frames // 75 % 60:02d}:{frames % 75:02d}"


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


# --- folders -------------------------------------------------------------------------


def pointer_path(root: Path, drive: str) -> Path:
    """The file naming the recording in ``drive``: ``<root>/<drive>.current``."""
    return root / f"{drive}.current"


def new_recording(root: Path, drive: str, medium: BlankMedium, sectors: int) -> Recording:
    """A blank disc in a new folder ``<root>/<drive>-NNN`` (the next free number).

    ``drive`` is a configuration name (letters, digits, ``_`` and ``-``):
    the folder is always a direct child of ``root``.
    """
    if not _DRIVE.match(drive):
        raise RecordingError(f"{drive!r} cannot name a recording folder")
    root.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in root.iterdir()}
    n = 1
    while f"{drive}-{n:03d}" in taken:
        n += 1
    folder = root / f"{drive}-{n:03d}"
    folder.mkdir()
    rec = recording_class(medium)(folder, medium, sectors)
    rec.open_folder()
    rec.save()
    return rec


def set_current(root: Path, drive: str, rec: Recording) -> None:
    """``rec`` is the drive's disc: a restarted daemon puts it back."""
    write_atomic(pointer_path(root, drive), rec.folder.name.encode() + b"\n")


def current_recording(root: Path, drive: str) -> Recording | None:
    """The recording the drive held when the daemon stopped, if any.

    The pointer file must name a folder directly inside ``root``
    (``<drive>-NNN``); anything else is refused, as is a state file that
    does not describe a disc.
    """
    pointer = pointer_path(root, drive)
    if not pointer.exists():
        return None
    name = read_small_file(pointer, 256, "a recording pointer").decode("utf-8", "replace").strip()
    if not _FOLDER.match(name) or not name.startswith(f"{drive}-"):
        raise ImageError(pointer, None, f"{name!r} is not a recording folder of {drive}")
    folder = root / name
    if folder.is_symlink() or not folder.is_dir():
        raise ImageError(pointer, None, f"{folder} is not a folder")
    return load_recording(folder)


def forget_current(root: Path, drive: str) -> None:
    """The drive's disc was taken out: a restart does not put it back."""
    _unlink(pointer_path(root, drive))


def read_recording(folder: Path) -> Recording:
    """The disc ``state.json`` of ``folder`` describes, checked but not opened: nothing
    in the folder is opened, cut or rewritten (``devemu image info`` of a kept disc)."""
    return _read_state(folder)[0]


def _read_state(folder: Path) -> tuple[Recording, _Reserved | None, str | None]:
    path = folder / STATE
    raw = read_small_file(path, _MAX_STATE, "a recording state file")
    try:
        data = json.loads(raw)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"version {data.get('version')!r} is not {STATE_VERSION}")
        medium = BlankMedium.from_label(str(data["medium"]))
        rec = recording_class(medium)(
            folder,
            medium,
            int(data["sectors"]),
            [WrittenTrack.from_json(t) for t in data["tracks"]],
            int(data["closed_sessions"]),
            bool(data["finalized"]),
            format=FormatState.from_json(data["format"]) if "format" in data else None,
        )
        reserved = _reserved_from_json(data.get("reserved"))
        cdtext = data.get("cdtext")
        if cdtext not in (None, CDTEXT):
            raise ValueError(f"cdtext names {cdtext!r}, not {CDTEXT}")
    except (ValueError, KeyError, TypeError) as err:
        raise ImageError(path, None, f"not a recording state: {err}") from None
    problem = _layout_problem(rec) or _reserved_problem(rec, reserved)
    if problem:
        raise ImageError(path, None, problem)
    return rec, reserved, cdtext


def load_recording(folder: Path) -> Recording:
    """Read ``state.json`` of ``folder``; drop sectors of a track that never completed."""
    path = folder / STATE
    rec, reserved, cdtext = _read_state(folder)
    rec.open_folder()
    keep: set[str] = set()
    if cdtext is not None:
        rec.cdtext = _read_cdtext(rec, path)
    if reserved is not None:
        _reopen_reserved(rec, reserved, path)
        keep.add(rec.track_file(reserved.number))
    rec.check_files(path, keep)
    rec._write_image()
    return rec


def recording_class(medium: BlankMedium) -> type[Recording]:
    """The recording model of ``medium``: this module's for a CD and for a DVD+RW or BD-RE
    (its formatted area is one track), the sequential one for write-once DVD and BD and
    for a DVD-RW (sequential recording; once formatted its area is that model's image)."""
    if medium.is_cd or (medium.overwritable and medium is not BlankMedium.DVD_RW):
        return Recording
    # Imported here: the sequential model builds on this module.
    from devemu.cdrom.sequential import SequentialRecording  # noqa: PLC0415

    return SequentialRecording


@dataclass(frozen=True, slots=True)
class _Reserved:
    """A reserved track as the state file names it."""

    number: int
    session: int
    mode: TrackMode
    first: int
    start: int
    generated_pregap: int
    blocks: int
    written: int
    subheader: bytes


def _reserved_from_json(data: Any) -> _Reserved | None:
    if data is None:
        return None
    subheader = bytes.fromhex(str(data.get("subheader", raw.FORM1_SUBHEADER.hex())))
    if len(subheader) != len(raw.FORM1_SUBHEADER):
        raise ValueError(f"sub-header {subheader.hex()} is not 4 bytes")
    return _Reserved(
        number=int(data["number"]),
        session=int(data["session"]),
        mode=TrackMode.from_label(str(data["mode"])),
        first=int(data["first"]),
        start=int(data["start"]),
        generated_pregap=int(data["generated_pregap"]),
        blocks=int(data["blocks"]),
        written=int(data["written"]),
        subheader=subheader,
    )


def _reserved_problem(rec: Recording, r: _Reserved | None) -> str | None:
    if r is None:
        return None
    if rec.finalized or r.mode not in WRITABLE_MODES:
        return f"reserved track {r.number} cannot be written ({r.mode.label})"
    if r.number != rec.next_track_number or r.session != rec.session:
        return f"reserved track {r.number} (session {r.session}) is out of order"
    if rec.tracks and r.first < rec.tracks[-1].end:
        return f"reserved track {r.number} overlaps track {rec.tracks[-1].number}"
    fits = r.first == r.start and r.start + r.blocks <= rec.sectors
    if not (fits and 0 <= r.written <= r.blocks):
        return f"reserved track {r.number} of {r.blocks} blocks at {r.start} does not fit the disc"
    return None


def _reopen_reserved(rec: Recording, r: _Reserved, path: Path) -> None:
    """Open the reserved track's file again, cut to the blocks last made durable."""
    name = f"track{r.number:02d}.bin"
    try:
        fd = rec._open_file(name, os.O_RDWR | os.O_CREAT)
    except OSError as err:
        rec.close()
        raise ImageError(path, None, f"{name} cannot be opened: {err.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        rec.close()
        raise ImageError(path, None, f"{name} is not a regular file")
    os.ftruncate(fd, r.written * r.mode.stored_size)
    track = OpenTrack(
        r.number, r.session, r.mode, r.first, r.start, fd, generated_pregap=r.generated_pregap
    )
    track.written = r.written
    track.reserved = r.blocks
    track.subheader = r.subheader
    rec.open_track = track


def _read_cdtext(rec: Recording, path: Path) -> bytes:
    try:
        fd = rec._open_file(CDTEXT, os.O_RDONLY)
    except OSError as err:
        rec.close()
        raise ImageError(path, None, f"{CDTEXT} cannot be opened: {err.strerror}") from None
    try:
        data = os.pread(fd, _MAX_STATE + 1, 0)
    finally:
        os.close(fd)
    if not data or len(data) % 18 or len(data) > _MAX_STATE:
        rec.close()
        raise ImageError(path, None, f"{CDTEXT} is not a list of 18-byte CD-TEXT packs")
    return data


def _layout_problem(rec: Recording) -> str | None:
    prev: WrittenTrack | None = None
    for t in rec.tracks:
        if t.mode not in WRITABLE_MODES:
            return f"track {t.number} has mode {t.mode.label}"
        if not (t.first <= t.start < t.end <= rec.sectors):
            return f"track {t.number} runs from {t.first} to {t.end}, outside the disc"
        expected = 1 if prev is None else prev.number + 1
        if t.number != expected or not 1 <= t.session <= rec.closed_sessions + 1:
            return f"track {t.number} (session {t.session}) is out of order"
        if prev is not None and t.first < prev.end:
            return f"track {t.number} overlaps track {prev.number}"
        prev = t
    if rec.closed_sessions < 0 or rec.closed_sessions > MAX_TRACKS:
        return f"{rec.closed_sessions} closed sessions"
    if rec.format is not None and (
        not rec.medium.overwritable
        or len(rec.tracks) != 1
        or rec.tracks[0].end != rec.format.blocks
    ):
        return f"a format of {rec.format.blocks} blocks does not match the tracks"
    return None
