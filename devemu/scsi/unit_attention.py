"""The unit attention condition queue, SPC-5 5.14 and SAM-5 5.14.

TCMU does not tell which I_T nexus sent a command, so a device keeps one
queue for all initiators. A condition already queued is not queued twice;
REQUEST SENSE and any command the table marks as blocked by a unit
attention take the oldest one off the queue.
"""

from __future__ import annotations

from collections import deque

from devemu.scsi.sense import POWER_ON_RESET_OR_BUS_DEVICE_RESET, SenseCode


class UnitAttentionQueue:
    """Pending unit attention conditions, oldest first."""

    __slots__ = ("pending",)

    def __init__(self, *initial: SenseCode) -> None:
        #: The conditions, oldest first. Read it for a cheap emptiness test on
        #: a per-command path; change it only through the methods.
        self.pending: deque[SenseCode] = deque()
        for code in initial:
            self.post(code)

    def post(self, code: SenseCode) -> None:
        """Queue ``code`` unless it is pending already (SPC-5 5.14.2)."""
        if code not in self.pending:
            self.pending.append(code)

    def pop(self) -> SenseCode | None:
        """Take the oldest condition, or None when there is none."""
        return self.pending.popleft() if self.pending else None

    def clear(self) -> None:
        self.pending.clear()

    def reset(self) -> None:
        """A power on / reset: everything else is superseded (SAM-5 6.3.1)."""
        self.pending.clear()
        self.pending.append(POWER_ON_RESET_OR_BUS_DEVICE_RESET)

    def __bool__(self) -> bool:
        return bool(self.pending)

    def __len__(self) -> int:
        return len(self.pending)

    def __contains__(self, code: object) -> bool:
        return code in self.pending
