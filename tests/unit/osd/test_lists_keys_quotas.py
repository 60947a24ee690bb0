"""Get lists, LIST_ATTR, SET KEY, capacity quotas and non-empty partitions, through the ring.

GET ATTRIBUTES with a get list and LIST with LIST_ATTR carry a list in
data-out and answer in data-in: bidirectional commands, which the ring
simulator lays out as the kernel does (data-out iovs, then the bidi
iovs). Each answer is read by the standalone initiator
(:mod:`devemu.testing.osd`), which shares no code with the target.
"""

from __future__ import annotations

import os
import time

import pytest

from devemu.osd.device import OsdDevice
from devemu.testing import osd as c
from devemu.testing.osd import OsdClient, OsdError

APP = 0x10000


def failure(call: object, *args: object, **kwargs: object) -> c.OsdSense:
    with pytest.raises(OsdError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.sense is not None
    return info.value.sense


def key(sense: c.OsdSense) -> tuple[int, int, int]:
    return (sense.key, sense.asc, sense.ascq)


# --- GET ATTRIBUTES with a get list (OSD-2 5.2.4.4, 7.1.3.2-3) -----------------------------


def test_get_list_retrieves_the_named_attributes_and_marks_the_undefined(
    formatted: OsdClient,
) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.write(pid, oid, b"x" * 300)
    formatted.set_attributes(pid, oid, [(APP, 1, b"one"), (APP, 2, b"two")])
    got = formatted.get_attributes_listed(
        pid, oid, [(c.USER_INFORMATION, c.LOGICAL_LENGTH), (APP, 2), (APP, 7)]
    )
    assert list(got) == [(c.USER_INFORMATION, c.LOGICAL_LENGTH), (APP, 2), (APP, 7)]
    assert got[(c.USER_INFORMATION, c.LOGICAL_LENGTH)] == (300).to_bytes(8, "big")
    assert got[(APP, 2)] == b"two"
    assert got[(APP, 7)] is None  # length FFFFh: not defined


def test_get_list_whole_page_and_every_page(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.set_attributes(pid, oid, [(APP, 1, b"one"), (APP, 2, b"two")])
    page = formatted.get_attributes_listed(pid, oid, [(APP, 0xFFFFFFFF)])
    assert page == {(APP, 1): b"one", (APP, 2): b"two"}
    everything = formatted.get_attributes_listed(pid, oid, [(0xFFFFFFFF, 0xFFFFFFFF)])
    assert everything[(APP, 1)] == b"one"
    assert everything[(c.USER_INFORMATION, 2)] == oid.to_bytes(8, "big")


def test_get_list_truncated_at_the_allocation_length(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.set_attributes(pid, oid, [(APP, 1, b"a" * 40)])
    payload = c.get_list([(APP, 1)])
    cdb = c.build_cdb(
        c.GET_ATTRIBUTES,
        partition_id=pid,
        object_id=oid,
        attrs=c.Attrs.lists(
            get_length=len(payload), get_offset=0, allocation=24, retrieved_offset=0
        ),
    )
    answer = formatted.run(cdb, payload, 64)
    assert len(answer.data) == 24  # header and the entry's head: what the allocation holds
    assert answer.data[:8] == bytes.fromhex("0900000000000038")  # the whole list's length


def test_malformed_get_list_points_into_the_parameter_list(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    payload = bytearray(c.get_list([(APP, 1)]))
    payload[0] = 0x09  # a set list where a get list belongs
    cdb = c.build_cdb(
        c.GET_ATTRIBUTES,
        partition_id=pid,
        object_id=oid,
        attrs=c.Attrs.lists(
            get_length=len(payload), get_offset=0, allocation=64, retrieved_offset=0
        ),
    )
    sense = failure(formatted.run, cdb, bytes(payload), 64)
    assert key(sense) == (0x5, 0x26, 0x00) and sense.field_pointer == 0


def test_write_that_retrieves_attributes_rides_one_bidirectional_command(
    formatted: OsdClient,
) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    data = b"payload!" * 64
    wanted = c.get_list([(c.USER_INFORMATION, c.LOGICAL_LENGTH)])
    cdb = c.build_cdb(
        c.WRITE,
        partition_id=pid,
        object_id=oid,
        length=len(data),
        attrs=c.Attrs.lists(
            get_length=len(wanted), get_offset=len(data), allocation=64, retrieved_offset=0
        ),
    )
    answer = formatted.run(cdb, data + wanted, 64)
    got = c.parse_retrieved_list(answer.data)
    assert got[(c.USER_INFORMATION, c.LOGICAL_LENGTH)] == len(data).to_bytes(8, "big")
    assert formatted.read(pid, oid, len(data)) == data


def test_one_direction_transport_still_refuses_a_get_list(formatted: OsdClient) -> None:
    """Over LIO's iSCSI fabric the get list arrives without data-in: byte 52 is at fault."""
    pid = formatted.create_partition()
    payload = c.get_list([(c.PARTITION_INFORMATION, 1)])
    cdb = c.build_cdb(
        c.GET_ATTRIBUTES,
        partition_id=pid,
        attrs=c.Attrs.lists(
            get_length=len(payload), get_offset=0, allocation=64, retrieved_offset=0
        ),
    )
    sense = failure(formatted.run, cdb, payload, 0)
    assert key(sense) == (0x5, 0x24, 0x00) and sense.field_pointer == 52


# --- LIST and LIST COLLECTION with LIST_ATTR (OSD-2 6.14.2) ---------------------------------


def test_list_attr_gives_each_object_its_attributes(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    first = formatted.create(pid)
    second = formatted.create(pid)
    formatted.write(pid, second, b"12345")
    formatted.set_attribute(pid, first, APP, 1, b"first")
    listed = formatted.list_attributes(pid, [(APP, 1), (c.USER_INFORMATION, c.LOGICAL_LENGTH)])
    assert listed.descriptor_format == 0x22
    assert list(listed.objects) == [first, second]
    assert listed.objects[first] == {
        (APP, 1): b"first",
        (c.USER_INFORMATION, c.LOGICAL_LENGTH): bytes(8),
    }
    assert listed.objects[second][(APP, 1)] is None
    assert listed.objects[second][(c.USER_INFORMATION, c.LOGICAL_LENGTH)] == (5).to_bytes(8, "big")
    assert listed.continuation == 0


def test_list_attr_continues_at_the_first_object_that_did_not_fit(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    ids = [formatted.create(pid) for _ in range(3)]
    # header 24 + per object 16 + one 16-byte entry of an undefined attribute: 32 each
    listed = formatted.list_attributes(pid, [(APP, 1)], allocation=24 + 2 * 32)
    assert list(listed.objects) == ids[:2]
    assert listed.continuation == ids[2]


def test_list_attr_of_partitions_and_collections(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    formatted.set_attribute(pid, 0, c.PARTITION_INFORMATION, 9, b"part")
    listed = formatted.list_attributes(0, [(c.PARTITION_INFORMATION, 9)])
    assert listed.descriptor_format == 0x02
    assert listed.objects == {pid: {(c.PARTITION_INFORMATION, 9): b"part"}}
    oid = formatted.create(pid)
    col = formatted.create_collection(pid)
    formatted.add_to_collection(pid, oid, col)
    members = formatted.list_attributes(pid, [(c.USER_INFORMATION, 2)], collection_id=col)
    assert members.descriptor_format == 0x22
    assert members.objects == {oid: {(c.USER_INFORMATION, 2): oid.to_bytes(8, "big")}}


def test_list_attr_needs_a_get_list(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    cdb = c.build_cdb(c.LIST, partition_id=pid, length=256, list_attr=True)
    sense = failure(formatted.run, cdb, None, 256)
    assert key(sense) == (0x5, 0x24, 0x00) and sense.field_pointer == 11


def test_list_attr_on_another_command_is_refused(formatted: OsdClient) -> None:
    cdb = c.build_cdb(c.FLUSH_OSD, list_attr=True)
    sense = failure(formatted.run, cdb)
    assert key(sense) == (0x5, 0x24, 0x00) and sense.field_pointer == 11


# --- the current command page (OSD-2 7.1.2.24) ----------------------------------------------


def test_current_command_page_reports_the_change_in_used_capacity(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    data = b"z" * 8192
    cdb = c.build_cdb(
        c.WRITE,
        partition_id=pid,
        object_id=oid,
        length=len(data),
        attrs=c.Attrs.lists(
            get_length=16, get_offset=len(data), allocation=256, retrieved_offset=0
        ),
    )
    wanted = c.get_list([(c.CURRENT_COMMAND, 6)])
    got = c.parse_retrieved_list(formatted.run(cdb, data + wanted, 256).data)
    change = int.from_bytes(got[(c.CURRENT_COMMAND, 6)] or b"", "big", signed=True)
    assert change >= 8192
    page = c.parse_current_command(
        formatted.get_page(pid, oid, c.CURRENT_COMMAND, c.CURRENT_COMMAND_ROOM)
    )
    assert (page.object_type, page.partition_id, page.object_id) == (0x80, pid, oid)
    assert page.used_change == 0  # GET ATTRIBUTES writes nothing


# --- capacity quota (OSD-2 4.9, 7.1.2.13) ---------------------------------------------------


def test_partition_capacity_quota_stops_writes_past_it(
    formatted: OsdClient, device: OsdDevice
) -> None:
    pid = formatted.create_partition()
    a = formatted.create(pid)
    b = formatted.create(pid)
    formatted.set_attribute(pid, 0, c.PARTITION_QUOTAS, c.CAPACITY_QUOTA, (1000).to_bytes(8, "big"))
    formatted.write(pid, a, b"a" * 600)
    formatted.write(pid, b, b"b" * 400)  # exactly at the quota
    formatted.write(pid, a, b"A" * 600)  # rewriting in place grows nothing
    sense = failure(formatted.write, pid, b, b"!", offset=400)
    assert key(sense) == (0x7, 0x55, 0x07)
    assert (sense.partition_id, sense.object_id) == (pid, b)
    assert formatted.read(pid, b, 500) == b"b" * 400  # nothing of the refused write landed
    sense = failure(formatted.append, pid, a, b"more")
    assert key(sense) == (0x7, 0x55, 0x07)
    sense = failure(formatted.create_and_write, pid, 0x20000, b"new")
    assert key(sense) == (0x7, 0x55, 0x07)
    logical = (c.USER_INFORMATION, c.LOGICAL_LENGTH)
    grow = c.set_list([(logical[0], logical[1], (2000).to_bytes(8, "big"))])
    cdb = c.build_cdb(
        c.SET_ATTRIBUTES,
        partition_id=pid,
        object_id=a,
        attrs=c.Attrs.set_list(len(grow), 0),
    )
    sense = failure(formatted.run, cdb, grow)
    assert key(sense) == (0x7, 0x55, 0x07)
    formatted.punch(pid, a, 0, 600)  # a hole keeps the logical length: still full
    assert key(failure(formatted.write, pid, b, b"!", offset=400)) == (0x7, 0x55, 0x07)
    formatted.remove(pid, a)  # room again
    formatted.write(pid, b, b"!", offset=400)
    quotas = formatted.get_page(pid, 0, c.PARTITION_QUOTAS, 64)
    assert quotas[:8] == bytes.fromhex("300000020000001c")
    assert quotas[16:24] == (1000).to_bytes(8, "big")


# --- REMOVE PARTITION (OSD-2 6.20) ----------------------------------------------------------


def test_remove_partition_refused_while_it_holds_objects(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    sense = failure(formatted.remove_partition, pid)
    assert key(sense) == (0x5, 0x2C, 0x0A)
    assert (sense.partition_id, sense.object_id) == (pid, 0)
    assert sense.completed & 0x80000000 and not sense.completed & 0x10000000
    assert formatted.list().ids == [pid]
    col = formatted.create_collection(pid)
    formatted.remove(pid, oid)
    assert key(failure(formatted.remove_partition, pid)) == (0x5, 0x2C, 0x0A)  # a collection
    formatted.remove_collection(pid, col)
    formatted.remove_partition(pid)
    assert formatted.list().ids == []


# --- SET KEY (OSD-2 6.26) and the policy/security pages (7.1.2.20-21) ------------------------


def test_set_key_records_the_key_identifiers(formatted: OsdClient, device: OsdDevice) -> None:
    pid = formatted.create_partition()
    formatted.set_key(c.KEY_ROOT, 0, b"rootkey", bytes(range(20)))
    formatted.set_key(c.KEY_PARTITION, pid, b"partkey", bytes(20))
    formatted.set_key(c.KEY_WORKING, pid, b"work-03", b"s" * 20, version=3)
    root = formatted.get_attributes(0, 0, c.ROOT_SECURITY)
    assert root[(c.ROOT_SECURITY, c.ROOT_KEY_IDENTIFIER)] == b"rootkey"
    part = formatted.get_attributes(pid, 0, c.PARTITION_SECURITY)
    assert part[(c.PARTITION_SECURITY, c.PARTITION_KEY_IDENTIFIER)] == b"partkey"
    assert part[(c.PARTITION_SECURITY, c.WORKING_KEY_IDENTIFIER + 3)] == b"work-03"
    assert device.store.key(pid, 1 + 3) == (b"work-03", b"s" * 20)
    assert device.store.key(0, 0) == (b"rootkey", bytes(range(20)))
    # the seeds are kept where no attribute shows them
    everything = formatted.get_attributes(pid, 0, 0xFFFFFFFF)
    assert all(v is None or b"s" * 20 not in v for v in everything.values())


@pytest.mark.parametrize(
    ("which", "pid_kind", "version", "pointer"),
    [
        (0, "root", 0, 11),  # KEY TO SET 00b is reserved
        (c.KEY_ROOT, "partition", 0, 16),  # the root key names partition 0
        (c.KEY_PARTITION, "root", 0, 16),  # a partition key names a partition
        (c.KEY_PARTITION, "missing", 0, 16),
        (c.KEY_PARTITION, "partition", 1, 24),  # only working keys have versions
        (c.KEY_WORKING, "partition", 0x10, 24),  # sixteen working keys
    ],
)
def test_set_key_fields_checked(
    formatted: OsdClient, which: int, pid_kind: str, version: int, pointer: int
) -> None:
    pid = formatted.create_partition()
    target = {"root": 0, "partition": pid, "missing": 0x77777}[pid_kind]
    sense = failure(formatted.set_key, which, target, b"keyname", bytes(20), version=version)
    assert key(sense) == (0x5, 0x24, 0x00)
    assert sense.field_pointer == pointer


def test_keys_go_with_their_partition_and_with_format(
    formatted: OsdClient, device: OsdDevice
) -> None:
    pid = formatted.create_partition()
    formatted.set_key(c.KEY_PARTITION, pid, b"partkey", bytes(20))
    formatted.set_key(c.KEY_ROOT, 0, b"rootkey", bytes(20))
    formatted.remove_partition(pid)
    assert device.store.key(pid, 0) is None
    formatted.format(1 << 20)
    assert device.store.key(0, 0) is None


# --- TIMESTAMP BYPASS (OSD-2 7.1.2.15-16) ---------------------------------------------------


def test_timestamp_bypass_of_the_partition_keeps_attribute_times(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.set_attribute(pid, oid, APP, 1, b"first")
    before = formatted.get_attributes_listed(pid, oid, [(c.USER_TIMESTAMPS, 3)])
    formatted.set_attribute(pid, 0, c.PARTITION_TIMESTAMPS, c.TIMESTAMP_BYPASS, b"\x01")
    page = formatted.get_page(pid, 0, c.PARTITION_TIMESTAMPS, 64)
    assert page[:8] == bytes.fromhex("300000030000001f") and page[-1] == 1
    time.sleep(0.01)
    formatted.set_attribute(pid, oid, APP, 1, b"second")
    after = formatted.get_attributes_listed(pid, oid, [(c.USER_TIMESTAMPS, 3)])
    assert after == before


# --- FLUSH SCOPE (OSD-2 6.10-6.13) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "length", "start", "pointer"),
    [
        (3, 0, 0, 11),  # reserved scope
        (0, 512, 0, 32),  # a range belongs to scope 2 only
        (1, 0, 512, 40),
        (2, 512, 512, None),  # the range flush
        (0, 0, 0, None),
        (1, 0, 0, None),
    ],
)
def test_flush_scope(
    formatted: OsdClient, scope: int, length: int, start: int, pointer: int | None
) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    cdb = c.build_cdb(
        c.FLUSH,
        partition_id=pid,
        object_id=oid,
        length=length,
        starting_address=start,
        command_specific=scope,
    )
    if pointer is None:
        formatted.run(cdb)
        return
    sense = failure(formatted.run, cdb)
    assert key(sense) == (0x5, 0x24, 0x00) and sense.field_pointer == pointer


@pytest.mark.parametrize("action", [c.FLUSH_OSD, c.FLUSH_PARTITION, c.FLUSH_COLLECTION])
def test_reserved_flush_scope_of_the_others(formatted: OsdClient, action: int) -> None:
    pid = formatted.create_partition()
    col = formatted.create_collection(pid)
    ids = {c.FLUSH_OSD: (0, 0), c.FLUSH_PARTITION: (pid, 0), c.FLUSH_COLLECTION: (pid, col)}
    p, o = ids[action]
    formatted.run(c.build_cdb(action, partition_id=p, object_id=o, command_specific=2))
    sense = failure(
        formatted.run, c.build_cdb(action, partition_id=p, object_id=o, command_specific=3)
    )
    assert key(sense) == (0x5, 0x24, 0x00) and sense.field_pointer == 11


def test_remove_scope_one_takes_the_partition_with_its_objects(
    formatted: OsdClient, device: OsdDevice
) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.write(pid, oid, b"data")  # its file is open in the store now
    formatted.create_collection(pid)
    formatted.run(c.build_cdb(c.REMOVE_PARTITION, partition_id=pid, command_specific=1))
    assert formatted.list().ids == []
    assert not device.store.partition_path(pid).exists()
    again = formatted.create_partition(pid)
    assert formatted.create(again, oid) == oid
    assert formatted.read(again, oid, 4) == b""  # a new object, not the old file


@pytest.mark.parametrize(("specific", "pointer"), [(2, 11), (8, 11)])
def test_reserved_remove_scope(formatted: OsdClient, specific: int, pointer: int) -> None:
    pid = formatted.create_partition()
    cdb = c.build_cdb(c.REMOVE_PARTITION, partition_id=pid, command_specific=specific)
    sense = failure(formatted.run, cdb)
    assert key(sense) == (0x5, 0x24, 0x00) and sense.field_pointer == pointer
    assert formatted.list().ids == [pid]


@pytest.mark.parametrize("isolation", [3, 6])
def test_reserved_isolation_methods(formatted: OsdClient, isolation: int) -> None:
    sense = failure(formatted.run, c.build_cdb(c.FLUSH_OSD, options=isolation))
    assert key(sense) == (0x5, 0x24, 0x00) and sense.field_pointer == 10
    formatted.run(c.build_cdb(c.FLUSH_OSD, options=isolation - 1))


# --- CREATE of several objects with a get list: the multi-object list (OSD-2 7.1.3.4) -------


def test_create_of_several_objects_answers_each_ones_attributes(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    got = formatted.create_listing(pid, 3, [(c.USER_INFORMATION, 2), (APP, 1)])
    assert list(got) == formatted.list(pid).ids
    for oid, attributes in got.items():
        assert attributes == {(c.USER_INFORMATION, 2): oid.to_bytes(8, "big"), (APP, 1): None}
    one = formatted.create_listing(pid, 1, [(c.USER_INFORMATION, 2)])
    assert list(one) == [-1]  # one object: a plain retrieved list (type 9h)


def test_punch_reports_the_capacity_it_gave_back(formatted: OsdClient) -> None:
    pid = formatted.create_partition()
    oid = formatted.create(pid)
    formatted.write(pid, oid, os.urandom(1 << 18))
    wanted = c.get_list([(c.CURRENT_COMMAND, 6)])
    cdb = c.build_cdb(
        c.PUNCH,
        partition_id=pid,
        object_id=oid,
        length=1 << 17,
        starting_address=1 << 16,
        attrs=c.Attrs.lists(
            get_length=len(wanted), get_offset=0, allocation=64, retrieved_offset=0
        ),
    )
    got = c.parse_retrieved_list(formatted.run(cdb, wanted, 64).data)
    change = int.from_bytes(got[(c.CURRENT_COMMAND, 6)] or b"", "big", signed=True)
    assert change <= -(1 << 16)  # the file system gave back at least half the hole
