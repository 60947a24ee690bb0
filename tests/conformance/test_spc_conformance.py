"""SPC-5 behaviour every device type must show, through its transport.

Only ``target.execute`` is used (plus ``target.commands`` where the table
itself is compared), so these checks hold for any transport.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devemu.scsi.command import Status
from devemu.scsi.sense import (
    INVALID_COMMAND_OPERATION_CODE,
    INVALID_FIELD_IN_CDB,
    SAVING_PARAMETERS_NOT_SUPPORTED,
    SenseKey,
    parse_sense,
)
from devemu.scsi.table import SERVICE_ACTION_IN_BYTE1
from devemu.tcmu.abi import cdb_length
from tests.conformance.scsi_target import Answer, SimulatorTarget

GOOD = Status.GOOD
CHECK = Status.CHECK_CONDITION


def inquiry(page: int | None = None, alloc: int = 255) -> bytes:
    evpd, code = (0, 0) if page is None else (1, page)
    return bytes([0x12, evpd, code, alloc >> 8, alloc & 0xFF, 0])


def rsoc_all(t: SimulatorTarget) -> list[tuple[int, int | None, int]]:
    status, _, data = t.execute(
        bytes([0xA3, 0x0C, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0]), data_in_length=0x4000
    )
    assert status == GOOD
    assert int.from_bytes(data[:4], "big") == len(data) - 4
    out = []
    for pos in range(4, len(data), 8):
        sa = int.from_bytes(data[pos + 2 : pos + 4], "big") if data[pos + 5] & 1 else None
        out.append((data[pos], sa, int.from_bytes(data[pos + 6 : pos + 8], "big")))
    return out


def usage_of(t: SimulatorTarget, opcode: int, sa: int | None) -> bytes:
    option = 1 if sa is None else 2
    sa = sa or 0
    cdb = bytes([0xA3, 0x0C, option, opcode, sa >> 8, sa & 0xFF, 0, 0, 1, 0, 0, 0])
    status, _, data = t.execute(cdb, data_in_length=256)
    assert status == GOOD and data[1] & 0x07 == 0b011, (hex(opcode), sa)
    size = int.from_bytes(data[2:4], "big")
    return data[4 : 4 + size]


def assert_sense(answer: Answer) -> tuple[object, dict[str, object]]:
    """Well-formed sense data: response code, sense key, lengths (SPC-5 4.4)."""
    sense = answer.sense
    assert len(sense) >= 8, sense.hex()
    code = sense[0] & 0x7F
    assert code in (0x70, 0x71, 0x72, 0x73), sense.hex()
    if code in (0x70, 0x71):
        assert len(sense) >= 8 + sense[7] and len(sense) >= 18
    else:
        assert len(sense) == 8 + sense[7]
    return parse_sense(sense)


def assert_invalid_field(answer: Answer, byte: int, bit: int | None = None) -> None:
    assert answer.status == CHECK
    code, fields = assert_sense(answer)
    assert code == INVALID_FIELD_IN_CDB
    sks = fields["sense_key_specific"]
    assert isinstance(sks, bytes)
    expected_bit = 0 if bit is None else 0x08 | bit
    assert sks == bytes([0xC0 | expected_bit, byte >> 8, byte & 0xFF]), sks.hex()


# --- INQUIRY ---------------------------------------------------------------------------


def test_standard_inquiry_looks_real(target: SimulatorTarget) -> None:
    status, _, data = target.execute(inquiry(), data_in_length=255)
    assert status == GOOD
    assert data[0] >> 5 == 0  # peripheral qualifier
    assert data[2] == 0x07  # SPC-5
    assert data[3] & 0x0F == 2 and data[3] & 0x10  # response data format 2, HiSup
    assert len(data) == data[4] + 5 >= 36
    assert data[7] & 0x02  # CmdQue
    assert all(0x20 <= c < 0x7F for c in data[8:36])
    descriptors = [int.from_bytes(data[i : i + 2], "big") for i in range(58, 74, 2)]
    assert descriptors[:2] == [0x00A0, 0x05C0]


def test_inquiry_allocation_length_truncates(target: SimulatorTarget) -> None:
    full = target.execute(inquiry(), data_in_length=255).data
    # A zero allocation length transfers nothing. (The kernel cannot report a
    # zero READ_LEN, so this one is asked with no data-in buffer.)
    assert target.execute(inquiry(alloc=0)) == (GOOD, b"", b"")
    for alloc in (1, 5, 36, len(full) - 1, len(full), 255):
        status, _, data = target.execute(inquiry(alloc=alloc), data_in_length=255)
        assert status == GOOD
        assert data == full[: min(alloc, len(full))], alloc


def test_vpd_00_lists_exactly_the_pages_that_answer(target: SimulatorTarget) -> None:
    status, _, data = target.execute(inquiry(0x00), data_in_length=255)
    assert status == GOOD and data[1] == 0x00
    listed = list(data[4 : 4 + int.from_bytes(data[2:4], "big")])
    assert listed == sorted(set(listed)) and {0x00, 0x80, 0x83} <= set(listed)
    for page in range(256):
        answer = target.execute(inquiry(page), data_in_length=1024)
        if page in listed:
            assert answer.status == GOOD, hex(page)
            assert answer.data[0] == data[0] and answer.data[1] == page
            assert len(answer.data) == 4 + int.from_bytes(answer.data[2:4], "big")
        else:
            assert_invalid_field(answer, 2)


def test_vpd_83_has_an_naa_designator(target: SimulatorTarget) -> None:
    status, _, data = target.execute(inquiry(0x83), data_in_length=1024)
    assert status == GOOD
    pos, end, naa = 4, 4 + int.from_bytes(data[2:4], "big"), []
    while pos < end:
        length = data[pos + 3]
        if data[pos + 1] & 0x0F == 3 and (data[pos + 1] >> 4) & 3 == 0:
            naa.append(data[pos + 4 : pos + 4 + length])
        pos += 4 + length
    assert pos == end
    assert naa and naa[0][0] >> 4 in (2, 3, 5, 6)


def test_vpd_80_serial_is_ascii(target: SimulatorTarget) -> None:
    status, _, data = target.execute(inquiry(0x80), data_in_length=255)
    assert status == GOOD
    serial = data[4:]
    assert serial and all(0x20 <= c < 0x7F for c in serial)


# --- the command table -------------------------------------------------------------------


def test_rsoc_agrees_with_the_table(target: SimulatorTarget) -> None:
    reported = rsoc_all(target)
    assert target.commands is not None
    assert reported == [(s.opcode, s.service_action, s.length) for s in target.commands]
    for spec in target.commands:
        assert usage_of(target, spec.opcode, spec.service_action) == spec.usage, spec.name


def test_every_reserved_bit_is_refused_with_the_field_pointer(target: SimulatorTarget) -> None:
    for opcode, sa, length in rsoc_all(target):
        usage = usage_of(target, opcode, sa)
        assert len(usage) == length and usage[0] == opcode
        for byte in range(1, length):
            for bit in range(8):
                if usage[byte] & (1 << bit):
                    continue
                if sa is not None and opcode in SERVICE_ACTION_IN_BYTE1 and byte == 1 and bit < 5:
                    continue
                cdb = bytearray(length)
                cdb[0] = opcode
                if sa is not None:
                    cdb[1] = sa
                cdb[byte] |= 1 << bit
                answer = target.execute(bytes(cdb), data_in_length=512)
                assert_invalid_field(answer, byte, bit)


def test_unknown_opcodes_are_refused(target: SimulatorTarget) -> None:
    known = {opcode for opcode, _, _ in rsoc_all(target)}
    for opcode in range(256):
        if opcode in known:
            continue
        cdb = bytes([opcode]) + bytes((cdb_length(opcode) or 16) - 1)
        answer = target.execute(cdb, data_in_length=64)
        assert answer.status == CHECK, hex(opcode)
        code, fields = assert_sense(answer)
        assert code == INVALID_COMMAND_OPERATION_CODE, hex(opcode)
        assert fields.get("sense_key_specific") == bytes([0xC0, 0, 0])


# --- state reporting ---------------------------------------------------------------------


def test_test_unit_ready(target: SimulatorTarget) -> None:
    answer = target.execute(bytes(6))
    if answer.status != GOOD:
        assert answer.status == CHECK
        code, _ = assert_sense(answer)
        assert code.key == SenseKey.NOT_READY  # type: ignore[attr-defined]


def test_request_sense_both_formats(target: SimulatorTarget) -> None:
    tur = target.execute(bytes(6))
    for desc, response in ((0, 0x70), (1, 0x72)):
        answer = target.execute(bytes([0x03, desc, 0, 0, 252, 0]), data_in_length=252)
        assert answer.status == GOOD and answer.sense == b""
        assert answer.data[0] & 0x7F == response
        code, _ = parse_sense(answer.data)
        if tur.status == GOOD:
            assert code.key == SenseKey.NO_SENSE
        else:
            assert code == parse_sense(tur.sense)[0]


def _walk_pages(pages: bytes) -> list[tuple[int, int]]:
    keys = []
    pos = 0
    while pos < len(pages):
        assert len(pages) - pos >= 2
        if pages[pos] & 0x40:
            keys.append((pages[pos] & 0x3F, pages[pos + 1]))
            pos += 4 + int.from_bytes(pages[pos + 2 : pos + 4], "big")
        else:
            keys.append((pages[pos] & 0x3F, 0))
            pos += 2 + pages[pos + 1]
    assert pos == len(pages), "pages overrun the mode data"
    return keys


def test_mode_sense_all_pages_parse(target: SimulatorTarget) -> None:
    for pc in range(4):
        cdb = bytes([0x5A, 0, (pc << 6) | 0x3F, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0])
        answer = target.execute(cdb, data_in_length=0xFFFF)
        if pc == 3 and answer.status == CHECK:
            assert assert_sense(answer)[0] == SAVING_PARAMETERS_NOT_SUPPORTED
            continue
        assert answer.status == GOOD, pc
        data = answer.data
        assert int.from_bytes(data[:2], "big") == len(data) - 2
        bdl = int.from_bytes(data[6:8], "big")
        assert bdl % 8 == 0
        keys = _walk_pages(data[8 + bdl :])
        assert (0x0A, 0) in keys  # the control mode page
        for page, sub in keys:
            one = target.execute(
                bytes([0x5A, 0x08, (pc << 6) | page, sub, 0, 0, 0, 0xFF, 0xFF, 0]),
                data_in_length=0xFFFF,
            )
            assert one.status == GOOD
            assert _walk_pages(one.data[8:]) == [(page, sub)]
    six = target.execute(bytes([0x1A, 0, 0x3F, 0, 0xFF, 0]), data_in_length=255)
    assert six.status == GOOD
    assert six.data[0] == len(six.data) - 1 or len(six.data) == 255
    _walk_pages(six.data[4 + six.data[3] :]) if six.data[0] == len(six.data) - 1 else None


# --- fuzz --------------------------------------------------------------------------------

ALLOWED_OTHER = {
    0x5F: Status.RESERVATION_CONFLICT,  # PR OUT with a key that is not registered
    0x34: Status.CONDITION_MET,  # PRE-FETCH(10)
    0x90: Status.CONDITION_MET,  # PRE-FETCH(16)
}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    opcode=st.integers(0, 255),
    body=st.binary(min_size=15, max_size=15),
    data_in_length=st.integers(0, 2048),
)
def test_random_cdbs_get_good_or_well_formed_check_condition(
    target: SimulatorTarget, opcode: int, body: bytes, data_in_length: int
) -> None:
    length = cdb_length(opcode) or 16
    cdb = bytes([opcode]) + body[: length - 1]
    answer = target.execute(cdb, data_in_length=data_in_length)
    if answer.status == CHECK:
        assert_sense(answer)
    else:
        assert answer.status in (GOOD, ALLOWED_OTHER.get(opcode, GOOD)), hex(opcode)
        assert len(answer.data) <= data_in_length
