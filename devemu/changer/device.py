"""The SMC-3 medium changer: the robot of a virtual tape library.

The changer is a logical unit of peripheral device type 0x08 (SPC-5
6.7.2) in front of a :class:`~devemu.changer.library.Library`. It answers
the SPC commands every device has (INQUIRY with VPD pages 0x00, 0x80 and
0x83 only, MODE SENSE with pages 0x1C, 0x1D, 0x1E and 0x1F, LOG SENSE with
the TapeAlert page 0x2E of :mod:`devemu.changer.tapealert`, ...) and its own:

=====  ===========================================  ============
0x07   INITIALIZE ELEMENT STATUS                    SMC-3 6.4
0x1E   PREVENT ALLOW MEDIUM REMOVAL (mail slots)    SMC-3 6.13
0x2B   POSITION TO ELEMENT                          SMC-3 6.8
0x37   INITIALIZE ELEMENT STATUS WITH RANGE         SMC-3 6.5
0xA5   MOVE MEDIUM                                  SMC-3 6.6
0xA6   EXCHANGE MEDIUM                              SMC-3 6.3
0xB8   READ ELEMENT STATUS                          SMC-3 6.11
=====  ===========================================  ============

Bits 7-5 of byte 1 are the obsolete LUN field of SCSI-2 CDBs; the Linux
``ch`` driver and mtx still fill them in with the LUN, so they are
accepted and ignored. The vendor-specific bits 7-6 of the control byte
of MOVE MEDIUM and EXCHANGE MEDIUM (mtx's "eepos", extend/retract a mail
slot tray) are accepted and ignored too: our mail slots have no tray.

Errors of a move carry the field pointer of the address at fault
(transport: byte 2, source: byte 4, destination: byte 6, second
destination: byte 8; POSITION TO ELEMENT's destination: byte 4).

Where things are: the opcodes in :mod:`devemu.changer.opcodes`, the CDB
declarations in :mod:`devemu.changer.cdbs`, the handlers and the command
table in :mod:`devemu.changer.commands`, the robot and its inventory in
:mod:`devemu.changer.library`.
"""

from __future__ import annotations

from typing import ClassVar

from devemu.changer.commands import CHANGER_COMMANDS
from devemu.changer.door import ROBOT_COMMANDS
from devemu.changer.elements import Element
from devemu.changer.library import Library
from devemu.changer.pages import changer_mode_pages
from devemu.changer.tapealert import LibraryTapeAlertFlag
from devemu.scsi.command import Command, Deferred, Result, Status
from devemu.scsi.device import LogProducer
from devemu.scsi.identity import Identity
from devemu.scsi.informational_exceptions import informational_exceptions_page
from devemu.scsi.inquiry import VERSION_SMC3
from devemu.scsi.mode_pages import ModePage
from devemu.scsi.sense import (
    IMPORT_OR_EXPORT_ELEMENT_ACCESSED,
    NOT_READY_TO_READY_CHANGE,
    SenseError,
)
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable
from devemu.tape.tapealert import (
    TAPEALERT_LOG_PAGE,
    TapeAlertDevice,
    TapeAlerts,
    tapealert_log_page,
)

PERIPHERAL_TYPE_MEDIUM_CHANGER = 0x08


class MediumChanger(TapeAlertDevice):
    """The medium changer logical unit of one :class:`Library`."""

    peripheral_type: ClassVar[int] = PERIPHERAL_TYPE_MEDIUM_CHANGER
    removable: ClassVar[bool] = True
    version_descriptors: ClassVar[tuple[int, ...]] = (VERSION_SMC3,)
    commands: ClassVar[CommandTable] = CommandTable(SPC_COMMANDS, CHANGER_COMMANDS)

    def __init__(self, identity: Identity, library: Library) -> None:
        self.library = library
        #: The operator opened the library's door (:mod:`devemu.changer.door`).
        self.door_open = False
        self.tapealerts = TapeAlerts()
        super().__init__(identity)

    def make_mode_pages(self) -> list[ModePage]:
        return [*changer_mode_pages(self.library.layout), informational_exceptions_page()]

    def log_pages(self) -> dict[int, LogProducer]:
        """TapeAlert (2Eh): a flag shows while its condition holds, then until read."""
        alerts = self.tapealerts
        return {TAPEALERT_LOG_PAGE: lambda: tapealert_log_page(alerts.unread | alerts.active)}

    # --- the operator (control socket) ---------------------------------------------

    def set_door(self, open_: bool) -> None:
        """Open or close the library's door (:mod:`devemu.changer.door`)."""
        if open_:
            self.execute = self.execute_door_open  # type: ignore[method-assign]
            if not self.door_open:
                self.raise_tapealert(LibraryTapeAlertFlag.LIBRARY_DOOR)
        elif self.door_open:
            vars(self).pop("execute", None)
            self.tapealerts.condition_over(LibraryTapeAlertFlag.LIBRARY_DOOR)
            self.unit_attentions.post(NOT_READY_TO_READY_CHANGE)
            if self.library.layout.import_export:
                self.unit_attentions.post(IMPORT_OR_EXPORT_ELEMENT_ACCESSED)
        self.door_open = open_

    def execute_door_open(self, cmd: Command) -> Result | Deferred:
        """:meth:`execute` while the door is open: the robot's commands are NOT READY."""
        cdb = cmd.cdb
        if (
            cdb
            and cdb[0] in ROBOT_COMMANDS
            and not (self._attentions or self.nexus_unit_attentions)
        ):
            err = SenseError(self.library.refusals.door_open)
            return Result(Status.CHECK_CONDITION, err.sense_bytes(descriptor=self.descriptor_sense))
        return MediumChanger.execute(self, cmd)

    def set_drives_offline(self, offline: bool) -> None:
        """Whether any drive of the library is offline: TapeAlert 16h while one is."""
        flag = LibraryTapeAlertFlag.LIBRARY_DRIVE_OFFLINE
        if not offline:
            self.tapealerts.condition_over(flag)
        elif flag not in self.tapealerts.active:
            self.raise_tapealert(flag)

    def import_cartridge(self, barcode: str) -> Element:
        """The operator puts ``barcode`` into a mail slot (SMC-3 5.3: UA 0x28/0x01)."""
        element = self.library.operator_import(barcode)
        self.unit_attentions.post(IMPORT_OR_EXPORT_ELEMENT_ACCESSED)
        return element

    def export_cartridge(self, element: Element) -> str:
        """The operator takes the cartridge in ``element`` out (UA 0x28/0x01)."""
        barcode = self.library.operator_export(element)
        self.unit_attentions.post(IMPORT_OR_EXPORT_ELEMENT_ACCESSED)
        return barcode
