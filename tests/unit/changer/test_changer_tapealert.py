"""The changer's TapeAlert: log page 2Eh with the library's flags, page 1Ch's MRIE, read clears."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devemu.changer.device import MediumChanger
from devemu.changer.tapealert import FLAG_CAUSES, LibraryTapeAlertFlag
from devemu.control_protocol import answer
from devemu.scsi.command import Command, Status, answered
from devemu.scsi.sense import SenseCode, SenseKey, parse_sense
from devemu.served import ServedDevice
from devemu.tape.tapealert import log_page_flags
from tests.unit.changer.served_library import served_library
from tests.unit.changer.test_changer import sense_of
from tests.unit.changer.test_library_config import BASIC
from tests.unit.changer.test_library_fakes import run

TUR = bytes(6)
DOOR = LibraryTapeAlertFlag.LIBRARY_DOOR
DRIVE_OFFLINE = LibraryTapeAlertFlag.LIBRARY_DRIVE_OFFLINE
FAILURE_PREDICTION_UA = SenseCode(SenseKey.UNIT_ATTENTION, 0x5D, 0x00)


def log_sense(page: int, alloc: int = 0xFFFF) -> bytes:
    return bytes([0x4D, 0, 0x40 | page, 0, 0, 0, 0]) + alloc.to_bytes(2, "big") + b"\0"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, ServedDevice]]:
    with served_library(tmp_path, BASIC) as devices:
        yield {d.name: d for d in devices}


def changer_of(served: dict[str, ServedDevice]) -> MediumChanger:
    device = served["vtl0"].device
    assert isinstance(device, MediumChanger)
    return device


def fault(served: dict[str, ServedDevice], device: str, kind: str) -> dict[str, Any]:
    line = json.dumps({"op": "fault", "device": device, "args": {"kind": kind}}).encode()
    reply: dict[str, Any] = json.loads(answer(served, line))
    assert reply["ok"], reply
    return reply


def flags(changer: MediumChanger) -> set[int]:
    result, data = run(changer, log_sense(0x2E))
    assert result.status is Status.GOOD
    return log_page_flags(data)


def drain(changer: MediumChanger) -> None:
    """Take the unit attentions of a new library (power on, ...)."""
    for _ in range(8):
        if run(changer, TUR)[0].status is Status.GOOD:
            return
    raise AssertionError("the changer keeps reporting unit attentions")


def test_supported_log_pages(served: dict[str, ServedDevice]) -> None:
    changer = changer_of(served)
    _, data = run(changer, log_sense(0x00))
    assert data[:4] == bytes([0x00, 0x00, 0x00, 0x02])
    assert data[4:] == bytes([0x00, 0x2E])


def test_page_golden_bytes(served: dict[str, ServedDevice]) -> None:
    """SSC-5 8.2 layout: 64 parameters of 5 bytes, 0001h-0040h, control 03h, length 1."""
    changer = changer_of(served)
    fault(served, "vtl0", "door-open")
    _, data = run(changer, log_sense(0x2E))
    assert data[:4] == bytes.fromhex("2e 00 0140")
    assert len(data) == 4 + 64 * 5
    assert data[4 + 15 * 5 : 4 + 16 * 5] == bytes.fromhex("0010 03 01 01")  # flag 10h raised
    assert data[4 : 4 + 5] == bytes.fromhex("0001 03 01 00")
    assert all(data[4 + i * 5 + 4] == 0 for i in range(64) if i != 15)


def test_door_flag_while_open_then_until_read(served: dict[str, ServedDevice]) -> None:
    changer = changer_of(served)
    assert flags(changer) == set()
    fault(served, "vtl0", "door-open")
    assert flags(changer) == {DOOR}
    assert flags(changer) == {DOOR}  # the condition holds: reading does not clear it
    fault(served, "vtl0", "clear")
    drain(changer)  # 28h/00h, 28h/01h: the inventory may have changed
    assert flags(changer) == set()  # over, and the host has seen it


def test_door_flag_unread_outlives_the_condition(served: dict[str, ServedDevice]) -> None:
    changer = changer_of(served)
    fault(served, "vtl0", "door-open")
    fault(served, "vtl0", "clear")
    drain(changer)
    assert flags(changer) == {DOOR}  # over, but never read
    assert flags(changer) == set()


def test_header_only_read_clears_nothing(served: dict[str, ServedDevice]) -> None:
    changer = changer_of(served)
    fault(served, "vtl0", "door-open")
    fault(served, "vtl0", "clear")
    drain(changer)
    run(changer, log_sense(0x2E, alloc=4))
    assert flags(changer) == {DOOR}


def test_drive_offline_flag_follows_the_drives(served: dict[str, ServedDevice]) -> None:
    changer = changer_of(served)
    fault(served, "vtl0-d0", "offline")
    fault(served, "vtl0-d1", "offline")
    assert flags(changer) == {DRIVE_OFFLINE}
    fault(served, "vtl0-d0", "online")
    assert flags(changer) == {DRIVE_OFFLINE}  # d1 is still offline
    fault(served, "vtl0-d1", "clear")
    assert flags(changer) == set()  # no drive offline any more
    fault(served, "vtl0-d0", "cleaning")  # not an offline drive
    assert flags(changer) == set()


def test_mrie_unit_attention_on_door_open(served: dict[str, ServedDevice]) -> None:
    """Page 1Ch with DEXCPT=0, MRIE=2: the exception is a unit attention (SPC-5 7.5.10)."""
    changer = changer_of(served)
    page = bytes([0x1C, 0x0A, 0x00, 0x02]) + bytes(8)
    data_out = bytes(4) + page
    cdb = bytes([0x15, 0x10, 0, 0, len(data_out), 0])
    result = answered(changer.execute(Command(cdb, [memoryview(bytearray(data_out))])))
    assert result.status is Status.GOOD, parse_sense(result.sense)
    fault(served, "vtl0", "door-open")
    code, _ = sense_of(changer, log_sense(0x00))
    assert code == FAILURE_PREDICTION_UA


def test_dexcpt_default_reports_nothing(served: dict[str, ServedDevice]) -> None:
    changer = changer_of(served)
    fault(served, "vtl0", "door-open")
    result, _ = run(changer, log_sense(0x00))
    assert result.status is Status.GOOD, parse_sense(result.sense)


def test_mode_page_1c_is_reported(served: dict[str, ServedDevice]) -> None:
    changer = changer_of(served)
    _, data = run(changer, bytes([0x1A, 0x08, 0x1C, 0, 0xFF, 0]))
    assert data[4:16] == bytes([0x1C, 0x0A, 0x08, 0x03]) + bytes(8)


def test_every_flag_has_a_cause() -> None:
    assert set(FLAG_CAUSES) == set(LibraryTapeAlertFlag)
