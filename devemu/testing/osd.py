"""An OSD-2 initiator: CDBs, capabilities and attribute lists from the standard's tables.

This module is the other side of :mod:`devemu.osd` and is written from
T10 OSD-2 (INCITS 458-2011) alone: it imports nothing of the target, so
a misreading of the standard on one side shows up as a failing test
instead of agreeing with itself. It builds the 236-byte variable-length
CDB (OSD-2 5.2.1 table 33), a NOSEC capability (4.11.2.2 table 14),
attribute lists (7.1.3) and reads LIST parameter data (6.14.2) and the
sense data (4.16), and sends the commands through a :class:`Transport`:

- :class:`SimulatorTransport`: the in-process TCMU ring simulator, for
  unit tests;
- :class:`devemu.testing.iscsi_initiator.IscsiTransport`: an iSCSI
  session (RFC 7143), the CDB beyond 16 bytes in an extended CDB AHS, for
  LIO's iSCSI target.

:class:`OsdClient` is the initiator proper: one method per service action.
Most commands go in one direction (LIO's iSCSI fabric carries no
bidirectional command to TCMU): attributes come back through the page
format of GET/SET CDBFMT into data-in, and are set through a set
attributes list in data-out or through the one-attribute CDB format.
GET ATTRIBUTES with a get list and LIST with LIST_ATTR need both
directions; they run where the transport carries them (the ring
simulator).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# --- OSD-2 6.1 table 39: service actions (8880h + n) -------------------------------------
FORMAT_OSD = 0x8881
CREATE = 0x8882
LIST = 0x8883
PUNCH = 0x8884
READ = 0x8885
WRITE = 0x8886
APPEND = 0x8887
FLUSH = 0x8888
CLEAR = 0x8889
REMOVE = 0x888A
CREATE_PARTITION = 0x888B
REMOVE_PARTITION = 0x888C
GET_ATTRIBUTES = 0x888E
SET_ATTRIBUTES = 0x888F
CREATE_AND_WRITE = 0x8892
CREATE_COLLECTION = 0x8895
REMOVE_COLLECTION = 0x8896
LIST_COLLECTION = 0x8897
FLUSH_COLLECTION = 0x889A
FLUSH_PARTITION = 0x889B
FLUSH_OSD = 0x889C
SET_KEY = 0x8898
#: OSD-2 6.26: KEY TO SET.
KEY_ROOT = 1
KEY_PARTITION = 2
KEY_WORKING = 3

OPCODE = 0x7F
CDB_LENGTH = 236
#: OSD-2 5.2.4.1 table 34: GET/SET CDBFMT, bits 5-4 of byte 11.
CDBFMT_ONE = 0x10
CDBFMT_PAGE = 0x20
CDBFMT_LIST = 0x30
FUA = 0x08
#: OSD-2 6.14: LIST_ATTR, bit 6 of byte 11 of LIST and LIST COLLECTION.
LIST_ATTR = 0x40
#: OSD-2 5.2.6: an offset field that names no offset.
NO_OFFSET = 0xFFFFFFFF
#: OSD-2 4.7.3 table 7 and 8: page numbers.
USER_INFORMATION = 0x00000001
USER_QUOTAS = 0x00000002
USER_TIMESTAMPS = 0x00000003
USER_COLLECTIONS = 0x00000004
PARTITION_INFORMATION = 0x30000001
COLLECTION_INFORMATION = 0x60000001
ROOT_INFORMATION = 0x90000001
ROOT_SECURITY = 0x90000005
ROOT_QUOTAS = 0x90000002
ROOT_TIMESTAMPS = 0x90000003
PARTITION_QUOTAS = 0x30000002
PARTITION_TIMESTAMPS = 0x30000003
PARTITION_SECURITY = 0x30000005
CURRENT_COMMAND = 0xFFFFFFFE
ALL_PAGES = 0xFFFFFFFF
#: Attribute numbers used here (OSD-2 7.1.2.8-11, 7.1.2.24).
LOGICAL_LENGTH = 0x82
USED_CAPACITY = 0x81
USERNAME = 0x9
NUMBER_OF_PARTITIONS = 0xC0
NUMBER_OF_OBJECTS = 0xC1
TOTAL_CAPACITY = 0x80
#: OSD-2 7.1.2.13: CAPACITY QUOTA of the partition quotas page.
CAPACITY_QUOTA = 0x10001
#: OSD-2 7.1.2.15-16: TIMESTAMP BYPASS of the root and partition timestamps pages.
TIMESTAMP_BYPASS = 0xFFFFFFFE
#: OSD-2 7.1.2.20-21: key identifiers on the policy/security pages.
ROOT_KEY_IDENTIFIER = 0x7FFE
PARTITION_KEY_IDENTIFIER = 0x7FFF
WORKING_KEY_IDENTIFIER = 0x8000


def encode_offset(offset: int) -> int:
    """A data-buffer offset as OSD-2 5.2.6 encodes it: mantissa << (exponent + 8).

    The smallest exponent (from -5, eight-byte granules) whose 28-bit
    mantissa holds the offset exactly; the caller keeps offsets aligned.
    """
    for exponent in range(-5, 8):
        shift = exponent + 8
        if offset % (1 << shift) == 0 and offset >> shift < 1 << 28:
            return ((exponent & 0xF) << 28) | (offset >> shift)
    raise ValueError(f"offset {offset} cannot be encoded")


def nosec_capability(object_type: int, partition_id: int, object_id: int) -> bytes:
    """A capability of format 2 with security method NOSEC (OSD-2 4.11.2.2 table 14).

    Every permission bit set; the object descriptor names the object
    (type 1h: a user object or collection, 2h: a partition or the root).
    """
    cap = bytearray(104)
    cap[0] = 0x02  # CAPABILITY FORMAT
    cap[2] = 0x00  # SECURITY METHOD: NOSEC
    cap[48] = object_type
    cap[49:54] = b"\xff\xff\xff\xff\xff"  # permissions bit mask
    cap[55] = (0x1 if object_id else 0x2) << 4
    struct.pack_into(">QQ", cap, 72, partition_id, object_id)
    return bytes(cap)


@dataclass(frozen=True)
class Attrs:
    """The attribute parameters of bytes 52-79 (OSD-2 5.2.4)."""

    fmt: int = CDBFMT_PAGE
    raw: bytes = bytes(28)

    @staticmethod
    def none() -> Attrs:
        """Page format asking for nothing: no page, no offsets (OSD-2 5.2.4.3)."""
        return Attrs(CDBFMT_PAGE, struct.pack(">IIIIIII", 0, 0, NO_OFFSET, 0, 0, 0, NO_OFFSET))

    @staticmethod
    def get_page(page: int, allocation: int, offset: int = 0) -> Attrs:
        """Retrieve ``page`` into data-in at ``offset`` (OSD-2 5.2.4.3)."""
        raw = struct.pack(">III", page, allocation, encode_offset(offset))
        return Attrs(CDBFMT_PAGE, raw + struct.pack(">IIII", 0, 0, 0, NO_OFFSET))

    @staticmethod
    def set_page(page: int, number: int, length: int, offset: int) -> Attrs:
        """Set one attribute from data-out at ``offset`` (OSD-2 5.2.4.3)."""
        raw = struct.pack(">III", 0, 0, NO_OFFSET)
        return Attrs(
            CDBFMT_PAGE, raw + struct.pack(">IIII", page, number, length, encode_offset(offset))
        )

    @staticmethod
    def set_one(page: int, number: int, value: bytes) -> Attrs:
        """Set one attribute of at most 18 bytes from the CDB (OSD-2 5.2.4.2)."""
        if len(value) > 18:
            raise ValueError("a CDB attribute value holds at most 18 bytes")
        return Attrs(
            CDBFMT_ONE, struct.pack(">IIH", page, number, len(value)) + value.ljust(18, b"\0")
        )

    @staticmethod
    def lists(
        *,
        get_length: int = 0,
        get_offset: int | None = None,
        allocation: int = 0,
        retrieved_offset: int | None = None,
        set_length: int = 0,
        set_offset: int | None = None,
    ) -> Attrs:
        """Get and set attributes lists (OSD-2 5.2.4.4): each offset None is FFFFFFFFh."""

        def off(value: int | None) -> int:
            return NO_OFFSET if value is None else encode_offset(value)

        raw = struct.pack(
            ">IIIIIII",
            get_length,
            off(get_offset),
            allocation,
            off(retrieved_offset),
            set_length,
            off(set_offset),
            0,
        )
        return Attrs(CDBFMT_LIST, raw)

    @staticmethod
    def set_list(length: int, offset: int) -> Attrs:
        """Set the attributes of a list in data-out (OSD-2 5.2.4.4)."""
        raw = struct.pack(">IIIIIII", 0, NO_OFFSET, 0, NO_OFFSET, length, encode_offset(offset), 0)
        return Attrs(CDBFMT_LIST, raw)


def build_cdb(
    service_action: int,
    *,
    partition_id: int = 0,
    object_id: int = 0,
    length: int = 0,
    starting_address: int = 0,
    list_identifier: int = 0,
    options: int = 0,
    command_specific: int = 0,
    list_attr: bool = False,
    timestamps_control: int = 0,
    attrs: Attrs | None = None,
    capability: bytes | None = None,
) -> bytes:
    """The 236-byte OSD-2 CDB (OSD-2 5.2.1 table 33)."""
    attrs = attrs or Attrs.none()
    if capability is None:
        kind = 0x80 if object_id else (0x02 if partition_id else 0x01)
        capability = nosec_capability(kind, partition_id, object_id)
    head = struct.pack(
        ">BB5xBHBBB3xQQQQI",
        OPCODE,
        0,
        CDB_LENGTH - 8,
        service_action,
        options,
        attrs.fmt | (command_specific & 0x0F) | (LIST_ATTR if list_attr else 0),
        timestamps_control,
        partition_id,
        object_id,
        length,
        starting_address,
        list_identifier,
    )
    cdb = head + attrs.raw + capability + bytes(52)
    assert len(cdb) == CDB_LENGTH
    return cdb


# --- the CDB continuation segment (OSD-2 5.3, 5.4) -----------------------------------------

#: CDB CONTINUATION FORMAT 01h; descriptor type 0001h is a scatter/gather list.
CONTINUATION_FORMAT = 0x01
SCATTER_GATHER_LIST = 0x0001


def continuation_segment(service_action: int, ranges: Sequence[tuple[int, int]]) -> bytes:
    """A segment of one scatter/gather list descriptor (OSD-2 5.4.2).

    Header: format, reserved, the continued service action, four reserved
    bytes, a 32-byte integrity check value (zero under NOSEC). Descriptor:
    type, reserved, pad length, length, then (offset, length) pairs.
    """
    body = b"".join(struct.pack(">QQ", off, n) for off, n in ranges)
    head = struct.pack(">BBH4x", CONTINUATION_FORMAT, 0, service_action) + bytes(32)
    return head + struct.pack(">HBBI", SCATTER_GATHER_LIST, 0, 0, len(body)) + body


def _continued(cdb: bytes, length: int) -> bytes:
    """``cdb`` with CDB CONTINUATION LENGTH (bytes 48-51) set."""
    return cdb[:48] + length.to_bytes(4, "big") + cdb[52:]


# --- attribute lists (OSD-2 7.1.3) ---------------------------------------------------------


def set_list(entries: Sequence[tuple[int, int, bytes]]) -> bytes:
    """A set attributes list, list type 9h (OSD-2 7.1.3.3): entries padded to 8 bytes."""
    body = bytearray()
    for page, number, value in entries:
        body += struct.pack(">II6xH", page, number, len(value)) + value
        body += bytes(-len(body) % 8)
    return struct.pack(">B3xI", 0x09, len(body)) + bytes(body)


def get_list(pairs: Sequence[tuple[int, int]]) -> bytes:
    """A get attributes list, list type 1h (OSD-2 7.1.3.2): page and number pairs."""
    return struct.pack(">B3xI", 0x01, 8 * len(pairs)) + b"".join(
        struct.pack(">II", p, n) for p, n in pairs
    )


def parse_retrieved_list(data: bytes) -> dict[tuple[int, int], bytes | None]:
    """A retrieved attributes list (OSD-2 7.1.3.3) as {(page, number): value}."""
    if data[0] & 0x0F != 0x09:
        raise ValueError(f"list type {data[0]:#x} is not a retrieved list")
    (length,) = struct.unpack_from(">I", data, 4)
    out: dict[tuple[int, int], bytes | None] = {}
    at, end = 8, 8 + length
    while at + 16 <= end:
        page, number, n = struct.unpack_from(">II6xH", data, at)
        if n == 0xFFFF:
            out[(page, number)] = None
            at += 16
            continue
        out[(page, number)] = bytes(data[at + 16 : at + 16 + n])
        at += (16 + n + 7) & ~7
    return out


def parse_multi_object_list(data: bytes) -> dict[int, dict[tuple[int, int], bytes | None]]:
    """A multi-object retrieved attributes list, type 0Eh (OSD-2 7.1.3.4, osd2r03).

    Per object: OBJECT ID (8), OBJECT TYPE (1), five reserved bytes, a
    two-byte length, then retrieved list entries of that length.
    """
    if data[0] & 0x0F != 0x0E:
        raise ValueError(f"list type {data[0]:#x} is not a multi-object list")
    (length,) = struct.unpack_from(">I", data, 4)
    out: dict[int, dict[tuple[int, int], bytes | None]] = {}
    at, end = 8, min(8 + length, len(data))
    while at + 16 <= end:
        oid, _kind, n = struct.unpack_from(">QB5xH", data, at)
        out[oid] = parse_retrieved_list(struct.pack(">B3xI", 0x09, n) + data[at + 16 : at + 16 + n])
        at += 16 + n
    return out


#: OSD-2 6.14.2: OBJECT DESCRIPTOR FORMAT of LIST and LIST COLLECTION parameter data.
LISTED_PARTITIONS = 0x01
LISTED_COLLECTIONS = 0x11
LISTED_USER_OBJECTS = 0x21


@dataclass(frozen=True)
class IdList:
    """LIST / LIST COLLECTION parameter data (OSD-2 6.14.2)."""

    ids: list[int]
    continuation: int
    list_identifier: int
    descriptor_format: int
    changed: bool


@dataclass(frozen=True)
class AttributedList:
    """LIST / LIST COLLECTION parameter data with LIST_ATTR (OSD-2 6.14.2)."""

    objects: dict[int, dict[tuple[int, int], bytes | None]]
    continuation: int
    descriptor_format: int


def parse_attributed_list(data: bytes) -> AttributedList:
    """Each id: eight bytes, four reserved, a four-byte length, retrieved list entries."""
    additional, continuation, _list_id, flags = struct.unpack_from(">QQI3xB", data)
    end = min(additional + 8, len(data))
    objects: dict[int, dict[tuple[int, int], bytes | None]] = {}
    at = 24
    while at + 16 <= end:
        oid, n = struct.unpack_from(">Q4xI", data, at)
        body = data[at + 16 : at + 16 + n]
        objects[oid] = parse_retrieved_list(struct.pack(">B3xI", 0x09, n) + body)
        at += 16 + n
    return AttributedList(objects, continuation, flags >> 2)


def parse_id_list(data: bytes) -> IdList:
    additional, continuation, list_id, flags = struct.unpack_from(">QQI3xB", data)
    count = (min(additional + 8, len(data)) - 24) // 8
    ids = list(struct.unpack_from(f">{count}Q", data, 24)) if count > 0 else []
    return IdList(ids, continuation, list_id, flags >> 2, bool(flags & 0x02))


# --- sense data (OSD-2 4.16) ---------------------------------------------------------------


@dataclass(frozen=True)
class OsdSense:
    """The parts of OSD sense data a client looks at."""

    key: int
    asc: int
    ascq: int
    field_pointer: int | None = None
    partition_id: int | None = None
    object_id: int | None = None
    not_initiated: int = 0
    completed: int = 0
    attributes: tuple[tuple[int, int], ...] = ()


def parse_sense(sense: bytes) -> OsdSense:
    if not sense or sense[0] & 0x7F not in (0x72, 0x73):
        raise ValueError(f"not descriptor sense data: {sense.hex()}")
    key, asc, ascq = sense[1] & 0x0F, sense[2], sense[3]
    fields: dict[str, object] = {}
    at, end = 8, min(8 + sense[7], len(sense))
    while at + 2 <= end:
        kind, n = sense[at], sense[at + 1]
        d = sense[at : at + 2 + n]
        if kind == 0x02 and d[4] & 0x80:
            fields["field_pointer"] = int.from_bytes(d[5:7], "big")
        elif kind == 0x06:
            ni, co, pid, oid = struct.unpack_from(">IIQQ", d, 8)
            fields.update(not_initiated=ni, completed=co, partition_id=pid, object_id=oid)
        elif kind == 0x08:
            fields["attributes"] = tuple(
                struct.unpack_from(">II", d, i) for i in range(8, len(d) - 7, 8)
            )
        at += 2 + n
    return OsdSense(key, asc, ascq, **fields)  # type: ignore[arg-type]


# --- transports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    data: bytes = b""
    sense: bytes = b""


class Transport(Protocol):
    def execute(self, cdb: bytes, data_out: bytes | None, data_in_length: int) -> Response: ...


class SimulatorTransport:
    """Commands through the in-process TCMU ring simulator (unit tests)."""

    def __init__(self, simulator: object) -> None:
        self.simulator = simulator

    def execute(self, cdb: bytes, data_out: bytes | None, data_in_length: int) -> Response:
        done = self.simulator.execute(cdb, data_out, data_in_length)  # type: ignore[attr-defined]
        return Response(int(done.status), bytes(done.data), bytes(done.sense))


class OsdError(Exception):
    """A command that ended in CHECK CONDITION (or another status than GOOD)."""

    def __init__(self, response: Response) -> None:
        self.response = response
        self.sense = parse_sense(response.sense) if response.sense else None
        s = self.sense
        what = f"{s.key:x}/{s.asc:02x}/{s.ascq:02x}" if s else f"status {response.status:#x}"
        super().__init__(f"OSD command failed: {what}")


GOOD = 0x00
CHECK_CONDITION = 0x02
#: Room for the current command page in page format (OSD-2 7.1.2.24).
#: Room for the current command page in page format (OSD-2 7.1.2.24: 8 + 68 bytes).
CURRENT_COMMAND_ROOM = 76


@dataclass(frozen=True)
class CurrentCommand:
    """The current command page (OSD-2 7.1.2.24) as retrieved in the page format."""

    object_type: int
    partition_id: int
    object_id: int
    append_start: int
    used_change: int


def parse_current_command(data: bytes) -> CurrentCommand:
    page, _length = struct.unpack_from(">II", data)
    if page != CURRENT_COMMAND:
        raise ValueError(f"page {page:#x} is not the current command page")
    kind = data[8 + 32]
    pid, oid, append = struct.unpack_from(">QQQ", data, 8 + 36)
    (change,) = struct.unpack_from(">q", data, 8 + 60)
    return CurrentCommand(kind, pid, oid, append, change)


class OsdClient:
    """An OSD-2 application client: one method per service action."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def run(
        self,
        cdb: bytes,
        data_out: bytes | None = None,
        data_in_length: int = 0,
        *,
        recovered_ok: bool = False,
    ) -> Response:
        answer = self.transport.execute(cdb, data_out, data_in_length)
        if answer.status != GOOD:
            if recovered_ok and answer.sense and answer.sense[1] & 0x0F == 0x01:
                return answer
            raise OsdError(answer)
        return answer

    # --- the root and partitions ---

    def format(self, capacity: int) -> None:
        self.run(build_cdb(FORMAT_OSD, length=capacity))

    def create_partition(self, partition_id: int = 0) -> int:
        cdb = build_cdb(
            CREATE_PARTITION,
            partition_id=partition_id,
            attrs=Attrs.get_page(CURRENT_COMMAND, CURRENT_COMMAND_ROOM),
        )
        return self._current_command(self.run(cdb, None, CURRENT_COMMAND_ROOM).data)[0]

    def remove_partition(self, partition_id: int) -> None:
        self.run(build_cdb(REMOVE_PARTITION, partition_id=partition_id))

    @staticmethod
    def _current_command(data: bytes) -> tuple[int, int, int]:
        """(partition id, object id, append start) of a current command page (7.1.2.24)."""
        page = parse_current_command(data)
        return page.partition_id, page.object_id, page.append_start

    def set_key(
        self,
        which: int,
        partition_id: int,
        identifier: bytes,
        seed: bytes,
        version: int = 0,
    ) -> None:
        """SET KEY (OSD-2 6.26): KEY VERSION byte 24, KEY IDENTIFIER 25-31, SEED 32-51."""
        if len(identifier) != 7 or len(seed) != 20:
            raise ValueError("a key identifier is 7 bytes, a seed 20")
        cdb = bytearray(build_cdb(SET_KEY, partition_id=partition_id, command_specific=which))
        cdb[24] = version
        cdb[25:32] = identifier
        cdb[32:52] = seed
        self.run(bytes(cdb))

    # --- user objects ---

    def create(self, partition_id: int, object_id: int = 0, count: int = 1) -> int:
        """CREATE; returns the (last) object id made."""
        cdb = build_cdb(
            CREATE,
            partition_id=partition_id,
            object_id=object_id,
            length=count << 48,
            attrs=Attrs.get_page(CURRENT_COMMAND, CURRENT_COMMAND_ROOM),
        )
        return self._current_command(self.run(cdb, None, CURRENT_COMMAND_ROOM).data)[1]

    def create_listing(
        self,
        partition_id: int,
        count: int,
        pairs: Sequence[tuple[int, int]],
        allocation: int = 4096,
    ) -> dict[int, dict[tuple[int, int], bytes | None]]:
        """CREATE of ``count`` objects with a get list: each object's attributes (bidirectional)."""
        payload = get_list(pairs)
        cdb = build_cdb(
            CREATE,
            partition_id=partition_id,
            length=count << 48,
            attrs=Attrs.lists(
                get_length=len(payload), get_offset=0, allocation=allocation, retrieved_offset=0
            ),
        )
        data = self.run(cdb, payload, allocation).data
        if data[0] & 0x0F == 0x09:  # one object: a plain retrieved list
            return {-1: parse_retrieved_list(data)}
        return parse_multi_object_list(data)

    def remove(self, partition_id: int, object_id: int) -> None:
        self.run(build_cdb(REMOVE, partition_id=partition_id, object_id=object_id))

    def write(
        self, partition_id: int, object_id: int, data: bytes, offset: int = 0, *, fua: bool = False
    ) -> None:
        cdb = build_cdb(
            WRITE,
            partition_id=partition_id,
            object_id=object_id,
            length=len(data),
            starting_address=offset,
            options=FUA if fua else 0,
        )
        self.run(cdb, data)

    def append(self, partition_id: int, object_id: int, data: bytes) -> None:
        cdb = build_cdb(APPEND, partition_id=partition_id, object_id=object_id, length=len(data))
        self.run(cdb, data)

    def create_and_write(
        self, partition_id: int, object_id: int, data: bytes, offset: int = 0
    ) -> None:
        cdb = build_cdb(
            CREATE_AND_WRITE,
            partition_id=partition_id,
            object_id=object_id,
            length=len(data),
            starting_address=offset,
        )
        self.run(cdb, data)

    def read(self, partition_id: int, object_id: int, length: int, offset: int = 0) -> bytes:
        cdb = build_cdb(
            READ,
            partition_id=partition_id,
            object_id=object_id,
            length=length,
            starting_address=offset,
        )
        return self.run(cdb, None, length, recovered_ok=True).data

    def write_scattered(
        self,
        partition_id: int,
        object_id: int,
        ranges: Sequence[tuple[int, int]],
        data: bytes,
        start: int = 0,
    ) -> None:
        """WRITE with a scatter/gather list in the CDB continuation segment (OSD-2 5.4.2)."""
        segment = continuation_segment(WRITE, ranges)
        cdb = build_cdb(
            WRITE,
            partition_id=partition_id,
            object_id=object_id,
            length=len(data),
            starting_address=start,
        )
        self.run(_continued(cdb, len(segment)), segment + data)

    def read_gathered(
        self,
        partition_id: int,
        object_id: int,
        ranges: Sequence[tuple[int, int]],
        start: int = 0,
    ) -> bytes:
        """READ of a scatter/gather list: the segment in data-out, so bidirectional."""
        segment = continuation_segment(READ, ranges)
        total = sum(n for _, n in ranges)
        cdb = build_cdb(
            READ,
            partition_id=partition_id,
            object_id=object_id,
            length=total,
            starting_address=start,
        )
        return self.run(_continued(cdb, len(segment)), segment, total, recovered_ok=True).data

    def punch(self, partition_id: int, object_id: int, offset: int, length: int) -> None:
        self.run(
            build_cdb(
                PUNCH,
                partition_id=partition_id,
                object_id=object_id,
                length=length,
                starting_address=offset,
            )
        )

    def clear(self, partition_id: int, object_id: int, offset: int, length: int) -> None:
        self.run(
            build_cdb(
                CLEAR,
                partition_id=partition_id,
                object_id=object_id,
                length=length,
                starting_address=offset,
            )
        )

    def flush(self, partition_id: int, object_id: int) -> None:
        self.run(build_cdb(FLUSH, partition_id=partition_id, object_id=object_id))

    def flush_osd(self) -> None:
        self.run(build_cdb(FLUSH_OSD))

    def list(self, partition_id: int = 0, start: int = 0, allocation: int = 4096) -> IdList:
        """LIST: partitions (partition 0) or a partition's user objects."""
        cdb = build_cdb(LIST, partition_id=partition_id, length=allocation, starting_address=start)
        return parse_id_list(self.run(cdb, None, allocation).data)

    # --- collections ---

    def create_collection(self, partition_id: int, collection_id: int = 0) -> int:
        cdb = build_cdb(
            CREATE_COLLECTION,
            partition_id=partition_id,
            object_id=collection_id,
            attrs=Attrs.get_page(CURRENT_COMMAND, CURRENT_COMMAND_ROOM),
        )
        return self._current_command(self.run(cdb, None, CURRENT_COMMAND_ROOM).data)[1]

    def remove_collection(
        self, partition_id: int, collection_id: int, *, force: bool = False
    ) -> None:
        self.run(
            build_cdb(
                REMOVE_COLLECTION,
                partition_id=partition_id,
                object_id=collection_id,
                command_specific=1 if force else 0,
            )
        )

    def add_to_collection(
        self, partition_id: int, object_id: int, collection_id: int, slot: int = 1
    ) -> None:
        """Membership is an attribute of the user object's collections page (OSD-2 7.1.2.19)."""
        self.set_attribute(
            partition_id, object_id, USER_COLLECTIONS, slot, collection_id.to_bytes(8, "big")
        )

    def list_collection(
        self, partition_id: int, collection_id: int, allocation: int = 4096
    ) -> IdList:
        cdb = build_cdb(
            LIST_COLLECTION, partition_id=partition_id, object_id=collection_id, length=allocation
        )
        return parse_id_list(self.run(cdb, None, allocation).data)

    # --- attributes ---

    def get_page(
        self, partition_id: int, object_id: int, page: int, allocation: int = 4096
    ) -> bytes:
        """GET ATTRIBUTES of one page in the page format; the bytes as retrieved."""
        cdb = build_cdb(
            GET_ATTRIBUTES,
            partition_id=partition_id,
            object_id=object_id,
            attrs=Attrs.get_page(page, allocation),
        )
        return self.run(cdb, None, allocation).data

    def get_attributes(
        self, partition_id: int, object_id: int, page: int
    ) -> dict[tuple[int, int], bytes | None]:
        """A page without a page layout, retrieved as a list (information pages, all pages)."""
        return parse_retrieved_list(self.get_page(partition_id, object_id, page))

    def set_attribute(
        self, partition_id: int, object_id: int, page: int, number: int, value: bytes
    ) -> None:
        """SET ATTRIBUTES of one value: in the CDB when it fits, else from data-out."""
        if len(value) <= 18:
            cdb = build_cdb(
                SET_ATTRIBUTES,
                partition_id=partition_id,
                object_id=object_id,
                attrs=Attrs.set_one(page, number, value),
            )
            self.run(cdb)
            return
        cdb = build_cdb(
            SET_ATTRIBUTES,
            partition_id=partition_id,
            object_id=object_id,
            attrs=Attrs.set_page(page, number, len(value), 0),
        )
        self.run(cdb, value)

    def get_attributes_listed(
        self,
        partition_id: int,
        object_id: int,
        pairs: Sequence[tuple[int, int]],
        allocation: int = 4096,
    ) -> dict[tuple[int, int], bytes | None]:
        """GET ATTRIBUTES with a get list (OSD-2 5.2.4.4): bidirectional.

        The get list goes in data-out at 0; the retrieved attributes list
        comes back in data-in at 0.
        """
        payload = get_list(pairs)
        cdb = build_cdb(
            GET_ATTRIBUTES,
            partition_id=partition_id,
            object_id=object_id,
            attrs=Attrs.lists(
                get_length=len(payload), get_offset=0, allocation=allocation, retrieved_offset=0
            ),
        )
        return parse_retrieved_list(self.run(cdb, payload, allocation).data)

    def list_attributes(
        self,
        partition_id: int,
        pairs: Sequence[tuple[int, int]],
        *,
        collection_id: int | None = None,
        start: int = 0,
        allocation: int = 4096,
    ) -> AttributedList:
        """LIST (or LIST COLLECTION) with LIST_ATTR: each id with the attributes asked for."""
        payload = get_list(pairs)
        cdb = build_cdb(
            LIST if collection_id is None else LIST_COLLECTION,
            partition_id=partition_id,
            object_id=collection_id or 0,
            length=allocation,
            starting_address=start,
            list_attr=True,
            attrs=Attrs.lists(get_length=len(payload), get_offset=0, allocation=allocation),
        )
        return parse_attributed_list(self.run(cdb, payload, allocation).data)

    def set_attributes(
        self, partition_id: int, object_id: int, entries: Sequence[tuple[int, int, bytes]]
    ) -> None:
        """SET ATTRIBUTES with a set attributes list in data-out (OSD-2 5.2.4.4)."""
        payload = set_list(entries)
        cdb = build_cdb(
            SET_ATTRIBUTES,
            partition_id=partition_id,
            object_id=object_id,
            attrs=Attrs.set_list(len(payload), 0),
        )
        self.run(cdb, payload)
