"""Golden bytes of OSD-2 CDBs, capabilities, attribute lists and sense, both ways.

Each table row is written from the standard's tables (OSD-2 5.2.1 table
33, 4.11.2.2 table 14, 7.1.3 tables 174-177, 4.16.2.1 table 53). The
initiator (:mod:`devemu.testing.osd`) must build exactly these bytes, and
the target's declarations (:mod:`devemu.osd`) must parse them into the
fields and build them back.
"""

from __future__ import annotations

import pytest

from devemu.osd import attributes as target_attrs
from devemu.osd.cdb import (
    Capability,
    CdbFormat,
    OsdCdb,
    attribute_parameters,
    decode_offset,
)
from devemu.osd.sense import object_identification
from devemu.testing import osd as client


def cdb_hex(head: str, params: str, cap: str) -> bytes:
    """A CDB from its first 52 bytes, bytes 52-79 and the capability (the rest zero)."""
    out = bytes.fromhex(head) + bytes.fromhex(params) + bytes.fromhex(cap) + bytes(52)
    assert len(out) == 236
    return out


def nosec_cap(object_type: int, descriptor: int, pid: int, oid: int) -> str:
    return (
        "02000000"
        + "00" * 44
        + f"{object_type:02x}"
        + "ffffffffff"
        + "00"
        + f"{descriptor:02x}"
        + "00" * 16
        + f"{pid:016x}{oid:016x}"
        + "00" * 16
    )


NO_ATTRS = "0000000000000000ffffffff000000000000000000000000ffffffff"
ROOT_CAP = nosec_cap(0x01, 0x20, 0, 0)
PART_CAP = nosec_cap(0x02, 0x20, 0x10000, 0)
OBJ_CAP = nosec_cap(0x80, 0x10, 0x10000, 0x10001)

CDBS = [
    pytest.param(
        client.build_cdb(client.FORMAT_OSD, length=1 << 30),
        cdb_hex(
            "7f000000000000e4"
            "8881"
            "00"
            "20"
            "00000000"
            "0000000000000000"
            "0000000000000000"
            "0000000040000000"
            "0000000000000000"
            "00000000",
            NO_ATTRS,
            ROOT_CAP,
        ),
        {"service_action": 0x8881, "partition_id": 0, "length": 1 << 30},
        id="FORMAT OSD",
    ),
    pytest.param(
        client.build_cdb(
            client.CREATE_PARTITION,
            partition_id=0x10000,
            attrs=client.Attrs.get_page(client.CURRENT_COMMAND, 72),
        ),
        cdb_hex(
            "7f000000000000e4"
            "888b"
            "00"
            "20"
            "00000000"
            "0000000000010000"
            "0000000000000000"
            "0000000000000000"
            "0000000000000000"
            "00000000",
            "fffffffe00000048b0000000000000000000000000000000ffffffff",
            PART_CAP,
        ),
        {"service_action": 0x888B, "partition_id": 0x10000},
        id="CREATE PARTITION, current command page to data-in at 0",
    ),
    pytest.param(
        client.build_cdb(client.CREATE, partition_id=0x10000, length=3 << 48),
        cdb_hex(
            "7f000000000000e4"
            "8882"
            "00"
            "20"
            "00000000"
            "0000000000010000"
            "0000000000000000"
            "0003000000000000"
            "0000000000000000"
            "00000000",
            NO_ATTRS,
            PART_CAP,
        ),
        {"service_action": 0x8882, "length": 3 << 48},
        id="CREATE three user objects",
    ),
    pytest.param(
        client.build_cdb(
            client.WRITE,
            partition_id=0x10000,
            object_id=0x10001,
            length=0x200,
            starting_address=0x1000,
            options=client.FUA,
        ),
        cdb_hex(
            "7f000000000000e4"
            "8886"
            "08"
            "20"
            "00000000"
            "0000000000010000"
            "0000000000010001"
            "0000000000000200"
            "0000000000001000"
            "00000000",
            NO_ATTRS,
            OBJ_CAP,
        ),
        {
            "service_action": 0x8886,
            "object_id": 0x10001,
            "length": 0x200,
            "starting_address": 0x1000,
        },
        id="WRITE with FUA",
    ),
    pytest.param(
        client.build_cdb(client.READ, partition_id=0x10000, object_id=0x10001, length=13),
        cdb_hex(
            "7f000000000000e4"
            "8885"
            "00"
            "20"
            "00000000"
            "0000000000010000"
            "0000000000010001"
            "000000000000000d"
            "0000000000000000"
            "00000000",
            NO_ATTRS,
            OBJ_CAP,
        ),
        {"service_action": 0x8885, "length": 13},
        id="READ",
    ),
    pytest.param(
        client.build_cdb(
            client.GET_ATTRIBUTES,
            partition_id=0x10000,
            object_id=0x10001,
            attrs=client.Attrs.get_page(client.USER_INFORMATION, 0x1000, 0x100),
        ),
        cdb_hex(
            "7f000000000000e4"
            "888e"
            "00"
            "20"
            "00000000"
            "0000000000010000"
            "0000000000010001"
            "0000000000000000"
            "0000000000000000"
            "00000000",
            # offset 100h: exponent 0 (shift 8), mantissa 1
            "0000000100001000b0000020000000000000000000000000ffffffff",
            OBJ_CAP,
        ),
        {"service_action": 0x888E},
        id="GET ATTRIBUTES, user information page",
    ),
    pytest.param(
        client.build_cdb(
            client.SET_ATTRIBUTES,
            partition_id=0x10000,
            object_id=0x10001,
            attrs=client.Attrs.set_one(0x10000, 7, b"abc"),
        ),
        cdb_hex(
            "7f000000000000e4"
            "888f"
            "00"
            "10"
            "00000000"
            "0000000000010000"
            "0000000000010001"
            "0000000000000000"
            "0000000000000000"
            "00000000",
            "00010000000000070003616263" + "00" * 15,
            OBJ_CAP,
        ),
        {"service_action": 0x888F},
        id="SET ATTRIBUTES, one attribute in the CDB",
    ),
    pytest.param(
        client.build_cdb(
            client.SET_ATTRIBUTES,
            partition_id=0x10000,
            object_id=0x10001,
            attrs=client.Attrs.set_list(40, 0),
        ),
        cdb_hex(
            "7f000000000000e4"
            "888f"
            "00"
            "30"
            "00000000"
            "0000000000010000"
            "0000000000010001"
            "0000000000000000"
            "0000000000000000"
            "00000000",
            "00000000ffffffff00000000ffffffff00000028b000000000000000",
            OBJ_CAP,
        ),
        {"service_action": 0x888F},
        id="SET ATTRIBUTES, list in data-out at 0",
    ),
    pytest.param(
        client.build_cdb(client.LIST, partition_id=0x10000, length=0x100, starting_address=0x10005),
        cdb_hex(
            "7f000000000000e4"
            "8883"
            "00"
            "20"
            "00000000"
            "0000000000010000"
            "0000000000000000"
            "0000000000000100"
            "0000000000010005"
            "00000000",
            NO_ATTRS,
            PART_CAP,
        ),
        {"service_action": 0x8883, "starting_address": 0x10005},
        id="LIST from an initial object id",
    ),
    pytest.param(
        client.build_cdb(
            client.REMOVE_COLLECTION, partition_id=0x10000, object_id=0x10001, command_specific=1
        ),
        cdb_hex(
            "7f000000000000e4"
            "8896"
            "00"
            "21"
            "00000000"
            "0000000000010000"
            "0000000000010001"
            "0000000000000000"
            "0000000000000000"
            "00000000",
            NO_ATTRS,
            OBJ_CAP,
        ),
        {"service_action": 0x8896},
        id="REMOVE COLLECTION with FCR",
    ),
]


@pytest.mark.parametrize(("built", "golden", "fields"), CDBS)
def test_cdb_both_ways(built: bytes, golden: bytes, fields: dict[str, int]) -> None:
    assert built.hex() == golden.hex()
    parsed = OsdCdb.parse(golden)
    assert parsed.opcode == 0x7F and parsed.additional_cdb_length == 0xE4
    for name, value in fields.items():
        assert parsed[name] == value, name
    assert OsdCdb.build(parsed) == golden


def golden_cdb(case: int) -> bytes:
    """The golden CDB bytes of case ``case`` of :data:`CDBS`."""
    cdb = CDBS[case].values[1]
    assert isinstance(cdb, bytes)
    return cdb


def test_page_format_parameters_parse() -> None:
    golden = golden_cdb(5)
    p = attribute_parameters(golden, golden[11] >> 4 & 3)
    assert (p.fmt, p.get_page, p.allocation_length, p.retrieved_offset) == (
        CdbFormat.PAGE,
        0x00000001,
        0x1000,
        0x100,
    )
    assert p.set_page == 0 and p.set_offset is None
    one = golden_cdb(6)
    p = attribute_parameters(one, one[11] >> 4 & 3)
    assert (p.set_page, p.set_number, p.set_value) == (0x10000, 7, b"abc")
    lst = golden_cdb(7)
    p = attribute_parameters(lst, lst[11] >> 4 & 3)
    assert (p.set_list_length, p.set_list_offset, p.get_list_length) == (40, 0, 0)


@pytest.mark.parametrize(
    ("offset", "encoded"),
    [
        (0, 0xB0000000),  # exponent -5, mantissa 0
        (8, 0xB0000001),  # eight-byte granules
        (0x100, 0xB0000020),
        (0x1000, 0xB0000200),
        (0x7FFFFFF8, 0xBFFFFFFF),
        (0x80000000, 0xC8000000),  # too big for exponent -5: -4
    ],
)
def test_offsets_both_ways(offset: int, encoded: int) -> None:
    """OSD-2 5.2.6: byte offset = mantissa x 2^(exponent + 8), exponent signed 4 bits.

    The initiator picks the smallest exponent; the target reads any.
    """
    assert client.encode_offset(offset) == encoded
    assert decode_offset(encoded) == offset


@pytest.mark.parametrize(
    ("encoded", "offset"),
    [(0x00000001, 0x100), (0x10000001, 0x200), (0x80000001, 0x1), (0xFFFFFFFF, None)],
)
def test_offsets_any_exponent(encoded: int, offset: int | None) -> None:
    assert decode_offset(encoded) == offset


def test_capability_golden() -> None:
    golden = bytes.fromhex(OBJ_CAP)
    assert client.nosec_capability(0x80, 0x10000, 0x10001) == golden
    cap = Capability.parse(golden)
    assert cap.format.capability_format == 2
    assert cap.security_method.method == 0
    assert cap.object_type == 0x80
    assert cap.descriptor_type.type == 1
    assert (cap.allowed_partition_id, cap.allowed_object_id) == (0x10000, 0x10001)
    assert Capability.build(cap) == golden


SET_LIST = bytes.fromhex(
    "09000000"
    "00000030"
    "00010000"
    "00000001"
    "000000000000"
    "0003"
    "616263"
    "0000000000"
    "00000001"
    "00000009"
    "000000000000"
    "0004"
    "6e616d65"
    "00000000"
)


def test_set_list_both_ways() -> None:
    entries = [(0x10000, 1, b"abc"), (0x1, 9, b"name")]
    assert client.set_list(entries) == SET_LIST
    decoded = target_attrs.decode_value_list(SET_LIST)
    assert [(a.page, a.number, a.value) for a in decoded] == entries


def test_retrieved_list_both_ways() -> None:
    golden = bytes.fromhex(
        "09000000"
        "00000028"
        "00000001"
        "00000082"
        "000000000000"
        "0008"
        "0000000000000010"
        "00010000"
        "00000005"
        "000000000000"
        "ffff"
    )
    built = target_attrs.encode_value_list(
        [
            target_attrs.Attribute(1, 0x82, (16).to_bytes(8, "big")),
            target_attrs.Attribute(0x10000, 5, None),
        ]
    )
    assert built == golden
    assert client.parse_retrieved_list(golden) == {
        (1, 0x82): (16).to_bytes(8, "big"),
        (0x10000, 5): None,
    }


def test_get_list_golden() -> None:
    golden = bytes.fromhex("0100000000000010000000010000008290000001ffffffff")
    assert target_attrs.encode_get_list([(1, 0x82), (0x90000001, 0xFFFFFFFF)]) == golden
    assert target_attrs.decode_get_list(golden) == [(1, 0x82), (0x90000001, 0xFFFFFFFF)]


def test_object_identification_descriptor_both_ways() -> None:
    golden = bytes.fromhex("061e000000000000100010108000000000000000000100000000000000010001")
    assert object_identification(0x10000, 0x10001, 0x10001010, 0x80000000) == golden
    sense = bytes.fromhex("72052400000000" + f"{len(golden):02x}") + golden
    parsed = client.parse_sense(sense)
    assert (parsed.key, parsed.asc, parsed.ascq) == (5, 0x24, 0)
    assert (parsed.partition_id, parsed.object_id) == (0x10000, 0x10001)
    assert (parsed.not_initiated, parsed.completed) == (0x10001010, 0x80000000)


def test_list_parameter_data_read_back() -> None:
    golden = bytes.fromhex(
        "00000000000000200000000000010003000000000000008400000000000100010000000000010002"
    )
    parsed = client.parse_id_list(golden)
    assert parsed.ids == [0x10001, 0x10002]
    assert parsed.continuation == 0x10003
    assert parsed.descriptor_format == client.LISTED_USER_OBJECTS and not parsed.changed
