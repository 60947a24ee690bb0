"""The MMC-6 optical drive: a tray, a disc, and the commands that read it.

Theory of operation
-------------------
The drive is a small state machine over three facts: whether the tray is
open, which :class:`~devemu.cdrom.disc.Disc` (if any) lies in it, and
whether the initiator has prevented medium removal (MMC-6 4.1.6, 6.39):

================  ====================================  ===============================
state             TEST UNIT READY / REQUEST SENSE        leaves by
================  ====================================  ===============================
tray open         NOT READY, MEDIUM NOT PRESENT -        START STOP UNIT LoEj=1 Start=1
                  TRAY OPEN (3A/02)                      (load), control ``insert``
closed, empty     NOT READY, MEDIUM NOT PRESENT -        control ``insert``, eject
                  TRAY CLOSED (3A/01)
closed, disc      GOOD (once BECOMING READY, 04/01,      START STOP UNIT LoEj=1 Start=0
                  right after a disc arrives)            (refused while prevented),
                                                         control ``eject``
================  ====================================  ===============================

A disc arriving (a control ``insert`` or a load with a disc on the tray)
posts the NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED unit
attention (28/00) and a NewMedia event; the tray opening posts a
MediaRemoval event; a control ``eject`` refused because removal is
prevented posts an EjectRequest event (GET EVENT STATUS NOTIFICATION,
MMC-6 6.6). The current profile (CD-ROM, DVD-ROM, BD-ROM) follows the
disc (:mod:`devemu.cdrom.profiles`).

The command handlers live in one module per family and read this state;
the table is in :mod:`devemu.cdrom.commands`.

Reading
-------
Sequential READ (10)/(12) of data is most of what a mounted disc asks
for. The dispatcher decodes the LBA and transfer length with the
precompiled decoder of the command's declaration and the handler asks the
disc (:meth:`~devemu.cdrom.disc.Disc.read_user_data`), which answers a
transfer inside its :attr:`~devemu.cdrom.disc.Disc.fast_range`
(2048-byte Mode 1 sectors of one file and one track, known when the disc
is opened) with one ``os.preadv`` into the buffers, and anything else
(audio and raw sectors, CUE gaps, the end of the disc, a short read)
sector by sector with the checks of MMC-6 6.15. Once a readiness check
has found the drive ready, the dispatcher skips it
(:attr:`~devemu.scsi.device.ScsiDevice.may_be_not_ready`) until the tray
opens or a disc arrives or leaves.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from devemu.cdrom import pages
from devemu.cdrom.audio import AudioPlayer
from devemu.cdrom.commands import MMC_COMMANDS
from devemu.cdrom.disc import Disc
from devemu.cdrom.events import MediaEvent
from devemu.cdrom.format_unit import FormatInProgress
from devemu.cdrom.image import describe
from devemu.cdrom.overwrite import profile_of
from devemu.cdrom.profiles import SETTINGS, Profile, profile_for
from devemu.cdrom.recording import Recording, forget_current, set_current
from devemu.cdrom.write_pages import WRITE_PARAMETERS, WriteParameters, decode
from devemu.errors import DevemuError
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.scsi.inquiry import VERSION_MMC6
from devemu.scsi.mode_pages import ModePage
from devemu.scsi.sense import (
    LOGICAL_UNIT_BECOMING_READY,
    MEDIUM_NOT_PRESENT_TRAY_CLOSED,
    MEDIUM_NOT_PRESENT_TRAY_OPEN,
    NOT_READY_TO_READY_CHANGE,
    SenseError,
)
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable

if TYPE_CHECKING:
    from devemu.cdrom.raw_write import RawWrite
    from devemu.cdrom.write_commands import SaoWrite


class MediumRemovalPreventedError(DevemuError):
    """A control eject refused because the initiator prevents removal."""


class CdromDevice(ScsiDevice):
    """An MMC-6 CD/DVD/BD-ROM drive with a tray (peripheral device type 05h)."""

    peripheral_type: ClassVar[int] = 0x05
    removable: ClassVar[bool] = True
    #: wodim (libusal) puts the SCSI-2 LUN in byte 1 of every CDB; MMC drives ignore it.
    commands: ClassVar[CommandTable] = CommandTable(
        SPC_COMMANDS, MMC_COMMANDS
    ).accepting_obsolete_lun()
    version_descriptors: ClassVar[tuple[int, ...]] = (VERSION_MMC6,)
    #: MMC drives report no block descriptor (MMC-6 7.2.2) but take the 8 bytes of one
    #: in MODE SELECT without using them: cdrdao sends one of zeros with page 05h.
    passes_over_block_descriptor: ClassVar[bool] = True

    def __init__(
        self,
        identity: Identity,
        *,
        profile: str = "auto",
        burn_root: Path | None = None,
        name: str | None = None,
    ) -> None:
        if profile not in SETTINGS:
            raise ValueError(f"profile {profile!r} is not one of {', '.join(SETTINGS)}")
        self.profile_setting = profile
        #: The folder written discs are kept in; None for a drive that only reads.
        self.burn_root = burn_root
        #: The drive's name in that folder (its configuration name).
        self.drive_name = name or identity.serial
        #: The recordable disc in the drive (its written state), if the disc is one.
        self.recording: Recording | None = None
        #: A Session At Once recording between SEND CUE SHEET and its last sector.
        self.sao: SaoWrite | None = None
        #: A FORMAT UNIT with Immed still running (NOT READY, FORMAT IN PROGRESS).
        self.formatting: FormatInProgress | None = None
        #: A raw session (write type 03h) between its first sector and SYNCHRONIZE CACHE.
        self.raw: RawWrite | None = None
        #: A disc was taken out while a track or a Session At Once recording was being
        #: written on it: the next recording command is told the medium changed.
        self.write_interrupted = False
        self.write_speed = 0
        #: The disc on the tray; changed by :meth:`insert` and :meth:`eject`.
        self.disc: Disc | None = None
        self._tray_open = False
        self.prevented = False
        self.persistent_prevented = False
        self._becoming_ready = False
        self.media_events: deque[MediaEvent] = deque()
        self.operational_change = False
        self.audio = AudioPlayer()
        self.read_speed = 0xFFFF
        super().__init__(identity)

    # --- hooks of ScsiDevice --------------------------------------------------------

    def make_mode_pages(self) -> list[ModePage]:
        return pages.make_pages(
            writer=self.writer, incremental=lambda: self.profile.is_dvd or self.profile.is_bd
        )

    @property
    def writer(self) -> bool:
        """The drive records (a folder for written discs is configured)."""
        return self.burn_root is not None

    def write_parameters(self) -> WriteParameters:
        """The current Write Parameters page (05h, MMC-6 7.5)."""
        page = self.mode_pages.get(WRITE_PARAMETERS)
        assert page is not None
        return decode(bytes(page.current))

    def check_ready(self) -> None:
        """NOT READY with the tray state (MMC-6 4.1.6 and table F.1).

        Once the drive is found ready, :attr:`may_be_not_ready` is cleared
        and the dispatcher stops asking; the tray opening, a disc arriving
        (BECOMING READY) or leaving sets it again.
        """
        if self._tray_open:
            raise SenseError(MEDIUM_NOT_PRESENT_TRAY_OPEN)
        if self.disc is None:
            raise SenseError(MEDIUM_NOT_PRESENT_TRAY_CLOSED)
        if self._becoming_ready:
            self._becoming_ready = False
            raise SenseError(LOGICAL_UNIT_BECOMING_READY)
        if self.formatting is not None and self.formatting.check():
            self.formatting = None
        self.may_be_not_ready = self.formatting is not None

    # --- state ------------------------------------------------------------------------

    @property
    def tray_open(self) -> bool:
        return self._tray_open

    @tray_open.setter
    def tray_open(self, value: bool) -> None:
        self._tray_open = value
        self.may_be_not_ready = True

    @property
    def media_present(self) -> bool:
        """A disc lies in the drive, the tray open or not (MMC-6 table 122)."""
        return self.disc is not None

    @property
    def becoming_ready(self) -> bool:
        """A disc has just arrived: the next readiness check answers BECOMING READY once."""
        return self._becoming_ready

    @becoming_ready.setter
    def becoming_ready(self, value: bool) -> None:
        self._becoming_ready = value
        self.may_be_not_ready = True

    @property
    def medium(self) -> Disc | None:
        """The disc the drive can read: loaded and the tray closed."""
        return None if self._tray_open else self.disc

    @property
    def profile(self) -> Profile:
        if self.recording is not None and self.medium is not None:
            return profile_of(self.recording)
        return profile_for(self.medium, self.profile_setting)

    def ready_disc(self) -> Disc:
        """The readable disc; for handlers that ran the readiness check."""
        disc = self.medium
        if disc is None:
            self.check_ready()
            raise AssertionError("check_ready accepted a drive without a disc")
        return disc

    def _arrived(self) -> None:
        self.unit_attentions.post(NOT_READY_TO_READY_CHANGE)
        self.media_events.append(MediaEvent.NEW_MEDIA)
        self.operational_change = True
        self.becoming_ready = True
        self.audio = AudioPlayer(self.audio.clock)
        pages.update_dynamic(self)

    def open_tray(self) -> None:
        """Eject: the tray opens, the disc stays on it and can no longer be read."""
        if not self.tray_open:
            self.tray_open = True
            self.becoming_ready = False
            self.audio.stop()
            if self.disc is not None:
                self.media_events.append(MediaEvent.MEDIA_REMOVAL)
                self.operational_change = True
            pages.update_dynamic(self)

    def close_tray(self) -> None:
        """Load: the tray closes; a disc on it becomes readable."""
        if self.tray_open:
            self.tray_open = False
            if self.disc is not None:
                self._arrived()
            pages.update_dynamic(self)

    # --- live media changes (control operations) ----------------------------------------

    def insert(self, disc: Disc, recording: Recording | None = None) -> None:
        """Put ``disc`` in the drive and close the tray (the old disc is taken out).

        ``recording`` is the written state of a recordable disc, whose
        readable part ``disc`` is.
        """
        if self.medium is not None and self.prevented:
            disc.close()
            if recording is not None:
                recording.close()
            raise MediumRemovalPreventedError(
                "the initiator prevents medium removal; eject with force first"
            )
        self._take_out()
        self.disc = disc
        self.recording = recording
        if recording is not None and self.burn_root is not None:
            set_current(self.burn_root, self.drive_name, recording)
        self.tray_open = False
        self._arrived()

    def _take_out(self) -> None:
        """Close the disc in the drive; a recordable one is no longer the drive's on restart."""
        if self.disc is not None:
            self.disc.close()
            self.disc = None
        if self.recording is not None:
            track = self.recording.open_track
            # A reserved track waits in the state for its blocks; any other open track,
            # a cue sheet or a raw session is a recording cut short.
            if (track is not None and not track.reserved) or self.sao or self.raw:
                self.write_interrupted = True
            self.recording.close()
            if self.burn_root is not None:
                forget_current(self.burn_root, self.drive_name)
            self.recording = None
        self.sao = None
        self.formatting = None
        self.raw = None

    def disc_changed(self, *, new_media: bool = False) -> None:
        """The recordable disc gained or lost tracks: read it anew.

        With ``new_media`` (a session closed, the disc blanked) a NewMedia
        event is posted (GET EVENT STATUS NOTIFICATION, MMC-6 6.6): the
        host's driver reads the new capacity and TOC before it mounts what
        was written. Not after each track: the host's probing of a new
        medium ends with ALLOW MEDIUM REMOVAL, which must not unlock the
        tray in the middle of a burn. No unit attention either: the
        burning program's next command must not fail for it.
        """
        if self.recording is None:
            return
        old = self.disc
        self.disc = self.recording.disc()
        if old is not None:
            old.close()
        if new_media:
            self.media_events.append(MediaEvent.NEW_MEDIA)

    def eject(self, *, force: bool = False) -> None:
        """Open the tray and take the disc out (the operator's eject button)."""
        if self.prevented and self.medium is not None and not force:
            self.media_events.append(MediaEvent.EJECT_REQUEST)
            raise MediumRemovalPreventedError(
                "the initiator prevents medium removal (an eject request was posted; "
                "use force to eject anyway)"
            )
        self.open_tray()
        if self.disc is not None:
            self._take_out()
            self.may_be_not_ready = True
        self.prevented = False
        self.persistent_prevented = False
        pages.update_dynamic(self)

    def status(self) -> dict[str, Any]:
        """Tray, medium and lock state for the control socket."""
        out: dict[str, Any] = {
            "tray": "open" if self.tray_open else "closed",
            "prevented": self.prevented,
            "profile": self.profile.name.lower().replace("_", "-"),
            "medium": None,
        }
        if self.disc is not None:
            out["medium"] = describe(self.disc)
            out["loaded"] = not self.tray_open
        if self.recording is not None:
            out["recording"] = self.recording.describe()
        return out

    def close(self) -> None:
        if self.disc is not None:
            self.disc.close()
        if self.recording is not None:
            self.recording.close()
