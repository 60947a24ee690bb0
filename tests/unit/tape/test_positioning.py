"""One table of SPACE and LOCATE cases, checked as pure functions and through the drive.

The tape of every case (partition 0)::

    position  0  1  2   3  4  5  6   7   8  9
    object    B  B  FM  B  B  B  FM  FM  B  EOD

Each row: operation, start, count, expected position, why it stopped,
and the residual that goes in INFORMATION.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devemu.scsi.command import Command, Result, Status, answered
from devemu.scsi.identity import Identity
from devemu.scsi.sense import (
    BEGINNING_OF_PARTITION_MEDIUM_DETECTED,
    END_OF_DATA_DETECTED,
    FILEMARK_DETECTED,
    parse_sense,
)
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.tape.positioning import (
    Motion,
    Stop,
    locate_file,
    locate_object,
    space_blocks,
    space_filemarks,
    space_sequential_filemarks,
    space_to_eod,
)

LAYOUT = ["B", "B", "F", "B", "B", "B", "F", "F", "B"]
EOD = len(LAYOUT)

N, F, E, B = Stop.NONE, Stop.FILEMARK, Stop.EOD, Stop.BOP

CASES = [
    # op, start, count, position, stop, residual
    ("blocks", 0, 1, 1, N, 0),
    ("blocks", 0, 2, 2, N, 0),
    ("blocks", 0, 3, 3, F, 1),
    ("blocks", 3, 3, 6, N, 0),
    ("blocks", 3, 5, 7, F, 2),
    ("blocks", 8, 1, 9, N, 0),
    ("blocks", 8, 2, 9, E, 1),
    ("blocks", 9, 1, 9, E, 1),
    ("blocks", 4, 0, 4, N, 0),
    ("blocks", 5, -2, 3, N, 0),
    ("blocks", 5, -3, 2, F, -1),
    ("blocks", 3, -1, 2, F, -1),
    ("blocks", 9, -1, 8, N, 0),
    ("blocks", 8, -1, 7, F, -1),
    ("blocks", 1, -1, 0, N, 0),
    ("blocks", 1, -2, 0, B, -1),
    ("blocks", 0, -1, 0, B, -1),
    ("filemarks", 0, 1, 3, N, 0),
    ("filemarks", 0, 2, 7, N, 0),
    ("filemarks", 0, 3, 8, N, 0),
    ("filemarks", 0, 4, 9, E, 1),
    ("filemarks", 8, 1, 9, E, 1),
    ("filemarks", 5, 0, 5, N, 0),
    ("filemarks", 8, -1, 7, N, 0),
    ("filemarks", 8, -2, 6, N, 0),
    ("filemarks", 8, -3, 2, N, 0),
    ("filemarks", 8, -4, 0, B, -1),
    ("filemarks", 3, -1, 2, N, 0),
    ("filemarks", 2, -1, 0, B, -1),
    ("filemarks", 9, -5, 0, B, -2),
    ("sequential", 0, 2, 8, N, 0),
    ("sequential", 0, 1, 3, N, 0),
    ("sequential", 7, 2, 9, E, 2),
    ("eod", 0, 0, 9, N, 0),
    ("eod", 9, 0, 9, N, 0),
    ("locate", 4, 7, 7, N, 0),
    ("locate", 4, 0, 0, N, 0),
    ("locate", 0, 9, 9, N, 0),
    ("locate", 0, 10, 9, E, 0),
    ("file", 5, 0, 0, N, 0),
    ("file", 0, 1, 3, N, 0),
    ("file", 0, 2, 7, N, 0),
    ("file", 0, 3, 8, N, 0),
    ("file", 0, 4, 9, E, 0),
]


class Layout:
    def __init__(self) -> None:
        self.filemarks = [i for i, o in enumerate(LAYOUT) if o == "F"]
        self.eod = EOD


def move(op: str, start: int, count: int) -> Motion:
    part = Layout()
    if op == "blocks":
        return space_blocks(part, start, count)
    if op == "filemarks":
        return space_filemarks(part, start, count)
    if op == "sequential":
        return space_sequential_filemarks(part, start, count)
    if op == "eod":
        return space_to_eod(part)
    if op == "locate":
        return locate_object(part, count)
    return locate_file(part, count)


@pytest.mark.parametrize("op,start,count,position,stop,residual", CASES)
def test_pure_positioning(
    op: str, start: int, count: int, position: int, stop: Stop, residual: int
) -> None:
    assert move(op, start, count) == Motion(position, stop, residual)


# --- the same table through the drive, SPACE(6), SPACE(16), LOCATE(10), LOCATE(16) --------


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> TapeDrive:
    path: Path = tmp_path_factory.mktemp("pos") / "POS001L8.tape"
    with Cartridge.create(path, "POS001L8") as cart:
        for i, kind in enumerate(LAYOUT):
            if kind == "F":
                cart.write_filemarks(0, i, 1)
            else:
                cart.write_block(0, i, [bytes([i]) * 16])
    drv = TapeDrive(Identity("DEVEMU", "LTO-8 TAPE", "0100", "POS0001"))
    drv.load(path)
    drv.unit_attentions.clear()
    return drv


def run(drv: TapeDrive, cdb: bytes, data_in: int = 0) -> tuple[Result, bytes]:
    buf = bytearray(data_in)
    result = answered(drv.execute(Command(cdb, [memoryview(buf)] if data_in else [])))
    return result, bytes(buf)


def locate10(n: int) -> bytes:
    return bytes([0x2B, 0, 0]) + n.to_bytes(4, "big") + bytes(3)


def position(drv: TapeDrive) -> tuple[int, int]:
    """(first location, file number) from READ POSITION short and long forms."""
    r, short = run(drv, bytes([0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 20)
    assert r.status == Status.GOOD
    r, long = run(drv, bytes([0x34, 6, 0, 0, 0, 0, 0, 0, 0, 0]), 32)
    assert r.status == Status.GOOD
    first = int.from_bytes(short[4:8], "big")
    assert first == int.from_bytes(short[8:12], "big") == int.from_bytes(long[8:16], "big")
    assert bool(short[0] & 0x80) == (first == 0) == bool(long[0] & 0x80)
    return first, int.from_bytes(long[16:24], "big")


SENSE_OF = {
    F: (FILEMARK_DETECTED, {"filemark": True}),
    E: (END_OF_DATA_DETECTED, {}),
    B: (BEGINNING_OF_PARTITION_MEDIUM_DETECTED, {"eom": True}),
}


def cdbs_for(op: str, count: int) -> list[bytes]:
    code = {"blocks": 0, "filemarks": 1, "sequential": 2, "eod": 3}.get(op)
    if code is not None:
        return [
            bytes([0x11, code]) + (count & 0xFFFFFF).to_bytes(3, "big") + b"\0",
            bytes([0x91, code, 0, 0]) + count.to_bytes(8, "big", signed=True) + bytes(4),
        ]
    if op == "locate":
        return [
            locate10(count),
            bytes([0x92, 0, 0, 0]) + count.to_bytes(8, "big") + bytes(4),
        ]
    return [bytes([0x92, 1 << 3, 0, 0]) + count.to_bytes(8, "big") + bytes(4)]


@pytest.mark.parametrize("op,start,count,position_after,stop,residual", CASES)
def test_drive_positioning(
    drive: TapeDrive,
    op: str,
    start: int,
    count: int,
    position_after: int,
    stop: Stop,
    residual: int,
) -> None:
    for cdb in cdbs_for(op, count):
        r, _ = run(drive, locate10(start))
        assert r.status == Status.GOOD
        r, _ = run(drive, cdb)
        if stop is N:
            assert r.status == Status.GOOD, cdb.hex()
        else:
            assert r.status == Status.CHECK_CONDITION, cdb.hex()
            code, fields = parse_sense(r.sense)
            want, flags = SENSE_OF[stop]
            assert code == want, cdb.hex()
            assert fields["filemark"] is flags.get("filemark", False)
            assert fields["eom"] is flags.get("eom", False)
            if op not in ("locate", "file"):
                info = fields["information"]
                assert isinstance(info, int)
                assert info - (1 << 32) * (info >> 31) == residual, cdb.hex()
        here, file_number = position(drive)
        assert here == position_after, cdb.hex()
        assert file_number == sum(1 for o in LAYOUT[:here] if o == "F")


def test_sequential_filemarks_backwards_is_refused(drive: TapeDrive) -> None:
    r, _ = run(drive, bytes([0x11, 2, 0xFF, 0xFF, 0xFF, 0]))
    code, fields = parse_sense(r.sense)
    assert code.asc == 0x24 and fields["sense_key_specific"] == b"\xc0\x00\x02"


def test_setmarks_are_not_supported(drive: TapeDrive) -> None:
    r, _ = run(drive, bytes([0x11, 4, 0, 0, 1, 0]))
    code, fields = parse_sense(r.sense)
    assert code.asc == 0x24 and fields["sense_key_specific"] == b"\xcb\x00\x01"
