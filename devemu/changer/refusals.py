"""The sense codes a library answers its common refusals with: a personality's choice.

SMC-3 leaves some refusals to the product. Where a library's SCSI
reference names its own code, its personality
(:mod:`devemu.personality`) carries it in a :class:`Refusals`; the
defaults are SPC-5 annex D's:

=========================  ======================================================
field                      refusal
=========================  ======================================================
``door_open``              a command that needs the robot while the library's door
                           is open (:mod:`devemu.changer.door`): NOT READY, LOGICAL
                           UNIT NOT READY, MANUAL INTERVENTION REQUIRED (04h/03h)
``drive_prevented``        MOVE MEDIUM or EXCHANGE MEDIUM out of a drive whose host
                           prevents medium removal: MEDIUM REMOVAL PREVENTED
                           (53h/02h)
``drive_not_unloaded``     the same out of a loaded drive of a library that does not
                           unload drives itself (``auto_unload = false``): UNLOAD
                           TAPE FAILURE (53h/01h)
=========================  ======================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from devemu.scsi.sense import (
    LOGICAL_UNIT_NOT_READY_MANUAL_INTERVENTION,
    MEDIUM_REMOVAL_PREVENTED,
    UNLOAD_TAPE_FAILURE_ILLEGAL,
    SenseCode,
)


@dataclass(frozen=True, slots=True)
class Refusals:
    """The sense code of each refusal a product chooses (see the module text)."""

    door_open: SenseCode = LOGICAL_UNIT_NOT_READY_MANUAL_INTERVENTION
    drive_prevented: SenseCode = MEDIUM_REMOVAL_PREVENTED
    drive_not_unloaded: SenseCode = UNLOAD_TAPE_FAILURE_ILLEGAL


#: SPC-5 annex D's codes, which every product not known to differ answers.
STANDARD_REFUSALS = Refusals()
