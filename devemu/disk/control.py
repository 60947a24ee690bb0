"""The control-socket operations of a disk.

``status``; ``protect`` {on: boolean}: write protection set live (every
disk); for a removable disk also ``insert`` {image: string, force?} and
``eject`` {force?} (:mod:`devemu.disk.removable`). A change is written to
the disk's medium state file before the answer, so it survives a restart.
Errors are :class:`~devemu.errors.DevemuError` (the daemon answers
``ok: false`` with the message).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from devemu.control_protocol import control_op
from devemu.disk.device import Disk
from devemu.disk.removable import MediumError, MediumState, RemovableDisk, set_protection
from devemu.served import ControlOp


def control_ops(
    dev: Disk, state: MediumState, status: Callable[[], dict[str, Any]]
) -> dict[str, ControlOp]:
    """The operations ``dev`` offers; ``status`` is what they answer."""

    @control_op(on=bool)
    def protect(args: dict[str, Any]) -> dict[str, Any]:
        if "on" not in args:
            raise MediumError("protect needs 'on': true or false")
        set_protection(dev, bool(args["on"]))
        state.save(dev)
        return status()

    ops: dict[str, ControlOp] = {"status": lambda args: status(), "protect": protect}
    if not isinstance(dev, RemovableDisk):
        return ops
    removable = dev

    @control_op(image=str, force=bool)
    def insert(args: dict[str, Any]) -> dict[str, Any]:
        image = args.get("image")
        if not isinstance(image, str) or not image:
            raise MediumError("insert needs 'image': the path of a disk image")
        removable.insert(Path(image), force=args.get("force", False))
        state.save(dev)
        return status()

    @control_op(force=bool)
    def eject(args: dict[str, Any]) -> dict[str, Any]:
        removable.eject(force=args.get("force", False))
        state.save(dev)
        return status()

    ops.update(insert=insert, eject=eject)
    return ops
