"""TapeAlert: VPD page B2h, log pages 2Eh and 12h, the flags raised, MRIE reporting."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from devemu.scsi.command import Command, Status, answered
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    MEDIUM_REMOVAL_PREVENTED,
    UNRECOVERED_READ_ERROR,
    WORM_MEDIUM_OVERWRITE_ATTEMPTED,
    WRITE_ERROR,
    WRITE_PROTECTED,
    SenseCode,
    SenseKey,
    parse_sense,
)
from devemu.tape import tapealert
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.tape.tapealert import (
    SupportedFlags,
    TapeAlertParameters,
    bits_flags,
    flag_bits,
    log_page_flags,
    response_log_page,
    tapealert_log_page,
)
from tests.golden import check_both_ways, plain
from tests.unit.tape.test_drive import IDENTITY, Host

# --- golden bytes, both directions --------------------------------------------------------

#: What this drive claims: 03h-06h, 09h-0Ch, 11h, 14h, 16h, 37h, 3Ch.
CLAIMED_BITMAP = bytes.fromhex("3cf0940000000210")


@pytest.mark.parametrize(
    "flags,golden",
    [
        (set(), bytes(8) + bytes(4)),
        ({0x09}, bytes.fromhex("0080000000000000 00000000")),
        ({0x01}, bytes.fromhex("8000000000000000 00000000")),
        ({0x40}, bytes.fromhex("0000000000000001 00000000")),
        (set(tapealert.SUPPORTED), CLAIMED_BITMAP + bytes(4)),
    ],
)
def test_supported_flags_vpd_body(flags: set[int], golden: bytes) -> None:
    """SSC-5 8.4.4: the flag bitmap is bytes 4-11 of the page, four reserved bytes follow."""
    check_both_ways(SupportedFlags, golden, {"flags": flag_bits(flags)})
    assert bits_flags(SupportedFlags.parse(golden).flags) == flags


def _param(code: int, value: int) -> bytes:
    return code.to_bytes(2, "big") + bytes([0x03, 0x01, value])


@pytest.mark.parametrize("flags", [set(), {0x09}, {0x03, 0x04, 0x06}, {0x01, 0x40}])
def test_tapealert_log_page_golden(flags: set[int]) -> None:
    """SSC-5 8.2 TapeAlert log page: 64 parameters, code = flag, binary list, one byte."""
    golden = bytes.fromhex("2e 00 0140") + b"".join(
        _param(code, int(code in flags)) for code in range(1, 65)
    )
    assert tapealert_log_page(flags) == golden
    assert log_page_flags(golden) == flags
    fields: list[dict[str, Any]] = [
        {"parameter_code": c, "control": 3, "parameter_length": 1, "flag": int(c in flags)}
        for c in range(1, 65)
    ]
    assert TapeAlertParameters.build(fields) == golden[4:]
    assert plain(TapeAlertParameters.parse(golden[4:])) == fields


def test_tapealert_response_log_page_golden() -> None:
    """SSC-5 8.2 TapeAlert Response log page: parameter 0000h, the flags as a bitmap."""
    golden = bytes.fromhex("12 00 000c 0000 03 08 0080000000000020")
    assert response_log_page({0x09, 0x3B}) == golden
    assert bits_flags(int.from_bytes(golden[8:16], "big")) == {0x09, 0x3B}


# --- the drive ----------------------------------------------------------------------------

TUR = [0, 0, 0, 0, 0, 0]
LOG_2E = [0x4D, 0, 0x6E, 0, 0, 0, 0, 2, 0, 0]
LOG_12 = [0x4D, 0, 0x52, 0, 0, 0, 0, 0, 64, 0]
UNLOAD = [0x1B, 0, 0, 0, 0, 0]
LOAD = [0x1B, 0, 0, 0, 1, 0]


def raised(h: Host) -> set[int]:
    return log_page_flags(h.ok(LOG_2E, n=512))


def active(h: Host) -> set[int]:
    return bits_flags(int.from_bytes(h.ok(LOG_12, n=64)[8:16], "big"))


@pytest.fixture
def protected(tmp_path: Path) -> Host:
    path = tmp_path / "A00002L8.tape"
    Cartridge.create(path, "A00002L8").close()
    path.chmod(0o444)
    drv = TapeDrive(IDENTITY)
    drv.load(path)
    h = Host(drv)
    h.settle()
    return h


def write_x(h: Host) -> None:
    h.check(bytes([0x0A, 0, 0, 0, 1, 0]), WRITE_PROTECTED, out=b"x")


def test_vpd_page_b2_claims_what_the_drive_raises(protected: Host) -> None:
    page = protected.ok([0x12, 1, 0xB2, 0, 255, 0], n=255)
    assert page == bytes.fromhex("01 b2 000c") + CLAIMED_BITMAP + bytes(4)
    assert set(tapealert.TapeAlertFlag) == tapealert.SUPPORTED


def test_write_protect_raised_cleared_by_reading_2e(protected: Host) -> None:
    h = protected
    assert raised(h) == set()
    write_x(h)
    assert active(h) == {0x09}
    assert raised(h) == {0x09}
    assert raised(h) == set()  # SSC-5: read clears the TapeAlert log page
    assert active(h) == {0x09}  # the response page keeps the condition
    h.ok(UNLOAD)
    assert active(h) == set()  # it ended with the cartridge


def test_only_the_flags_sent_to_the_host_are_cleared(tmp_path: Path) -> None:
    """A read of the header alone (sg_logs learning the length) clears nothing."""
    path = tmp_path / "W00002LW.tape"
    Cartridge.create(path, "W00002LW", "LTO-8", worm=True).close()
    path.chmod(0o444)
    drv = TapeDrive(IDENTITY)
    drv.load(path)
    h = Host(drv)
    h.settle()
    drv.raise_tapealert(tapealert.TapeAlertFlag.WORM_OVERWRITE_ATTEMPTED)
    write_x(h)
    header = h.ok([0x4D, 0, 0x6E, 0, 0, 0, 0, 0, 4, 0], n=4)
    assert header == bytes.fromhex("2e 00 0140")
    nine = h.ok([0x4D, 0, 0x6E, 0, 0, 0, 0, 0, 4 + 9 * 5, 0], n=4 + 9 * 5)
    assert nine[-5:] == _param(0x09, 1)
    assert raised(h) == {0x3C}  # 09h went to the host with the first nine parameters
    drv.raise_tapealert(tapealert.TapeAlertFlag.WRITE_PROTECT)
    from_3c = h.ok([0x4D, 0, 0x6E, 0, 0, 0, 0x3C, 0x02, 0, 0], n=512)
    assert from_3c == bytes.fromhex("2e 00 0019") + b"".join(
        _param(c, 0) for c in range(0x3C, 0x41)
    )
    assert raised(h) == {0x09}  # the parameter pointer skipped it


def test_no_removal_on_a_prevented_unload(protected: Host) -> None:
    h = protected
    h.ok([0x1E, 0, 0, 0, 1, 0])
    h.check(UNLOAD, MEDIUM_REMOVAL_PREVENTED)
    assert raised(h) == {0x0A}


def test_worm_overwrite_attempted(tmp_path: Path) -> None:
    path = tmp_path / "W00001LW.tape"
    Cartridge.create(path, "W00001LW", "LTO-8", worm=True).close()
    drv = TapeDrive(IDENTITY)
    drv.load(path)
    h = Host(drv)
    h.settle()
    h.write(b"a")
    h.rewind()
    h.check(bytes([0x0A, 0, 0, 0, 1, 0]), WORM_MEDIUM_OVERWRITE_ATTEMPTED, out=b"b")
    assert raised(h) == {0x3C}


def test_medium_errors_raise_hard_error_media_and_failure(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    cart = host.drive.mounted()
    host.write(b"data")
    host.rewind()

    def refuse(*args: object) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(cart, "read_block", refuse)
    host.check(bytes([0x08, 0, 0, 0, 4, 0]), UNRECOVERED_READ_ERROR, n=4)
    assert raised(host) == {0x03, 0x04, 0x05}
    monkeypatch.setattr(cart, "write_block", refuse)
    host.check(bytes([0x0A, 0, 0, 0, 1, 0]), WRITE_ERROR, out=b"x")
    assert raised(host) == {0x03, 0x04, 0x06}


# --- informational exceptions: MRIE ----------------------------------------------------------

FAILURE_PREDICTION = {
    key: SenseCode(key, 0x5D, 0x00)
    for key in (SenseKey.UNIT_ATTENTION, SenseKey.RECOVERED_ERROR, SenseKey.NO_SENSE)
}


def set_ie_page(h: Host, dexcpt: bool, mrie: int) -> None:
    """MODE SELECT(6) of page 1Ch (SPC-5 7.5): DEXCPT and MRIE."""
    page = bytes([0x1C, 0x0A, 0x08 if dexcpt else 0, mrie]) + bytes(8)
    h.ok([0x15, 0x10, 0, 0, 4 + len(page), 0], out=bytes(4) + page)


def test_dexcpt_set_reports_nothing(protected: Host) -> None:
    set_ie_page(protected, True, 4)
    write_x(protected)
    protected.ok(TUR)


@pytest.mark.parametrize("mrie", [0, 3])
def test_mrie_without_report(protected: Host, mrie: int) -> None:
    """0h: no reporting; 3h: only with PER, and this drive has no PER bit."""
    set_ie_page(protected, False, mrie)
    write_x(protected)
    protected.ok(TUR)
    assert raised(protected) == {0x09}


def test_mrie_2_unit_attention(protected: Host) -> None:
    set_ie_page(protected, False, 2)
    write_x(protected)
    protected.check(TUR, FAILURE_PREDICTION[SenseKey.UNIT_ATTENTION])
    protected.ok(TUR)


@pytest.mark.parametrize("mrie,key", [(4, SenseKey.RECOVERED_ERROR), (5, SenseKey.NO_SENSE)])
def test_mrie_4_and_5_on_the_next_good_command(protected: Host, mrie: int, key: SenseKey) -> None:
    set_ie_page(protected, False, mrie)
    write_x(protected)
    protected.check([0x1E, 0, 0, 0, 2, 0], INVALID_FIELD_IN_CDB)  # an error is not replaced
    _, result = protected.check([0x05, 0, 0, 0, 0, 0], FAILURE_PREDICTION[key], n=6)
    assert result.data_in_length == 6  # READ BLOCK LIMITS did its work
    protected.ok(TUR)


def test_mrie_6_only_on_request(protected: Host) -> None:
    set_ie_page(protected, False, 6)
    write_x(protected)
    protected.ok(TUR)
    sense = protected.ok([0x03, 0, 0, 0, 252, 0], n=252)
    assert parse_sense(sense)[0] == FAILURE_PREDICTION[SenseKey.NO_SENSE]
    sense = protected.ok([0x03, 0, 0, 0, 252, 0], n=252)
    assert parse_sense(sense)[0] == SenseCode(SenseKey.NO_SENSE, 0, 0)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    path = tmp_path / "A00001L8.tape"
    Cartridge.create(path, "A00001L8").close()
    drv = TapeDrive(IDENTITY)
    drv.load(path)
    h = Host(drv)
    h.settle()
    return h


def test_mam_tapealert_flags_attribute(protected: Host) -> None:
    """SPC-5 7.4.2.2: TAPEALERT FLAGS (0002h) holds the flags raised during this load."""
    read_attribute = bytes([0x8C, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x02, 0, 0, 0x10, 0, 0, 0])
    write_x(protected)
    data = protected.ok(read_attribute, n=4096)
    assert data[4:9] == bytes.fromhex("0002 80 0008")
    assert data[9:17] == bytes.fromhex("0080000000000000")


def test_an_empty_cdb_is_refused_before_the_tapealert_checks() -> None:
    """The TapeAlert step after dispatch reads the opcode only of a command that ended GOOD."""
    result = answered(TapeDrive(IDENTITY).execute(Command(b"")))
    assert result.status == Status.CHECK_CONDITION
