"""The library with real tape drives and cartridge files, built from a ``[[library]]`` table.

The host's side of a robot load: MOVE MEDIUM to the drive, the drive's
unit attention and readiness, data written, LOAD UNLOAD (``mt offline``),
MOVE MEDIUM back. Then a restart without a clean shutdown (kill -9: no
``close``) keeps the inventory and the data.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from devemu.changer.config import from_config
from devemu.changer.device import MediumChanger
from devemu.scsi.command import Command, Result, Status, answered
from devemu.scsi.device import ScsiDevice
from devemu.scsi.sense import (
    MEDIUM_NOT_PRESENT,
    MEDIUM_REMOVAL_PREVENTED,
    NOT_READY_TO_READY_CHANGE,
    UNLOAD_TAPE_FAILURE_ILLEGAL,
    parse_sense,
)
from devemu.served import ServedDevice
from devemu.tape.cartridge import Cartridge
from devemu.tape.cartridge_check import check_cartridge_folder
from devemu.tape.drive import TapeDrive

CONFIG = """
name = "vtl0"
directory = "tapes"
slots = 4
import_export = 1
barcodes = ["E01001L8", "E01002L8"]
[[drives]]
name = "vtl0-d0"
serial = "HU00000001"
"""


def serve(tmp_path: Path, extra: str = "") -> list[ServedDevice]:
    return from_config(
        tomllib.loads(extra + CONFIG),
        path=tmp_path / "devemu.toml",
        key="library[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
    )


def run(device: ScsiDevice, cdb: bytes, data: bytes = b"", length: int = 0) -> tuple[Result, bytes]:
    buf = bytearray(data) if data else bytearray(length)
    result = answered(device.execute(Command(cdb, [memoryview(buf)] if buf else [])))
    return result, bytes(buf[: result.data_in_length or 0])


def good(device: ScsiDevice, cdb: bytes, data: bytes = b"", length: int = 0) -> bytes:
    result, out = run(device, cdb, data, length)
    assert result.status == Status.GOOD, parse_sense(result.sense)
    return out


MOVE_SLOT1_TO_DRIVE = bytes.fromhex("a5 00 0000 0400 0100 0000 00 00")
MOVE_DRIVE_TO_SLOT1 = bytes.fromhex("a5 00 0000 0100 0400 0000 00 00")
TUR = bytes(6)
UNLOAD = bytes.fromhex("1b 00 00 00 00 00")
REWIND = bytes.fromhex("01 00 00 00 00 00")


def write(drive: TapeDrive, payload: bytes) -> None:
    good(drive, bytes([0x0A, 0]) + len(payload).to_bytes(3, "big") + b"\0", payload)


def read(drive: TapeDrive, length: int) -> bytes:
    """READ(6), variable block, SILI: a shorter record is no error."""
    return good(drive, bytes([0x08, 0x02]) + length.to_bytes(3, "big") + b"\0", length=length)


def test_robot_load_write_unload_and_restart(tmp_path: Path) -> None:
    changer_served, drive_served = serve(tmp_path, "auto_unload = false\n")
    changer = changer_served.device
    drive = drive_served.device
    assert isinstance(changer, MediumChanger)
    assert isinstance(drive, TapeDrive)
    changer.unit_attentions.clear()
    drive.unit_attentions.clear()

    good(changer, MOVE_SLOT1_TO_DRIVE)
    assert drive.loaded_barcode == "E01001L8"
    result, _ = run(drive, TUR)
    assert parse_sense(result.sense)[0] == NOT_READY_TO_READY_CHANGE
    good(drive, TUR)
    write(drive, b"first record")
    good(drive, bytes.fromhex("10 00 00 00 01 00"))  # WRITE FILEMARKS 1

    result, _ = run(changer, MOVE_DRIVE_TO_SLOT1)
    assert parse_sense(result.sense)[0] == UNLOAD_TAPE_FAILURE_ILLEGAL
    good(drive, UNLOAD)
    assert drive.ejected
    good(changer, MOVE_DRIVE_TO_SLOT1)
    assert drive.loaded_path is None

    good(changer, MOVE_SLOT1_TO_DRIVE)
    good(changer, bytes.fromhex("a5 00 0000 0401 0402 0000 00 00"))  # slot 2 -> slot 3
    status = changer_served.status()
    assert [r["barcode"] for r in status["elements"] if r["type"] == "drive"] == ["E01001L8"]

    # kill -9: no state is written on the way out; only the dead process's
    # file lock on the cartridge goes away (closing it here does the same)
    assert drive.cartridge is not None
    drive.cartridge.close()
    changer2, drive2 = (s.device for s in serve(tmp_path))
    assert isinstance(changer2, MediumChanger)
    assert isinstance(drive2, TapeDrive)
    occupants = changer2.library.state.occupants
    assert {a: o.barcode for a, o in occupants.items()} == {0x100: "E01001L8", 0x402: "E01002L8"}
    assert drive2.loaded_barcode == "E01001L8"
    drive2.unit_attentions.clear()
    good(drive2, REWIND)
    assert read(drive2, 100) == b"first record"
    result, _ = run(drive2, bytes([0x08, 0, 0, 0, 100, 0]), length=100)
    assert parse_sense(result.sense)[1]["filemark"]


PREVENT = bytes.fromhex("1e 00 00 00 01 00")
ALLOW = bytes.fromhex("1e 00 00 00 00 00")


def test_move_out_of_a_loaded_drive_unloads_it(tmp_path: Path) -> None:
    """SMC-3 6.6 with SSC-5 7.3: the move does the drive's UNLOAD, then takes the cartridge."""
    changer_served, drive_served = serve(tmp_path)
    changer, drive = changer_served.device, drive_served.device
    assert isinstance(drive, TapeDrive)
    changer.unit_attentions.clear()
    good(changer, MOVE_SLOT1_TO_DRIVE)
    drive.unit_attentions.clear()
    write(drive, b"r" * 2_500_000)  # buffered: durable only once synchronised
    assert drive.position == 1

    good(drive, PREVENT)
    result, _ = run(changer, MOVE_DRIVE_TO_SLOT1)
    assert parse_sense(result.sense)[0] == MEDIUM_REMOVAL_PREVENTED
    assert parse_sense(result.sense)[1]["sense_key_specific"] == bytes([0xC0, 0, 4])
    assert drive.loaded_barcode == "E01001L8" and not drive.ejected
    good(drive, ALLOW)

    good(changer, MOVE_DRIVE_TO_SLOT1)
    assert drive.loaded_path is None
    result, _ = run(drive, TUR)
    assert parse_sense(result.sense)[0] == MEDIUM_NOT_PRESENT
    occupants = changer.library.state.occupants  # type: ignore[attr-defined]
    assert occupants[0x400].barcode == "E01001L8"
    assert check_cartridge_folder(tmp_path / "tapes") == []
    cart = Cartridge.open(tmp_path / "tapes" / "E01001L8.tape", read_only=True)
    try:
        assert cart.partitions[0].eod == 1
        attrs = cart.attributes(0)
        assert int.from_bytes(attrs[0x0003].value, "big") == 1  # loads
        assert int.from_bytes(attrs[0x0220].value, "big") == 2  # MB written in its life
        assert int.from_bytes(attrs[0x0222].value, "big") == 2  # MB written in the last load
    finally:
        cart.close()

    good(changer, MOVE_SLOT1_TO_DRIVE)
    drive.unit_attentions.clear()
    assert drive.position == 0
    assert len(read(drive, 3_000_000)) == 2_500_000
