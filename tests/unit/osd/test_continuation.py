"""The CDB continuation segment (OSD-2 5.3, 5.4): scatter/gather lists of READ and WRITE.

The segment is the first CDB CONTINUATION LENGTH bytes of data-out; the
data follows it. A WRITE carries it one way; a READ needs data-out for
the segment and data-in for the data, so it is bidirectional and runs
here through the ring simulator only (LIO's iSCSI fabric carries no
bidirectional command to TCMU).
"""

from __future__ import annotations

import pytest

from devemu.osd import continuation
from devemu.scsi.sense import SenseError, cdb_field, param_field
from devemu.testing import osd as c
from devemu.testing.osd import OsdClient, OsdError

RANGES = [(0, 4), (100, 3), (10, 5)]

#: OSD-2 5.3 CDB continuation segment header and 5.4.2 scatter/gather list descriptor.
GOLDEN_SEGMENT = bytes.fromhex(
    "01008886"  # format 01h, reserved, continued service action WRITE
    "00000000"  # reserved
    + "00"
    * 32  # integrity check value (NOSEC: unused)
    + "0001"  # descriptor type: scatter/gather list
    "00"  # reserved
    "00"  # pad length
    "00000030"  # length: three 16-byte entries
    "0000000000000000"
    "0000000000000004"
    "0000000000000064"
    "0000000000000003"
    "000000000000000a"
    "0000000000000005"
)


def test_segment_golden_both_ways() -> None:
    assert c.continuation_segment(c.WRITE, RANGES) == GOLDEN_SEGMENT
    parsed = continuation.parse(GOLDEN_SEGMENT, 0x8886)
    assert parsed.length == len(GOLDEN_SEGMENT) == 96
    assert parsed.ranges == tuple(RANGES)


def failure(call: object, *args: object, **kwargs: object) -> c.OsdSense:
    with pytest.raises(OsdError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.sense is not None
    return info.value.sense


def test_scattered_write_then_gathered_read(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.write_scattered(pid, oid, RANGES, b"AAAABBBCCCCC", start=1000)
    whole = formatted.read(pid, oid, 1103)
    assert whole[1000:1004] == b"AAAA"
    assert whole[1010:1015] == b"CCCCC"
    assert whole[1100:1103] == b"BBB"
    assert whole[1004:1010] == bytes(6)
    assert formatted.read_gathered(pid, oid, [(10, 5), (0, 4)], start=1000) == b"CCCCCAAAA"


def test_gathered_read_past_the_end_is_recovered_with_what_was_there(
    formatted: OsdClient,
) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.write(pid, oid, b"0123456789")
    assert formatted.read_gathered(pid, oid, [(8, 2), (2, 3), (9, 5)]) == b"892349"


def test_root_information_gives_the_longest_segment(formatted: OsdClient) -> None:
    root = formatted.get_attributes(0, 0, c.ROOT_INFORMATION)
    assert root[(c.ROOT_INFORMATION, 0xA)] == continuation.MAXIMUM_LENGTH.to_bytes(4, "big")


def run_write(formatted: OsdClient, segment: bytes, length: int = 12) -> c.OsdSense:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    cdb = c.build_cdb(c.WRITE, partition_id=pid, object_id=oid, length=length)
    cdb = cdb[:48] + len(segment).to_bytes(4, "big") + cdb[52:]
    return failure(formatted.run, cdb, segment + b"AAAABBBCCCCC")


@pytest.mark.parametrize(
    ("at", "value", "pointer"),
    [
        (0, 0x02, 0),  # CDB CONTINUATION FORMAT
        (3, 0x85, 2),  # continues READ, not WRITE
        (5, 0x01, 4),  # reserved
        (40, 0x00, 40),  # descriptor type 0002h: a query list, not taken here
        (43, 0x08, 43),  # pad length's reserved bits
        (47, 0x31, 44),  # length not whole entries, nor eight-byte units
    ],
)
def test_malformed_segment_points_into_data_out(
    formatted: OsdClient, at: int, value: int, pointer: int
) -> None:
    segment = bytearray(GOLDEN_SEGMENT)
    segment[at] = value
    if at == 40:
        segment[41] = 0x02
    sense = run_write(formatted, bytes(segment))
    assert (sense.key, sense.asc, sense.ascq) == (0x5, 0x26, 0x00)
    assert sense.field_pointer == pointer


def test_lengths_that_disagree(formatted: OsdClient) -> None:
    sense = run_write(formatted, GOLDEN_SEGMENT, length=11)  # the list moves 12 bytes
    assert (sense.key, sense.asc, sense.field_pointer) == (0x5, 0x24, 32)
    sense = run_write(formatted, GOLDEN_SEGMENT[:36])  # shorter than a header
    assert (sense.key, sense.asc, sense.field_pointer) == (0x5, 0x24, 48)


def test_continuation_on_a_command_without_one_is_refused(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    cdb = c.build_cdb(c.REMOVE, partition_id=pid, object_id=formatted.create(pid))
    cdb = cdb[:48] + (96).to_bytes(4, "big") + cdb[52:]
    sense = failure(formatted.run, cdb)
    # bytes 48-51 are unused by REMOVE: the pointer names the non-zero byte
    assert (sense.key, sense.asc, sense.field_pointer) == (0x5, 0x24, 51)


def test_gathered_read_needs_both_directions(formatted: OsdClient) -> None:
    """Without data-out (one-direction transport) the segment cannot come: byte 48."""
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    cdb = c.build_cdb(c.READ, partition_id=pid, object_id=oid, length=4)
    cdb = cdb[:48] + (96).to_bytes(4, "big") + cdb[52:]
    sense = failure(formatted.run, cdb, None, 4)
    assert (sense.key, sense.asc, sense.field_pointer) == (0x5, 0x24, 48)


def test_parse_refuses_a_second_list_and_stops_at_no_more_descriptors() -> None:
    twice = GOLDEN_SEGMENT + GOLDEN_SEGMENT[40:]
    with pytest.raises(SenseError) as info:
        continuation.parse(twice, 0x8886)
    assert info.value.field == param_field(96)
    ended = GOLDEN_SEGMENT + bytes(8) + b"\xff" * 8
    assert continuation.parse(ended, 0x8886).ranges == tuple(RANGES)
    with pytest.raises(SenseError) as info:
        continuation.check_length(0x10008)
    assert info.value.field == cdb_field(48)


def test_a_list_of_one_range_lands_at_its_offset(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.write_scattered(pid, oid, [(16, 4)], b"WXYZ", start=100)
    assert formatted.read(pid, oid, 120) == bytes(116) + b"WXYZ"
