"""Assertions on one answer: well-formed sense data, the field pointer, a sane status.

Each raises :class:`AssertionError` naming what is wrong, with the sense
bytes in hex where they matter.
"""

from __future__ import annotations

from devemu.scsi.command import Status
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseCode, parse_sense
from devemu.testing.conformance.target import Answer

#: Statuses other than GOOD and CHECK CONDITION an opcode may answer with
#: when its CDB is random (SAM-5 5.3.1).
ALLOWED_OTHER = {
    0x5F: Status.RESERVATION_CONFLICT,  # PR OUT with a key that is not registered
    0x34: Status.CONDITION_MET,  # PRE-FETCH(10)
    0x90: Status.CONDITION_MET,  # PRE-FETCH(16)
}


def assert_sense(answer: Answer) -> tuple[SenseCode, dict[str, object]]:
    """Well-formed sense data: response code, sense key, lengths (SPC-5 4.4);
    returns :func:`devemu.scsi.sense.parse_sense` of it."""
    sense = answer.sense
    assert len(sense) >= 8, f"sense data too short: {sense.hex()}"
    code = sense[0] & 0x7F
    assert code in (0x70, 0x71, 0x72, 0x73), f"response code {code:#x}: {sense.hex()}"
    if code in (0x70, 0x71):
        assert len(sense) >= 8 + sense[7] and len(sense) >= 18, f"fixed sense cut: {sense.hex()}"
    else:
        assert len(sense) == 8 + sense[7], f"descriptor sense length: {sense.hex()}"
    return parse_sense(sense)


def assert_invalid_field(answer: Answer, byte: int, bit: int | None = None) -> None:
    """ILLEGAL REQUEST, INVALID FIELD IN CDB, with the field pointer on ``byte``
    (and ``bit``), SPC-5 4.4.2.3 table 53."""
    assert answer.status == Status.CHECK_CONDITION, f"status {answer.status:#x}, not CHECK"
    code, fields = assert_sense(answer)
    assert code == INVALID_FIELD_IN_CDB, f"{code}, not INVALID FIELD IN CDB"
    sks = fields["sense_key_specific"]
    assert isinstance(sks, bytes), f"no sense-key specific field: {answer.sense.hex()}"
    expected_bit = 0 if bit is None else 0x08 | bit
    expected = bytes([0xC0 | expected_bit, byte >> 8, byte & 0xFF])
    assert sks == expected, f"field pointer {sks.hex()}, expected {expected.hex()}"


def assert_random_answer(answer: Answer, opcode: int, data_in_length: int) -> None:
    """A CDB of random bytes gets GOOD (or the status its opcode may give) with no
    more data than asked, or CHECK CONDITION with well-formed sense."""
    if answer.status == Status.CHECK_CONDITION:
        assert_sense(answer)
    else:
        assert answer.status in (Status.GOOD, ALLOWED_OTHER.get(opcode, Status.GOOD)), (
            f"opcode {opcode:#04x}: status {answer.status:#x}"
        )
        assert len(answer.data) <= data_in_length, f"opcode {opcode:#04x}: data overrun"
