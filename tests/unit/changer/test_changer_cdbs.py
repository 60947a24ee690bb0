"""SMC-3 CDB declarations: golden bytes in both directions, and the opcodes they carry."""

from __future__ import annotations

from typing import Any

import pytest
from construct import Struct

from devemu.changer import cdbs
from devemu.changer.commands import CHANGER_COMMANDS
from devemu.changer.device import MediumChanger
from devemu.changer.opcodes import Opcode
from tests.golden import check_both_ways

CTL = {"control": 0}


def case(name: str, golden: str, struct: Struct, fields: dict[str, Any]) -> Any:
    return pytest.param(bytes.fromhex(golden), struct, CTL | fields, id=name)


CASES = [
    case(
        "MOVE MEDIUM slot to drive",
        "a5 00 00 01 04 00 01 00 00 00 00 00",
        cdbs.MoveMediumCdb,
        {
            "opcode": 0xA5,
            "byte1": {"obsolete_lun": 0},
            "transport": 0x0001,
            "source": 0x0400,
            "destination": 0x0100,
            "byte10": {"invert": False},
            "control": {"vendor_specific": 0, "reserved": 0},
        },
    ),
    case(
        "MOVE MEDIUM from mtx: LUN field and vendor bits set",
        "a5 20 00 00 00 0a 00 0b 00 00 00 c0",
        cdbs.MoveMediumCdb,
        {
            "opcode": 0xA5,
            "byte1": {"obsolete_lun": 1},
            "transport": 0,
            "source": 0x000A,
            "destination": 0x000B,
            "byte10": {"invert": False},
            "control": {"vendor_specific": 3, "reserved": 0},
        },
    ),
    case(
        "EXCHANGE MEDIUM",
        "a6 00 00 01 04 00 01 00 04 01 00 00",
        cdbs.ExchangeMediumCdb,
        {
            "opcode": 0xA6,
            "byte1": {"obsolete_lun": 0},
            "transport": 0x0001,
            "source": 0x0400,
            "first_destination": 0x0100,
            "second_destination": 0x0401,
            "byte10": {"inv1": False, "inv2": False},
            "control": {"vendor_specific": 0, "reserved": 0},
        },
    ),
    case(
        "POSITION TO ELEMENT",
        "2b 00 00 01 04 02 00 00 00 00",
        cdbs.PositionToElementCdb,
        {
            "opcode": 0x2B,
            "byte1": {"obsolete_lun": 0},
            "transport": 0x0001,
            "destination": 0x0402,
            "byte8": {"invert": False},
        },
    ),
    case(
        "INITIALIZE ELEMENT STATUS",
        "07 00 00 00 00 00",
        cdbs.InitializeElementStatusCdb,
        {"opcode": 0x07, "byte1": {"obsolete_lun": 0}},
    ),
    case(
        "INITIALIZE ELEMENT STATUS WITH RANGE, ten from 0x400",
        "37 01 04 00 00 00 00 0a 00 00",
        cdbs.InitializeElementStatusWithRangeCdb,
        {
            "opcode": 0x37,
            "byte1": {"obsolete_lun": 0, "fast": False, "range": True},
            "starting_address": 0x0400,
            "number_of_elements": 10,
        },
    ),
    case(
        "PREVENT ALLOW MEDIUM REMOVAL with the old LUN field",
        "1e 20 00 00 01 00",
        cdbs.PreventAllowMediumRemovalCdb,
        {"opcode": 0x1E, "byte1": {"obsolete_lun": 1}, "prevent": {"prevent": 1}},
    ),
    case(
        "READ ELEMENT STATUS storage, VOLTAG, DVCID",
        "b8 12 04 00 00 20 01 00 10 00 00 00",
        cdbs.ReadElementStatusCdb,
        {
            "opcode": 0xB8,
            "byte1": {"obsolete_lun": 0, "voltag": True, "element_type": 2},
            "starting_address": 0x0400,
            "number_of_elements": 0x20,
            "byte6": {"curdata": False, "dvcid": True},
            "allocation_length": 0x1000,
        },
    ),
]


@pytest.mark.parametrize(("golden", "struct", "fields"), CASES)
def test_cdb_golden_both_ways(golden: bytes, struct: Struct, fields: dict[str, Any]) -> None:
    check_both_ways(struct, golden, fields)


def test_every_declaration_has_a_golden_case() -> None:
    declared = {name for name, value in vars(cdbs).items() if isinstance(value, Struct)}
    tested = {name for name, value in vars(cdbs).items() for p in CASES if p.values[1] is value}
    assert declared == tested


@pytest.mark.parametrize("opcode", list(Opcode), ids=lambda o: o.name)
def test_each_opcode_has_a_table_entry(opcode: Opcode) -> None:
    assert MediumChanger.commands.lookup_opcode(opcode) is not None


def test_the_table_uses_no_opcode_outside_the_enum() -> None:
    assert {spec.usage[0] for spec in CHANGER_COMMANDS} == set(Opcode)
