"""DVD and BD media recorded sequentially: DVD+R (profile 1Bh), DVD-R Sequential
Recording (11h), BD-R Sequential Recording Mode (41h) and DVD-RW Sequential Recording
(14h).

Theory of operation
-------------------
A :class:`SequentialRecording` is a :class:`~devemu.cdrom.recording.Recording`
whose tracks (DVD-R "Rzones", DVD+R "fragments", BD-R "SRRs", all called
tracks by MMC-6 4.5) lie one after the other in one logical block address
space of 2048-byte blocks, with no pregap. The folder, the state file, the
pointer a restarted daemon follows and the order of writing for ``kill -9``
are the CD model's; what changes is:

``disc.iso``
    every track's sectors, at byte ``LBA * 2048``: the file is the disc's
    user data area, so it is the kept image too (an ISO image whose first
    session ``devemu image info`` reads and a loop mount shows). Blocks
    between sessions are holes. Sectors past the last completed track
    (a track the process died writing) are cut on load.

Addresses (MMC-6 4.5.3 and the physical formats): a track starts on an ECC
block of 16 sectors on DVD (ECMA-267 16) and a cluster of 32 on BD; the
invisible track starts on the first such boundary after the last track.
Closing a session leaves, on DVD, the lead-out (DVD+R "session closure",
DVD-R "border-out") and the next session's lead-in between the sessions:
:data:`SESSION_GAP` blocks, the distance one DVD+R drive leaves (a dump of
its four-session disc shows each session starting 2048 blocks after the
previous one's end). A BD-R SRM session ends with its last SRR and the
next starts at the next cluster.

A DVD-RW is recorded like a DVD-R until FORMAT UNIT turns it to restricted
overwrite (profile 13h, MMC-6 4.5.4): its formatted area (the CD model's
:meth:`~devemu.cdrom.recording.Recording.format_area`) is then ``disc.iso``
itself, LBA 0 to the formatted size, written at random
(:mod:`devemu.cdrom.overwrite`); BLANK returns it to a blank sequential disc.

Track state: a completed track is neither blank nor reserved (its NWA is
not valid); the invisible track is blank with a valid NWA. READ DISC
INFORMATION, READ TRACK INFORMATION and the fabricated TOC (MMC-6 6.26.2.3:
one descriptor a track, the lead-out after the last recorded block) are
built from the same completed tracks.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from devemu.atomic_file import fsync_directory
from devemu.cdrom.disc import Disc, Extent, Session, Track, TrackMode
from devemu.cdrom.iso import SECTOR
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.recording import ISO, Recording
from devemu.errors import ImageError

#: The kept image and the file every track is written into.
IMAGE = ISO
#: Sectors of an ECC block of DVD (ECMA-267 16) and of a cluster of BD.
DVD_BLOCKING = 16
BD_BLOCKING = 32
#: Blocks between the end of a closed session and the next session's first track.
SESSION_GAP = {
    BlankMedium.DVD_PLUS_R: 2048,
    BlankMedium.DVD_R: 2048,
    BlankMedium.DVD_RW: 2048,
    BlankMedium.BD_R: 0,
}


def blocking_of(medium: BlankMedium) -> int:
    """Sectors a track start is aligned to (Random Readable feature blocking, MMC-6 5.3.6)."""
    return BD_BLOCKING if medium.label.startswith("bd") else DVD_BLOCKING


@dataclass(slots=True)
class SequentialRecording(Recording):
    """A DVD+R, DVD-R, BD-R or sequential DVD-RW written track after track into one image
    file (a restricted overwrite DVD-RW: its formatted area)."""

    shared_file: ClassVar[bool] = True

    # --- layout ----------------------------------------------------------------------

    def _align(self, lba: int) -> int:
        step = blocking_of(self.medium)
        return -(-lba // step) * step

    def track_file(self, number: int) -> str:
        return IMAGE

    def pregap_of_next(self) -> int:
        """DVD and BD tracks have no pregap (MMC-6 4.5.3)."""
        return 0

    def write_mode(self, requested: TrackMode) -> TrackMode:
        """Every block of a DVD or BD is 2048 bytes of user data (page 05h's data block
        type does not apply to DVD+R and BD, MMC-6 7.5.1; DVD-R takes Mode 1 only)."""
        return TrackMode.MODE1_2048

    def next_track_start(self) -> int:
        """The invisible track's start: the boundary after the last track, past the
        lead-out and lead-in when the last session is closed."""
        if not self.tracks:
            return 0
        last = self.tracks[-1]
        end = self._align(last.end)
        if last.session == self.session:
            return end
        return self._align(end + SESSION_GAP[self.medium])

    def invisible_start(self) -> int:
        track = self.open_track
        if track is not None and track.reserved:
            return self._align(track.start + track.reserved)
        if track is not None:
            return track.start
        return self.next_track_start()

    @property
    def recorded_end(self) -> int:
        """One past the last block of the last completed track (0 on a blank disc)."""
        return self.tracks[-1].end if self.tracks else 0

    # --- the image file ----------------------------------------------------------------

    def _drop_track_file(self, number: int) -> None:
        """A track that never completed: what it wrote is cut (the file is every track's)."""
        self._cut_image()

    def _cut_image(self) -> None:
        """Cut ``disc.iso`` after the last completed track."""
        with contextlib.suppress(FileNotFoundError):
            self._size_image(self.recorded_end * SECTOR)

    def _size_image(self, size: int) -> None:
        fd = self._open_file(IMAGE, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def check_files(self, state: Path, keep: Set[str] = frozenset()) -> None:
        """``disc.iso`` holds every completed track; what lies past the last is cut."""
        need = self.recorded_end * SECTOR
        if self.format is not None:
            self._adopt_area_file()
        try:
            st = os.stat(IMAGE, dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            if need:
                self.close()
                raise ImageError(state, None, f"{IMAGE} is missing") from None
            return
        if not stat.S_ISREG(st.st_mode):
            self.close()
            raise ImageError(state, None, f"{IMAGE} is not a regular file")
        if st.st_size < need and self.format is not None:
            # A formatted area cut short by a format that was stopped grows back empty.
            self._size_image(need)
            return
        if st.st_size < need:
            self.close()
            raise ImageError(state, None, f"{IMAGE} holds {st.st_size} bytes of {need}")
        if st.st_size > need:
            self._cut_image()

    def _adopt_area_file(self) -> None:
        """A DVD-RW formatted before it was recorded sequentially kept its area in the CD
        model's ``track01.bin`` (``disc.iso`` a link to it, if anything): it becomes
        ``disc.iso`` (one rename, atomic)."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(
                Recording.track_file(self, 1),
                IMAGE,
                src_dir_fd=self._dir_fd,
                dst_dir_fd=self._dir_fd,
            )

    def erase(self, *, last_session_only: bool = False) -> None:
        """BLANK of an erasable sequential medium: the tracks go, the image is cut."""
        if self.open_track is not None:
            os.close(self.open_track.fd)
            self.open_track = None
        if last_session_only and self.tracks:
            last = self.tracks[-1].session
            self.tracks = [t for t in self.tracks if t.session != last]
            self.closed_sessions = min(self.closed_sessions, last - 1)
        else:
            self.tracks = []
            self.closed_sessions = 0
        self.finalized = False
        self.save()
        self._cut_image()

    # --- the kept image and the readable disc --------------------------------------------

    def cue_text(self) -> str:
        return ""

    @property
    def iso_like(self) -> bool:
        return bool(self.tracks)

    @property
    def image_path(self) -> Path:
        return self.folder / IMAGE

    def _write_image(self) -> None:
        """The image is the data file itself: only its name must be durable."""
        fsync_directory(self.folder)

    def disc(self) -> Disc:
        """The completed tracks in their sessions, read from ``disc.iso`` (read only)."""
        path = self.folder / IMAGE
        if not self.tracks:
            return Disc(path, "blank", (), ())
        sessions = []
        for number in sorted({t.session for t in self.tracks}):
            tracks = tuple(
                Track(
                    t.number,
                    t.session,
                    TrackMode.MODE1_2048,
                    start=t.start,
                    end=t.end,
                    pregap=t.start,
                    indexes=(t.start,),
                )
                for t in self.tracks
                if t.session == number
            )
            sessions.append(Session(number, tracks, tracks[-1].end))
        end = self.recorded_end
        extent = Extent(0, end, TrackMode.MODE1_2048, path, 0, file_type="ISO")
        return Disc(path, "iso", tuple(sessions), (extent,)).open_for(path, "")
