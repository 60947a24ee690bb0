"""A served device on its ring: the loop, the replay policy, the reset hook.

The daemon's ring workers (threads, :mod:`devemu.ring_worker`) and its
worker processes (:mod:`devemu.worker_process`) serve a device the same
way: a :class:`~devemu.tcmu.loop.RingLoop` over the ring's mapping whose
commands found half done after a restart are replayed or refused as the
device's command table says (SPC-5 4.4.3: ABORTED COMMAND when the
outcome is unknown), and whose logical unit resets (SAM-5 7.7, 7.8)
reach the device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from devemu.ring_worker import Bell
from devemu.scsi.answers import ABORTED_COMMAND
from devemu.scsi.command import Command, Result
from devemu.scsi.device import ScsiDevice
from devemu.served import ServedDevice
from devemu.tcmu.abi import TmrType
from devemu.tcmu.loop import Device, Doorbell, RingLoop, TaskManagementHook

log = logging.getLogger(__name__)

#: Task management functions that reset the logical unit (SAM-5 7.7, 7.8).
RESETS = frozenset({TmrType.LUN_RESET, TmrType.TARGET_WARM_RESET, TmrType.TARGET_COLD_RESET})


class RingChannel(Doorbell, Bell, Protocol):
    """A ring's shared mapping and its doorbell (the daemon's Channel)."""

    mapping: memoryview

    def close(self) -> None: ...


def replay_policy(device: ServedDevice) -> Callable[[Command], Result | None]:
    """The ring loop's replay hook from ``ServedDevice.may_replay``."""

    def decide(cmd: Command) -> Result | None:
        if device.may_replay(cmd):
            log.info("%s: replaying CDB %s found in the ring", device.name, cmd.cdb.hex())
            return None
        log.warning(
            "%s: CDB %s was in progress when the previous handler stopped; not replayed",
            device.name,
            cmd.cdb.hex(),
        )
        return ABORTED_COMMAND

    return decide


def reset_hook(device: ScsiDevice) -> TaskManagementHook:
    """The ring's task management hook: a reset reaches :meth:`ScsiDevice.logical_unit_reset`."""

    def hook(function: int, named: list[Command]) -> None:
        if function in RESETS:
            device.logical_unit_reset()

    return hook


def ring_of(served: ServedDevice, channel: RingChannel, executes: Device) -> RingLoop:
    """The loop serving ``served`` on ``channel``; ``executes`` is its device or a tracer of it."""
    return RingLoop(
        channel.mapping,
        executes,
        doorbell=channel,
        on_replay=replay_policy(served),
        on_task_management=reset_hook(served.device),
        name=served.name,
    )
