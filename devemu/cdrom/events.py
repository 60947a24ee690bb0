"""GET EVENT STATUS NOTIFICATION, polled (MMC-6 6.6).

The drive reports one event per command from the lowest-numbered class
the initiator asks for that has one pending (MMC-6 6.6.2), else that
class's current status with "no change". Supported classes: operational
change (1), power management (2), media (4) and device busy (6);
asynchronous notification is not (Polled must be one).
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum
from typing import Protocol

from construct import Int8ub, Int16ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field


class EventSource(Protocol):
    """What the events are read from: an optical drive, a removable disk."""

    media_events: deque[MediaEvent]
    operational_change: bool
    persistent_prevented: bool

    @property
    def tray_open(self) -> bool: ...

    @property
    def media_present(self) -> bool: ...


class EventClass(IntEnum):
    """Notification classes, MMC-6 table 112."""

    OPERATIONAL_CHANGE = 1
    POWER_MANAGEMENT = 2
    EXTERNAL_REQUEST = 3
    MEDIA = 4
    MULTI_HOST = 5
    DEVICE_BUSY = 6


class MediaEvent(IntEnum):
    """Media event codes, MMC-6 table 121."""

    NO_CHANGE = 0
    EJECT_REQUEST = 1
    NEW_MEDIA = 2
    MEDIA_REMOVAL = 3
    MEDIA_CHANGED = 4


SUPPORTED_CLASSES = (
    (1 << EventClass.OPERATIONAL_CHANGE)
    | (1 << EventClass.POWER_MANAGEMENT)
    | (1 << EventClass.MEDIA)
    | (1 << EventClass.DEVICE_BUSY)
)
#: Operational change event: "operational change"; change class: feature change.
OPERATIONAL_CHANGE_EVENT = 0x02
FEATURE_CHANGE = 0x0002
POWER_ACTIVE = 0x01

#: MMC-6 table 111: event status notification response header.
EventHeader = Struct(
    "descriptor_length" / Int16ub,
    "nea_class" / Int8ub,
    "supported" / Int8ub,
)


def _descriptor(device: EventSource, cls: EventClass, *, consume: bool) -> bytes:
    """The event descriptor of ``cls``; the event is reported (and gone) only if ``consume``."""
    if cls is EventClass.MEDIA:
        event = device.media_events[0] if device.media_events else MediaEvent.NO_CHANGE
        if consume and device.media_events:
            device.media_events.popleft()
        status = (0x02 if device.media_present else 0) | (0x01 if device.tray_open else 0)
        return bytes((event, status, 0, 0))
    if cls is EventClass.OPERATIONAL_CHANGE:
        if device.operational_change:
            device.operational_change = not consume
            persistent = 0x80 if device.persistent_prevented else 0
            return bytes((OPERATIONAL_CHANGE_EVENT, persistent)) + FEATURE_CHANGE.to_bytes(2, "big")
        return bytes((0, 0x80 if device.persistent_prevented else 0, 0, 0))
    if cls is EventClass.POWER_MANAGEMENT:
        return bytes((0, POWER_ACTIVE, 0, 0))
    return bytes(4)


def _pending(device: EventSource, cls: EventClass) -> bool:
    if cls is EventClass.MEDIA:
        return bool(device.media_events)
    if cls is EventClass.OPERATIONAL_CHANGE:
        return device.operational_change
    return False


def get_event_status_notification(
    device: EventSource,
    cmd: Command,
    polled: int,
    notification_class_request: int,
    allocation_length: int,
) -> int:
    """GET EVENT STATUS NOTIFICATION, MMC-6 6.6 (polled only)."""
    if not polled:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 0))
    requested = [
        c
        for c in EventClass
        if notification_class_request & (1 << c) and SUPPORTED_CLASSES & (1 << c)
    ]
    if not requested:
        head = EventHeader.build(
            {"descriptor_length": 2, "nea_class": 0x80, "supported": SUPPORTED_CLASSES}
        )
        return cmd.data_in(head, allocation_length)
    chosen = next((c for c in requested if _pending(device, c)), requested[0])
    # An allocation length that cannot hold the descriptor leaves the event
    # pending for the next request (MMC-6 6.6.2: it has not been reported).
    body = _descriptor(device, chosen, consume=allocation_length >= EventHeader.sizeof() + 4)
    head = EventHeader.build(
        {"descriptor_length": 2 + len(body), "nea_class": chosen, "supported": SUPPORTED_CLASSES}
    )
    return cmd.data_in(head + body, allocation_length)
