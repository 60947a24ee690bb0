"""The fixed answers the dispatcher and the transport give, each built once.

GOOD lives with the command model (:data:`devemu.scsi.command.GOOD`); these
are the others that carry no data and need no handler (SAM-5 5.3.1):
"""

from __future__ import annotations

from typing import Final

from devemu.scsi.command import Result, Status
from devemu.scsi.sense import COMMAND_ABORTED, INTERNAL_TARGET_FAILURE, SenseError

#: Fixed-format sense of HARDWARE ERROR / INTERNAL TARGET FAILURE: our bug.
INTERNAL_TARGET_FAILURE_SENSE: Final = SenseError(INTERNAL_TARGET_FAILURE).sense_bytes()
#: A command that raised something other than a SenseError: logged, and this.
HARDWARE_ERROR: Final = Result(Status.CHECK_CONDITION, INTERNAL_TARGET_FAILURE_SENSE)
#: ABORTED COMMAND (SPC-5 4.4.3): a command found half done after a restart
#: that may not run again, or a slot a killed handler was half-way through
#: answering. The initiator retries it.
ABORTED_COMMAND: Final = Result(Status.CHECK_CONDITION, SenseError(COMMAND_ABORTED).sense_bytes())
#: RESERVATION CONFLICT (SPC-5 5.13.1).
RESERVATION_CONFLICT: Final = Result(Status.RESERVATION_CONFLICT)
#: TASK ABORTED: a command named by a task management function (SAM-5 5.3.1).
TASK_ABORTED: Final = Result(Status.TASK_ABORTED)
