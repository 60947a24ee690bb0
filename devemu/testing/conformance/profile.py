"""What a device type must answer, and which answers its transport gives instead.

A :class:`Profile` is the suite's expectation of one kind of logical unit:
its peripheral device type and RMB bit in standard INQUIRY data (SPC-5
6.7.2), the VPD pages it must list (SPC-5 7.7.17), whether TEST UNIT
READY must find it ready, and (when the caller knows it) the command
table its REPORT SUPPORTED OPERATION CODES must agree with.

``answered_by_transport`` names the opcodes that the path to the device
answers itself, with the reason: the checks do not hold the device to
them, and say so in their results. Linux's target core (LIO) answers
REPORT LUNS for every backstore, ``target_core_user`` included
(``passthrough_parse_cdb`` in ``drivers/target/target_core_device.c``),
which is :data:`LIO_ANSWERS`; :meth:`Profile.through_lio` adds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from devemu.scsi.table import CommandTable

REPORT_LUNS = 0xA0

#: Opcodes the Linux target core answers for a passthrough backstore.
LIO_ANSWERS: Mapping[int, str] = {
    REPORT_LUNS: "REPORT LUNS is answered by the Linux target core (passthrough_parse_cdb)",
}

#: The VPD pages SPC-5 7.7 asks of every logical unit this suite judges:
#: Supported VPD Pages, Unit Serial Number, Device Identification.
SPC_VPD_PAGES = frozenset({0x00, 0x80, 0x83})


@dataclass(frozen=True)
class Profile:
    """The expectations for one device type (and the state it is in)."""

    name: str
    #: PERIPHERAL DEVICE TYPE, SPC-5 table 148 (0x00 SBC, 0x01 SSC, 0x05 MMC, 0x08 SMC).
    peripheral_type: int
    #: The RMB bit of standard INQUIRY data.
    removable: bool
    #: Pages the Supported VPD Pages page must list (it may list more).
    vpd_pages: frozenset[int] = SPC_VPD_PAGES
    #: TEST UNIT READY: True must be GOOD, False must be NOT READY, None either.
    ready: bool | None = None
    #: The command table REPORT SUPPORTED OPERATION CODES must report, when known.
    commands: CommandTable | None = None
    #: Opcodes the transport answers in the device's place, with why.
    answered_by_transport: Mapping[int, str] = field(default_factory=dict)
    #: How many random CDBs the fuzz check sends.
    random_cdbs: int = 150

    def through_lio(self) -> Profile:
        """The same device served through a Linux target core LUN."""
        return replace(self, answered_by_transport={**self.answered_by_transport, **LIO_ANSWERS})

    def transport_note(self, opcodes: set[int]) -> str | None:
        """One line saying which of ``opcodes`` were judged only as answers of the
        transport, and why; None when none were."""
        mine = sorted(opcodes & set(self.answered_by_transport))
        if not mine:
            return None
        return "; ".join(
            f"{op:#04x} not held to the device: {self.answered_by_transport[op]}" for op in mine
        )
