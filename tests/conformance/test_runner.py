"""``run_all`` and the command line: outcomes, messages, notes, exit statuses."""

from __future__ import annotations

import ctypes
from dataclasses import replace
from pathlib import Path

import pytest

from devemu.testing.conformance import (
    CHECKS,
    PROFILES,
    Answer,
    RingTarget,
    run_all,
    settle,
    summary,
)
from devemu.testing.conformance.__main__ import main
from devemu.testing.conformance.run import FAILED, NOT_APPLICABLE, PASSED
from devemu.testing.conformance.sg_io import SgIoHdr
from tests.conformance.devices import make_disk


@pytest.fixture
def disk(tmp_path: Path) -> RingTarget:
    return RingTarget(make_disk(tmp_path))


def test_every_check_passes_on_the_disk(disk: RingTarget) -> None:
    results = run_all(disk, PROFILES["disk"])
    assert [r.name for r in results] == [c.__name__ for c in CHECKS]
    assert {r.outcome for r in results} == {PASSED}, summary(results)
    assert summary(results).endswith(f"{len(CHECKS)} passed, 0 failed, 0 not-applicable")


def test_a_wrong_expectation_fails_with_its_message(disk: RingTarget) -> None:
    wrong = replace(PROFILES["disk"], peripheral_type=0x05, vpd_pages=frozenset({0x00, 0xB7}))
    by_name = {r.name: r for r in run_all(disk, wrong)}
    named = by_name["standard_inquiry_names_the_device_type"]
    assert named.outcome == FAILED
    assert "peripheral device type 0x00, expected 0x05" in named.detail
    vpd = by_name["vpd_00_lists_exactly_the_pages_that_answer"]
    assert vpd.outcome == FAILED and "['0xb7']" in vpd.detail
    assert by_name["vpd_80_serial_is_ascii"].outcome == PASSED


def test_a_failed_bare_assert_names_its_line(disk: RingTarget) -> None:
    wrong = replace(PROFILES["disk"], ready=False)
    (result,) = [r for r in run_all(disk, wrong) if r.name == "ready_state_from_test_unit_ready"]
    assert result.outcome == FAILED
    assert "expected NOT READY" in result.detail and "checks.py:" in result.detail


def test_no_command_table_is_not_applicable_with_the_reason(disk: RingTarget) -> None:
    results = run_all(disk, replace(PROFILES["disk"], commands=None))
    (rsoc,) = [r for r in results if r.name == "rsoc_agrees_with_the_table"]
    assert (rsoc.outcome, rsoc.detail) == (
        NOT_APPLICABLE,
        "the profile names no command table to compare with",
    )
    assert sum(r.outcome == PASSED for r in results) == len(CHECKS) - 1


def test_through_lio_says_report_luns_was_not_held_to_the_device(disk: RingTarget) -> None:
    results = {r.name: r for r in run_all(disk, PROFILES["disk"].through_lio())}
    reserved = results["every_reserved_bit_is_refused_with_the_field_pointer"]
    assert reserved.outcome == PASSED
    assert reserved.detail.startswith("0xa0 not held to the device: REPORT LUNS")


def test_a_unit_attention_that_never_ends_fails_settle() -> None:
    class Attention:
        def execute(
            self, cdb: bytes, data_out: bytes | None = None, data_in_length: int = 0
        ) -> Answer:
            return Answer(2, bytes([0x70, 0, 0x06, 0, 0, 0, 0, 10]) + bytes(10), b"")

    with pytest.raises(AssertionError, match="unit attentions never end"):
        settle(Attention())


def test_sg_io_header_has_the_kernel_layout() -> None:
    # <scsi/sg.h> struct sg_io_hdr on LP64: 88 bytes.
    assert ctypes.sizeof(SgIoHdr) == 88
    offsets = {name: getattr(SgIoHdr, name).offset for name, _ in SgIoHdr._fields_}
    assert offsets["dxferp"] == 16 and offsets["sbp"] == 32 and offsets["usr_ptr"] == 56
    assert offsets["status"] == 64 and offsets["sb_len_wr"] == 67 and offsets["resid"] == 72


def test_command_line_refuses_a_missing_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "sg9"), "--type", "disk"]) == 2
    err = capsys.readouterr().err
    assert err == f"{tmp_path / 'sg9'}: No such file or directory\n"


def test_command_line_refuses_a_node_that_is_not_sg(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = tmp_path / "plain"
    node.write_bytes(b"")
    assert main([str(node), "--type", "disk"]) == 2
    assert capsys.readouterr().err == f"{node}: not a SCSI generic (sg) node\n"
