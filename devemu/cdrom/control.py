"""Live media changes: the control-socket operations of a drive.

``insert`` {image, force?}: the disc goes in, the tray closes, the
initiator sees NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED (28/00)
and a NewMedia event. ``eject`` {force?}: the tray opens and the disc is
taken out; while the initiator prevents removal it is refused (and an
EjectRequest event is posted) unless forced. ``status``: tray, lock and
disc. Errors are :class:`~devemu.errors.DevemuError` (the daemon answers
``ok: false`` with the message).
"""

from __future__ import annotations

from typing import Any

from devemu.cdrom.device import CdromDevice
from devemu.cdrom.image import load_image
from devemu.control_protocol import control_op
from devemu.errors import DevemuError
from devemu.served import ControlOp


def control_ops(device: CdromDevice) -> dict[str, ControlOp]:
    """The operations a :class:`CdromDevice` offers on the control socket."""

    @control_op(image=str, force=bool)
    def insert(args: dict[str, Any]) -> dict[str, Any]:
        image = args.get("image")
        if not isinstance(image, str) or not image:
            raise DevemuError("insert needs 'image': the path of an ISO or CUE file")
        if args.get("force", False) and device.prevented:
            device.eject(force=True)
        device.insert(load_image(image))
        return device.status()

    @control_op(force=bool)
    def eject(args: dict[str, Any]) -> dict[str, Any]:
        device.eject(force=args.get("force", False))
        return device.status()

    def status(args: dict[str, Any]) -> dict[str, Any]:
        return device.status()

    return {"insert": insert, "eject": eject, "status": status}
