"""One instance of every device type, for tests that run over all of their tables.

The builders are the conformance suite's (:mod:`tests.conformance.devices`);
the tape drive is the loaded one, so that its medium commands reach their
handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devemu.cdrom.device import CdromDevice
from devemu.changer.device import MediumChanger
from devemu.disk.device import Disk
from devemu.osd.device import OsdDevice
from devemu.scsi.device import ScsiDevice
from devemu.tape.drive import TapeDrive
from tests.conformance.devices import (
    make_cdrom,
    make_changer,
    make_disk,
    make_loaded_tape,
    make_osd,
)

#: A factory per device type, by its class.
FACTORIES: dict[type[ScsiDevice], Callable[[Path], ScsiDevice]] = {
    Disk: make_disk,
    CdromDevice: make_cdrom,
    TapeDrive: make_loaded_tape,
    MediumChanger: make_changer,
    OsdDevice: make_osd,
}
ALL_DEVICE_TYPES = tuple(FACTORIES)
