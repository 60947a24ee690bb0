"""The SPC-5 commands every device type shares, as one table.

Each device type builds its table as ``CommandTable(SPC_COMMANDS, OWN)``.
"""

from __future__ import annotations

from devemu.scsi.command import Command
from devemu.scsi.table import CommandSpec


def test_unit_ready(device: object, cmd: Command) -> None:
    """TEST UNIT READY, SPC-5 6.47: GOOD when the medium is ready."""


SPC_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("TEST UNIT READY", b"\x00\x00\x00\x00\x00\x00", test_unit_ready, needs_medium=True),
)
