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

    __slots__ = ("_pending",)

    def __init__(self, *initial: SenseCode) -> None:
        self._pending: deque[SenseCode] = deque()
        for code in initial:
            self.post(code)

    def post(self, code: SenseCode) -> None:
        """Queue ``code`` unless it is pending already (SPC-5 5.14.2)."""
        if code not in self._pending:
            self._pending.append(code)

    def pop(self) -> SenseCode | None:
        """Take the oldest condition, or None when there is none."""
        return self._pending.popleft() if self._pending else None

    def clear(self) -> None:
        self._pending.clear()

    def reset(self) -> None:
        """A power on / reset: everything else is superseded (SAM-5 6.3.1)."""
        self._pending.clear()
        self._pending.append(POWER_ON_RESET_OR_BUS_DEVICE_RESET)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, code: object) -> bool:
        return code in self._pending
