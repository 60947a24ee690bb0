"""The TCMU transport: ring ABI, command loop, UIO, netlink and configfs.

``abi`` declares ``linux/target_core_user.h``; ``loop`` holds the only
code that touches the shared ring. A device is anything with
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
    UioDoorbell,
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
    "UioDoorbell",
]
