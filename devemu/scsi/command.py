"""The transport-neutral command model: what a device receives and returns.

A transport (the kernel ring, the ring simulator, a future iSCSI target)
turns each SCSI command into a :class:`Command`: the CDB bytes and the data
buffers, which are memoryviews straight into the transport's shared memory.
The device fills data-in buffers in place (``os.preadv`` lands there
directly) or reads data-out buffers in place, and answers with a
:class:`Result`. Nothing here knows about rings, file descriptors or mmaps.

SAM-5 5.1 (the execute command procedure call) is the model: the
procedure takes the CDB and the data buffers and returns status, sense
data and the amount of data transferred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final


class Status(IntEnum):
    """SCSI status codes, SAM-5 5.3.1 table 28."""

    GOOD = 0x00
    CHECK_CONDITION = 0x02
    CONDITION_MET = 0x04
    BUSY = 0x08
    RESERVATION_CONFLICT = 0x18
    TASK_SET_FULL = 0x28
    ACA_ACTIVE = 0x30
    TASK_ABORTED = 0x40


@dataclass(slots=True, eq=False)
class Command:
    """One SCSI command as a device sees it.

    ``iov`` holds the data buffers in order. For a data-out command they
    carry what the initiator sent; for a data-in command the device writes
    into them. TCMU does not say which direction a command has: the CDB
    does, so the handler for the opcode knows.
    """

    cdb: bytes
    iov: list[memoryview] = field(default_factory=list)
    #: The I_T nexus when the transport knows it. TCMU carries no initiator
    #: identity, so every command through the kernel ring has the empty
    #: nexus; reservations then treat all initiators as one.
    nexus: str = ""
    #: The data-in buffers of a bidirectional command (TCMU's bidi iovs,
    #: after the data-out ones in ``iov``); empty for every other command.
    bidi_iov: Sequence[memoryview] = ()

    @property
    def opcode(self) -> int:
        """Operation code, SPC-5 4.2.5.1."""
        return self.cdb[0]

    @property
    def data_length(self) -> int:
        """Total length of the data buffers in bytes."""
        return sum(len(b) for b in self.iov)

    def data_out(self, length: int | None = None) -> bytes:
        """Gather up to ``length`` bytes of data-out (all of it by default).

        Meant for parameter lists (MODE SELECT, UNMAP, PERSISTENT RESERVE
        OUT): small structures a handler parses. Bulk data goes straight
        from ``iov`` to the backing store with ``os.pwritev``.
        """
        if length is None:
            length = self.data_length
        if len(self.iov) == 1:
            return bytes(self.iov[0][:length])
        out = bytearray()
        for buf in self.iov:
            if len(out) >= length:
                break
            out += buf[: length - len(out)]
        return bytes(out)

    def data_in(
        self, payload: bytes | bytearray | memoryview, allocation_length: int | None = None
    ) -> int:
        """Scatter ``payload`` into the data buffers; return the bytes written.

        The transfer stops at the smallest of the payload, the allocation
        length (SPC-5 4.2.5.6: a short allocation length truncates the
        parameter data, it is not an error) and the buffers. The result is
        what the transport reports as the data-in length, so the initiator
        never sees stale bytes past it.
        """
        src = memoryview(payload).cast("B")
        n = len(src)
        if allocation_length is not None and allocation_length < n:
            n = allocation_length
        done = 0
        for buf in self.iov:
            if done >= n:
                break
            take = min(len(buf), n - done)
            buf[:take] = src[done : done + take]
            done += take
        return done


@dataclass(frozen=True, slots=True)
class Result:
    """What a device answers: SAM-5 status, sense data, data-in length.

    ``data_in_length`` is the number of bytes placed in the data-in
    buffers, or ``None`` for a command that transfers no data-in. The
    transport reports it (TCMU READ_LEN) so the initiator computes the
    residual.
    """

    status: Status = Status.GOOD
    sense: bytes = b""
    data_in_length: int | None = None


GOOD = Result()


class Deferred:
    """The answer of a device that completes the command later (SAM-5 5.1: the
    execute command procedure returns when the command ends, not when it was
    received): the transport hands the command's :class:`Result` to the initiator
    once the device reports it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFERRED"


DEFERRED: Final = Deferred()


def answered(outcome: Result | Deferred) -> Result:
    """The :class:`Result` of a command that completed at once: a device no ring loop
    serves never defers (only a loop gives it the means to answer later)."""
    if isinstance(outcome, Deferred):
        raise TypeError("the command was deferred, but no ring loop serves the device")
    return outcome


#: Plain GOOD answers by data-in length; results are immutable, so one
#: instance serves every command of that length (the dispatcher looks here
#: before it calls :func:`good`).
GOOD_BY_LENGTH: dict[int, Result] = {}
GOOD_BY_LENGTH_MAX = 1024


def good(data_in_length: int) -> Result:
    """GOOD with ``data_in_length`` bytes of data-in, without an allocation
    for the lengths seen before (the per-command path of every device)."""
    answer = GOOD_BY_LENGTH.get(data_in_length)
    if answer is None:
        answer = Result(Status.GOOD, b"", data_in_length)
        if len(GOOD_BY_LENGTH) < GOOD_BY_LENGTH_MAX:
            GOOD_BY_LENGTH[data_in_length] = answer
    return answer
