"""Sense data bytes, fixed (SPC-5 4.4.3) and descriptor (SPC-5 4.4.2), both directions."""

from __future__ import annotations

import pytest

from devemu.scsi.sense import (
    FILEMARK_DETECTED,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    LOGICAL_UNIT_NOT_READY_FORMAT_IN_PROGRESS,
    NO_ADDITIONAL_SENSE,
    SenseError,
    cdb_field,
    param_field,
    parse_sense,
)

H = bytes.fromhex

CASES = [
    pytest.param(
        SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 5)),
        H("700005000000000a00000000240000cd0002"),
        H("720524000000000802060000cd000200"),
        {"sense_key_specific": H("cd0002")},
        id="cdb-field-bit",
    ),
    pytest.param(
        SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(0x0110)),
        H("700005000000000a00000000260000800110"),
        H("72052600000000080206000080011000"),
        {"sense_key_specific": H("800110")},
        id="parameter-field-byte",
    ),
    pytest.param(
        SenseError(FILEMARK_DETECTED, information=0x1234, filemark=True, ili=True),
        H("f000a0000012340a00000000000100000000"),
        H("7200000100000010000a80000000000000001234040200a0"),
        {"information": 0x1234, "filemark": True, "ili": True, "eom": False},
        id="tape-filemark-information",
    ),
    pytest.param(
        SenseError(LOGICAL_UNIT_NOT_READY_FORMAT_IN_PROGRESS, progress=0x8000),
        H("700002000000000a00000000040400808000"),
        H("72020404000000080206000080800000"),
        {"sense_key_specific": H("808000")},
        id="progress-indication",
    ),
    pytest.param(
        SenseError(NO_ADDITIONAL_SENSE),
        H("700000000000000a00000000000000000000"),
        H("7200000000000000"),
        {},
        id="no-sense",
    ),
]


@pytest.mark.parametrize(("error", "fixed", "descriptor", "fields"), CASES)
def test_sense_bytes_both_formats(
    error: SenseError, fixed: bytes, descriptor: bytes, fields: dict[str, object]
) -> None:
    assert error.sense_bytes() == fixed
    assert error.sense_bytes(descriptor=True) == descriptor
    for raw in (fixed, descriptor):
        code, parsed = parse_sense(raw)
        assert code == error.code
        for name, value in fields.items():
            assert parsed[name] == value, (name, raw.hex())


def test_fixed_sense_information_too_large_is_not_valid() -> None:
    big = SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=1 << 40)
    fixed = big.sense_bytes()
    assert fixed[0] & 0x80 == 0
    assert "information" not in parse_sense(fixed)[1]
    assert parse_sense(big.sense_bytes(descriptor=True))[1]["information"] == 1 << 40
