"""What the conformance suite needs of a SCSI target: one command at a time.

A target is anything with ``execute(cdb, data_out=None, data_in_length=0)
-> Answer``: the ring simulator serving a device in process
(:class:`~devemu.testing.conformance.ring_target.RingTarget`), a logical
unit reached through Linux SG_IO
(:class:`~devemu.testing.conformance.sg_io.SgIoTarget`), or a downstream
user's own transport. The suite uses nothing else of the device.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Answer(NamedTuple):
    """One command as the application client sees it (SAM-5 5.1).

    ``status`` is the SAM-5 status byte, ``sense`` the sense data
    returned with CHECK CONDITION (empty otherwise), ``data`` the data-in
    actually transferred (the residual already taken off).
    """

    status: int
    sense: bytes
    data: bytes


class Target(Protocol):
    """A logical unit the suite sends commands to."""

    def execute(
        self,
        cdb: bytes,
        data_out: bytes | None = None,
        data_in_length: int = 0,
    ) -> Answer:
        """Send ``cdb``: with ``data_out`` a data-out command, else data-in of up to
        ``data_in_length`` bytes (no data when 0)."""
        ...
