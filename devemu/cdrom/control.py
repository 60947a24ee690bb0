"""Live media changes: the control-socket operations of a drive.

``insert`` {image | blank, capacity?, force?}: the disc (an image, or a
new blank disc of type ``blank`` kept in the drive's ``burn_dir``) goes in, the tray closes, the
initiator sees NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED (28/00)
and a NewMedia event. ``eject`` {force?}: the tray opens and the disc is
taken out; while the initiator prevents removal it is refused (and an
EjectRequest event is posted) unless forced. ``status``: tray, lock and
disc. Errors are :class:`~devemu.errors.DevemuError` (the daemon answers
``ok: false`` with the message).
"""

from __future__ import annotations

from typing import Any

from devemu.cdrom.device import CdromDevice, MediumRemovalPreventedError
from devemu.cdrom.image import LOADERS, load_image
from devemu.cdrom.media import BlankMedium, sectors_for
from devemu.cdrom.recording import new_recording
from devemu.control_protocol import control_op
from devemu.errors import DevemuError
from devemu.served import ControlOp


def control_ops(device: CdromDevice) -> dict[str, ControlOp]:
    """The operations a :class:`CdromDevice` offers on the control socket."""

    @control_op(image=str, blank=str, capacity=int, force=bool)
    def insert(args: dict[str, Any]) -> dict[str, Any]:
        image = args.get("image")
        blank = args.get("blank")
        if blank:
            return _insert_blank(str(blank), args.get("capacity"), bool(args.get("force", False)))
        if not isinstance(image, str) or not image:
            kinds = ", ".join(["ISO", *(suffix[1:].upper() for suffix in LOADERS)])
            raise DevemuError(f"insert needs 'image' (an {kinds} file) or 'blank' (a media type)")
        if args.get("force", False) and device.prevented:
            device.eject(force=True)
        device.insert(load_image(image))
        return device.status()

    def _insert_blank(blank: str, capacity: Any, force: bool) -> dict[str, Any]:
        root = device.burn_root
        if root is None:
            raise DevemuError(
                "this drive does not record: give its [[cdrom]] table a burn_dir (or blank)"
            )
        try:
            medium = BlankMedium.from_label(blank)
            sectors = sectors_for(medium, capacity if isinstance(capacity, int) else None)
        except ValueError as err:
            raise DevemuError(str(err)) from None
        if force and device.prevented:
            device.eject(force=True)
        if device.medium is not None and device.prevented:
            raise MediumRemovalPreventedError(
                "the initiator prevents medium removal; eject with force first"
            )
        rec = new_recording(root, device.drive_name, medium, sectors)
        device.insert(rec.disc(), rec)
        return device.status()

    @control_op(force=bool)
    def eject(args: dict[str, Any]) -> dict[str, Any]:
        device.eject(force=args.get("force", False))
        return device.status()

    def status(args: dict[str, Any]) -> dict[str, Any]:
        return device.status()

    return {"insert": insert, "eject": eject, "status": status}
