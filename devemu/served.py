"""What the daemon serves: a device plus what the kernel must be told.

Each device family turns its configuration section into
:class:`ServedDevice` values (``devemu.<family>.config.from_config``); the
daemon creates one TCMU backstore per value, with ``dev_config`` set to
``devemu/<name>``, and feeds its ring to ``device``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devemu.scsi.command import Command
from devemu.scsi.device import ScsiDevice

#: A control-socket operation: takes the request's arguments, returns the reply.
ControlOp = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(slots=True)
class ServedDevice:
    """One logical unit the daemon serves through one TCMU backstore.

    ``size`` is the backstore's ``dev_size`` in bytes and ``block_size`` its
    ``hw_block_size``; both only inform the kernel, the device answers
    READ CAPACITY itself. :meth:`may_replay` decides whether a command
    found between cmd_tail and cmd_head after a restart may run again (a
    disk READ may; a tape WRITE or SPACE must not: it is completed with an
    error instead): the device's command table says. ``control`` holds the
    operations this device offers on the daemon's control socket
    (``insert``, ``eject``, ``status``, ...).
    ``close`` flushes state on shutdown. ``group`` names the devices
    that share state (a library's changer and drives): they are served by
    one worker thread; empty means the device alone.
    """

    name: str
    kind: str
    device: ScsiDevice
    size: int = 0
    block_size: int = 512
    control: dict[str, ControlOp] = field(default_factory=dict)
    status: Callable[[], dict[str, Any]] = field(default=lambda: {})
    close: Callable[[], None] = field(default=lambda: None)
    group: str = ""

    def may_replay(self, cmd: Command) -> bool:
        """May ``cmd``, found half done after a restart, run again? (the table's facts)"""
        return self.device.may_replay(cmd)
