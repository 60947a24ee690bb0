"""CD audio playback state: PLAY AUDIO, PAUSE/RESUME, STOP, the position.

MMC-6 6.11-6.14 and 6.36: a play runs from a start to an end address at
75 sectors per second; the current position (READ SUB-CHANNEL, MMC-6
6.25.3.2) is computed from a monotonic clock, so nothing runs in the
background. The audio status reported by READ SUB-CHANNEL (MMC-6 table
518) is play in progress, paused, completed (reported once, then no
current status), or no current status.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum

from devemu.cdrom.msf import FRAMES_PER_SECOND


class AudioStatus(IntEnum):
    """The audio status byte of READ SUB-CHANNEL, MMC-6 table 518."""

    NOT_SUPPORTED = 0x00
    PLAYING = 0x11
    PAUSED = 0x12
    COMPLETED = 0x13
    ERROR = 0x14
    NO_STATUS = 0x15


class AudioPlayer:
    """Where a play is and whether it runs."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.status = AudioStatus.NO_STATUS
        self.end = 0
        self._base = 0
        self._since = 0.0

    def position(self) -> int:
        """The LBA being played now (or where the head rests)."""
        if self.status is AudioStatus.PLAYING:
            pos = self._base + int((self.clock() - self._since) * FRAMES_PER_SECOND)
            if pos >= self.end:
                self.status = AudioStatus.COMPLETED
                self._base = max(self.end - 1, 0)
                return self._base
            return pos
        return self._base

    @property
    def playing(self) -> bool:
        self.position()
        return self.status is AudioStatus.PLAYING

    def report_status_peek(self) -> AudioStatus:
        """The status without consuming a completed play."""
        self.position()
        return self.status

    def report_status(self) -> AudioStatus:
        """The status for READ SUB-CHANNEL; a completed play is told once."""
        self.position()
        status = self.status
        if status in (AudioStatus.COMPLETED, AudioStatus.ERROR):
            self.status = AudioStatus.NO_STATUS
        return status

    def play(self, start: int, end: int) -> None:
        self._base = start
        self.end = end
        self._since = self.clock()
        self.status = AudioStatus.PLAYING

    def pause(self) -> None:
        self._base = self.position()
        if self.status is AudioStatus.PLAYING:
            self.status = AudioStatus.PAUSED

    def resume(self) -> None:
        if self.status is AudioStatus.PAUSED:
            self._since = self.clock()
            self.status = AudioStatus.PLAYING

    def stop(self) -> None:
        self._base = self.position()
        self.status = AudioStatus.NO_STATUS

    def seek(self, lba: int) -> None:
        self._base = lba
        self.status = AudioStatus.NO_STATUS
