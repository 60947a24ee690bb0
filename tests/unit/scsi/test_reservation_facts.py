"""Reservations follow each command's table entry, for every command of every device type.

SPC-5 5.13.1: under a Write Exclusive reservation held by another I_T
nexus, every command that changes the medium or the device's state ends
in RESERVATION CONFLICT, and every reading command runs; under Exclusive
Access the reading commands conflict too. The cases are derived from the
tables, so a command added later cannot miss its rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devemu.disk.device import Disk
from devemu.scsi.command import Command, Status, answered
from devemu.scsi.device import ScsiDevice
from devemu.scsi.persistent_reservations import PrType, Reservation
from devemu.scsi.table import VARIABLE_LENGTH_OPCODE, CommandSpec, Conflict
from tests.unit.scsi.device_types import FACTORIES

CASES = [
    pytest.param(cls, spec, id=f"{cls.__name__}:{spec.name}")
    for cls in FACTORIES
    for spec in cls.commands
]


def _cdb(spec: CommandSpec) -> bytes:
    """The command with every field zero (inside any usage data) but its service action."""
    cdb = bytearray(spec.length)
    cdb[0] = spec.opcode
    if spec.service_action is not None:
        if spec.opcode == VARIABLE_LENGTH_OPCODE:
            cdb[8:10] = spec.service_action.to_bytes(2, "big")
        else:
            cdb[1] = spec.service_action
    return bytes(cdb)


def _reserved_by_other(tmp_path: Path, cls: type[ScsiDevice], pr_type: PrType) -> ScsiDevice:
    device = FACTORIES[cls](tmp_path)
    device.unit_attentions.clear()
    persistent = device.reservations.persistent
    persistent.registrations["other"] = 0x1234
    persistent.reservation = Reservation("other", pr_type)
    return device


#: What each persistent reservation type held by another nexus refuses.
REFUSED_UNDER = {
    PrType.WRITE_EXCLUSIVE: {Conflict.ALWAYS},
    PrType.EXCLUSIVE_ACCESS: {Conflict.ALWAYS, Conflict.EXCLUSIVE_ACCESS},
}


@pytest.mark.parametrize("pr_type", list(REFUSED_UNDER), ids=lambda t: t.name)
@pytest.mark.parametrize(("cls", "spec"), CASES)
def test_a_reservation_refuses_what_the_entry_says(
    tmp_path: Path, cls: type[ScsiDevice], spec: CommandSpec, pr_type: PrType
) -> None:
    """Write Exclusive refuses what changes anything; Exclusive Access the reads too."""
    device = _reserved_by_other(tmp_path, cls, pr_type)
    try:
        answer = answered(
            device.execute(Command(_cdb(spec), [memoryview(bytearray(512))], nexus="me"))
        )
    finally:
        device.close()
    conflicted = answer.status == Status.RESERVATION_CONFLICT
    assert conflicted is (spec.conflict in REFUSED_UNDER[pr_type]), (spec.name, spec.access)


def test_unmap_and_write_same_unmap_conflict_on_a_disk(tmp_path: Path) -> None:
    disk = _reserved_by_other(tmp_path, Disk, PrType.WRITE_EXCLUSIVE)
    try:
        unmap = Command(bytes([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]), [memoryview(bytearray(24))])
        unmap.nexus = "me"
        assert answered(disk.execute(unmap)).status == Status.RESERVATION_CONFLICT
        write_same = bytes([0x93, 0x08]) + (0).to_bytes(8, "big") + (8).to_bytes(4, "big") + b"\0\0"
        ws = Command(write_same, [memoryview(bytearray(512))], nexus="me")
        assert answered(disk.execute(ws)).status == Status.RESERVATION_CONFLICT
    finally:
        disk.close()
