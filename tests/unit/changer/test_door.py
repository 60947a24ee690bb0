"""The library's door opened by the ``fault`` control op: NOT READY for the robot, UA on close."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devemu.changer.config import control_ops
from devemu.changer.device import MediumChanger
from devemu.control_protocol import answer
from devemu.scsi.command import Status
from devemu.scsi.sense import (
    IMPORT_OR_EXPORT_ELEMENT_ACCESSED,
    LOGICAL_UNIT_NOT_READY_MANUAL_INTERVENTION,
    NOT_READY_TO_READY_CHANGE,
    parse_sense,
)
from devemu.served import ServedDevice
from tests.unit.changer.test_changer import res, sense_of
from tests.unit.changer.test_library_fakes import FakeDrive, make_changer, run

TUR = bytes(6)
MOVE_SLOT1_TO_DRIVE = bytes.fromhex("a5 00 0001 0400 0100 0000 00 00")
INIT_ELEMENT_STATUS = bytes.fromhex("07 00 00 00 00 00")


def make(tmp_path: Path, import_export: int) -> tuple[MediumChanger, dict[str, ServedDevice]]:
    changer = make_changer(
        tmp_path,
        fake_drives=[FakeDrive("SN00000001")],
        slots=2,
        import_export=import_export,
        barcodes=("A00001L8",),
    )
    name = changer.library.name
    served = {name: ServedDevice(name, "changer", changer, control=control_ops(changer))}
    return changer, served


def fault(served: dict[str, ServedDevice], **args: Any) -> dict[str, Any]:
    (name,) = served
    line = json.dumps({"op": "fault", "device": name, "args": args}).encode()
    reply: dict[str, Any] = json.loads(answer(served, line))
    return reply


@pytest.mark.parametrize("import_export", [0, 1])
def test_door_open_then_closed(tmp_path: Path, import_export: int) -> None:
    changer, served = make(tmp_path, import_export)
    assert "execute" not in vars(changer)
    reply = fault(served, kind="door-open")
    assert reply == {"ok": True, "result": {"faults": [{"kind": "door-open"}]}}
    for cdb in (TUR, MOVE_SLOT1_TO_DRIVE, INIT_ELEMENT_STATUS):
        code, _ = sense_of(changer, cdb)
        assert code == LOGICAL_UNIT_NOT_READY_MANUAL_INTERVENTION
    result, _ = run(changer, res(2, voltag=True))
    assert result.status is Status.GOOD  # element status answers from the inventory
    assert fault(served, kind="clear") == {"ok": True, "result": {"faults": []}}
    assert "execute" not in vars(changer)
    assert sense_of(changer, TUR)[0] == NOT_READY_TO_READY_CHANGE
    if import_export:
        assert sense_of(changer, TUR)[0] == IMPORT_OR_EXPORT_ELEMENT_ACCESSED
    assert run(changer, TUR)[0].status is Status.GOOD
    assert run(changer, MOVE_SLOT1_TO_DRIVE)[0].status is Status.GOOD


def test_sense_bytes_golden(tmp_path: Path) -> None:
    changer, served = make(tmp_path, 0)
    fault(served, kind="door-open")
    result, _ = run(changer, TUR)
    assert result.sense[:14] == bytes.fromhex("70 00 02 00000000 0a 00000000 04 03")
    assert parse_sense(result.sense)[0] == LOGICAL_UNIT_NOT_READY_MANUAL_INTERVENTION


def test_clear_of_a_closed_door_posts_nothing(tmp_path: Path) -> None:
    changer, served = make(tmp_path, 1)
    assert fault(served, kind="clear")["ok"]
    assert run(changer, TUR)[0].status is Status.GOOD


@pytest.mark.parametrize(
    "args,error",
    [
        ({"kind": "offline"}, "fault: a library's faults are door-open and clear, not 'offline'"),
        ({"kind": "door-open", "record": 1}, "fault: door-open takes neither a record"),
        ({}, "fault: a library's faults are door-open and clear, not None"),
    ],
)
def test_bad_requests_are_refused(tmp_path: Path, args: dict[str, Any], error: str) -> None:
    changer, served = make(tmp_path, 0)
    reply = fault(served, **args)
    assert reply["ok"] is False and error in reply["error"], reply
    assert reply["error"].startswith("lib0: fault: ")
    assert not changer.door_open and "execute" not in vars(changer)
    assert fault(served, kind="door-open")["ok"]
