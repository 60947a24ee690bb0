"""Copy offload: EXTENDED COPY (LID1), RECEIVE COPY RESULTS and VPD page 8Fh.

Golden bytes of every declaration both ways, the behaviour of a copy
between two disks and within one, each refusal of the parameter list
with its field pointer, each way a copy fails part way and what it
reports, and a property: a copy equals reading the source and writing
the destination.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devemu.config import Config
from devemu.daemon import Daemon
from devemu.disk import copy_parameters as cp
from devemu.disk.copy_list import LIMITS
from devemu.disk.copy_offload import COPY_COMMANDS, link_copy_peers, third_party_copy_vpd
from devemu.disk.copy_results import operating_parameters_data, transfer_count
from devemu.disk.copy_sense import COPY_DESTINATION, CopyAbortedError, Forwarded
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage
from devemu.disk.removable import RemovableDisk
from devemu.scsi.command import Command, Status, answered
from devemu.scsi.identity import Identity
from devemu.scsi.sense import (
    COPY_SEGMENT_GRANULARITY_VIOLATION,
    COPY_TARGET_DEVICE_NOT_REACHABLE,
    INCORRECT_COPY_TARGET_DEVICE_TYPE,
    INLINE_DATA_LENGTH_EXCEEDED,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED,
    MEDIUM_NOT_PRESENT,
    PARAMETER_LIST_LENGTH_ERROR,
    THIRD_PARTY_DEVICE_FAILURE,
    TOO_MANY_SEGMENT_DESCRIPTORS,
    TOO_MANY_TARGET_DESCRIPTORS,
    UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE,
    UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE,
    WRITE_PROTECTED,
    SenseKey,
    parse_sense,
)
from devemu.served import ServedDevice
from tests.golden import check_both_ways
from tests.unit.disk.disk_fixtures import BLOCKS, Answer, execute, make_image
from tests.unit.test_daemon import Recorder, SimBackend

# --- builders -------------------------------------------------------------------------


def xcopy_cdb(length: int) -> bytes:
    return bytes([0x83, 0x00]) + bytes(8) + length.to_bytes(4, "big") + b"\0\0"


def rcr_cdb(action: int, list_id: int, allocation_length: int) -> bytes:
    return (
        bytes([0x84, action, list_id]) + bytes(7) + allocation_length.to_bytes(4, "big") + b"\0\0"
    )


def cscd(disk: Disk, block_size: int | None = None, **over: int) -> bytes:
    """An identification CSCD descriptor naming ``disk`` by its NAA designator."""
    naa = disk.identity.naa
    fields: dict[str, Any] = {
        "device": {"lu_id_type": 0, "nul": False, "peripheral_device_type": 0},
        "relative_initiator_port_identifier": 0,
        "code_set": {"reserved": 0, "code_set": 1},
        "designator_kind": {"reserved": 0, "association": 0, "designator_type": 3},
        "reserved": 0,
        "designator_length": len(naa),
        "designator": naa.ljust(20, b"\0"),
        "block": {"reserved": 0, "pad": False, "reserved2": 0},
        "disk_block_length": {"value": block_size or disk.block_size},
    }
    fields["device"].update({k: v for k, v in over.items() if k in fields["device"]})
    out: bytes = cp.IdentificationCscd.build(fields)
    return out


def segment(
    src: int, dst: int, blocks: int, src_lba: int, dst_lba: int, *, dc: bool = False
) -> bytes:
    out: bytes = cp.BlockToBlockSegment.build(
        {
            "flags": {"reserved": 0, "dc": dc, "cat": False},
            "source_cscd_descriptor_id": src,
            "destination_cscd_descriptor_id": dst,
            "reserved": b"\0\0",
            "number_of_blocks": blocks,
            "source_lba": src_lba,
            "destination_lba": dst_lba,
        }
    )
    return out


def copy_list(
    cscds: list[bytes], segments: list[bytes], *, list_id: int = 1, usage: int = 0, inline: int = 0
) -> bytes:
    c, s = b"".join(cscds), b"".join(segments)
    header: bytes = cp.ParameterListHeader.build(
        {
            "list_identifier": list_id,
            "flags": {"reserved": 0, "str": False, "list_id_usage": usage, "priority": 0},
            "cscd_descriptor_list_length": len(c),
            "segment_descriptor_list_length": len(s),
            "inline_data_length": inline,
        }
    )
    return header + c + s + bytes(inline)


def xcopy(dev: Disk, plist: bytes) -> Answer:
    return execute(dev, xcopy_cdb(len(plist)), plist)


def results(dev: Disk, action: int, list_id: int, length: int = 256) -> Answer:
    return execute(dev, rcr_cdb(action, list_id, length), data_in=length)


def new_disk(path: Path, serial: str, block_size: int = 512, *, read_only: bool = False) -> Disk:
    image = DiskImage(make_image(path, block_size), block_size, read_only=read_only)
    disk = Disk(image, Identity("DEVEMU", "VIRTUAL DISK", "0100", serial))
    disk.unit_attentions.clear()
    return disk


def fill(disk: Disk, seed: int) -> bytes:
    data = random.Random(seed).randbytes(disk.capacity * disk.block_size)
    os.pwrite(disk.image.fd, data, 0)
    return data


def field_pointer(answer: Answer) -> tuple[int, int | None, bool]:
    sks = answer.fields["sense_key_specific"]
    assert isinstance(sks, bytes)
    bit = sks[0] & 0x07 if sks[0] & 0x08 else None
    return int.from_bytes(sks[1:3], "big"), bit, bool(sks[0] & 0x40)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Disk, Disk]]:
    a = new_disk(tmp_path / "a.img", "COPYA")
    b = new_disk(tmp_path / "b.img", "COPYB")
    link_copy_peers([a, b])
    yield a, b
    a.close()
    b.close()


# --- golden bytes ---------------------------------------------------------------------

NAA = bytes.fromhex("60014050123456789abcdef012345678")


def test_extended_copy_cdb_golden() -> None:
    check_both_ways(
        cp.ExtendedCopyCdb,
        bytes.fromhex("8300" + "00" * 8 + "00000040" + "00" + "00"),
        {
            "opcode": 0x83,
            "action": {"reserved": 0, "service_action": 0},
            "parameter_list_length": 0x40,
            "control": 0,
        },
    )


def test_receive_copy_results_cdb_golden() -> None:
    check_both_ways(
        cp.ReceiveCopyResultsCdb,
        bytes.fromhex("840407" + "00" * 7 + "00000100" + "00" + "00"),
        {
            "opcode": 0x84,
            "action": {"reserved": 0, "service_action": 4},
            "list_identifier": 7,
            "allocation_length": 0x100,
            "control": 0,
        },
    )


def test_parameter_list_header_golden() -> None:
    check_both_ways(
        cp.ParameterListHeader,
        bytes.fromhex("05130040000000000000001c00000000"),
        {
            "list_identifier": 5,
            "flags": {"reserved": 0, "str": False, "list_id_usage": 2, "priority": 3},
            "cscd_descriptor_list_length": 0x40,
            "segment_descriptor_list_length": 0x1C,
            "inline_data_length": 0,
        },
    )


def test_identification_cscd_golden() -> None:
    check_both_ways(
        cp.IdentificationCscd,
        bytes.fromhex("e400000001030010") + NAA + bytes(4) + bytes.fromhex("04000200"),
        {
            "descriptor_type_code": 0xE4,
            "device": {"lu_id_type": 0, "nul": False, "peripheral_device_type": 0},
            "relative_initiator_port_identifier": 0,
            "code_set": {"reserved": 0, "code_set": 1},
            "designator_kind": {"reserved": 0, "association": 0, "designator_type": 3},
            "reserved": 0,
            "designator_length": 16,
            "designator": NAA + bytes(4),
            "block": {"reserved": 0, "pad": True, "reserved2": 0},
            "disk_block_length": {"value": 512},
        },
    )


def test_block_to_block_segment_golden() -> None:
    check_both_ways(
        cp.BlockToBlockSegment,
        bytes.fromhex("020200180000000100000080")
        + (0x10).to_bytes(8, "big")
        + (0x2000).to_bytes(8, "big"),
        {
            "descriptor_type_code": 2,
            "flags": {"reserved": 0, "dc": True, "cat": False},
            "descriptor_length": 0x18,
            "source_cscd_descriptor_id": 0,
            "destination_cscd_descriptor_id": 1,
            "reserved": b"\0\0",
            "number_of_blocks": 0x80,
            "source_lba": 0x10,
            "destination_lba": 0x2000,
        },
    )


def test_copy_status_golden() -> None:
    check_both_ways(
        cp.CopyStatusData,
        bytes.fromhex("00000008020003000000c800"),
        {
            "available_data": 8,
            "status": {"hdd": False, "copy_manager_status": 2},
            "segments_processed": 3,
            "transfer_count_units": 0,
            "transfer_count": 0xC800,
        },
    )


def test_receive_data_header_golden() -> None:
    check_both_ways(cp.ReceiveDataHeader, bytes(4), {"available_data": 0})


OPERATING_PARAMETERS_512 = bytes.fromhex(
    "0000002a0100000000080010000002c00100000000000000000000000000000000000001010900000000000202e4"
)


def test_operating_parameters_golden() -> None:
    assert operating_parameters_data(512) == OPERATING_PARAMETERS_512
    check_both_ways(
        cp.OperatingParameters,
        OPERATING_PARAMETERS_512[: cp.OPERATING_PARAMETERS_LENGTH],
        {
            "available_data": 0x2A,
            "flags": {"reserved": 0, "snlid": True},
            "maximum_cscd_descriptor_count": 8,
            "maximum_segment_descriptor_count": 16,
            "maximum_descriptor_list_length": 0x2C0,
            "maximum_segment_length": 16 << 20,
            "maximum_inline_data_length": 0,
            "held_data_limit": 0,
            "maximum_stream_device_transfer_size": 0,
            "total_concurrent_copies": 1,
            "maximum_concurrent_copies": 1,
            "data_segment_granularity": 9,
            "inline_data_granularity": 0,
            "held_data_granularity": 0,
            "implemented_descriptor_list_length": 2,
        },
    )
    assert operating_parameters_data(4096)[37] == 12


def test_failed_segment_details_golden() -> None:
    check_both_ways(
        cp.FailedSegmentDetails,
        bytes.fromhex("0000004a") + bytes(52) + bytes.fromhex("02000012"),
        {"available_data": 0x4A, "copy_command_status": 2, "sense_data_length": 18},
    )


def test_parameter_data_descriptor_golden() -> None:
    check_both_ways(
        cp.ParameterDataDescriptor,
        bytes.fromhex("0004001c0000000000080010000002c000000000") + bytes(12),
        {
            "descriptor_type": 4,
            "descriptor_length": 0x1C,
            "maximum_cscd_descriptor_count": 8,
            "maximum_segment_descriptor_count": 16,
            "maximum_descriptor_list_length": 0x2C0,
            "maximum_inline_data_length": 0,
        },
    )


def test_general_copy_operations_descriptor_golden() -> None:
    check_both_ways(
        cp.GeneralCopyOperationsDescriptor,
        bytes.fromhex("800100200000000100000001010000000900") + bytes(18),
        {
            "descriptor_type": 0x8001,
            "descriptor_length": 0x20,
            "total_concurrent_copies": 1,
            "maximum_identified_concurrent_copies": 1,
            "maximum_segment_length": 16 << 20,
            "data_segment_granularity": 9,
            "inline_data_granularity": 0,
        },
    )


def test_tpc_descriptor_header_golden() -> None:
    check_both_ways(
        cp.TpcDescriptorHeader,
        bytes.fromhex("00080004"),
        {"descriptor_type": 8, "descriptor_length": 4},
    )


THIRD_PARTY_COPY_VPD_512 = (
    bytes.fromhex("008f005c")
    # Supported Commands: 83h/00h, 84h/00h 01h 03h 04h, padded to four bytes.
    + bytes.fromhex("0001000c098301008404000103040000")
    + bytes.fromhex("0004001c0000000000080010000002c000000000")
    + bytes(12)
    # Supported Descriptors: 02h and E4h.
    + bytes.fromhex("000800040202e400")
    + bytes.fromhex("800100200000000100000001010000000900")
    + bytes(18)
)


def test_third_party_copy_vpd_golden(pair: tuple[Disk, Disk]) -> None:
    assert third_party_copy_vpd(512) == THIRD_PARTY_COPY_VPD_512
    a, _ = pair
    answer = execute(a, bytes([0x12, 0x01, 0x8F, 0x01, 0x00, 0x00]), data_in=256)
    assert answer.data == THIRD_PARTY_COPY_VPD_512


def test_the_vpd_page_lists_what_the_table_has() -> None:
    """Supported Commands comes from the command table entries, not a second list."""
    listed = THIRD_PARTY_COPY_VPD_512[4 + 4 :]
    entries = {(s.opcode, s.service_action) for s in COPY_COMMANDS}
    assert entries == {(0x83, 0), (0x84, 0), (0x84, 1), (0x84, 3), (0x84, 4)}
    assert listed[1:4] == bytes([0x83, 1, 0])


# --- the disk answers -------------------------------------------------------------------


def test_inquiry_sets_3pc(pair: tuple[Disk, Disk]) -> None:
    a, _ = pair
    data = execute(a, bytes([0x12, 0, 0, 0, 96, 0]), data_in=96).data
    assert data[5] & 0x08


def test_report_supported_operation_codes_lists_the_copy_commands(pair: tuple[Disk, Disk]) -> None:
    a, _ = pair
    for action, length in ((0, 16), (4, 16)):
        cdb = bytes([0xA3, 0x0C, 0x02, 0x83 + (action > 0)]) + action.to_bytes(2, "big")
        cdb += (64).to_bytes(4, "big") + b"\0\0"
        answer = execute(a, cdb, data_in=64)
        assert answer.status == Status.GOOD
        assert answer.data[1] & 0x07 == 0x03  # supported, as the standard says
        assert int.from_bytes(answer.data[2:4], "big") == length
        usage = answer.data[4 : 4 + length]
        expected = next(
            s.usage for s in COPY_COMMANDS if s.opcode == usage[0] and s.service_action == action
        )
        assert usage == expected


def test_copy_between_two_disks(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    data = fill(a, 1)
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 1, 100, 0, 10), segment(0, 1, 8, 500, 0)])
    answer = xcopy(a, plist)
    assert answer.status == Status.GOOD, answer.sense.hex()
    assert b.image.read(10, 100) == data[: 100 * 512]
    assert b.image.read(0, 8) == data[500 * 512 : 508 * 512]
    status = results(a, 0, 1, 12).data
    assert status == bytes.fromhex("0000000801000200") + (108 * 512).to_bytes(4, "big")


def test_copy_sent_to_the_destination(pair: tuple[Disk, Disk]) -> None:
    """sg_xcopy sends the command to the destination by default: it reads the source."""
    a, b = pair
    data = fill(a, 2)
    answer = xcopy(b, copy_list([cscd(a), cscd(b)], [segment(0, 1, 64, 3, 7)]))
    assert answer.status == Status.GOOD, answer.sense.hex()
    assert b.image.read(7, 64) == data[3 * 512 : 67 * 512]


def test_copy_within_one_disk_overlapping_both_ways(tmp_path: Path) -> None:
    disk = new_disk(tmp_path / "one.img", "ONE")
    try:
        data = bytearray(fill(disk, 3))
        for src, dst, n in ((0, 100, 300), (1000, 900, 300), (10, 1500, 20)):
            assert xcopy(disk, copy_list([cscd(disk)], [segment(0, 0, n, src, dst)])).status == 0
            data[dst * 512 : (dst + n) * 512] = bytes(data[src * 512 : (src + n) * 512])
        assert disk.image.read(0, BLOCKS) == data
    finally:
        disk.close()


@pytest.mark.parametrize(("src", "dst"), [(0, 8), (8, 0)], ids=["backwards", "forwards"])
def test_overlapping_copy_of_many_chunks(tmp_path: Path, src: int, dst: int) -> None:
    """8 MB through 1 MiB chunks: each chunk reads what the copy has not yet overwritten."""
    disk = new_disk(tmp_path / "big.img", "BIG", 4096)
    try:
        data = bytearray(fill(disk, 4))
        n = BLOCKS - 8
        assert xcopy(disk, copy_list([cscd(disk)], [segment(0, 0, n, src, dst)])).status == 0
        data[dst * 4096 : (dst + n) * 4096] = bytes(data[src * 4096 : (src + n) * 4096])
        assert disk.image.read(0, BLOCKS) == data
    finally:
        disk.close()


def test_copy_between_block_lengths(tmp_path: Path) -> None:
    small = new_disk(tmp_path / "small.img", "SMALL", 512)
    large = new_disk(tmp_path / "large.img", "LARGE", 4096)
    link_copy_peers([small, large])
    try:
        data = fill(small, 5)
        # DC=1: NUMBER OF BLOCKS counts the destination's 4096-byte blocks.
        plist = copy_list([cscd(small), cscd(large)], [segment(0, 1, 2, 16, 3, dc=True)])
        assert xcopy(small, plist).status == Status.GOOD
        assert large.image.read(3, 2) == data[16 * 512 : 32 * 512]
        # DC=0: 7 source blocks are not a whole number of destination blocks.
        plist = copy_list([cscd(small), cscd(large)], [segment(0, 1, 7, 0, 0)])
        answer = xcopy(small, plist)
        assert answer.code == COPY_SEGMENT_GRANULARITY_VIOLATION
        assert answer.fields["information"] == 7
    finally:
        small.close()
        large.close()


def test_zero_length_parameter_list_is_not_an_error(pair: tuple[Disk, Disk]) -> None:
    a, _ = pair
    assert execute(a, xcopy_cdb(0)).status == Status.GOOD


def test_zero_blocks_copy_nothing(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    fill(a, 6)
    assert xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 0, 0, 0)])).status == Status.GOOD
    assert b.image.read(0, 1) == bytes(512)


# --- refusals of the parameter list (nothing moves, nothing held) -------------------------


def _refused(a: Disk, b: Disk, plist: bytes, code: Any, byte: int, bit: int | None = None) -> None:
    before = b.image.read(0, BLOCKS)
    answer = xcopy(a, plist)
    assert answer.status == Status.CHECK_CONDITION
    assert answer.code == code, answer.sense.hex()
    assert field_pointer(answer) == (byte, bit, False)
    assert b.image.read(0, BLOCKS) == before


def test_list_id_usage_reserved(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)], usage=1)
    _refused(a, b, plist, INVALID_FIELD_IN_PARAMETER_LIST, 1, 4)


def test_no_list_identifier_needs_zero(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)], list_id=3, usage=3)
    _refused(a, b, plist, INVALID_FIELD_IN_PARAMETER_LIST, 0)


def test_cscd_list_length_not_whole_descriptors(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = bytearray(copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)]))
    plist[3] -= 4
    _refused(a, b, bytes(plist), INVALID_FIELD_IN_PARAMETER_LIST, 2)


def test_too_many_cscd_descriptors(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = copy_list([cscd(a)] * (LIMITS.max_cscd_descriptors + 1), [segment(0, 0, 1, 0, 1)])
    _refused(a, b, plist, TOO_MANY_TARGET_DESCRIPTORS, 2)


def test_too_many_segment_descriptors(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    segs = [segment(0, 1, 1, 0, 0)] * (LIMITS.max_segment_descriptors + 1)
    _refused(a, b, copy_list([cscd(a), cscd(b)], segs), TOO_MANY_SEGMENT_DESCRIPTORS, 8)


def test_unsupported_cscd_type(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    other = bytes([0xE0]) + cscd(b)[1:]
    plist = copy_list([cscd(a), other], [segment(0, 1, 1, 0, 0)])
    _refused(a, b, plist, UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE, 48)


def test_null_cscd_refused(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = copy_list([cscd(a), cscd(b, nul=True)], [segment(0, 1, 1, 0, 0)])
    _refused(a, b, plist, INVALID_FIELD_IN_PARAMETER_LIST, 49, 5)


def test_unsupported_segment_type(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    seg = bytes([0x0A]) + segment(0, 1, 1, 0, 0)[1:]
    _refused(
        a, b, copy_list([cscd(a), cscd(b)], [seg]), UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE, 80
    )


def test_segment_descriptor_length(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    seg = bytearray(segment(0, 1, 1, 0, 0))
    seg[3] = 0x14
    _refused(a, b, copy_list([cscd(a), cscd(b)], [bytes(seg)]), INVALID_FIELD_IN_PARAMETER_LIST, 82)


def test_segment_reserved_bits(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    seg = bytearray(segment(0, 1, 1, 0, 0))
    seg[1] |= 0x04
    _refused(
        a, b, copy_list([cscd(a), cscd(b)], [bytes(seg)]), INVALID_FIELD_IN_PARAMETER_LIST, 81, 7
    )


def test_segment_names_a_missing_cscd(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 2, 1, 0, 0)])
    _refused(a, b, plist, INVALID_FIELD_IN_PARAMETER_LIST, 86)


def test_segment_longer_than_the_limit(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    blocks = LIMITS.max_segment_length // 512 + 1
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 1, blocks, 0, 0)])
    _refused(a, b, plist, INVALID_FIELD_IN_PARAMETER_LIST, 90)


def test_inline_data_exceeds_the_limit(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)], inline=4)
    _refused(a, b, plist, INLINE_DATA_LENGTH_EXCEEDED, 12)


def test_parameter_list_shorter_than_its_lengths(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)])[:-4]
    answer = xcopy(a, plist)
    assert answer.code == PARAMETER_LIST_LENGTH_ERROR
    assert xcopy(a, plist[:10]).code == PARAMETER_LIST_LENGTH_ERROR


def test_parameter_list_length_over_the_limit(pair: tuple[Disk, Disk]) -> None:
    a, _ = pair
    answer = execute(a, xcopy_cdb(LIMITS.max_parameter_list_length + 1))
    assert answer.code == PARAMETER_LIST_LENGTH_ERROR
    assert field_pointer(answer) == (10, None, True)


def test_data_out_must_match_the_parameter_list_length(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)])
    answer = execute(a, xcopy_cdb(len(plist) + 4), plist)
    assert answer.code == INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT


def test_refused_list_holds_nothing(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)], usage=1, list_id=9))
    assert results(a, 0, 9).code == INVALID_FIELD_IN_CDB


# --- copies that fail part way ------------------------------------------------------------


def _aborted(answer: Answer, code: Any, segment_number: int, residue: int) -> bytes:
    """The forwarded sense of a COPY ABORTED answer, after checking the common fields."""
    assert answer.status == Status.CHECK_CONDITION
    assert answer.code == code, answer.sense.hex()
    assert answer.code.key == SenseKey.COPY_ABORTED
    assert answer.fields["information"] == residue
    specific = answer.fields["command_specific"]
    assert isinstance(specific, int)
    assert specific & 0xFFFF == segment_number
    src_at, dst_at = specific >> 24, (specific >> 16) & 0xFF
    at = src_at or dst_at
    return answer.sense[at:] if at else b""


def test_destination_out_of_range_in_the_second_segment(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    data = fill(a, 7)
    plist = copy_list(
        [cscd(a), cscd(b)], [segment(0, 1, 16, 0, 0), segment(0, 1, 16, 100, BLOCKS - 8)], list_id=4
    )
    answer = xcopy(a, plist)
    forwarded = _aborted(answer, THIRD_PARTY_DEVICE_FAILURE, 1, 16)
    assert (answer.fields["command_specific"] >> 16) & 0xFF == 18  # type: ignore[operator]
    code, fields = parse_sense(forwarded)
    assert code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    assert fields["information"] == BLOCKS
    # The first segment stays copied; nothing of the second was written.
    assert b.image.read(0, 16) == data[: 16 * 512]
    assert b.image.read(BLOCKS - 8, 8) == bytes(8 * 512)
    status = results(a, 0, 4, 12).data
    assert status == bytes.fromhex("0000000802000100") + (16 * 512).to_bytes(4, "big")
    details = results(a, 4, 4).data
    assert details[56] == Status.CHECK_CONDITION
    assert int.from_bytes(details[58:60], "big") == len(answer.sense)
    assert details[60:] == answer.sense
    assert int.from_bytes(details[:4], "big") == 56 + len(answer.sense)
    # Given once, then discarded (SPC-4 6.18.5).
    again = results(a, 4, 4).data
    assert int.from_bytes(again[58:60], "big") == 0


def test_source_out_of_range(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    answer = xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 4, BLOCKS - 2, 0)]))
    forwarded = _aborted(answer, THIRD_PARTY_DEVICE_FAILURE, 0, 4)
    assert answer.fields["command_specific"] >> 24 == 18  # type: ignore[operator]
    assert parse_sense(forwarded)[0] == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE


def test_destination_write_protected(tmp_path: Path) -> None:
    a = new_disk(tmp_path / "a.img", "WPA")
    b = new_disk(tmp_path / "b.img", "WPB", read_only=True)
    link_copy_peers([a, b])
    try:
        fill(a, 8)
        answer = xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 4, 0, 0)]))
        forwarded = _aborted(answer, THIRD_PARTY_DEVICE_FAILURE, 0, 4)
        assert parse_sense(forwarded)[0] == WRITE_PROTECTED
        assert b.image.read(0, 4) == bytes(4 * 512)
        # Reading from the write-protected disk is fine.
        assert (
            xcopy(a, copy_list([cscd(b), cscd(a)], [segment(0, 1, 4, 0, 0)])).status == Status.GOOD
        )
    finally:
        a.close()
        b.close()


def test_destination_reserved_by_another_nexus(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    reserve = answered(b.execute(Command(bytes([0x16, 0, 0, 0, 0, 0]), nexus="other")))
    assert reserve.status == Status.GOOD
    answer = xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 4, 0, 0)]))
    _aborted(answer, THIRD_PARTY_DEVICE_FAILURE, 0, 4)
    descriptor = CopyAbortedError(
        THIRD_PARTY_DEVICE_FAILURE, 0, 4, Forwarded(COPY_DESTINATION, Status.RESERVATION_CONFLICT)
    ).sense_bytes(descriptor=True)
    assert descriptor[-4:] == bytes([0x0C, 2, 1, Status.RESERVATION_CONFLICT])


def test_destination_stopped(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    b.stopped = True
    answer = xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 4, 0, 0)]))
    forwarded = _aborted(answer, THIRD_PARTY_DEVICE_FAILURE, 0, 4)
    assert parse_sense(forwarded)[0] == LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED


def test_unknown_designator_is_not_reachable(pair: tuple[Disk, Disk], tmp_path: Path) -> None:
    a, _ = pair
    stranger = new_disk(tmp_path / "c.img", "STRANGER")
    try:
        plist = copy_list(
            [cscd(a), cscd(stranger)], [segment(0, 0, 1, 0, 1), segment(0, 1, 2, 0, 0)]
        )
        answer = xcopy(a, plist)
        assert _aborted(answer, COPY_TARGET_DEVICE_NOT_REACHABLE, 1, 2) == b""
    finally:
        stranger.close()


def test_a_disk_alone_reaches_only_itself(tmp_path: Path) -> None:
    a = new_disk(tmp_path / "a.img", "ALONEA")
    b = new_disk(tmp_path / "b.img", "ALONEB")
    try:
        answer = xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)]))
        assert answer.code == COPY_TARGET_DEVICE_NOT_REACHABLE
    finally:
        a.close()
        b.close()


def test_replaced_image_file_is_not_reachable(pair: tuple[Disk, Disk], tmp_path: Path) -> None:
    """The copy opens the path again only if it is still the file the disk serves."""
    a, b = pair
    os.rename(tmp_path / "b.img", tmp_path / "b.moved")
    make_image(tmp_path / "b.img")
    answer = xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)]))
    assert answer.code == COPY_TARGET_DEVICE_NOT_REACHABLE
    assert (tmp_path / "b.img").read_bytes() == bytes(BLOCKS * 512)


def test_wrong_block_length_or_device_type(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    for descriptor in (cscd(b, 4096), cscd(b, peripheral_device_type=1)):
        answer = xcopy(a, copy_list([cscd(a), descriptor], [segment(0, 1, 1, 0, 0)]))
        _aborted(answer, INCORRECT_COPY_TARGET_DEVICE_TYPE, 0, 1)


def test_no_list_identifier_holds_nothing(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 1, 1, 0, 0)], list_id=0, usage=3)
    assert xcopy(a, plist).status == Status.GOOD
    assert results(a, 0, 0).code == INVALID_FIELD_IN_CDB


# --- RECEIVE COPY RESULTS -------------------------------------------------------------------


def test_receive_copy_results_of_a_good_copy(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    assert xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 2, 0, 0)], list_id=6)).status == 0
    assert results(a, 1, 6).data == bytes(4)
    details = results(a, 4, 6).data
    assert details == bytes.fromhex("00000038") + bytes(52) + bytes.fromhex("00000000")
    assert results(a, 3, 200).data == OPERATING_PARAMETERS_512
    assert results(a, 3, 0, 10).data == OPERATING_PARAMETERS_512[:10]
    for action in (0, 1, 4):
        answer = results(a, action, 7)
        assert answer.code == INVALID_FIELD_IN_CDB
        assert field_pointer(answer) == (2, None, True)


def test_results_are_per_nexus(pair: tuple[Disk, Disk]) -> None:
    a, b = pair
    assert xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 2, 0, 0)], list_id=8)).status == 0
    other = answered(
        a.execute(Command(rcr_cdb(0, 8, 12), [memoryview(bytearray(12))], nexus="other"))
    )
    assert other.status == Status.CHECK_CONDITION


def test_transfer_count_units() -> None:
    assert transfer_count(0) == (0, 0)
    assert transfer_count(0xFFFFFFFF) == (0, 0xFFFFFFFF)
    assert transfer_count(1 << 32) == (1, 1 << 22)
    assert transfer_count((1 << 42) + 1) == (2, (1 << 22) + 1)


def test_descriptor_format_forwards_the_sense() -> None:
    inner = bytes.fromhex("700005000000000a00000000210000000000")
    err = CopyAbortedError(
        THIRD_PARTY_DEVICE_FAILURE, 3, 9, Forwarded(COPY_DESTINATION, Status.CHECK_CONDITION, inner)
    )
    sense = err.sense_bytes(descriptor=True)
    code, fields = parse_sense(sense)
    assert code == THIRD_PARTY_DEVICE_FAILURE
    assert fields["information"] == 9
    assert fields["command_specific"] == 3
    assert sense[7] == len(sense) - 8
    assert sense[-(len(inner) + 4) :] == bytes([0x0C, len(inner) + 2, 1, 2]) + inner
    fixed = err.sense_bytes()
    assert fixed[7] == len(fixed) - 8 == 10 + len(inner)
    assert fixed[18:] == inner
    assert fixed[8:12] == bytes([0, 18, 0, 3])


# --- a copy is a read then a write ----------------------------------------------------------

_SEGMENT = st.tuples(
    st.integers(0, 1),
    st.integers(0, 1),
    st.integers(0, 300),
    st.integers(0, BLOCKS),
    st.integers(0, BLOCKS),
)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), segments=st.lists(_SEGMENT, min_size=1, max_size=6))
def test_copy_equals_read_then_write(
    seed: int, segments: list[tuple[int, int, int, int, int]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        disks = [new_disk(Path(folder) / f"{n}.img", f"PROP{n}") for n in range(2)]
        link_copy_peers(disks)
        try:
            model = [bytearray(fill(d, seed + n)) for n, d in enumerate(disks)]
            clamped = [
                (s, d, min(n, BLOCKS - sl, BLOCKS - dl), sl, dl) for s, d, n, sl, dl in segments
            ]
            plist = copy_list([cscd(d) for d in disks], [segment(*seg) for seg in clamped])
            answer = xcopy(disks[0], plist)
            assert answer.status == Status.GOOD, answer.sense.hex()
            for s, d, n, sl, dl in clamped:
                chunk = bytes(model[s][sl * 512 : (sl + n) * 512])  # read ...
                model[d][dl * 512 : (dl + n) * 512] = chunk  # ... then write
            for disk, expected in zip(disks, model, strict=True):
                assert disk.image.read(0, BLOCKS) == expected
        finally:
            for disk in disks:
                disk.close()


# --- the daemon's served set ----------------------------------------------------------------


def test_the_daemon_links_its_disks(tmp_path: Path) -> None:
    """Disks served by one daemon reach each other; other devices are left alone."""
    a = new_disk(tmp_path / "a.img", "DAEMONA")
    b = new_disk(tmp_path / "b.img", "DAEMONB")
    config = Config(path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock")
    config.devices = [
        ServedDevice("a", "disk", a, close=a.close),
        ServedDevice("echo", "disk", Recorder()),  # type: ignore[arg-type]
        ServedDevice("b", "disk", b, close=b.close),
    ]
    daemon = Daemon(config, SimBackend(), export=False)
    try:
        daemon.start()
        assert a.copy_manager.peers is b.copy_manager.peers
        assert len(a.copy_manager.peers) == 2
        data = fill(a, 9)
        assert xcopy(b, copy_list([cscd(a), cscd(b)], [segment(0, 1, 4, 0, 0)])).status == 0
        assert b.image.read(0, 4) == data[: 4 * 512]
    finally:
        daemon.request_stop("test")
        daemon.shutdown()
        daemon.close()


# --- what sg3_utils makes of the bytes ------------------------------------------------------


def _sg3(tool: str, page: bytes, tmp_path: Path, *args: str) -> str:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} (sg3-utils, scripts/install) is not installed")
    hex_file = tmp_path / "in.hex"
    hex_file.write_text(page.hex(" ") + "\n")
    done = subprocess.run(
        [tool, *args, f"--{'inhex' if tool == 'sg_vpd' else 'file'}={hex_file}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout + done.stderr


def test_sg_vpd_decodes_the_page(tmp_path: Path) -> None:
    out = _sg3("sg_vpd", THIRD_PARTY_COPY_VPD_512, tmp_path, "--page=tpc")
    for line in (
        "Extended copy(LID1)",
        "Receive copy failure details(LID1)",
        "Maximum CSCD descriptor count: 8",
        "Maximum segment descriptor count: 16",
        "Maximum descriptor list length: 704",
        "block -> block [0x2]",
        "Identification Descriptor [0xe4]",
        "Maximum segment length: 16777216",
        "Data segment granularity: 512",
    ):
        assert line in out, out


def test_sg_decode_sense_reads_the_forwarded_sense(tmp_path: Path) -> None:
    inner = bytes.fromhex("700005000000000a00000000210000000000")
    err = CopyAbortedError(
        THIRD_PARTY_DEVICE_FAILURE,
        1,
        16,
        Forwarded(COPY_DESTINATION, Status.CHECK_CONDITION, inner),
    )
    out = _sg3("sg_decode_sense", err.sense_bytes(descriptor=True), tmp_path)
    assert "Sense key: Copy Aborted" in out, out
    assert "Third party device failure" in out, out
    assert "Command specific: 0x0000000000000001" in out, out
    assert "Sense data source: Extended copy command destination device 0" in out, out
    assert "Logical block address out of range" in out, out


def test_parameter_list_in_several_buffers(pair: tuple[Disk, Disk]) -> None:
    """The ring hands data-out in pieces; the list is gathered whole."""
    a, b = pair
    data = fill(a, 10)
    plist = copy_list([cscd(a), cscd(b)], [segment(0, 1, 3, 5, 6)])
    answer = execute(a, xcopy_cdb(len(plist)), plist, pieces=5)
    assert answer.status == Status.GOOD, answer.sense.hex()
    assert b.image.read(6, 3) == data[5 * 512 : 8 * 512]


def test_destination_without_medium(tmp_path: Path) -> None:
    """A removable destination with its medium out answers as it would a WRITE: NOT READY."""
    a = new_disk(tmp_path / "a.img", "COPYA")
    image = DiskImage(make_image(tmp_path / "b.img", 512), 512)
    b = RemovableDisk(image, Identity("DEVEMU", "VIRTUAL DISK", "0100", "COPYB"))
    b.unit_attentions.clear()
    link_copy_peers([a, b])
    try:
        b.eject()
        answer = xcopy(a, copy_list([cscd(a), cscd(b)], [segment(0, 1, 4, 0, 0)]))
        forwarded = _aborted(answer, THIRD_PARTY_DEVICE_FAILURE, 0, 4)
        assert parse_sense(forwarded)[0] == MEDIUM_NOT_PRESENT
    finally:
        a.close()
        b.close()
