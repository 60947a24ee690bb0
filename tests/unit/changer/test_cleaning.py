"""Cleaning cartridges: CLN labels, MEDIUM TYPE cleaning, a drive that cleans and ejects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.changer.device import MediumChanger
from devemu.changer.element_status import DESCRIPTOR_HEAD_LENGTH, ElementDescriptorHead, MediumType
from devemu.scsi.command import Command, Result, Status, answered
from devemu.scsi.sense import MEDIUM_NOT_PRESENT, parse_sense
from devemu.tape import attribute_commands, mam
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.tape.media import CLEANING, CLEANING_USES, check_volume_label, medium_type
from devemu.tape.records import WHOLE_CARTRIDGE
from devemu.tape.tapealert import TapeAlertFlag, log_page_flags
from tests.unit.changer.served_library import changer_and_drive, served_library

LIBRARY = """
name = "vtl0"
directory = "tapes"
slots = 3
barcodes = ["E01001L8", "CLN001CU"]
[[drives]]
name = "vtl0-d0"
"""
SLOT1, SLOT2, DRIVE = 0x0400, 0x0401, 0x0100


@pytest.fixture
def library(tmp_path: Path) -> Iterator[tuple[MediumChanger, TapeDrive]]:
    with served_library(tmp_path, LIBRARY) as devices:
        yield changer_and_drive(devices)


def execute(
    device: TapeDrive | MediumChanger, cdb: bytes, length: int = 4096
) -> tuple[Result, bytes]:
    buf = bytearray(length)
    result = answered(device.execute(Command(cdb, [memoryview(buf)])))
    return result, bytes(buf[: result.data_in_length or 0])


def move(changer: MediumChanger, source: int, destination: int) -> Result:
    cdb = bytes([0xA5, 0, 0, 0]) + source.to_bytes(2, "big") + destination.to_bytes(2, "big")
    return execute(changer, cdb + bytes(4))[0]


def drive_flags(drive: TapeDrive) -> set[int]:
    result, data = execute(drive, bytes([0x4D, 0, 0x40 | 0x2E, 0, 0, 0, 0, 0x01, 0x50, 0]))
    assert result.status is Status.GOOD
    return log_page_flags(data)


def slot_medium_type(changer: MediumChanger, address: int) -> int:
    """MEDIUM TYPE of the storage element at ``address`` (READ ELEMENT STATUS, one element)."""
    cdb = bytes([0xB8, 0x02]) + address.to_bytes(2, "big") + bytes([0, 1, 0, 0, 0x10, 0, 0, 0])
    result, data = execute(changer, cdb)
    assert result.status is Status.GOOD
    head = ElementDescriptorHead.parse(data[16 : 16 + DESCRIPTOR_HEAD_LENGTH])
    assert head.address == address
    return int(head.medium.medium_type)


def test_cleaning_labels() -> None:
    assert check_volume_label("CLN001CU", CLEANING) == "CLN001CU"
    with pytest.raises(ValueError, match="begins with CLN"):
        check_volume_label("E01001CU", CLEANING)
    with pytest.raises(ValueError, match="begins with CLN"):
        check_volume_label("CLN001L8", medium_type("LTO-8"))
    with pytest.raises(ValueError, match="no WORM cleaning"):
        check_volume_label("CLN001CU", CLEANING, worm=True)


def test_library_makes_a_cleaning_cartridge(
    tmp_path: Path, library: tuple[MediumChanger, TapeDrive]
) -> None:
    changer, _ = library
    with Cartridge.open(tmp_path / "tapes" / "CLN001CU.tape", read_only=True) as cart:
        assert cart.medium is CLEANING
        assert cart.attributes(0)[0x0408].value == bytes([mam.MEDIUM_TYPE_CLEANING])
    assert slot_medium_type(changer, SLOT2) == MediumType.CLEANING
    assert slot_medium_type(changer, SLOT1) == MediumType.DATA


def test_cleaning_cleans_and_ejects(library: tuple[MediumChanger, TapeDrive]) -> None:
    changer, drive = library
    drive.set_fault("cleaning")
    assert TapeAlertFlag.CLEAN_NOW in drive_flags(drive)
    assert "execute" in vars(drive)
    assert move(changer, SLOT2, DRIVE).status is Status.GOOD
    assert drive.ejected and drive.loaded_barcode == "CLN001CU"
    assert not drive.faults.cleaning and "execute" not in vars(drive)
    result, _ = execute(drive, bytes(6))
    assert parse_sense(result.sense)[0] == MEDIUM_NOT_PRESENT  # never ready with it
    assert drive_flags(drive) == {TapeAlertFlag.CLEANING_MEDIA}
    assert TapeAlertFlag.CLEAN_NOW not in drive.tapealerts.active
    assert move(changer, DRIVE, SLOT2).status is Status.GOOD
    assert TapeAlertFlag.CLEANING_MEDIA not in drive.tapealerts.active
    with Cartridge.open(changer.library.store.path("CLN001CU.tape"), read_only=True) as cart:
        assert attribute_commands.load_count(cart) == 1


def test_expired_cleaning_cartridge(library: tuple[MediumChanger, TapeDrive]) -> None:
    changer, drive = library
    path = changer.library.store.path("CLN001CU.tape")
    with Cartridge.open(path) as cart:
        cart.set_attributes(WHOLE_CARTRIDGE, [mam.standard(0x0003, CLEANING_USES)])
    drive.set_fault("cleaning")
    assert move(changer, SLOT2, DRIVE).status is Status.GOOD
    assert drive.ejected
    assert drive.faults.cleaning  # nothing was cleaned
    assert drive_flags(drive) == {TapeAlertFlag.CLEAN_NOW, TapeAlertFlag.EXPIRED_CLEANING_MEDIA}
    assert move(changer, DRIVE, SLOT2).status is Status.GOOD


def test_data_cartridge_still_loads(library: tuple[MediumChanger, TapeDrive]) -> None:
    changer, drive = library
    assert move(changer, SLOT1, DRIVE).status is Status.GOOD
    drive.unit_attentions.clear()
    assert execute(drive, bytes(6))[0].status is Status.GOOD
