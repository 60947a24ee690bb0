"""MOVE MEDIUM, EXCHANGE MEDIUM and friends through the changer: outcomes and sense."""

from __future__ import annotations

from pathlib import Path

import pytest

from devemu.changer.device import MediumChanger
from devemu.changer.inventory import load_state
from devemu.changer.library import LibraryError
from devemu.scsi.command import Status
from devemu.scsi.sense import (
    INVALID_ELEMENT_ADDRESS,
    INVALID_FIELD_IN_CDB,
    MEDIUM_DESTINATION_ELEMENT_FULL,
    MEDIUM_LOAD_OR_EJECT_FAILED,
    MEDIUM_REMOVAL_PREVENTED,
    MEDIUM_SOURCE_ELEMENT_EMPTY,
    UNLOAD_TAPE_FAILURE_ILLEGAL,
    parse_sense,
)
from tests.unit.changer.test_library_fakes import FakeDrive, make_changer, run

SLOT1, SLOT2, SLOT3, SLOT4 = 0x400, 0x401, 0x402, 0x403
DRIVE1, DRIVE2 = 0x100, 0x101
MAIL1 = 0x300


def move(src: int, dst: int, transport: int = 1, *, invert: bool = False) -> bytes:
    return (
        bytes([0xA5, 0])
        + transport.to_bytes(2, "big")
        + src.to_bytes(2, "big")
        + dst.to_bytes(2, "big")
        + bytes([0, 0, 1 if invert else 0, 0])
    )


def exchange(src: int, first: int, second: int, transport: int = 0) -> bytes:
    return (
        bytes([0xA6, 0])
        + transport.to_bytes(2, "big")
        + src.to_bytes(2, "big")
        + first.to_bytes(2, "big")
        + second.to_bytes(2, "big")
        + bytes([0, 0])
    )


def ok(changer: MediumChanger, cdb: bytes) -> None:
    result, _ = run(changer, cdb)
    assert result.status == Status.GOOD, parse_sense(result.sense)


def fails(changer: MediumChanger, cdb: bytes, code: object, byte: int | None) -> None:
    result, _ = run(changer, cdb)
    assert result.status == Status.CHECK_CONDITION
    got, fields = parse_sense(result.sense)
    assert got == code
    if byte is None:
        assert "sense_key_specific" not in fields
    else:
        assert fields["sense_key_specific"][1:] == byte.to_bytes(2, "big")  # type: ignore[index]


@pytest.fixture
def drives() -> list[FakeDrive]:
    return [FakeDrive("DRV0000001"), FakeDrive("DRV0000002")]


@pytest.fixture
def changer(tmp_path: Path, drives: list[FakeDrive]) -> MediumChanger:
    """Two drives, six slots (E01001L8..E01003L8 in slots 1-3), two mail slots."""
    return make_changer(tmp_path, fake_drives=drives)


def where(changer: MediumChanger) -> dict[int, str]:
    return {a: o.barcode for a, o in changer.library.state.occupants.items()}


def test_slot_to_drive_loads_the_cartridge(
    changer: MediumChanger, drives: list[FakeDrive], tmp_path: Path
) -> None:
    ok(changer, move(SLOT2, DRIVE1))
    assert drives[0].loaded_path == tmp_path / "tapes" / "E01002L8.tape"
    assert where(changer)[DRIVE1] == "E01002L8"
    assert SLOT2 not in where(changer)
    assert changer.library.state.occupants[DRIVE1].source == SLOT2
    saved = load_state(changer.library.state_path)
    assert saved is not None
    assert saved.occupants[DRIVE1].barcode == "E01002L8"


def test_transport_address_zero_means_the_default(changer: MediumChanger) -> None:
    ok(changer, move(SLOT1, SLOT4, transport=0))
    assert where(changer)[SLOT4] == "E01001L8"
    assert changer.library.state.occupants[SLOT4].source == SLOT1


def test_drive_to_slot_unloads_the_drive_itself(
    changer: MediumChanger, drives: list[FakeDrive]
) -> None:
    """SMC-3 6.6: the library unloads a loaded drive as its own UNLOAD would, then moves."""
    ok(changer, move(SLOT1, DRIVE1))
    assert not drives[0].ejected
    ok(changer, move(DRIVE1, SLOT1))
    assert drives[0].robot_unloads == 1
    assert drives[0].loaded_path is None
    assert where(changer)[SLOT1] == "E01001L8"
    assert changer.library.state.occupants[SLOT1].source == DRIVE1


def test_drive_to_slot_refused_while_the_drive_prevents_removal(
    changer: MediumChanger, drives: list[FakeDrive]
) -> None:
    """PREVENT ALLOW MEDIUM REMOVAL on the drive: MEDIUM REMOVAL PREVENTED (0x53/0x02)."""
    ok(changer, move(SLOT1, DRIVE1))
    drives[0].removal_prevented = True
    fails(changer, move(DRIVE1, SLOT1), MEDIUM_REMOVAL_PREVENTED, 4)
    fails(changer, exchange(DRIVE1, SLOT2, SLOT4), MEDIUM_REMOVAL_PREVENTED, 4)
    fails(changer, exchange(SLOT2, DRIVE1, SLOT4), MEDIUM_REMOVAL_PREVENTED, 6)
    assert drives[0].robot_unloads == 0
    assert where(changer)[DRIVE1] == "E01001L8"
    assert drives[0].loaded_path is not None
    drives[0].removal_prevented = False
    ok(changer, move(DRIVE1, SLOT1))
    assert where(changer)[SLOT1] == "E01001L8"


def test_without_auto_unload_the_host_must_unload_first(tmp_path: Path) -> None:
    """``auto_unload = false``: UNLOAD TAPE FAILURE (0x53/0x01) until the host unloads."""
    drives = [FakeDrive("DRV0000001"), FakeDrive("DRV0000002")]
    changer = make_changer(tmp_path, fake_drives=drives, auto_unload=False)
    ok(changer, move(SLOT1, DRIVE1))
    fails(changer, move(DRIVE1, SLOT1), UNLOAD_TAPE_FAILURE_ILLEGAL, 4)
    fails(changer, exchange(SLOT2, DRIVE1, SLOT4), UNLOAD_TAPE_FAILURE_ILLEGAL, 6)
    drives[0].removal_prevented = True
    fails(changer, move(DRIVE1, SLOT1), MEDIUM_REMOVAL_PREVENTED, 4)
    assert where(changer)[DRIVE1] == "E01001L8"
    assert drives[0].loaded_path is not None
    drives[0].removal_prevented = False
    drives[0].host_unload()
    ok(changer, move(DRIVE1, SLOT1))
    assert drives[0].robot_unloads == 0
    assert drives[0].loaded_path is None
    assert where(changer)[SLOT1] == "E01001L8"
    assert changer.library.state.occupants[SLOT1].source == DRIVE1


def test_full_destination(changer: MediumChanger) -> None:
    fails(changer, move(SLOT1, SLOT2), MEDIUM_DESTINATION_ELEMENT_FULL, 6)
    ok(changer, move(SLOT1, DRIVE1))
    fails(changer, move(SLOT2, DRIVE1), MEDIUM_DESTINATION_ELEMENT_FULL, 6)
    fails(changer, move(SLOT2, SLOT2), MEDIUM_DESTINATION_ELEMENT_FULL, 6)


def test_destination_drive_holding_an_unknown_tape_is_full(
    changer: MediumChanger, drives: list[FakeDrive], tmp_path: Path
) -> None:
    drives[1].loaded_path = tmp_path / "elsewhere.tape"
    fails(changer, move(SLOT1, DRIVE2), MEDIUM_DESTINATION_ELEMENT_FULL, 6)


def test_empty_source(changer: MediumChanger) -> None:
    fails(changer, move(SLOT4, SLOT3), MEDIUM_SOURCE_ELEMENT_EMPTY, 4)
    fails(changer, move(DRIVE1, SLOT4), MEDIUM_SOURCE_ELEMENT_EMPTY, 4)


@pytest.mark.parametrize(
    ("cdb", "byte"),
    [
        (move(0x0999, SLOT4), 4),
        (move(SLOT1, 0x0999), 6),
        (move(SLOT1, 0x0001), 6),  # the hand holds nothing
        (move(0x0001, SLOT4), 4),
        (move(SLOT1, SLOT4, transport=0x0400), 2),
        (move(SLOT1, SLOT4, transport=0x0002), 2),
        (move(SLOT1, 0x0102), 6),  # one drive too far
        (move(SLOT1, 0x0302), 6),  # one mail slot too far
    ],
)
def test_invalid_element_address(changer: MediumChanger, cdb: bytes, byte: int) -> None:
    fails(changer, cdb, INVALID_ELEMENT_ADDRESS, byte)
    assert sorted(where(changer)) == [SLOT1, SLOT2, SLOT3]


def test_invert_is_refused(changer: MediumChanger) -> None:
    result, _ = run(changer, move(SLOT1, SLOT4, invert=True))
    code, fields = parse_sense(result.sense)
    assert code == INVALID_FIELD_IN_CDB
    assert fields["sense_key_specific"] == bytes([0xC8, 0, 10])


def test_reserved_bits_are_refused_by_usage_data(changer: MediumChanger) -> None:
    cdb = bytearray(move(SLOT1, SLOT4))
    cdb[9] = 0x01
    result, _ = run(changer, bytes(cdb))
    code, fields = parse_sense(result.sense)
    assert code == INVALID_FIELD_IN_CDB
    assert fields["sense_key_specific"] == bytes([0xC8, 0, 9])


def test_mtx_eepos_and_lun_bits_are_accepted(changer: MediumChanger) -> None:
    cdb = bytearray(move(SLOT1, SLOT4))
    cdb[1] = 0x20
    cdb[11] = 0x40
    ok(changer, bytes(cdb))


def test_failed_load_leaves_everything_as_it_was(
    changer: MediumChanger, drives: list[FakeDrive]
) -> None:
    drives[0].fail_next_load = True
    fails(changer, move(SLOT1, DRIVE1), MEDIUM_LOAD_OR_EJECT_FAILED, None)
    assert where(changer)[SLOT1] == "E01001L8"
    assert drives[0].loaded_path is None


def test_drive_to_drive_keeps_the_home_slot(
    changer: MediumChanger, drives: list[FakeDrive]
) -> None:
    ok(changer, move(SLOT3, DRIVE1))
    drives[0].host_unload()
    ok(changer, move(DRIVE1, DRIVE2))
    assert drives[0].loaded_path is None
    assert drives[1].loaded_path is not None
    assert changer.library.state.occupants[DRIVE2].source == SLOT3


def test_failed_drive_to_drive_puts_the_tape_back(
    changer: MediumChanger, drives: list[FakeDrive]
) -> None:
    ok(changer, move(SLOT3, DRIVE1))
    drives[0].host_unload()
    drives[1].fail_next_load = True
    fails(changer, move(DRIVE1, DRIVE2), MEDIUM_LOAD_OR_EJECT_FAILED, None)
    assert drives[0].loaded_path is not None
    assert where(changer)[DRIVE1] == "E01003L8"


def test_moves_to_and_from_mail_slots(changer: MediumChanger) -> None:
    ok(changer, move(SLOT1, MAIL1))
    assert not changer.library.state.occupants[MAIL1].operator_placed
    ok(changer, move(MAIL1, SLOT4))
    assert where(changer)[SLOT4] == "E01001L8"


# --- EXCHANGE MEDIUM -----------------------------------------------------------------------


def test_exchange_swaps_two_slots(changer: MediumChanger) -> None:
    ok(changer, exchange(SLOT1, SLOT2, SLOT1))
    assert where(changer)[SLOT1] == "E01002L8"
    assert where(changer)[SLOT2] == "E01001L8"


def test_exchange_into_a_third_element(changer: MediumChanger) -> None:
    ok(changer, exchange(SLOT1, SLOT2, SLOT4))
    assert where(changer) == {SLOT2: "E01001L8", SLOT3: "E01003L8", SLOT4: "E01002L8"}


def test_exchange_with_a_drive(changer: MediumChanger, drives: list[FakeDrive]) -> None:
    ok(changer, move(SLOT1, DRIVE1))
    ok(changer, exchange(SLOT2, DRIVE1, SLOT4))
    assert drives[0].robot_unloads == 1
    assert drives[0].loaded_path is not None
    assert drives[0].loaded_path.name == "E01002L8.tape"
    assert where(changer)[SLOT4] == "E01001L8"
    assert changer.library.state.occupants[SLOT4].source == DRIVE1


@pytest.mark.parametrize(
    ("cdb", "code", "byte"),
    [
        (exchange(SLOT4, SLOT1, SLOT4), MEDIUM_SOURCE_ELEMENT_EMPTY, 4),
        (exchange(SLOT1, SLOT4, SLOT1), MEDIUM_SOURCE_ELEMENT_EMPTY, 6),
        (exchange(SLOT1, SLOT2, SLOT3), MEDIUM_DESTINATION_ELEMENT_FULL, 8),
        (exchange(SLOT1, SLOT2, 0x0999), INVALID_ELEMENT_ADDRESS, 8),
        (exchange(SLOT1, 0x0001, SLOT4), INVALID_ELEMENT_ADDRESS, 6),
        (exchange(SLOT1, SLOT2, SLOT4, transport=0x0100), INVALID_ELEMENT_ADDRESS, 2),
    ],
)
def test_exchange_errors(changer: MediumChanger, cdb: bytes, code: object, byte: int) -> None:
    fails(changer, cdb, code, byte)
    assert where(changer) == {SLOT1: "E01001L8", SLOT2: "E01002L8", SLOT3: "E01003L8"}


def test_exchange_invert_bits_are_refused(changer: MediumChanger) -> None:
    cdb = bytearray(exchange(SLOT1, SLOT2, SLOT1))
    cdb[10] = 0x02
    result, _ = run(changer, bytes(cdb))
    assert parse_sense(result.sense)[1]["sense_key_specific"] == bytes([0xC9, 0, 10])


# --- POSITION TO ELEMENT, INITIALIZE ELEMENT STATUS, PREVENT ALLOW ---------------------------


def test_position_to_element(changer: MediumChanger) -> None:
    ok(changer, bytes.fromhex("2b 00 0001 0400 0000 00 00"))
    fails(changer, bytes.fromhex("2b 00 0001 0999 0000 00 00"), INVALID_ELEMENT_ADDRESS, 4)
    fails(changer, bytes.fromhex("2b 00 0005 0400 0000 00 00"), INVALID_ELEMENT_ADDRESS, 2)
    result, _ = run(changer, bytes.fromhex("2b 00 0001 0400 0000 01 00"))
    assert parse_sense(result.sense)[0] == INVALID_FIELD_IN_CDB


def test_initialize_element_status_finds_vanished_cartridges(
    changer: MediumChanger, tmp_path: Path
) -> None:
    (tmp_path / "tapes" / "E01002L8.tape").unlink()
    ok(changer, bytes.fromhex("07 00 00 00 00 00"))
    assert where(changer) == {SLOT1: "E01001L8", SLOT3: "E01003L8"}


def test_initialize_element_status_with_range(changer: MediumChanger, tmp_path: Path) -> None:
    (tmp_path / "tapes" / "E01001L8.tape").unlink()
    (tmp_path / "tapes" / "E01003L8.tape").unlink()
    ok(changer, bytes.fromhex("37 01 0402 0000 0001 00 00"))  # slot 3 only
    assert where(changer) == {SLOT1: "E01001L8", SLOT2: "E01002L8"}
    fails(changer, bytes.fromhex("37 01 0999 0000 0001 00 00"), INVALID_ELEMENT_ADDRESS, 2)
    ok(changer, bytes.fromhex("37 00 0000 0000 0000 00 00"))  # RANGE 0: everything
    assert where(changer) == {SLOT2: "E01002L8"}


def test_prevent_allow_locks_the_mail_slots(changer: MediumChanger, tmp_path: Path) -> None:
    ok(changer, bytes.fromhex("1e 00 00 00 01 00"))
    assert changer.library.locked
    with pytest.raises(LibraryError, match="prevents medium removal"):
        changer.export_cartridge(changer.library.layout.mtx_slot(1))  # type: ignore[arg-type]
    ok(changer, bytes.fromhex("1e 00 00 00 00 00"))
    assert not changer.library.locked
    result, _ = run(changer, bytes.fromhex("1e 00 00 00 02 00"))
    code, fields = parse_sense(result.sense)
    assert code == INVALID_FIELD_IN_CDB
    assert fields["sense_key_specific"] == bytes([0xC9, 0, 4])
