"""Public test doubles: the kernel side of the TCMU ring, and small devices.

Every device suite runs through :class:`RingSimulator`, so the ring code
is exercised by every test without root or a kernel.
"""

from devemu.testing.fakes import EchoCdbDevice, FailingDevice, NullDevice, SinkDevice
from devemu.testing.simulator import (
    Completion,
    Handle,
    RingBrokenError,
    RingSimulator,
    SimDoorbell,
    State,
)

__all__ = [
    "Completion",
    "EchoCdbDevice",
    "FailingDevice",
    "Handle",
    "NullDevice",
    "RingBrokenError",
    "RingSimulator",
    "SimDoorbell",
    "SinkDevice",
    "State",
]
