"""SPC-5 behaviour every device type must show, whatever carries its commands.

Each check is a plain function ``check(target, profile) -> note | None``:
it sends commands through ``target.execute`` only, raises
:class:`AssertionError` with a message when the device answers wrongly,
and may return one line of note (what it did not hold the device to, and
why). A check that cannot be judged for this profile raises
:class:`NotApplicable` with the reason; nothing is skipped silently.

:data:`CHECKS` lists them in the order :func:`~devemu.testing.conformance.run.run_all`
runs them; the random-CDB check is last because a random CDB may change
the device's state (load, eject, write).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from devemu.scsi.command import Status
from devemu.scsi.sense import (
    INVALID_COMMAND_OPERATION_CODE,
    SAVING_PARAMETERS_NOT_SUPPORTED,
    SenseKey,
    parse_sense,
)
from devemu.scsi.table import SERVICE_ACTION_IN_BYTE1, VARIABLE_LENGTH_OPCODE
from devemu.testing.conformance.assertions import (
    assert_invalid_field,
    assert_random_answer,
    assert_sense,
)
from devemu.testing.conformance.profile import Profile
from devemu.testing.conformance.queries import (
    ALL_PAGES,
    MODE_SENSE_6,
    REQUEST_SENSE,
    TEST_UNIT_READY,
    cdb_length,
    inquiry,
    mode_sense_10,
    rsoc_all,
    usage_of,
    walk_mode_pages,
)
from devemu.testing.conformance.target import Target

GOOD = Status.GOOD
CHECK = Status.CHECK_CONDITION

Check = Callable[[Target, Profile], "str | None"]


class NotApplicable(Exception):  # noqa: N818 - an outcome, not an error
    """The check cannot judge this target with what the profile says (the reason)."""


# --- INQUIRY (SPC-5 6.7) ---------------------------------------------------------------


def standard_inquiry_looks_real(t: Target, p: Profile) -> None:
    """Standard INQUIRY data as SPC-5 6.7.2 lays it out, version descriptors included."""
    status, _, data = t.execute(inquiry(), data_in_length=255)
    assert status == GOOD
    assert data[0] >> 5 == 0, "peripheral qualifier"
    # VERSION 06h (SPC-4, what shipping disks report) or 07h (SPC-5), and
    # the SPC version descriptor of the same standard after SAM-5's.
    spc_descriptor = {0x06: 0x0460, 0x07: 0x05C0}.get(data[2])
    assert spc_descriptor is not None, f"VERSION {data[2]:#04x}: SPC-4 or SPC-5"
    assert data[3] & 0x0F == 2 and data[3] & 0x10, "response data format 2, HiSup"
    assert len(data) == data[4] + 5 >= 36, "ADDITIONAL LENGTH"
    assert data[7] & 0x02, "CmdQue"
    assert all(0x20 <= c < 0x7F for c in data[8:36]), "vendor, product, revision: ASCII"
    descriptors = [int.from_bytes(data[i : i + 2], "big") for i in range(58, 74, 2)]
    assert descriptors[:2] == [0x00A0, spc_descriptor], f"version descriptors {descriptors[:2]}"


def standard_inquiry_names_the_device_type(t: Target, p: Profile) -> None:
    """PERIPHERAL DEVICE TYPE and RMB are what the profile says (SPC-5 6.7.2)."""
    status, _, data = t.execute(inquiry(), data_in_length=255)
    assert status == GOOD
    assert data[0] & 0x1F == p.peripheral_type, (
        f"peripheral device type {data[0] & 0x1F:#04x}, expected {p.peripheral_type:#04x}"
    )
    assert bool(data[1] & 0x80) == p.removable, f"RMB {data[1] >> 7}, expected {p.removable:d}"


def inquiry_allocation_length_truncates(t: Target, p: Profile) -> None:
    """The ALLOCATION LENGTH cuts the data and never pads it (SPC-5 4.2.5.6)."""
    full = t.execute(inquiry(), data_in_length=255).data
    # A zero allocation length transfers nothing. (The kernel cannot report a
    # zero READ_LEN, so this one is asked with no data-in buffer.)
    assert t.execute(inquiry(alloc=0)) == (GOOD, b"", b""), "ALLOCATION LENGTH 0"
    for alloc in (1, 5, 36, len(full) - 1, len(full), 255):
        status, _, data = t.execute(inquiry(alloc=alloc), data_in_length=255)
        assert status == GOOD
        assert data == full[: min(alloc, len(full))], f"ALLOCATION LENGTH {alloc}"


def vpd_00_lists_exactly_the_pages_that_answer(t: Target, p: Profile) -> None:
    """Supported VPD Pages (SPC-5 7.7.17) lists the profile's pages, and every page
    listed answers while every other code is refused with the field pointer."""
    status, _, data = t.execute(inquiry(0x00), data_in_length=255)
    assert status == GOOD and data[1] == 0x00
    listed = list(data[4 : 4 + int.from_bytes(data[2:4], "big")])
    assert listed == sorted(set(listed)), f"pages not ascending: {listed}"
    missing = sorted(p.vpd_pages - set(listed))
    assert not missing, f"VPD pages missing from page 0x00: {[hex(m) for m in missing]}"
    for page in range(256):
        answer = t.execute(inquiry(page), data_in_length=1024)
        if page in listed:
            assert answer.status == GOOD, hex(page)
            assert answer.data[0] == data[0] and answer.data[1] == page, hex(page)
            assert len(answer.data) == 4 + int.from_bytes(answer.data[2:4], "big"), hex(page)
        else:
            assert_invalid_field(answer, 2)


def vpd_83_has_an_naa_designator(t: Target, p: Profile) -> None:
    """Device Identification (SPC-5 7.7.6) holds an NAA designator of the logical unit."""
    status, _, data = t.execute(inquiry(0x83), data_in_length=1024)
    assert status == GOOD
    pos, end, naa = 4, 4 + int.from_bytes(data[2:4], "big"), []
    while pos < end:
        length = data[pos + 3]
        if data[pos + 1] & 0x0F == 3 and (data[pos + 1] >> 4) & 3 == 0:
            naa.append(data[pos + 4 : pos + 4 + length])
        pos += 4 + length
    assert pos == end, "designators overrun the page"
    assert naa and naa[0][0] >> 4 in (2, 3, 5, 6), "no NAA designator for the logical unit"


def vpd_80_serial_is_ascii(t: Target, p: Profile) -> None:
    """Unit Serial Number (SPC-5 7.7.18) is printable ASCII and not empty."""
    status, _, data = t.execute(inquiry(0x80), data_in_length=255)
    assert status == GOOD
    serial = data[4:]
    assert serial and all(0x20 <= c < 0x7F for c in serial), f"serial {serial!r}"


# --- the command table (SPC-5 6.35) ------------------------------------------------------


def rsoc_agrees_with_the_table(t: Target, p: Profile) -> None:
    """REPORT SUPPORTED OPERATION CODES reports the profile's command table, each
    command with its CDB usage data."""
    if p.commands is None:
        raise NotApplicable("the profile names no command table to compare with")
    reported = rsoc_all(t)
    assert reported == [(s.opcode, s.service_action, s.length) for s in p.commands], (
        "reported commands differ from the table"
    )
    for spec in p.commands:
        assert usage_of(t, spec.opcode, spec.service_action) == spec.usage, spec.name


def every_reserved_bit_is_refused_with_the_field_pointer(t: Target, p: Profile) -> str | None:
    """Each bit the CDB usage data marks reserved gets INVALID FIELD IN CDB pointing
    at that bit (SPC-5 4.2.5.1, 4.4.2.3)."""
    transport: set[int] = set()
    for opcode, sa, length in rsoc_all(t):
        usage = usage_of(t, opcode, sa)
        assert len(usage) == length and usage[0] == opcode, hex(opcode)
        for byte in range(1, length):
            for bit in range(8):
                if usage[byte] & (1 << bit):
                    continue
                if sa is not None and opcode in SERVICE_ACTION_IN_BYTE1 and byte == 1 and bit < 5:
                    continue
                if sa is not None and opcode == VARIABLE_LENGTH_OPCODE and byte in (8, 9):
                    continue
                cdb = bytearray(length)
                cdb[0] = opcode
                if sa is not None and opcode == VARIABLE_LENGTH_OPCODE:
                    # SPC-5 4.2.3: ADDITIONAL CDB LENGTH, then the service action.
                    cdb[7] = length - 8
                    cdb[8:10] = sa.to_bytes(2, "big")
                elif sa is not None:
                    cdb[1] = sa
                cdb[byte] |= 1 << bit
                answer = t.execute(bytes(cdb), data_in_length=512)
                if opcode in p.answered_by_transport:
                    transport.add(opcode)
                    assert_random_answer(answer, opcode, 512)
                    continue
                assert_invalid_field(answer, byte, bit)
    return p.transport_note(transport)


def unknown_opcodes_are_refused(t: Target, p: Profile) -> str | None:
    """An opcode the device does not report gets INVALID COMMAND OPERATION CODE
    (SPC-5 4.2.5.1) with an empty sense-key specific field."""
    known = {opcode for opcode, _, _ in rsoc_all(t)}
    transport: set[int] = set()
    for opcode in range(256):
        if opcode in known:
            continue
        cdb = bytes([opcode]) + bytes(cdb_length(opcode) - 1)
        answer = t.execute(cdb, data_in_length=64)
        if opcode in p.answered_by_transport:
            transport.add(opcode)
            assert_random_answer(answer, opcode, 64)
            continue
        assert answer.status == CHECK, hex(opcode)
        code, fields = assert_sense(answer)
        assert code == INVALID_COMMAND_OPERATION_CODE, hex(opcode)
        assert fields.get("sense_key_specific") == bytes([0xC0, 0, 0]), hex(opcode)
    return p.transport_note(transport)


# --- state reporting ---------------------------------------------------------------------


def ready_state_from_test_unit_ready(t: Target, p: Profile) -> None:
    """TEST UNIT READY (SPC-5 6.47): GOOD, or NOT READY with sense, as the profile says."""
    answer = t.execute(TEST_UNIT_READY)
    if p.ready is not None:
        assert (answer.status == GOOD) == p.ready, (
            f"TEST UNIT READY: status {answer.status:#x}, expected "
            + ("GOOD" if p.ready else "NOT READY")
        )
    if answer.status != GOOD:
        assert answer.status == CHECK
        code, _ = assert_sense(answer)
        assert code.key == SenseKey.NOT_READY, f"{code}"


def request_sense_both_formats(t: Target, p: Profile) -> None:
    """REQUEST SENSE (SPC-5 6.39) in fixed and descriptor format reports what TEST
    UNIT READY found."""
    tur = t.execute(TEST_UNIT_READY)
    for desc, response in ((0, 0x70), (1, 0x72)):
        answer = t.execute(bytes([REQUEST_SENSE, desc, 0, 0, 252, 0]), data_in_length=252)
        assert answer.status == GOOD and answer.sense == b"", f"DESC={desc}"
        assert answer.data[0] & 0x7F == response, f"DESC={desc}: {answer.data[:1].hex()}"
        code, _ = parse_sense(answer.data)
        if tur.status == GOOD:
            assert code.key == SenseKey.NO_SENSE, f"DESC={desc}: {code}"
        else:
            assert code == parse_sense(tur.sense)[0], f"DESC={desc}: {code}"


def mode_sense_all_pages_parse(t: Target, p: Profile) -> None:
    """MODE SENSE(10) of all pages parses for every page control, each page
    answers alone, the control mode page is there; MODE SENSE(6) too (SPC-5 6.14, 6.13)."""
    for pc in range(4):
        answer = t.execute(mode_sense_10(ALL_PAGES, 0xFF, pc), data_in_length=0xFFFF)
        if pc == 3 and answer.status == CHECK:
            assert assert_sense(answer)[0] == SAVING_PARAMETERS_NOT_SUPPORTED
            continue
        assert answer.status == GOOD, f"page control {pc}"
        data = answer.data
        assert int.from_bytes(data[:2], "big") == len(data) - 2, "MODE DATA LENGTH"
        bdl = int.from_bytes(data[6:8], "big")
        assert bdl % 8 == 0, "BLOCK DESCRIPTOR LENGTH"
        keys = walk_mode_pages(data[8 + bdl :])
        assert (0x0A, 0) in keys, "no control mode page"
        for page, sub in keys:
            one = t.execute(mode_sense_10(page, sub, pc, dbd=True), data_in_length=0xFFFF)
            assert one.status == GOOD, f"page {page:#04x}/{sub:#04x}"
            assert walk_mode_pages(one.data[8:]) == [(page, sub)], f"page {page:#04x}/{sub:#04x}"
    six = t.execute(bytes([MODE_SENSE_6, 0, ALL_PAGES, 0, 0xFF, 0]), data_in_length=255)
    assert six.status == GOOD
    assert six.data[0] == len(six.data) - 1 or len(six.data) == 255, "MODE DATA LENGTH (6)"
    if six.data[0] == len(six.data) - 1:
        walk_mode_pages(six.data[4 + six.data[3] :])


# --- fuzz --------------------------------------------------------------------------------


def random_cdb_answer(t: Target, opcode: int, body: bytes, data_in_length: int) -> None:
    """One CDB of ``opcode`` followed by random ``body`` bytes: GOOD (or its
    opcode's other status) or a well-formed CHECK CONDITION."""
    cdb = bytes([opcode]) + body[: cdb_length(opcode) - 1]
    answer = t.execute(cdb, data_in_length=data_in_length)
    assert_random_answer(answer, opcode, data_in_length)


def random_cdbs_get_good_or_well_formed_check_condition(t: Target, p: Profile) -> str:
    """``profile.random_cdbs`` CDBs of random bytes (a fixed seed per profile name)."""
    rng = random.Random(f"devemu-conformance {p.name}")
    for _ in range(p.random_cdbs):
        opcode = rng.randrange(256)
        body = rng.randbytes(15)
        data_in_length = rng.randrange(2049)
        cdb = bytes([opcode]) + body[: cdb_length(opcode) - 1]
        try:
            random_cdb_answer(t, opcode, body, data_in_length)
        except AssertionError as error:
            raise AssertionError(f"CDB {cdb.hex()} (data-in {data_in_length}): {error}") from None
    return f"{p.random_cdbs} random CDBs"


CHECKS: tuple[Check, ...] = (
    standard_inquiry_looks_real,
    standard_inquiry_names_the_device_type,
    inquiry_allocation_length_truncates,
    vpd_00_lists_exactly_the_pages_that_answer,
    vpd_83_has_an_naa_designator,
    vpd_80_serial_is_ascii,
    rsoc_agrees_with_the_table,
    every_reserved_bit_is_refused_with_the_field_pointer,
    unknown_opcodes_are_refused,
    ready_state_from_test_unit_ready,
    request_sense_both_formats,
    mode_sense_all_pages_parse,
    random_cdbs_get_good_or_well_formed_check_condition,
)
