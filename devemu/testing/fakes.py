"""Small devices for exercising a transport without a real device type.

Each answers SAM-5 5.1 execute command in one obvious way, so a test of
the ring (or of any transport) can tell exactly what should come back.
"""

from __future__ import annotations

from devemu.scsi.command import Command, Result, Status


class NullDevice:
    """GOOD for everything; data-in is left as the buffers hold it.

    Reports the whole buffer as transferred (``report_length``) or no
    READ_LEN at all. The ring's own cost is what remains when this
    device is served.
    """

    def __init__(self, report_length: bool = False) -> None:
        self.report_length = report_length
        self.calls = 0

    def execute(self, cmd: Command) -> Result:
        self.calls += 1
        if self.report_length:
            return Result(Status.GOOD, b"", cmd.data_length)
        return Result()


class EchoCdbDevice:
    """Writes the CDB into data-in and reports how much fitted (READ_LEN)."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def execute(self, cmd: Command) -> Result:
        self.seen.append(cmd.cdb)
        return Result(Status.GOOD, b"", cmd.data_in(cmd.cdb))


class SinkDevice:
    """Keeps every data-out it receives."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def execute(self, cmd: Command) -> Result:
        self.received.append(cmd.data_out())
        return Result()


class FailingDevice:
    """Raises on every command: an internal bug, as the loop must survive it."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or RuntimeError("device bug")
        self.calls = 0

    def execute(self, cmd: Command) -> Result:
        self.calls += 1
        raise self.error
