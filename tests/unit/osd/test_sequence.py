"""The whole OSD-2 sequence through the TCMU ring simulator, with the standalone initiator."""

from __future__ import annotations

import os

import pytest

from devemu.osd.device import OsdDevice
from devemu.testing import osd as c
from devemu.testing.osd import OsdClient, OsdError
from devemu.testing.simulator import RingSimulator

USER_APP_PAGE = 0x10000


def failure(call: object, *args: object, **kwargs: object) -> c.OsdSense:
    with pytest.raises(OsdError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.sense is not None
    return info.value.sense


def test_inquiry_reports_an_osd_with_its_information_page(sim: RingSimulator) -> None:
    done = sim.execute(bytes([0x12, 0, 0, 0, 96, 0]), data_in_length=96)
    assert done.data[0] == 0x11
    descriptors = [int.from_bytes(done.data[i : i + 2], "big") for i in range(58, 74, 2)]
    assert 0x0360 in descriptors  # OSD-2
    pages = sim.execute(bytes([0x12, 1, 0, 0, 255, 0]), data_in_length=255).data
    assert 0xB0 in pages[4:]
    info = sim.execute(bytes([0x12, 1, 0xB0, 0, 255, 0]), data_in_length=255).data
    assert info[:4] == bytes([0x11, 0xB0, 0, 20])


def test_unformatted_osd_asks_for_format(osd: OsdClient) -> None:
    sense = failure(osd.create_partition)
    assert (sense.key, sense.asc, sense.ascq) == (0x2, 0x04, 0x02)
    # nothing was started: validation failed
    assert sense.completed == 0 and sense.not_initiated & 0x80000000


def test_objects_from_format_to_remove(formatted: OsdClient) -> None:
    osd = formatted
    pid = osd.create_partition()
    assert pid == 0x10000
    assert osd.list().ids == [pid]
    assert osd.list().descriptor_format == c.LISTED_PARTITIONS
    first = osd.create(pid)
    last = osd.create(pid, count=3)
    assert (first, last) == (0x10000, 0x10003)
    assert osd.list(pid).ids == [0x10000, 0x10001, 0x10002, 0x10003]
    assert osd.list(pid).descriptor_format == c.LISTED_USER_OBJECTS
    osd.write(pid, first, b"object storage ")
    osd.append(pid, first, b"devices")
    assert osd.read(pid, first, 22) == b"object storage devices"
    osd.write(pid, first, b"S", offset=7, fua=True)
    assert osd.read(pid, first, 22) == b"object Storage devices"
    info = osd.get_attributes(pid, first, c.USER_INFORMATION)
    assert info[(c.USER_INFORMATION, c.LOGICAL_LENGTH)] == (22).to_bytes(8, "big")
    assert info[(c.USER_INFORMATION, 1)] == pid.to_bytes(8, "big")
    assert info[(c.USER_INFORMATION, 2)] == first.to_bytes(8, "big")
    osd.remove(pid, 0x10002)
    assert osd.list(pid).ids == [0x10000, 0x10001, 0x10003]
    sense = failure(osd.remove_partition, pid)
    assert (sense.key, sense.asc, sense.ascq) == (0x5, 0x2C, 0x0A)
    for oid in (0x10000, 0x10001, 0x10003):
        osd.remove(pid, oid)
    osd.remove_partition(pid)
    assert osd.list().ids == []


def test_list_continues_where_the_allocation_ran_out(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    formatted.create(pid, count=5)
    page = formatted.list(pid, allocation=24 + 2 * 8)
    assert page.ids == [0x10000, 0x10001] and page.continuation == 0x10002
    rest = formatted.list(pid, start=page.continuation)
    assert rest.ids == [0x10002, 0x10003, 0x10004] and rest.continuation == 0


def test_read_past_the_end_is_a_recovered_error_with_the_bytes(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.write(pid, oid, b"12345")
    cdb = c.build_cdb(c.READ, partition_id=pid, object_id=oid, length=64)
    answer = formatted.transport.execute(cdb, None, 64)
    assert answer.status == c.CHECK_CONDITION
    assert answer.data == b"12345"
    sense = c.parse_sense(answer.sense)
    assert (sense.key, sense.asc, sense.ascq) == (0x1, 0x3B, 0x17)


def test_create_and_write_then_punch_and_clear(formatted: OsdClient, device: OsdDevice) -> None:
    pid = formatted.create_partition()
    data = os.urandom(256 * 1024)
    formatted.create_and_write(pid, 0x20000, data)
    assert formatted.read(pid, 0x20000, len(data)) == data
    path = device.store.object_path(pid, 0x20000)
    before = os.stat(path).st_blocks
    formatted.punch(pid, 0x20000, 64 * 1024, 128 * 1024)
    after = os.stat(path).st_blocks
    assert after < before  # the hole is real
    back = formatted.read(pid, 0x20000, len(data))
    assert back[: 64 * 1024] == data[: 64 * 1024]
    assert back[64 * 1024 : 192 * 1024] == bytes(128 * 1024)
    assert back[192 * 1024 :] == data[192 * 1024 :]
    formatted.clear(pid, 0x20000, 0, 10)
    assert formatted.read(pid, 0x20000, 12)[:10] == bytes(10)
    assert os.path.getsize(path) == len(data)
    formatted.flush(pid, 0x20000)
    formatted.flush_osd()


def test_attributes_by_list_by_page_and_in_the_cdb(formatted: OsdClient) -> None:
    osd = formatted
    pid = osd.create_partition()
    oid = osd.create(pid)
    osd.set_attributes(
        pid, oid, [(USER_APP_PAGE, 1, b"first"), (c.USER_INFORMATION, c.USERNAME, b"report.txt")]
    )
    osd.set_attribute(pid, oid, USER_APP_PAGE, 2, b"short")  # in the CDB
    osd.set_attribute(pid, oid, USER_APP_PAGE, 3, b"x" * 100)  # page format, from data-out
    got = osd.get_attributes(pid, oid, USER_APP_PAGE)
    assert got == {
        (USER_APP_PAGE, 1): b"first",
        (USER_APP_PAGE, 2): b"short",
        (USER_APP_PAGE, 3): b"x" * 100,
    }
    info = osd.get_attributes(pid, oid, c.USER_INFORMATION)
    assert info[(c.USER_INFORMATION, c.USERNAME)] == b"report.txt"
    # A zero-length value removes the attribute.
    osd.set_attributes(pid, oid, [(USER_APP_PAGE, 1, b"")])
    assert (USER_APP_PAGE, 1) not in osd.get_attributes(pid, oid, USER_APP_PAGE)
    # Setting the logical length truncates or extends the object.
    osd.write(pid, oid, b"0123456789")
    osd.set_attribute(pid, oid, c.USER_INFORMATION, c.LOGICAL_LENGTH, (4).to_bytes(8, "big"))
    assert osd.read(pid, oid, 4) == b"0123"
    everything = osd.get_attributes(pid, oid, c.ALL_PAGES)
    assert everything[(USER_APP_PAGE, 2)] == b"short"
    assert everything[(c.USER_INFORMATION, c.LOGICAL_LENGTH)] == (4).to_bytes(8, "big")


def test_fixed_layout_pages_in_the_page_format(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    quotas = formatted.get_page(pid, oid, c.USER_QUOTAS, 64)
    assert quotas == bytes.fromhex("0000000200000008ffffffffffffffff")
    times = formatted.get_page(pid, oid, c.USER_TIMESTAMPS, 64)
    assert times[:8] == bytes.fromhex("000000030000001e") and len(times) == 38
    root = formatted.get_attributes(0, 0, c.ROOT_INFORMATION)
    assert root[(c.ROOT_INFORMATION, c.NUMBER_OF_PARTITIONS)] == (1).to_bytes(8, "big")
    assert root[(c.ROOT_INFORMATION, c.TOTAL_CAPACITY)] == (1 << 30).to_bytes(8, "big")
    assert root[(c.ROOT_INFORMATION, 4)] == b"DEVEMU  "
    security = formatted.get_attributes(0, 0, c.ROOT_SECURITY)
    assert security[(c.ROOT_SECURITY, 1)] == b"\x00"  # NOSEC
    partition = formatted.get_attributes(pid, 0, c.PARTITION_INFORMATION)
    assert partition[(c.PARTITION_INFORMATION, c.NUMBER_OF_OBJECTS)] == (1).to_bytes(8, "big")


def test_quota_stops_a_write(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.set_attribute(pid, oid, c.USER_QUOTAS, 1, (8).to_bytes(8, "big"))
    formatted.write(pid, oid, b"12345678")
    sense = failure(formatted.write, pid, oid, b"9", offset=8)
    assert (sense.key, sense.asc, sense.ascq) == (0x7, 0x55, 0x07)


def test_read_only_attribute_is_refused_with_its_identification(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    sense = failure(formatted.set_attributes, pid, oid, [(c.USER_INFORMATION, 0x81, bytes(8))])
    assert (sense.key, sense.asc, sense.ascq) == (0x5, 0x26, 0x00)
    assert sense.attributes == ((c.USER_INFORMATION, 0x81),)
    assert (sense.partition_id, sense.object_id) == (pid, oid)
    # the command function ran, the set attributes part did not
    assert sense.completed & 0x10000000 and sense.not_initiated & 0x00001000


def test_collections(formatted: OsdClient) -> None:
    osd = formatted
    pid = osd.create_partition()
    a, b = osd.create(pid), osd.create(pid)
    col = osd.create_collection(pid)
    osd.add_to_collection(pid, a, col)
    osd.add_to_collection(pid, b, col, slot=1)
    members = osd.list_collection(pid, col)
    assert members.ids == [a, b] and members.descriptor_format == c.LISTED_USER_OBJECTS
    collections = osd.list_collection(pid, 0)
    assert collections.ids == [col] and collections.descriptor_format == c.LISTED_COLLECTIONS
    assert osd.list(pid).ids == [a, b]  # LIST names user objects only
    sense = failure(osd.add_to_collection, pid, a, 0x999999)
    assert (sense.key, sense.asc) == (0x5, 0x24)
    sense = failure(osd.remove_collection, pid, col)
    assert (sense.key, sense.asc, sense.ascq) == (0x5, 0x2C, 0x0A)
    osd.remove_collection(pid, col, force=True)
    assert osd.list_collection(pid, 0).ids == []
    assert (c.USER_COLLECTIONS, 1) not in osd.get_attributes(pid, a, c.USER_COLLECTIONS)


@pytest.mark.parametrize(
    ("pid", "oid", "pointer"),
    [(0x55555, 0x10000, 16), (0x10000, 0x55555, 24)],
)
def test_missing_objects_point_at_their_id(
    formatted: OsdClient, pid: int, oid: int, pointer: int
) -> None:
    formatted.create_partition()
    sense = failure(formatted.read, pid, oid, 10)
    assert (sense.key, sense.asc, sense.ascq) == (0x5, 0x24, 0x00)
    assert sense.field_pointer == pointer
    assert (sense.partition_id, sense.object_id) == (pid, oid)


def raw(formatted: OsdClient, cdb: bytes | bytearray) -> c.OsdSense:
    answer = formatted.transport.execute(bytes(cdb), None, 0)
    assert answer.status == c.CHECK_CONDITION
    return c.parse_sense(answer.sense)


@pytest.mark.parametrize(
    ("method", "byte", "bit"),
    [(1, 82, 3), (2, 82, 3), (3, 82, 3)],
    ids=["CAPKEY", "CMDRSP", "ALLDATA"],
)
def test_security_methods_but_nosec_are_refused(
    formatted: OsdClient, method: int, byte: int, bit: int
) -> None:
    cdb = bytearray(c.build_cdb(c.FLUSH_OSD))
    cdb[80 + 2] = method
    sense = raw(formatted, cdb)
    assert (sense.key, sense.asc, sense.ascq) == (0x5, 0x24, 0x00)
    assert sense.field_pointer == byte


@pytest.mark.parametrize(
    ("offset", "value", "pointer"),
    [
        (7, 0xC0, 7),  # ADDITIONAL CDB LENGTH of OSD-1
        (80, 0x07, 80),  # capability format
        (80 + 48, 0x33, 80 + 48),  # object type
        (80 + 55, 0x50, 80 + 55),  # object descriptor type
        (12, 0x05, 12),  # timestamps control
        (11, 0x00, 11),  # GET/SET CDBFMT 00b is reserved
        (13, 0x01, 13),  # reserved byte
        (11, 0x60, 11),  # LIST_ATTR on FLUSH OSD
        (16, 0x01, 16),  # FLUSH OSD names no partition
    ],
)
def test_cdb_fields_checked_for_format(
    formatted: OsdClient, offset: int, value: int, pointer: int
) -> None:
    cdb = bytearray(c.build_cdb(c.FLUSH_OSD))
    cdb[offset] = value
    sense = raw(formatted, cdb)
    assert (sense.key, sense.asc, sense.ascq) == (0x5, 0x24, 0x00)
    assert sense.field_pointer == pointer


def test_a_write_asking_for_attributes_back_is_refused(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    cdb = c.build_cdb(
        c.WRITE,
        partition_id=pid,
        object_id=oid,
        length=4,
        attrs=c.Attrs.get_page(c.USER_INFORMATION, 256, 8),
    )
    answer = formatted.transport.execute(cdb, b"abcd", 0)
    sense = c.parse_sense(answer.sense)
    assert (sense.key, sense.asc, sense.field_pointer) == (0x5, 0x24, 52)


def test_unknown_service_action(formatted: OsdClient) -> None:
    cdb = bytearray(c.build_cdb(c.FLUSH_OSD))
    cdb[8:10] = (0x8FFF).to_bytes(2, "big")
    sense = raw(formatted, cdb)
    assert (sense.key, sense.asc) == (0x5, 0x24)
    assert sense.field_pointer == 8


def test_create_sets_attributes_on_every_object_it_makes(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    cdb = c.build_cdb(
        c.CREATE,
        partition_id=pid,
        length=3 << 48,
        attrs=c.Attrs.set_one(USER_APP_PAGE, 1, b"batch"),
    )
    formatted.run(cdb)
    for oid in formatted.list(pid).ids:
        assert formatted.get_attributes(pid, oid, USER_APP_PAGE) == {(USER_APP_PAGE, 1): b"batch"}


def test_partition_object_count_quota(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    formatted.set_attribute(pid, 0, 0x30000002, 0x10002, (2).to_bytes(8, "big"))
    formatted.create(pid, count=2)
    sense = failure(formatted.create, pid)
    assert (sense.key, sense.asc, sense.ascq) == (0x7, 0x55, 0x07)


def test_create_and_write_refuses_an_id_in_use(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    sense = failure(formatted.create_and_write, pid, oid, b"again")
    assert (sense.key, sense.asc, sense.field_pointer) == (0x5, 0x24, 24)
