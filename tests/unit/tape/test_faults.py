"""Injected faults of a tape drive: the sense, the TapeAlert flags, the listing, clear.

Each kind of :mod:`devemu.tape.faults` is set through the drive's ``fault``
control op (as the daemon does), then driven with the CDBs an initiator
sends; the answers are compared with what SSC-5 and SPC-5 define.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devemu.changer.config import drive_served
from devemu.control_protocol import answer
from devemu.daemon_cli import status_table
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.sense import (
    END_OF_PARTITION_MEDIUM_DETECTED,
    LOGICAL_UNIT_NOT_READY_OFFLINE,
    MEDIUM_LOAD_OR_EJECT_FAILED_MEDIUM_ERROR,
    MEDIUM_NOT_PRESENT,
    NOT_READY_TO_READY_CHANGE,
    UNRECOVERED_READ_ERROR,
    VOLUME_OVERFLOW_END_OF_PARTITION,
    WRITE_ERROR,
    SenseKey,
    parse_sense,
)
from devemu.served import ServedDevice
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.trace import TracedDevice, TraceHub
from tests.unit.tape.test_drive import IDENTITY, Host
from tests.unit.tape.test_tapealert import LOAD, LOG_2E, TUR, UNLOAD, active, raised

INQUIRY = [0x12, 0, 0, 0, 36, 0]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    path = tmp_path / "A00001L8.tape"
    Cartridge.create(path, "A00001L8").close()
    drive = TapeDrive(IDENTITY)
    drive.load(path)
    h = Host(drive)
    h.settle()
    return h


@pytest.fixture
def served(host: Host) -> dict[str, ServedDevice]:
    return {"tape0": drive_served("tape0", host.drive)}


def request(devices: dict[str, ServedDevice], **args: Any) -> dict[str, Any]:
    """One ``fault`` request through the control protocol, as the socket answers it."""
    line = json.dumps({"op": "fault", "device": "tape0", "args": args}).encode()
    reply: dict[str, Any] = json.loads(answer(devices, line))
    return reply


def fault(devices: dict[str, ServedDevice], kind: str, **options: int) -> list[dict[str, Any]]:
    reply = request(devices, kind=kind, **options)
    assert reply["ok"], reply
    listed: list[dict[str, Any]] = reply["result"]["faults"]
    return listed


def write6(n: int, fill: bytes = b"w") -> tuple[bytes, bytes]:
    return bytes([0x0A, 0]) + n.to_bytes(3, "big") + b"\0", fill * n


def test_no_fault_leaves_the_class_execute(host: Host, served: dict[str, ServedDevice]) -> None:
    """The per-command path is the class's while no fault is set (nothing tested per command)."""
    drive = host.drive
    assert "execute" not in vars(drive)
    fault(served, "offline")
    assert vars(drive)["execute"] == drive.execute_faulted
    fault(served, "clear")
    assert "execute" not in vars(drive)
    assert "read_block" not in vars(drive.mounted())


def test_read_error_at_record(host: Host, served: dict[str, ServedDevice]) -> None:
    """MEDIUM ERROR 11h/00h at record N only; TapeAlert 03h, 04h, 05h (SSC-5 annex A)."""
    for data in (b"r0", b"r1", b"r2"):
        assert host.write(data).status is Status.GOOD
    host.rewind()
    assert fault(served, "read-error", record=1) == [{"kind": "read-error", "record": 1}]
    assert host.read(2).status is Status.GOOD
    host.check([0x08, 0, 0, 0, 2, 0], UNRECOVERED_READ_ERROR, n=2)
    assert raised(host) == {0x03, 0x04, 0x05}
    assert active(host) == {0x03, 0x04, 0x05}
    assert host.read(2).status is Status.GOOD  # record 2 is fine
    assert fault(served, "clear") == []
    host.rewind()
    for data in (b"r0", b"r1"):
        assert host.read(2).status is Status.GOOD and host.data == data


def test_write_error_at_record(host: Host, served: dict[str, ServedDevice]) -> None:
    """MEDIUM ERROR 0Ch/00h for a WRITE at record N, nothing written; TapeAlert 03h, 04h, 06h."""
    fault(served, "write-error", record=2)
    assert host.write(b"a").status is Status.GOOD
    assert host.write(b"b").status is Status.GOOD
    cdb, data = write6(1, b"c")
    host.check(cdb, WRITE_ERROR, out=data)
    assert host.position() == 2
    assert raised(host) == {0x03, 0x04, 0x06}
    fault(served, "clear")
    assert host.write(b"c").status is Status.GOOD
    assert host.position() == 3


def test_early_warning_after_bytes(host: Host, served: dict[str, ServedDevice]) -> None:
    """The write crossing N bytes is done and warned: NO SENSE, EOM, 00h/02h, INFORMATION 0."""
    fault(served, "early-warning", bytes=1000)
    cdb, data = write6(600)
    assert host.ok(cdb, out=data) == b""
    fields, _ = host.check(cdb, END_OF_PARTITION_MEDIUM_DETECTED, out=data)
    assert fields["eom"] and fields["information"] == 0
    assert host.position() == 2  # written
    fields, _ = host.check([0x10, 0, 0, 0, 1, 0], END_OF_PARTITION_MEDIUM_DETECTED)
    assert fields["eom"]
    host.ok([0x10, 0, 0, 0, 0, 0])  # a WRITE FILEMARKS of 0 writes nothing: no warning
    wfm16 = bytes([0x80, 0, 0, 0]) + host.position().to_bytes(8, "big") + bytes([0, 0, 1, 0])
    fields, _ = host.check(wfm16, END_OF_PARTITION_MEDIUM_DETECTED)
    assert fields["eom"]
    fault(served, "clear")
    assert host.write(b"x" * 600).status is Status.GOOD


def test_end_of_medium_after_bytes(host: Host, served: dict[str, ServedDevice]) -> None:
    """A write past N bytes: VOLUME OVERFLOW, EOM, 00h/02h, INFORMATION the residue, unwritten."""
    fault(served, "end-of-medium", bytes=1000)
    cdb, data = write6(600)
    host.ok(cdb, out=data)
    fields, r = host.check(cdb, VOLUME_OVERFLOW_END_OF_PARTITION, out=data)
    assert r.sense[2] & 0x0F == SenseKey.VOLUME_OVERFLOW
    assert fields["eom"] and fields["information"] == 600
    assert host.position() == 1
    assert host.ok(*write6(400)) == b""  # exactly up to N is room
    fields, _ = host.check([0x10, 0, 0, 0, 2, 0], VOLUME_OVERFLOW_END_OF_PARTITION)
    assert fields["information"] == 2
    fault(served, "clear")
    host.ok(cdb, out=data)


def test_offline_and_online(host: Host, served: dict[str, ServedDevice]) -> None:
    """NOT READY 04h/12h for the medium's commands; online posts NOT READY TO READY CHANGE."""
    fault(served, "offline")
    host.check(TUR, LOGICAL_UNIT_NOT_READY_OFFLINE)
    host.check(LOAD, LOGICAL_UNIT_NOT_READY_OFFLINE)
    host.check([0x08, 0, 0, 0, 2, 0], LOGICAL_UNIT_NOT_READY_OFFLINE, n=2)
    assert host.ok(INQUIRY, n=36)[:1] == b"\x01"  # INQUIRY still answers
    assert fault(served, "online") == []
    host.check(TUR, NOT_READY_TO_READY_CHANGE)
    host.ok(TUR)


def test_unit_attention_comes_before_offline(host: Host, served: dict[str, ServedDevice]) -> None:
    fault(served, "offline")
    host.drive.unit_attentions.post(NOT_READY_TO_READY_CHANGE)
    host.check(TUR, NOT_READY_TO_READY_CHANGE)
    host.check(TUR, LOGICAL_UNIT_NOT_READY_OFFLINE)


def test_cleaning_required(host: Host, served: dict[str, ServedDevice]) -> None:
    """TapeAlert 14h (clean now): in 2Eh until read, in 12h until the fault ends."""
    fault(served, "cleaning")
    host.ok(TUR)  # the drive still works
    assert raised(host) == {0x14}
    assert raised(host) == set()
    assert active(host) == {0x14}
    host.ok(UNLOAD)
    assert active(host) == {0x14}  # not the cartridge's condition
    fault(served, "clear")
    assert active(host) == set()


def test_load_failure(host: Host, served: dict[str, ServedDevice]) -> None:
    """MEDIUM ERROR 53h/00h and TapeAlert 37h; the cartridge can still be unloaded."""
    fault(served, "load-failure")
    host.check(TUR, MEDIUM_LOAD_OR_EJECT_FAILED_MEDIUM_ERROR)
    host.check(LOAD, MEDIUM_LOAD_OR_EJECT_FAILED_MEDIUM_ERROR)
    assert raised(host) == {0x37}
    assert active(host) == {0x37}
    host.ok(UNLOAD)
    host.check(TUR, MEDIUM_NOT_PRESENT)
    assert active(host) == set()  # a cartridge's condition: it left
    host.check(LOAD, MEDIUM_LOAD_OR_EJECT_FAILED_MEDIUM_ERROR)  # loading it again fails again
    fault(served, "clear")
    host.drive.unload()


def test_status_lists_the_faults(host: Host, served: dict[str, ServedDevice]) -> None:
    fault(served, "write-error", record=5)
    fault(served, "early-warning", bytes=4096)
    listed = fault(served, "cleaning")
    assert listed == [
        {"kind": "write-error", "record": 5},
        {"kind": "early-warning", "bytes": 4096},
        {"kind": "cleaning"},
    ]
    status = json.loads(answer(served, b'{"op": "status", "device": "tape0"}'))["result"]
    assert status["faults"] == listed
    assert "fault" in status["ops"]
    row = status_table([status]).splitlines()[1]
    assert "faults=write-error,early-warning,cleaning" in row
    fault(served, "clear")
    row = status_table([served["tape0"].status() | {"name": "tape0", "kind": "tape"}])
    assert "faults=" not in row


@pytest.mark.parametrize(
    "args,error",
    [
        ({"kind": "melt"}, "tape0: fault: unknown fault 'melt' (kinds: read-error,"),
        ({}, "tape0: fault: needs a kind"),
        ({"kind": "read-error"}, "tape0: fault: read-error needs a record number"),
        ({"kind": "read-error", "record": -1}, "tape0: fault: read-error needs a record"),
        ({"kind": "early-warning", "bytes": 0}, "tape0: fault: early-warning needs a byte count"),
        ({"kind": "offline", "record": 3}, "tape0: fault: offline takes neither a record"),
        ({"kind": "clear", "bytes": 3}, "tape0: fault: clear takes neither a record"),
        ({"kind": 7}, "tape0: fault: 'kind' must be a string, not a number"),
        ({"kind": "read-error", "record": True}, "'record' must be an integer, not a boolean"),
        ({"kind": "offline", "when": 1}, "tape0: fault: unknown argument 'when'"),
        ({"kind": "door-open"}, "tape0: fault: unknown fault 'door-open'"),
    ],
)
def test_bad_requests_are_refused(
    host: Host, served: dict[str, ServedDevice], args: dict[str, Any], error: str
) -> None:
    """One line naming the device and what is wrong; nothing set; the next request served."""
    reply = request(served, **args)
    assert reply["ok"] is False
    assert reply["error"].startswith(error) or error in reply["error"], reply["error"]
    assert "\n" not in reply["error"]
    assert host.drive.status()["faults"] == []
    assert "execute" not in vars(host.drive)
    assert fault(served, "cleaning") == [{"kind": "cleaning"}]


def test_faults_follow_the_drive_not_the_cartridge(tmp_path: Path, host: Host) -> None:
    """A media error fault stays set when another cartridge is loaded."""
    served = {"tape0": drive_served("tape0", host.drive)}
    fault(served, "write-error", record=0)
    cdb, data = write6(1)
    host.check(cdb, WRITE_ERROR, out=data)
    host.drive.unload()
    other = tmp_path / "B00001L8.tape"
    Cartridge.create(other, "B00001L8").close()
    host.drive.load(other)
    host.settle()
    host.check(cdb, WRITE_ERROR, out=data)
    fault(served, "clear")
    host.ok(cdb, out=data)


def test_sense_bytes_of_offline_fixed_format(host: Host, served: dict[str, ServedDevice]) -> None:
    """Golden bytes: fixed format, NOT READY, ASC 04h ASCQ 12h."""
    fault(served, "offline")
    r = host.cmd(TUR)
    assert r.sense[:14] == bytes.fromhex("70 00 02 00000000 0a 00000000 04 12")
    assert parse_sense(r.sense)[0] == LOGICAL_UNIT_NOT_READY_OFFLINE


def test_log_page_2e_golden_after_a_write_error(
    host: Host, served: dict[str, ServedDevice]
) -> None:
    fault(served, "write-error", record=0)
    host.cmd(*write6(1))
    page = host.ok(LOG_2E, n=512)
    flags = {
        int.from_bytes(page[4 + 5 * i : 6 + 5 * i], "big") for i in range(64) if page[8 + 5 * i]
    }
    assert flags == {0x03, 0x04, 0x06}


def test_a_traced_drive_gets_the_fault_set_while_traced(
    host: Host, served: dict[str, ServedDevice]
) -> None:
    """The trace wrapper looks the drive's ``execute`` up per command: the swap reaches it."""
    hub = TraceHub({"tape0": None})
    traced = TracedDevice("tape0", host.drive, None, hub)
    before = traced.execute(Command(bytes(TUR), []))
    assert isinstance(before, Result) and before.status is Status.GOOD
    fault(served, "offline")
    result = traced.execute(Command(bytes(TUR), []))
    assert isinstance(result, Result)
    assert parse_sense(result.sense)[0] == LOGICAL_UNIT_NOT_READY_OFFLINE
