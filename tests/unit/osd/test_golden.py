"""Golden bytes of OSD-2 CDBs, capabilities, attribute lists, pages and sense, both ways.

Each golden value is written byte by byte from one table of OSD-2
(INCITS 458-2011), named next to it by clause and caption (clause
numbers as the code uses them, those of draft osd2r03: in osd2r05 the
attribute pages moved to 7.1.3 and the attribute lists to 7.1.4). Both
directions are checked: the initiator (:mod:`devemu.testing.osd`, which
imports nothing of the target) must build exactly these bytes, and the
target (:mod:`devemu.osd`) must parse them into the fields and build
them back, or build the bytes the initiator then parses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devemu.osd import attributes as target_attrs
from devemu.osd.cdb import (
    Capability,
    CdbFormat,
    ObjectType,
    OsdCdb,
    attribute_parameters,
    decode_offset,
)
from devemu.osd.sense import attribute_identification, object_identification
from devemu.osd.standard_pages import Attributes, CurrentCommand
from devemu.osd.store import ObjectStore
from devemu.scsi.identity import Identity
from devemu.scsi.sense import SenseError, cdb_field
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
        id="5.2.1 CDB format, 6.9 FORMAT OSD: formatted capacity in LENGTH",
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
        id="6.7 CREATE PARTITION, 5.2.4.3 get-page parameters: current command page at 0",
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
        id="6.4 CREATE: NUMBER OF USER OBJECTS in bytes 32-33",
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
        id="6.31 WRITE, 5.2.3 options byte: FUA bit 3 of byte 10",
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
        id="6.17 READ: LENGTH and STARTING BYTE ADDRESS",
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
        id="6.11 GET ATTRIBUTES, 5.2.4.3 get-page parameters, 4.14.5 offset 100h",
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
        id="6.28 SET ATTRIBUTES, 5.2.4.2 set one attribute using CDB fields",
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
        id="6.28 SET ATTRIBUTES, 5.2.4.4 list parameters: set list at 0",
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
        id="6.14 LIST: ALLOCATION LENGTH and INITIAL OBJECT ID",
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
        id="6.21 REMOVE COLLECTION: FCR bit 0 of byte 11",
    ),
    pytest.param(
        client.build_cdb(
            client.GET_ATTRIBUTES,
            partition_id=0x10000,
            object_id=0x10001,
            attrs=client.Attrs.lists(
                get_length=24, get_offset=0, allocation=0x200, retrieved_offset=0
            ),
        ),
        cdb_hex(
            "7f000000000000e4"
            "888e"
            "00"
            "30"
            "00000000"
            "0000000000010000"
            "0000000000010001"
            "0000000000000000"
            "0000000000000000"
            "00000000",
            # get list 24 bytes at 0, allocation 200h, retrieved at 0, no set list
            "00000018b000000000000200b000000000000000ffffffff00000000",
            OBJ_CAP,
        ),
        {"service_action": 0x888E, "command_options.cdbfmt": 3},
        id="6.11 GET ATTRIBUTES, 5.2.4.4 list parameters: get list at 0, retrieved at 0",
    ),
    pytest.param(
        client.build_cdb(
            client.LIST,
            partition_id=0x10000,
            length=0x1000,
            list_attr=True,
            attrs=client.Attrs.lists(get_length=16, get_offset=0, allocation=0x1000),
        ),
        cdb_hex(
            "7f000000000000e4"
            "8883"
            "00"
            "70"  # LIST_ATTR (bit 6) and GET/SET CDBFMT 11b
            "00000000"
            "0000000000010000"
            "0000000000000000"
            "0000000000001000"
            "0000000000000000"
            "00000000",
            "00000010b000000000001000ffffffff00000000ffffffff00000000",
            PART_CAP,
        ),
        {"service_action": 0x8883, "command_options.list_attr": True},
        id="6.14 LIST with LIST_ATTR, 5.2.4.4 list parameters: get list at 0",
    ),
]


@pytest.mark.parametrize(("built", "golden", "fields"), CDBS)
def test_cdb_both_ways(built: bytes, golden: bytes, fields: dict[str, int]) -> None:
    assert built.hex() == golden.hex()
    parsed = OsdCdb.parse(golden)
    assert parsed.opcode == 0x7F and parsed.additional_cdb_length == 0xE4
    for name, value in fields.items():
        part, _, sub = name.partition(".")
        assert (parsed[part][sub] if sub else parsed[part]) == value, name
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
    [(0x00000001, 0x100), (0x10000001, 0x200), (0xF0000001, 0x80), (0xFFFFFFFF, None)],
)
def test_offsets_any_exponent(encoded: int, offset: int | None) -> None:
    assert decode_offset(encoded) == offset


@pytest.mark.parametrize("encoded", [0x80000001, 0x90000000, 0xA0000010])
def test_reserved_offset_exponents_refused(encoded: int) -> None:
    """OSD-2 4.15.5: exponents 8h-Ah (-8 to -6) are reserved; FFFFFFFFh alone is special."""
    with pytest.raises(SenseError) as info:
        decode_offset(encoded, 60)
    assert info.value.field == cdb_field(60, 7)


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


def test_attribute_identification_descriptor_both_ways() -> None:
    """OSD-2 4.16.2.3, the attribute identification sense data descriptor (type 08h)."""
    golden = bytes.fromhex("080e0000000000000001000000000007")
    assert attribute_identification([(0x10000, 7)]) == golden
    sense = bytes.fromhex("72052600000000" + f"{len(golden):02x}") + golden
    assert client.parse_sense(sense).attributes == ((0x10000, 7),)


def test_get_list_built_by_the_initiator() -> None:
    """OSD-2 7.1.3.2, list entry format for retrieving attributes (list type 1h)."""
    golden = bytes.fromhex("0100000000000010000000010000008290000001ffffffff")
    assert client.get_list([(1, 0x82), (0x90000001, 0xFFFFFFFF)]) == golden


@pytest.fixture
def pages(tmp_path: Path) -> Attributes:
    store = ObjectStore(tmp_path / "store")
    store.format(1 << 20)
    return Attributes(store, Identity("DEVEMU", "OBJECT STORE", "0100", "OSD00001"), bytes(20))


def test_current_command_page_both_ways(pages: Attributes) -> None:
    """OSD-2 7.1.2.24, the current command attributes page in the page format.

    Header (page FFFFFFFEh, length 44h), RESPONSE INTEGRITY CHECK VALUE
    (32), OBJECT TYPE, three reserved, PARTITION_ID, USER_OBJECT_ID,
    STARTING BYTE ADDRESS OF APPEND, CHANGE IN USED CAPACITY (8 each).
    """
    pages.current = CurrentCommand(
        ObjectType.USER, 0x10000, 0x10001, append_start=0x2000, used_change=-4096
    )
    golden = bytes.fromhex(
        "fffffffe00000044"
        + "00" * 32
        + "80000000"
        + "0000000000010000"
        + "0000000000010001"
        + "0000000000002000"
        + "fffffffffffff000"
    )
    built = pages.page_format(0, 0, ObjectType.ROOT, 0xFFFFFFFE)
    assert built == golden
    page = client.parse_current_command(golden)
    assert (page.object_type, page.partition_id, page.object_id) == (0x80, 0x10000, 0x10001)
    assert (page.append_start, page.used_change) == (0x2000, -4096)


@pytest.mark.parametrize(
    ("kind", "page", "header", "tail"),
    [
        # 7.1.2.15 root timestamps: ATTRIBUTES ACCESSED, MODIFIED, TIMESTAMP BYPASS
        (ObjectType.ROOT, 0x90000003, "900000030000000d", 1),
        # 7.1.2.16 partition timestamps: five times, TIMESTAMP BYPASS
        (ObjectType.PARTITION, 0x30000003, "300000030000001f", 1),
        # 7.1.2.12 root quotas: 8, 8, 8, 4, 8
        (ObjectType.ROOT, 0x90000002, "9000000200000024", 0),
        # 7.1.2.13 partition quotas: 8, 8, 8, 4
        (ObjectType.PARTITION, 0x30000002, "300000020000001c", 0),
    ],
)
def test_fixed_page_layouts(
    pages: Attributes, kind: ObjectType, page: int, header: str, tail: int
) -> None:
    pid = pages.store.create_partition(0x10000) if kind is ObjectType.PARTITION else 0
    built = pages.page_format(pid, 0, kind, page)
    assert built is not None
    assert built[:8] == bytes.fromhex(header)
    assert len(built) == 8 + int(header[8:], 16)
    if tail:
        assert built[-1] == 0  # TIMESTAMP BYPASS: timestamps kept
    elif kind is ObjectType.ROOT:
        assert built[8:] == bytes.fromhex("ff" * 24 + "ffffffff" + "ff" * 8)  # no quota set


def test_page_identification_names_the_page(pages: Attributes) -> None:
    """OSD-2 7.1.2.2: attribute 0 is vendor INCITS and the page's name, 40 bytes."""
    value = pages.get(0, 0, ObjectType.ROOT, 0x90000001, 0)
    assert value == b"INCITS  " + b"T10 Root Information".ljust(32, b"\0")
    pid = pages.store.create_partition(0x10000)
    (oid,) = pages.store.create_objects(pid, 0, 1, ObjectType.USER)
    value = pages.get(pid, oid, ObjectType.USER, 0x1, 0)
    assert value == b"INCITS  " + b"T10 User Object Information".ljust(32, b"\0")


def test_attributed_list_parameter_data_read_back() -> None:
    """OSD-2 6.14.2, LIST parameter data with LIST_ATTR (object descriptor format 22h).

    Each id: USER_OBJECT_ID (8), four reserved bytes, ATTRIBUTES LIST
    LENGTH (4), then retrieved list entries (7.1.3.3) of that length.
    """
    golden = bytes.fromhex(
        "0000000000000058"  # additional length: 16 + 72
        "0000000000000000"
        "00000000"
        "00000088"  # format 22h << 2
        "0000000000010001"
        "00000000"
        "00000018"
        "00010000000000010000000000000003"
        "6f6e650000000000"
        "0000000000010002"
        "00000000"
        "00000010"
        "0001000000000001000000000000ffff"
    )
    parsed = client.parse_attributed_list(golden)
    assert parsed.descriptor_format == 0x22
    assert parsed.objects == {0x10001: {(0x10000, 1): b"one"}, 0x10002: {(0x10000, 1): None}}


def test_multi_object_list_both_ways() -> None:
    """OSD-2 7.1.3.4 (osd2r03), multi-object retrieved attributes, list type 0Eh."""
    golden = bytes.fromhex(
        "0e000000"
        "00000048"  # 16 + 24 and 16 + 16
        "0000000000010001"
        "80"
        "0000000000"
        "0018"
        "00000001000000020000000000000008"
        "0000000000010001"
        "0000000000010002"
        "80"
        "0000000000"
        "0010"
        "0001000000000001000000000000ffff"
    )
    built = target_attrs.encode_multi_object_list(
        [
            (0x10001, 0x80, [target_attrs.Attribute(1, 2, (0x10001).to_bytes(8, "big"))]),
            (0x10002, 0x80, [target_attrs.Attribute(0x10000, 1, None)]),
        ]
    )
    assert built == golden
    assert client.parse_multi_object_list(golden) == {
        0x10001: {(1, 2): (0x10001).to_bytes(8, "big")},
        0x10002: {(0x10000, 1): None},
    }
