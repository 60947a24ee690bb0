"""Guest-side OSD-2 sequences for tests/vm/test_osd_iscsi_vm.py (run by the guest's Python).

``sequence``: everything the issue lists, through one iSCSI session, each
result printed as ``KEY value``; then a partition capacity quota, REMOVE
PARTITION of a partition in use, SET KEY, a WRITE with a scatter/gather
list in its CDB continuation segment, and a get list (bidirectional, so
refused over LIO's iSCSI fabric). ``stream SECONDS``: WRITEs of 64 KiB at
increasing offsets, each acknowledged offset appended to a log (flushed
and fsynced before the next write), until the time is up or a command
fails. ``verify``: after a restart, every acknowledged byte is read back
and compared.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

from devemu.testing import osd as c
from devemu.testing.iscsi_initiator import IscsiTransport
from devemu.testing.osd import OsdClient, OsdError

TARGET = "iqn.2026-12.org.devemu.test:osd"
INITIATOR = "iqn.2026-12.org.devemu.test:osd-client"
CHUNK = 64 * 1024
STREAM_PID = 0x20000
STREAM_OID = 0x30000
ACK_LOG = "/tmp/acked"


def connect() -> OsdClient:
    return OsdClient(IscsiTransport("127.0.0.1", 3260, TARGET, INITIATOR))


def chunk(i: int) -> bytes:
    seed = hashlib.sha256(i.to_bytes(8, "big")).digest()
    return (seed * (CHUNK // len(seed) + 1))[:CHUNK]


def sequence() -> None:
    osd = connect()
    osd.transport.execute(bytes(6), None, 0)  # take the unit attention of the login
    osd.format(256 << 20)
    pid = osd.create_partition()
    print("PARTITION", hex(pid))
    first = osd.create(pid)
    last = osd.create(pid, count=3)
    print("OBJECTS", hex(first), hex(last))
    data = os.urandom(300_000)
    osd.write(pid, first, data[:200_000])
    osd.append(pid, first, data[200_000:])
    print("READ_BACK", "equal" if osd.read(pid, first, len(data)) == data else "DIFFERENT")
    print("LIST", " ".join(hex(i) for i in osd.list(pid).ids))
    print("PARTITIONS", " ".join(hex(i) for i in osd.list().ids))
    osd.set_attributes(pid, first, [(0x10000, 1, b"from the guest"), (1, 9, b"blob.bin")])
    got = osd.get_attributes(pid, first, 0x10000)
    print("APP_ATTR", (got[(0x10000, 1)] or b"").decode())
    info = osd.get_attributes(pid, first, c.USER_INFORMATION)
    print("LOGICAL_LENGTH", int.from_bytes(info[(1, 0x82)] or b"", "big"))
    print("USERNAME", (info[(1, 9)] or b"").decode())
    used_before = int.from_bytes(info[(1, 0x81)] or b"", "big")
    osd.punch(pid, first, 65536, 131072)
    back = osd.read(pid, first, len(data))
    punched = back[65536:196608] == bytes(131072) and back[196608:] == data[196608:]
    info = osd.get_attributes(pid, first, c.USER_INFORMATION)
    used_after = int.from_bytes(info[(1, 0x81)] or b"", "big")
    print("PUNCH", "zeros" if punched else "WRONG", used_before - used_after)
    col = osd.create_collection(pid)
    osd.add_to_collection(pid, first, col)
    osd.add_to_collection(pid, last, col)
    print("COLLECTION", " ".join(hex(i) for i in osd.list_collection(pid, col).ids))
    try:
        osd.remove_collection(pid, col)
        print("REMOVE_FULL_COLLECTION accepted")
    except OsdError as err:
        s = err.sense
        assert s is not None
        print("REMOVE_FULL_COLLECTION", f"{s.key:x}/{s.asc:02x}/{s.ascq:02x}")
    osd.remove_collection(pid, col, force=True)
    print("COLLECTIONS_LEFT", len(osd.list_collection(pid, 0).ids))
    osd.remove(pid, last)
    print("AFTER_REMOVE", " ".join(hex(i) for i in osd.list(pid).ids))
    try:
        osd.read(pid, last, 10)
    except OsdError as err:
        s = err.sense
        assert s is not None
        print(
            "READ_REMOVED",
            f"{s.key:x}/{s.asc:02x}/{s.ascq:02x}",
            s.field_pointer,
            hex(s.object_id or 0),
        )
    bad = bytearray(c.build_cdb(c.FLUSH_OSD))
    bad[82] = 1  # CAPKEY
    answer = osd.transport.execute(bytes(bad), None, 0)
    s = c.parse_sense(answer.sense)
    print("CAPKEY", f"{s.key:x}/{s.asc:02x}/{s.ascq:02x}", s.field_pointer)
    extras(osd, pid, first)
    osd.create_partition(STREAM_PID)
    osd.create(STREAM_PID, STREAM_OID)
    osd.transport.close()  # type: ignore[attr-defined]
    print("SEQUENCE done")


def sense_of(call: object, *args: object, **kwargs: object) -> str:
    """``k/asc/ascq pointer`` of a command that must fail, or ``accepted``."""
    try:
        call(*args, **kwargs)  # type: ignore[operator]
    except OsdError as err:
        s = err.sense
        assert s is not None
        return f"{s.key:x}/{s.asc:02x}/{s.ascq:02x} {s.field_pointer}"
    return "accepted"


def extras(osd: OsdClient, pid: int, oid: int) -> None:
    """Quotas, a partition that is not empty, SET KEY, a scatter/gather WRITE, a get list."""
    quota_pid = osd.create_partition()
    quota_oid = osd.create(quota_pid)
    osd.set_attribute(quota_pid, 0, c.PARTITION_QUOTAS, c.CAPACITY_QUOTA, (4096).to_bytes(8, "big"))
    osd.write(quota_pid, quota_oid, bytes(4096))
    print("CAPACITY_QUOTA", sense_of(osd.write, quota_pid, quota_oid, b"x", 4096))
    print("REMOVE_FULL_PARTITION", sense_of(osd.remove_partition, quota_pid))
    osd.remove(quota_pid, quota_oid)
    osd.remove_partition(quota_pid)
    osd.set_key(c.KEY_ROOT, 0, b"vm-root", bytes(range(20)))
    got = osd.get_attributes(0, 0, c.ROOT_SECURITY)
    print("ROOT_KEY", (got.get((c.ROOT_SECURITY, c.ROOT_KEY_IDENTIFIER)) or b"").decode())
    osd.write_scattered(pid, oid, [(0, 3), (8, 3)], b"abcxyz", start=1 << 20)
    back = osd.read(pid, oid, 11, 1 << 20)
    print("SCATTERED", "equal" if back == b"abc" + bytes(5) + b"xyz" else back.hex())
    print("GET_LIST_ONE_WAY", sense_of(osd.get_attributes_listed, pid, oid, [(1, 0x82)]))


def stream(seconds: float) -> None:
    osd = connect()
    osd.transport.execute(bytes(6), None, 0)
    end = time.monotonic() + seconds
    i = 0
    with open(ACK_LOG, "a") as log:
        while time.monotonic() < end:
            try:
                osd.write(STREAM_PID, STREAM_OID, chunk(i), i * CHUNK)
            except OsdError as err:
                if err.sense is not None and err.sense.key == 0x6:
                    print("STREAM_UNIT_ATTENTION", f"{err.sense.asc:02x}/{err.sense.ascq:02x}")
                    continue  # the restarted daemon's power-on: send it again
                print("STREAM_STOPPED", err)
                break
            except Exception as err:  # the session went away under us: stop here
                print("STREAM_STOPPED", type(err).__name__, err)
                break
            log.write(f"{i}\n")
            log.flush()
            os.fsync(log.fileno())
            i += 1
    print("STREAM_WRITES", i)


def verify() -> None:
    osd = connect()
    osd.transport.execute(bytes(6), None, 0)
    with open(ACK_LOG) as log:
        acked = [int(line) for line in log if line.strip()]
    bad = [
        i
        for i in sorted(set(acked))
        if osd.read(STREAM_PID, STREAM_OID, CHUNK, i * CHUNK) != chunk(i)
    ]
    print("ACKED", len(set(acked)))
    print("MISSING", len(bad))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "sequence":
        sequence()
    elif what == "stream":
        stream(float(sys.argv[2]))
    else:
        verify()
