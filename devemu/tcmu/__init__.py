"""The TCMU transport: ring ABI, command loop, UIO, netlink and configfs.

``abi`` declares ``linux/target_core_user.h``; ``loop`` holds the only
code that touches the shared ring. The kernel side of serving lives here
too: ``host`` checks the host, ``channel`` opens a ring on ``/dev/uioN``,
``configfs`` makes the LIO objects and ``backend`` puts them together
for the daemon's loop. A device is anything with
``execute(Command) -> Result`` (:class:`devemu.tcmu.loop.Device`).
"""

from devemu.tcmu.loop import (
    DEFERRED,
    Deferred,
    Device,
    Doorbell,
    ReplayPolicy,
    RingLayoutError,
    RingLoop,
    RingStats,
)

__all__ = [
    "DEFERRED",
    "Deferred",
    "Device",
    "Doorbell",
    "ReplayPolicy",
    "RingLayoutError",
    "RingLoop",
    "RingStats",
]
