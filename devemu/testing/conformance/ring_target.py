"""A device served through the in-process TCMU ring simulator, as a conformance target.

Every command crosses the real ring code (:class:`devemu.tcmu.loop.RingLoop`)
with the kernel side played by :class:`devemu.testing.RingSimulator`, so
READ_LEN, sense copying and the data area behave as under
``target_core_user``.
"""

from __future__ import annotations

from devemu.scsi.device import ScsiDevice
from devemu.testing.conformance.target import Answer
from devemu.testing.simulator import RingSimulator


class RingTarget:
    """``device`` behind a :class:`RingSimulator`; ``commands`` is its command table."""

    def __init__(self, device: ScsiDevice) -> None:
        self.device = device
        self.sim = RingSimulator()
        self.loop = self.sim.attach(device)

    def execute(
        self,
        cdb: bytes,
        data_out: bytes | None = None,
        data_in_length: int = 0,
    ) -> Answer:
        done = self.sim.execute(bytes(cdb), data_out, data_in_length)
        return Answer(done.status, bytes(done.sense), bytes(done.data))
