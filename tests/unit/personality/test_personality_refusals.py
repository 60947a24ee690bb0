"""Each library personality refuses with its product's sense codes (devemu.changer.refusals).

One table of cases per personality: the door open (TEST UNIT READY and
MOVE MEDIUM), a move out of a drive whose host prevents removal, and a
move out of a loaded drive of a library that does not unload drives
itself; each as the fixed-format sense bytes the changer returns and as
the code those bytes mean.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.changer.device import MediumChanger
from devemu.changer.elements import ElementType
from devemu.personality import LIBRARY_PERSONALITIES
from devemu.scsi.command import Command, Result, Status, answered
from devemu.scsi.device import ScsiDevice
from devemu.scsi.sense import SenseCode, SenseKey, parse_sense
from devemu.tape.drive import TapeDrive
from tests.unit.changer.served_library import changer_and_drive, served_library

LIBRARY = """
name = "vtl0"
directory = "tapes"
slots = 2
barcodes = ["E01001L8"]
personality = "{personality}"
auto_unload = {auto_unload}
[[drives]]
name = "vtl0-d0"
"""

NR, IR = SenseKey.NOT_READY, SenseKey.ILLEGAL_REQUEST
STANDARD = {
    "door": SenseCode(NR, 0x04, 0x03),
    "prevented": SenseCode(IR, 0x53, 0x02),
    "not_unloaded": SenseCode(IR, 0x53, 0x01),
}
#: Per personality, the codes its module cites; the others answer SPC-5 annex D's.
TABLES: dict[str, dict[str, SenseCode]] = {
    "generic": STANDARD,
    "ibm-ts3500": {**STANDARD, "door": SenseCode(NR, 0x04, 0x85)},
    "ibm-ts4300": {
        **STANDARD,
        "door": SenseCode(NR, 0x04, 0x83),
        "prevented": SenseCode(IR, 0x53, 0x03),
    },
    "hp-msl": STANDARD,
    "quantum-scalar-i": STANDARD,
    "stk-sl500": STANDARD,
}
CASES = [
    pytest.param(name, case, id=f"{name}-{case}")
    for name, table in TABLES.items()
    for case in table
]


def served(
    tmp_path: Path, personality: str, auto_unload: bool
) -> Iterator[tuple[MediumChanger, TapeDrive]]:
    text = LIBRARY.format(personality=personality, auto_unload=str(auto_unload).lower())
    with served_library(tmp_path, text) as devices:
        yield changer_and_drive(devices)


def execute(device: ScsiDevice, cdb: bytes) -> Result:
    return answered(device.execute(Command(cdb, [memoryview(bytearray(256))])))


def move(changer: MediumChanger, source: int, destination: int) -> Result:
    cdb = bytes([0xA5, 0, 0, 0]) + source.to_bytes(2, "big") + destination.to_bytes(2, "big")
    return execute(changer, cdb + bytes(4))


def refusal(tmp_path: Path, name: str, case: str) -> Result:
    """The changer's answer in situation ``case``."""
    for changer, tape in served(tmp_path, name, auto_unload=case != "not_unloaded"):
        layout = changer.library.layout
        slot = layout.range_of(ElementType.STORAGE).first
        drive = layout.range_of(ElementType.DATA_TRANSFER).first
        if case == "door":
            changer.set_door(True)
            result = execute(changer, bytes(6))
            assert move(changer, slot, drive).sense == result.sense
            return result
        assert move(changer, slot, drive).status is Status.GOOD
        tape.unit_attentions.clear()
        if case == "prevented":
            assert execute(tape, bytes([0x1E, 0, 0, 0, 1, 0])).status is Status.GOOD
        return move(changer, drive, slot)
    raise AssertionError("no changer")


def test_every_personality_has_a_table() -> None:
    assert set(TABLES) == set(LIBRARY_PERSONALITIES)


@pytest.mark.parametrize(("name", "case"), CASES)
def test_refusal_sense_bytes(tmp_path: Path, name: str, case: str) -> None:
    code = TABLES[name][case]
    result = refusal(tmp_path, name, case)
    assert result.status is Status.CHECK_CONDITION
    golden = bytes([0x70, 0, code.key, 0, 0, 0, 0, 0x0A, 0, 0, 0, 0, code.asc, code.ascq])
    assert result.sense[:14] == golden
    assert parse_sense(result.sense)[0] == code


@pytest.mark.parametrize("name", list(TABLES))
def test_personality_declares_its_door_code(name: str) -> None:
    assert LIBRARY_PERSONALITIES[name].refusals.door_open == TABLES[name]["door"]
