"""Persistent reservations (SPC-5 5.13, 6.16, 6.17) and RESERVE/RELEASE (SPC-2 7.13, 7.21)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devemu.errors import ImageError
from devemu.scsi.command import Status
from devemu.scsi.persistent_reservations import (
    FullStatusDescriptor,
    PrOutParameters,
    ReportCapabilities,
    transport_id,
)
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    INVALID_RELEASE_OF_PERSISTENT_RESERVATION,
    PARAMETER_LIST_LENGTH_ERROR,
    RESERVATIONS_PREEMPTED,
)
from tests.unit.scsi.spc_fixtures import Answer, Run, SpcDevice, execute

H = bytes.fromhex
WE, EA, WE_RO, EA_RO, WE_AR, EA_AR = 1, 3, 5, 6, 7, 8
REGISTER, RESERVE, RELEASE, CLEAR, PREEMPT, PREEMPT_ABORT, REGISTER_IGNORE = 0, 1, 2, 3, 4, 5, 6
MODE_SENSE = [0x1A, 0, 0x0A, 0, 255, 0]
MODE_SELECT_EMPTY = [0x15, 0x10, 0, 0, 0, 0]
TUR = [0, 0, 0, 0, 0, 0]


def params(key: int = 0, sa_key: int = 0, flags: int = 0) -> bytes:
    return key.to_bytes(8, "big") + sa_key.to_bytes(8, "big") + bytes(4) + bytes([flags, 0, 0, 0])


def out(
    device: SpcDevice,
    nexus: str,
    action: int,
    key: int = 0,
    sa_key: int = 0,
    pr_type: int = 0,
    flags: int = 0,
) -> Answer:
    cdb = [0x5F, action, pr_type, 0, 0, 0, 0, 0, 24, 0]
    return execute(device, cdb, data_out=params(key, sa_key, flags), nexus=nexus)


def pr_in(device: SpcDevice, action: int, nexus: str = "") -> bytes:
    answer = execute(device, [0x5E, action, 0, 0, 0, 0, 0, 0x10, 0, 0], nexus=nexus)
    assert answer.status == Status.GOOD
    return answer.data


def test_parameter_list_golden() -> None:
    raw = params(0x0102030405060708, 0xAA, flags=0x01)
    parsed = PrOutParameters.parse(raw)
    assert parsed.reservation_key == 0x0102030405060708
    assert parsed.service_action_reservation_key == 0xAA
    assert parsed.flags.aptpl and not parsed.flags.spec_i_pt
    assert PrOutParameters.build(parsed) == raw


def test_report_capabilities_golden(dev: SpcDevice) -> None:
    golden = H("00080180ea010000")
    assert pr_in(dev, 2) == golden
    parsed = ReportCapabilities.parse(golden)
    assert parsed.flags.ptpl_c and parsed.flags2.tmv and not parsed.flags2.ptpl_a
    assert ReportCapabilities.build(parsed) == golden
    assert out(dev, "a", REGISTER, 0, 0xAA, flags=0x01).status == Status.GOOD
    assert pr_in(dev, 2)[3] == 0x81


def test_register_reserve_read_keys_and_reservation(dev: SpcDevice) -> None:
    assert pr_in(dev, 0) == H("0000000000000000")
    assert pr_in(dev, 1) == H("0000000000000000")
    assert out(dev, "a", REGISTER, 0, 0xAA).status == Status.GOOD
    assert out(dev, "b", REGISTER, 0, 0xBB).status == Status.GOOD
    assert pr_in(dev, 0) == H("000000020000001000000000000000aa00000000000000bb")
    assert out(dev, "a", RESERVE, 0xAA, pr_type=WE).status == Status.GOOD
    assert pr_in(dev, 1) == H("000000020000001000000000000000aa0000000000010000")
    # The same reservation again is fine; another type is a conflict.
    assert out(dev, "a", RESERVE, 0xAA, pr_type=WE).status == Status.GOOD
    assert out(dev, "a", RESERVE, 0xAA, pr_type=EA).status == Status.RESERVATION_CONFLICT
    assert out(dev, "b", RESERVE, 0xBB, pr_type=WE).status == Status.RESERVATION_CONFLICT


def test_read_full_status_golden(dev: SpcDevice) -> None:
    out(dev, "iqn.a", REGISTER, 0, 0xAA)
    out(dev, "iqn.a", RESERVE, 0xAA, pr_type=EA)
    tid = H("05000014") + b"iqn.a" + bytes(15)
    assert transport_id("iqn.a") == tid
    desc = H("00000000000000aa00000000010300000000000100000018")
    assert pr_in(dev, 3) == H("0000000100000030") + desc + tid
    parsed = FullStatusDescriptor.parse(desc)
    assert parsed.flags.r_holder and parsed.scope_type == EA
    assert FullStatusDescriptor.build(parsed) == desc


def test_register_key_checks(dev: SpcDevice) -> None:
    assert out(dev, "a", REGISTER, 0x11, 0xAA).status == Status.RESERVATION_CONFLICT
    assert out(dev, "a", REGISTER, 0, 0).status == Status.GOOD  # nothing to do
    assert pr_in(dev, 0) == H("0000000000000000")
    assert out(dev, "a", REGISTER, 0, 0xAA).status == Status.GOOD
    assert out(dev, "a", REGISTER, 0x12, 0xAB).status == Status.RESERVATION_CONFLICT
    assert out(dev, "a", REGISTER_IGNORE, 0x12, 0xAB).status == Status.GOOD
    assert pr_in(dev, 0) == H("000000020000000800000000000000ab")
    assert out(dev, "a", RESERVE, 0xAA, pr_type=WE).status == Status.RESERVATION_CONFLICT
    assert out(dev, "z", RESERVE, 0, pr_type=WE).status == Status.RESERVATION_CONFLICT


def test_unregistering_the_holder_releases(dev: SpcDevice) -> None:
    out(dev, "a", REGISTER, 0, 0xAA)
    out(dev, "a", RESERVE, 0xAA, pr_type=EA)
    assert out(dev, "a", REGISTER, 0xAA, 0).status == Status.GOOD
    assert pr_in(dev, 1) == H("0000000200000000")


@pytest.mark.parametrize(
    ("pr_type", "registered", "mode_sense", "mode_select"),
    [
        (WE, False, Status.GOOD, Status.RESERVATION_CONFLICT),
        (WE, True, Status.GOOD, Status.RESERVATION_CONFLICT),
        (EA, False, Status.RESERVATION_CONFLICT, Status.RESERVATION_CONFLICT),
        (EA, True, Status.RESERVATION_CONFLICT, Status.RESERVATION_CONFLICT),
        (WE_RO, False, Status.GOOD, Status.RESERVATION_CONFLICT),
        (WE_RO, True, Status.GOOD, Status.GOOD),
        (EA_RO, False, Status.RESERVATION_CONFLICT, Status.RESERVATION_CONFLICT),
        (EA_RO, True, Status.GOOD, Status.GOOD),
        (WE_AR, True, Status.GOOD, Status.GOOD),
        (EA_AR, False, Status.RESERVATION_CONFLICT, Status.RESERVATION_CONFLICT),
        (EA_AR, True, Status.GOOD, Status.GOOD),
    ],
)
def test_conflicts_for_another_nexus(
    dev: SpcDevice, pr_type: int, registered: bool, mode_sense: Status, mode_select: Status
) -> None:
    out(dev, "a", REGISTER, 0, 0xAA)
    if registered:
        out(dev, "b", REGISTER, 0, 0xBB)
    assert out(dev, "a", RESERVE, 0xAA, pr_type=pr_type).status == Status.GOOD
    assert execute(dev, MODE_SENSE, nexus="b").status == mode_sense
    assert execute(dev, MODE_SELECT_EMPTY, nexus="b").status == mode_select
    # Allowed under every reservation: INQUIRY, REQUEST SENSE, TUR, REPORT LUNS, PR IN.
    for cdb in ([0x12, 0, 0, 0, 36, 0], [0x03, 0, 0, 0, 18, 0], TUR):
        assert execute(dev, cdb, nexus="b").status == Status.GOOD
    assert execute(dev, [0x5E, 0, 0, 0, 0, 0, 0, 0, 64, 0], nexus="b").status == Status.GOOD
    # The holder itself is never in conflict.
    assert execute(dev, MODE_SELECT_EMPTY, nexus="a").status == Status.GOOD


def test_release(dev: SpcDevice) -> None:
    out(dev, "a", REGISTER, 0, 0xAA)
    out(dev, "b", REGISTER, 0, 0xBB)
    assert out(dev, "a", RELEASE, 0xAA, pr_type=WE).status == Status.GOOD  # nothing held
    out(dev, "a", RESERVE, 0xAA, pr_type=WE)
    assert out(dev, "b", RELEASE, 0xBB, pr_type=WE).status == Status.GOOD  # not the holder
    assert pr_in(dev, 1)[7] == 0x10
    wrong = out(dev, "a", RELEASE, 0xAA, pr_type=EA)
    assert wrong.code == INVALID_RELEASE_OF_PERSISTENT_RESERVATION
    assert out(dev, "a", RELEASE, 0xBB, pr_type=WE).status == Status.RESERVATION_CONFLICT
    assert out(dev, "a", RELEASE, 0xAA, pr_type=WE).status == Status.GOOD
    assert pr_in(dev, 1) == H("0000000200000000")


def test_preempt_takes_over(dev: SpcDevice) -> None:
    out(dev, "a", REGISTER, 0, 0xAA)
    out(dev, "b", REGISTER, 0, 0xBB)
    out(dev, "a", RESERVE, 0xAA, pr_type=EA)
    assert out(dev, "b", PREEMPT, 0xBB, 0xAA, pr_type=WE).status == Status.GOOD
    assert pr_in(dev, 0) == H("000000030000000800000000000000bb")
    assert pr_in(dev, 1)[8:] == H("00000000000000bb0000000000010000")
    assert execute(dev, MODE_SELECT_EMPTY, nexus="a").code == RESERVATIONS_PREEMPTED
    assert execute(dev, MODE_SELECT_EMPTY, nexus="a").status == Status.RESERVATION_CONFLICT
    assert out(dev, "a", REGISTER, 0xAA, 0).status == Status.RESERVATION_CONFLICT


def test_preempt_registrations_only(dev: SpcDevice) -> None:
    out(dev, "a", REGISTER, 0, 0xAA)
    out(dev, "b", REGISTER, 0, 0xBB)
    out(dev, "c", REGISTER, 0, 0xCC)
    out(dev, "a", RESERVE, 0xAA, pr_type=WE)
    assert out(dev, "b", PREEMPT_ABORT, 0xBB, 0xCC, pr_type=WE).status == Status.GOOD
    assert pr_in(dev, 0)[8:] == H("00000000000000aa00000000000000bb")
    assert pr_in(dev, 1)[8:16] == H("00000000000000aa")  # reservation untouched
    assert out(dev, "b", PREEMPT, 0xBB, 0xDD, pr_type=WE).status == Status.RESERVATION_CONFLICT
    zero = out(dev, "b", PREEMPT, 0xBB, 0, pr_type=WE)
    assert zero.code == INVALID_FIELD_IN_PARAMETER_LIST
    assert zero.pointer == H("800008")


def test_preempt_all_registrants_with_zero_key(dev: SpcDevice) -> None:
    out(dev, "a", REGISTER, 0, 0xAA)
    out(dev, "b", REGISTER, 0, 0xBB)
    out(dev, "a", RESERVE, 0xAA, pr_type=EA_AR)
    assert pr_in(dev, 1)[8:16] == bytes(8)  # all-registrants: key 0
    assert out(dev, "b", PREEMPT, 0xBB, 0, pr_type=EA).status == Status.GOOD
    assert pr_in(dev, 0)[8:] == H("00000000000000bb")
    assert pr_in(dev, 1)[8:] == H("00000000000000bb0000000000030000")


def test_clear_and_unit_attention_to_others(dev: SpcDevice) -> None:
    out(dev, "a", REGISTER, 0, 0xAA)
    out(dev, "b", REGISTER, 0, 0xBB)
    out(dev, "a", RESERVE, 0xAA, pr_type=WE)
    assert out(dev, "b", CLEAR, 0xAA).status == Status.RESERVATION_CONFLICT
    assert out(dev, "b", CLEAR, 0xBB).status == Status.GOOD
    assert pr_in(dev, 0) == H("0000000300000000")
    assert pr_in(dev, 1) == H("0000000300000000")
    assert execute(dev, TUR, nexus="a").code == RESERVATIONS_PREEMPTED
    assert execute(dev, TUR, nexus="a").status == Status.GOOD
    assert execute(dev, TUR, nexus="b").status == Status.GOOD  # not told of its own CLEAR


@pytest.mark.parametrize(
    ("cdb", "data", "code", "pointer"),
    [
        ([0x5F, 0, 0, 0, 0, 0, 0, 0, 23, 0], params()[:23], PARAMETER_LIST_LENGTH_ERROR, None),
        (
            [0x5F, 0, 0, 0, 0, 0, 0, 0, 24, 0],
            params(0, 1, flags=0x08),
            INVALID_FIELD_IN_PARAMETER_LIST,
            H("8b0014"),
        ),
        (
            [0x5F, 0, 0, 0, 0, 0, 0, 0, 24, 0],
            params(0, 1, flags=0x04),
            INVALID_FIELD_IN_PARAMETER_LIST,
            H("8a0014"),
        ),
        ([0x5F, 1, 0x11, 0, 0, 0, 0, 0, 24, 0], params(), INVALID_FIELD_IN_CDB, H("cc0002")),
        ([0x5F, 1, 0x02, 0, 0, 0, 0, 0, 24, 0], params(), INVALID_FIELD_IN_CDB, H("cb0002")),
        ([0x5F, 7, 0, 0, 0, 0, 0, 0, 24, 0], params(), INVALID_FIELD_IN_CDB, H("cc0001")),
    ],
)
def test_pr_out_refusals(
    dev: SpcDevice, run: Run, cdb: list[int], data: bytes, code: object, pointer: bytes | None
) -> None:
    answer = run(dev, cdb, data_out=data)
    assert answer.code == code
    assert answer.pointer == pointer


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "lun.pr"
    first = SpcDevice(reservation_file=path)
    first.unit_attentions.clear()
    out(first, "a", REGISTER, 0, 0xAA, flags=0x01)
    out(first, "a", RESERVE, 0xAA, pr_type=WE_RO)
    keys, reservation = pr_in(first, 0), pr_in(first, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lun.pr"]
    second = SpcDevice()
    second.set_reservation_file(path)
    second.unit_attentions.clear()
    assert (pr_in(second, 0), pr_in(second, 1)) == (keys, reservation)
    assert pr_in(second, 2)[3] == 0x81
    assert json.loads(path.read_text())["reservation"] == {"holder": "a", "type": WE_RO}


def test_bad_state_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lun.pr"
    path.write_text('{"generation": 1,\n "aptpl": tru')
    with pytest.raises(ImageError, match=r"lun\.pr: line 2"):
        SpcDevice(reservation_file=path)
    path.write_text('{"generation": 1}')
    with pytest.raises(ImageError, match=r"lun\.pr"):
        SpcDevice(reservation_file=path)


def test_spc2_reserve_release(dev: SpcDevice) -> None:
    assert execute(dev, [0x16, 0, 0, 0, 0, 0], nexus="a").status == Status.GOOD
    assert execute(dev, TUR, nexus="b").status == Status.RESERVATION_CONFLICT
    assert execute(dev, [0x5E, 0, 0, 0, 0, 0, 0, 0, 64, 0], nexus="b").status == (
        Status.RESERVATION_CONFLICT
    )
    assert execute(dev, [0x12, 0, 0, 0, 36, 0], nexus="b").status == Status.GOOD
    assert execute(dev, [0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0], nexus="b").status == Status.GOOD
    assert execute(dev, TUR, nexus="b").status == Status.RESERVATION_CONFLICT
    assert execute(dev, [0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0], nexus="a").status == Status.GOOD
    assert execute(dev, [0x17, 0, 0, 0, 0, 0], nexus="a").status == Status.GOOD
    assert execute(dev, TUR, nexus="b").status == Status.GOOD


def test_spc2_reserve_conflicts_with_registrations(dev: SpcDevice) -> None:
    out(dev, "a", REGISTER, 0, 0xAA)
    assert execute(dev, [0x16, 0, 0, 0, 0, 0], nexus="a").status == Status.RESERVATION_CONFLICT


def test_spc2_third_party_refused(dev: SpcDevice) -> None:
    answer = execute(dev, [0x56, 0x10, 0, 0, 0, 0, 0, 0, 0, 0])
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.pointer == H("cc0001")
