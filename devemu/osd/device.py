"""The OSD-2 logical unit (peripheral device type 11h).

Theory of operation
-------------------
The shared dispatcher (:mod:`devemu.scsi.device`) finds the entry of the
service action, refuses reserved and unused CDB bits, and calls
:meth:`OsdDevice.perform`, which does what OSD-2 4.14 and 5.2 ask of
every command, in this order:

1. validation: ADDITIONAL CDB LENGTH E4h, the capability (NOSEC only,
   :func:`devemu.osd.cdb.check_capability`), TIMESTAMPS CONTROL, the get
   and set attributes parameters, a formatted OSD, and an object that
   exists;
2. the command function (a method named after the service action);
3. set attributes, then get attributes (OSD-2 5.2.4), both on the object
   the command is about (for CREATE: the object it made). REMOVE and its
   kin run the attribute parts first, while the object still exists.

Sense data is always in descriptor format (OSD-2 4.16.1) with the OSD
object identification descriptor: which command functions were not
started and which completed, and the partition and object concerned.

Data-out carries the data then the set attributes list and the get
attributes list; data-in the data then the retrieved attributes. A
command whose attribute parameters need both directions (a WRITE asking
for attributes back, GET ATTRIBUTES with a get list, LIST with LIST_ATTR)
is bidirectional: TCMU hands the data-in buffers over as the bidi iovs
(:attr:`devemu.scsi.command.Command.bidi_iov`). LIO's iSCSI fabric
carries no bidirectional command to TCMU, so there such a command
arrives with one direction only and is refused with INVALID FIELD IN
CDB pointing at byte 52; GET ATTRIBUTES in the page format retrieves
through data-in alone. A page without a fixed page layout (the
information pages) and page FFFFFFFFh are retrieved as a retrieved
attributes list (OSD-2 7.1.3.3).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from devemu.osd import buffers
from devemu.osd.attributes import (
    ALL,
    CURRENT_COMMAND_PAGE,
    RANGE_OF_TYPE,
    Attribute,
    ListError,
    StandardPage,
    decode_get_list,
    decode_value_list,
    encode_multi_object_list,
    encode_value_list,
    page_object_type,
    timestamp,
)
from devemu.osd.cdb import (
    ADDITIONAL_CDB_LENGTH,
    ATTRIBUTE_PARAMETERS_BYTE,
    LENGTH_BYTE,
    OBJECT_ID_BYTE,
    PARTITION_ID_BYTE,
    STARTING_ADDRESS_BYTE,
    TIMESTAMPS_BYPASS,
    TIMESTAMPS_NORMAL,
    AttributeParameters,
    CdbFormat,
    ObjectType,
    attribute_parameters,
    check_capability,
)
from devemu.osd.commands import DIRECTION, OSD_COMMANDS
from devemu.osd.continuation import CONTINUATION_LENGTH_BYTE, Continuation, check_length
from devemu.osd.continuation import parse as parse_continuation
from devemu.osd.sense import (
    AFTER_VALIDATION,
    PARTITION_OR_COLLECTION_CONTAINS_USER_OBJECTS,
    QUOTA_ERROR,
    READ_PAST_END_OF_USER_OBJECT,
    CommandFunction,
    attribute_identification,
    object_identification,
)
from devemu.osd.service_actions import ServiceAction
from devemu.osd.standard_pages import (
    CAPACITY_QUOTA,
    LOGICAL_LENGTH,
    MAXIMUM_USER_OBJECT_LENGTH,
    OBJECT_COUNT_QUOTA,
    PARTITION_KEY_IDENTIFIER,
    ROOT_KEY_IDENTIFIER,
    TIMESTAMP_BYPASS,
    WORKING_KEY_IDENTIFIER_FIRST,
    Attributes,
    CurrentCommand,
    settable,
)
from devemu.osd.store import ObjectStore
from devemu.scsi.command import Command
from devemu.scsi.device import ScsiDevice, VpdProducer
from devemu.scsi.identity import Identity
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED,
    PARAMETER_LIST_LENGTH_ERROR,
    SenseError,
    cdb_field,
    param_field,
)
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable, Data
from devemu.scsi.vpd import vpd_page

PERIPHERAL_TYPE_OSD = 0x11
#: SPC-5 6.7.2 table 160: version descriptor of OSD-2 (INCITS 458-2011).
VERSION_OSD2 = 0x0360
#: OSD-2 7.6.2: the OSD information VPD page.
VPD_OSD_INFORMATION = 0xB0
#: LIST parameter data (OSD-2 6.14.2): OBJECT DESCRIPTOR FORMAT, what the ids are.
DESCRIPTOR_PARTITION_IDS = 0x01
DESCRIPTOR_COLLECTION_IDS = 0x11
DESCRIPTOR_OBJECT_IDS = 0x21
#: With LIST_ATTR set the format code is one more: ids each followed by attributes.
DESCRIPTOR_WITH_ATTRIBUTES = 0x01
_LIST_HEAD = struct.Struct(">QQI3xB")
#: OSD-2 6.14.2 (LIST_ATTR set): object id, four reserved bytes, attributes list length.
_LISTED_OBJECT_HEAD = struct.Struct(">Q4xI")
#: CREATE (OSD-2 6.4): most objects one command may create.
MAX_CREATE = 0x10000
_SA = ServiceAction
_COLLECTIONS_PAGE = RANGE_OF_TYPE[ObjectType.USER] + StandardPage.COLLECTIONS
_PARTITION_QUOTAS = RANGE_OF_TYPE[ObjectType.PARTITION] + StandardPage.QUOTAS
_USER_QUOTAS = RANGE_OF_TYPE[ObjectType.USER] + StandardPage.QUOTAS
_ROOT_SECURITY = RANGE_OF_TYPE[ObjectType.ROOT] + StandardPage.POLICY_SECURITY
_PARTITION_SECURITY = RANGE_OF_TYPE[ObjectType.PARTITION] + StandardPage.POLICY_SECURITY


class KeyToSet(IntEnum):
    """OSD-2 6.26: KEY TO SET (bits 1-0 of byte 11 of SET KEY)."""

    ROOT = 1
    PARTITION = 2
    WORKING = 3


#: SET KEY (OSD-2 6.26): KEY VERSION at byte 24, KEY IDENTIFIER 25-31, SEED 32-51.
KEY_VERSION_BYTE = 24
KEY_IDENTIFIER = slice(25, 32)
SEED = slice(32, 52)
_REMOVING = frozenset({_SA.REMOVE, _SA.REMOVE_PARTITION, _SA.REMOVE_COLLECTION})
#: The commands a CDB continuation segment may follow (its scatter/gather list).
_CONTINUED = frozenset({_SA.READ, _SA.WRITE, _SA.CREATE_AND_WRITE})
#: FLUSH SCOPE values (OSD-2 6.10): attributes only, a byte range, reserved.
_FLUSH_ATTRIBUTES_ONLY = 1
_FLUSH_RANGE = 2
_FLUSH_RESERVED = 3
#: REMOVE SCOPE 1 (OSD-2 6.20): the partition with its collections and user objects.
_REMOVE_EVERYTHING = 1
#: OSD-2 5.2.5: ISOLATION values 3h and 6h are reserved (bits 2-0 of byte 10).
_ISOLATION_RESERVED = frozenset({3, 6})


@dataclass
class Request:
    """One OSD command as the command function sees it."""

    cmd: Command
    action: ServiceAction
    pid: int
    oid: int
    length: int
    start: int
    params: AttributeParameters
    direction: Data
    fua: bool
    bypass_timestamps: bool
    #: The object the attribute parts act on: (partition, object, type).
    target: tuple[int, int, ObjectType] = (0, 0, ObjectType.ROOT)
    #: Every object a CREATE made: its set attributes go to each (OSD-2 6.4).
    created: list[int] = field(default_factory=list)
    data_in_length: int = 0
    #: Where data-in goes: the bidi iovs of a bidirectional command, else ``cmd.iov``.
    data_in: Sequence[memoryview] = ()
    #: The CDB continuation segment at the start of data-out (OSD-2 5.3).
    continuation: Continuation | None = None
    #: LIST_ATTR put the get list's attributes into the LIST parameter data.
    attributes_listed: bool = False


def _bad_cdb(byte: int, bit: int | None = None) -> SenseError:
    return SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(byte, bit))


class OsdDevice(ScsiDevice):
    """An object-based storage device over an :class:`ObjectStore` (OSD-2)."""

    peripheral_type: ClassVar[int] = PERIPHERAL_TYPE_OSD
    version_descriptors: ClassVar[tuple[int, ...]] = (VERSION_OSD2,)
    commands: ClassVar[CommandTable] = CommandTable(SPC_COMMANDS, OSD_COMMANDS)
    may_be_not_ready = False

    def __init__(self, store: ObjectStore, identity: Identity) -> None:
        self.store = store
        super().__init__(identity)
        self.system_id = identity.naa.ljust(20, b"\0")[:20]
        self.attributes = Attributes(store, identity, self.system_id)

    @property
    def descriptor_sense(self) -> bool:
        """OSD-2 4.16.1: an OSD returns descriptor format sense data."""
        return True

    def vpd_pages(self) -> dict[int, VpdProducer]:
        return {VPD_OSD_INFORMATION: self._osd_information}

    def _osd_information(self) -> bytes:
        """The OSD information VPD page (OSD-2 7.6.2): the OSD system ID."""
        return vpd_page(PERIPHERAL_TYPE_OSD, VPD_OSD_INFORMATION, self.system_id)

    def close(self) -> None:
        self.store.close()

    # --- the procedure every command follows ------------------------------------------

    def perform(
        self, cmd: Command, action: ServiceAction, pid: int, oid: int, length: int, start: int
    ) -> int | None:
        """Validate, run the command function, set and get attributes (OSD-2 4.14)."""
        try:
            req = self._validate(cmd, action, pid, oid, length, start)
        except SenseError as err:
            raise self._identified(
                err, pid, oid, CommandFunction.VALIDATION | AFTER_VALIDATION, 0
            ) from None
        done = int(CommandFunction.VALIDATION)
        try:
            if action in _REMOVING:
                req.target = self._existing(pid, oid, action)
                self._attribute_parts(req)
                done |= CommandFunction.SET_ATTRIBUTES | CommandFunction.GET_ATTRIBUTES
                _FUNCTIONS[action](self, req)
                done |= CommandFunction.COMMAND
            else:
                _FUNCTIONS[action](self, req)
                done |= CommandFunction.COMMAND
                self._name_current_object(req)
                self._attribute_parts(req)
        except SenseError as err:
            tp, to, _ = req.target
            raise self._identified(
                err, tp or pid, to or oid, AFTER_VALIDATION & ~done, done
            ) from None
        return req.data_in_length if req.direction is Data.IN or req.data_in else None

    def _name_current_object(self, req: Request) -> None:
        """The current command page names the object the command acted on (OSD-2 7.1.2.24)."""
        current = self.attributes.current
        if current.object_type is ObjectType.ROOT and not current.partition_id:
            pid, oid, kind = req.target
            current.object_type, current.partition_id, current.object_id = kind, pid, oid

    @staticmethod
    def _identified(err: SenseError, pid: int, oid: int, not_done: int, done: int) -> SenseError:
        if not err.descriptors.startswith(b"\x06"):
            err.descriptors = object_identification(pid, oid, not_done, done) + err.descriptors
        return err

    def _validate(
        self, cmd: Command, action: ServiceAction, pid: int, oid: int, length: int, start: int
    ) -> Request:
        cdb = cmd.cdb
        if cdb[7] != ADDITIONAL_CDB_LENGTH:
            raise _bad_cdb(7)
        check_capability(cdb)
        if cdb[12] not in (TIMESTAMPS_NORMAL, TIMESTAMPS_BYPASS):
            raise _bad_cdb(12)
        if cdb[10] & 0x07 in _ISOLATION_RESERVED:
            raise _bad_cdb(10, 2)
        params = attribute_parameters(cdb, (cdb[11] >> 4) & 0x3)
        direction = DIRECTION[action]
        if direction is Data.NONE:
            direction = (
                Data.IN
                if params.wants_data_in
                else Data.OUT
                if params.wants_data_out
                else Data.NONE
            )
        continued = int.from_bytes(cdb[48:52], "big") if action in _CONTINUED else 0
        if continued:
            check_length(continued)
        both = (direction is Data.OUT and params.wants_data_in) or (
            direction is Data.IN and (params.wants_data_out or bool(continued))
        )
        if both and not cmd.bidi_iov:
            raise _bad_cdb(CONTINUATION_LENGTH_BYTE if continued else ATTRIBUTE_PARAMETERS_BYTE)
        if action is not _SA.FORMAT_OSD and not self.store.formatted:
            raise SenseError(LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED)
        req = Request(
            cmd,
            action,
            pid,
            oid,
            length,
            start,
            params,
            direction,
            fua=bool(cdb[10] & 0x08),
            bypass_timestamps=cdb[12] == TIMESTAMPS_BYPASS,
            data_in=cmd.bidi_iov if cmd.bidi_iov else cmd.iov if direction is Data.IN else (),
        )
        if continued:
            if buffers.total(cmd.iov) < continued:
                raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
            req.continuation = parse_continuation(buffers.gather(cmd.iov, 0, continued), action)
        self.attributes.current = CurrentCommand()
        return req

    def _existing(self, pid: int, oid: int, action: ServiceAction) -> tuple[int, int, ObjectType]:
        """The object a command names, or INVALID FIELD IN CDB at its id (OSD-2 4.6)."""
        if pid == 0:
            kind = self.store.object_type(0, 0)
            if oid != 0:
                raise _bad_cdb(OBJECT_ID_BYTE)
            if kind is None:
                raise _bad_cdb(PARTITION_ID_BYTE)
            return (0, 0, kind)
        if self.store.object_type(pid, 0) is not ObjectType.PARTITION:
            raise _bad_cdb(PARTITION_ID_BYTE)
        if oid == 0:
            return (pid, 0, ObjectType.PARTITION)
        kind = self.store.object_type(pid, oid)
        if kind is None:
            raise _bad_cdb(OBJECT_ID_BYTE)
        return (pid, oid, kind)

    def _user_object(self, req: Request) -> tuple[int, int]:
        pid, oid, kind = self._existing(req.pid, req.oid, req.action)
        if kind is not ObjectType.USER:
            raise _bad_cdb(OBJECT_ID_BYTE if oid else PARTITION_ID_BYTE)
        req.target = (pid, oid, kind)
        self.attributes.current = CurrentCommand(ObjectType.USER, pid, oid)
        return pid, oid

    def _partition(self, req: Request) -> int:
        pid, _, kind = self._existing(req.pid, 0, req.action)
        if kind is not ObjectType.PARTITION:
            raise _bad_cdb(PARTITION_ID_BYTE)
        req.target = (pid, 0, kind)
        return pid

    # --- the command functions (OSD-2 6) -----------------------------------------------

    def _format_osd(self, req: Request) -> None:
        """FORMAT OSD (OSD-2 6.9): every partition gone; LENGTH is the formatted capacity."""
        self.store.format(req.length)
        req.target = (0, 0, ObjectType.ROOT)

    def _create_partition(self, req: Request) -> None:
        """CREATE PARTITION (OSD-2 6.7): the requested id, or one the OSD picks (0)."""
        if req.pid and req.pid < 0x10000:
            raise _bad_cdb(PARTITION_ID_BYTE)
        try:
            pid = self.store.create_partition(req.pid)
        except KeyError:
            raise _bad_cdb(PARTITION_ID_BYTE) from None
        req.target = (pid, 0, ObjectType.PARTITION)
        self.attributes.current = CurrentCommand(ObjectType.PARTITION, pid, 0)

    def _remove_partition(self, req: Request) -> None:
        """REMOVE PARTITION (OSD-2 6.20), by REMOVE SCOPE (bits 2-0 of byte 11).

        Scope 0: a partition that still holds collections or user objects
        stays, ILLEGAL REQUEST / PARTITION OR COLLECTION CONTAINS USER
        OBJECTS; scope 1: they go with it. Other scopes are reserved.
        """
        scope = req.cmd.cdb[11] & 0x07
        if scope > _REMOVE_EVERYTHING or req.cmd.cdb[11] & 0x08:
            raise _bad_cdb(11, 2 if scope > _REMOVE_EVERYTHING else 3)
        pid = self._partition(req)
        if scope != _REMOVE_EVERYTHING and self.store.objects(pid):
            raise SenseError(PARTITION_OR_COLLECTION_CONTAINS_USER_OBJECTS)
        self.store.remove_partition(pid)

    def _create_objects(self, req: Request, kind: ObjectType, count: int) -> list[int]:
        pid = self._partition(req)
        if req.oid and req.oid < 0x10000:
            raise _bad_cdb(OBJECT_ID_BYTE)
        limit = self.store.attribute(pid, 0, _PARTITION_QUOTAS, OBJECT_COUNT_QUOTA)
        if limit is not None and len(self.store.objects(pid)) + count > int.from_bytes(
            limit, "big"
        ):
            raise SenseError(QUOTA_ERROR)
        try:
            ids = self.store.create_objects(pid, req.oid, count, kind)
        except KeyError:
            raise _bad_cdb(OBJECT_ID_BYTE) from None
        req.target = (pid, ids[0], kind)
        req.created = ids
        self.attributes.current = CurrentCommand(kind, pid, ids[-1])
        return ids

    def _create(self, req: Request) -> None:
        """CREATE (OSD-2 6.4): NUMBER OF USER OBJECTS in bytes 32-33 (0 means one)."""
        if req.length & 0xFFFF_FFFF_FFFF:
            raise _bad_cdb(LENGTH_BYTE + 2)
        count = max(req.length >> 48, 1)
        if count > MAX_CREATE or (req.oid and req.oid + count > 1 << 64):
            raise _bad_cdb(LENGTH_BYTE)
        self._create_objects(req, ObjectType.USER, count)

    def _create_collection(self, req: Request) -> None:
        """CREATE COLLECTION (OSD-2 6.5)."""
        self._create_objects(req, ObjectType.COLLECTION, 1)

    def _remove(self, req: Request) -> None:
        """REMOVE (OSD-2 6.19): a user object, its data and attributes."""
        pid, oid = self._user_object(req)
        self.store.remove_object(pid, oid)

    def _remove_collection(self, req: Request) -> None:
        """REMOVE COLLECTION (OSD-2 6.21): with members only when FCR (bit 0 of byte 11) is set."""
        pid, cid, kind = self._existing(req.pid, req.oid, req.action)
        if kind is not ObjectType.COLLECTION:
            raise _bad_cdb(OBJECT_ID_BYTE)
        members = self.store.holders(pid, _COLLECTIONS_PAGE, cid.to_bytes(8, "big"))
        if members and not req.cmd.cdb[11] & 0x01:
            raise SenseError(PARTITION_OR_COLLECTION_CONTAINS_USER_OBJECTS)
        with self.store.transaction() as db:
            for oid in members:
                numbers = self.store.page_attributes(pid, oid, _COLLECTIONS_PAGE)
                self.store.set_attributes(
                    db,
                    pid,
                    oid,
                    [
                        (_COLLECTIONS_PAGE, n, b"")
                        for n, v in numbers.items()
                        if v == cid.to_bytes(8, "big")
                    ],
                )
        self.store.remove_object(pid, cid)

    def _data_out(self, req: Request) -> list[memoryview]:
        """The command's data: data-out from the end of the CDB continuation segment."""
        iov = req.cmd.iov
        start = req.continuation.length if req.continuation else 0
        if buffers.total(iov) < start + req.length:
            raise _bad_cdb(LENGTH_BYTE)
        return buffers.views(iov, start, req.length)

    def _ranges(self, req: Request) -> tuple[tuple[int, int], ...]:
        """(byte address, length) the data goes to or comes from (OSD-2 5.4.2).

        One range at STARTING BYTE ADDRESS, or the scatter/gather list of
        the CDB continuation segment, offsets from the starting byte
        address, lengths adding up to LENGTH.
        """
        listed = req.continuation.ranges if req.continuation else None
        if listed is None:
            return ((req.start, req.length),)
        if sum(n for _, n in listed) != req.length:
            raise _bad_cdb(LENGTH_BYTE)
        if any(req.start + off + n > 1 << 64 for off, n in listed):
            raise _bad_cdb(STARTING_ADDRESS_BYTE)
        return tuple((req.start + off, n) for off, n in listed)

    def _check_quota(self, pid: int, oid: int, end: int) -> None:
        """The quotas a user object growing to ``end`` bytes meets (OSD-2 4.9).

        The user object's MAXIMUM USER OBJECT LENGTH (7.1.2.14) and its
        partition's CAPACITY QUOTA (7.1.2.13, the bytes every user object
        of the partition may hold together): past either, DATA PROTECT /
        QUOTA ERROR and nothing is written.
        """
        store = self.store
        value, quota = store.attribute_pair(
            (pid, oid, _USER_QUOTAS, MAXIMUM_USER_OBJECT_LENGTH),
            (pid, 0, _PARTITION_QUOTAS, CAPACITY_QUOTA),
        )
        if value is not None and end > int.from_bytes(value, "big"):
            raise SenseError(QUOTA_ERROR)
        if quota is None:
            return
        growth = end - store.logical_length(pid, oid)
        if growth > 0 and store.partition_bytes(pid) + growth > int.from_bytes(quota, "big"):
            raise SenseError(QUOTA_ERROR)

    def _write_at(self, req: Request, pid: int, oid: int, offset: int) -> None:
        data = self._data_out(req)
        ranges = ((offset, req.length),) if req.action is _SA.APPEND else self._ranges(req)
        self._check_quota(pid, oid, max(at + n for at, n in ranges))
        store = self.store
        before = self._used_before(req, pid, oid)
        if len(ranges) == 1:
            store.write(pid, oid, ranges[0][0], data)
        else:
            done = 0
            for at, n in ranges:
                store.write(pid, oid, at, buffers.views(data, done, n))
                done += n
        if req.fua:
            store.sync(pid, oid)
        self._used_after(before, pid, oid)

    def _used_before(self, req: Request, pid: int, oid: int) -> int | None:
        """Used capacity before a change, when this command retrieves attributes.

        Only the command itself can read its current command page (7.1.2.24),
        so the others skip the two ``fstat`` calls.
        """
        return self.store.used_capacity(pid, oid) if req.params.wants_data_in else None

    def _used_after(self, before: int | None, pid: int, oid: int) -> None:
        if before is not None:
            self.attributes.current.used_change = self.store.used_capacity(pid, oid) - before

    def _write(self, req: Request) -> None:
        """WRITE (OSD-2 6.31): LENGTH bytes at STARTING BYTE ADDRESS."""
        pid, oid = self._user_object(req)
        self._write_at(req, pid, oid, req.start)

    def _append(self, req: Request) -> None:
        """APPEND (OSD-2 6.2): at the logical length; the current command page tells where."""
        pid, oid = self._user_object(req)
        at = self.store.logical_length(pid, oid)
        self.attributes.current.append_start = at
        self._write_at(req, pid, oid, at)

    def _create_and_write(self, req: Request) -> None:
        """CREATE AND WRITE (OSD-2 6.6): one new object, then the write."""
        self._data_out(req)
        (oid,) = self._create_objects(req, ObjectType.USER, 1)
        self._write_at(req, req.target[0], oid, req.start)

    def _read(self, req: Request) -> None:
        """READ (OSD-2 6.17): past the logical length is RECOVERED ERROR, the bytes there sent."""
        pid, oid = self._user_object(req)
        got = 0
        for at, n in self._ranges(req):
            views = buffers.views(req.data_in, got, n)
            want = sum(len(v) for v in views)
            part = self.store.read(pid, oid, at, views) if want else 0
            got += part
            if part < n:
                break
        req.data_in_length = got
        if got < req.length:
            raise SenseError(READ_PAST_END_OF_USER_OBJECT, command_specific=got, transferred=got)

    def _punch(self, req: Request) -> None:
        """PUNCH (OSD-2 6.16): deallocate the range; it reads as zeros."""
        pid, oid = self._user_object(req)
        before = self._used_before(req, pid, oid)
        self.store.punch(pid, oid, req.start, req.length)
        self._used_after(before, pid, oid)

    def _clear(self, req: Request) -> None:
        """CLEAR (OSD-2 6.3): zeros over the range within the logical length."""
        pid, oid = self._user_object(req)
        self.store.clear(pid, oid, req.start, req.length)

    @staticmethod
    def _flush_scope(req: Request) -> int:
        """FLUSH SCOPE, bits 1-0 of byte 11 (OSD-2 6.10-6.13): 3 is reserved."""
        scope = req.cmd.cdb[11] & 0x03
        if scope == _FLUSH_RESERVED:
            raise _bad_cdb(11, 1)
        return scope

    def _flush(self, req: Request) -> None:
        """FLUSH (OSD-2 6.10): the object's data to stable storage.

        Scope 0: data and attributes, 1: attributes only (committed with
        every change already), 2: the data between STARTING BYTE ADDRESS
        and LENGTH; only scope 2 names a range.
        """
        scope = self._flush_scope(req)
        if scope != _FLUSH_RANGE and (req.length or req.start):
            raise _bad_cdb(LENGTH_BYTE if req.length else STARTING_ADDRESS_BYTE)
        pid, oid = self._user_object(req)
        if scope != _FLUSH_ATTRIBUTES_ONLY:
            self.store.sync(pid, oid)

    def _flush_collection(self, req: Request) -> None:
        """FLUSH COLLECTION (OSD-2 6.11)."""
        self._flush_scope(req)
        pid, cid, kind = self._existing(req.pid, req.oid, req.action)
        if kind is not ObjectType.COLLECTION:
            raise _bad_cdb(OBJECT_ID_BYTE)
        req.target = (pid, cid, kind)
        self.store.sync_all(pid)

    def _flush_partition(self, req: Request) -> None:
        """FLUSH PARTITION (OSD-2 6.13)."""
        self._flush_scope(req)
        self.store.sync_all(self._partition(req))

    def _flush_osd(self, req: Request) -> None:
        """FLUSH OSD (OSD-2 6.12)."""
        self._flush_scope(req)
        req.target = (0, 0, ObjectType.ROOT)
        self.store.sync_all()

    def _set_key(self, req: Request) -> None:
        """SET KEY (OSD-2 6.26): keep the root, a partition or a working key.

        KEY TO SET 1 (root key) names partition 0; 2 (partition key) and 3
        (working key, KEY VERSION 0-Fh picks which of the sixteen) name a
        partition. The seed is kept where no attribute reads it; the key
        identifier shows on the policy/security page (7.1.2.20-21).
        """
        cdb = req.cmd.cdb
        which = cdb[11] & 0x03
        if cdb[11] & 0x0C or which == 0:
            raise _bad_cdb(11, 1 if which == 0 else 3)
        version = cdb[KEY_VERSION_BYTE]
        if version & 0xF0 or (which != KeyToSet.WORKING and version):
            raise _bad_cdb(KEY_VERSION_BYTE)
        identifier, seed = bytes(cdb[KEY_IDENTIFIER]), bytes(cdb[SEED])
        if which == KeyToSet.ROOT:
            if req.pid:
                raise _bad_cdb(PARTITION_ID_BYTE)
            req.target = (0, 0, ObjectType.ROOT)
            self.store.set_key(0, 0, identifier, seed, (_ROOT_SECURITY, ROOT_KEY_IDENTIFIER))
            return
        if req.pid == 0:
            raise _bad_cdb(PARTITION_ID_BYTE)
        pid = self._partition(req)
        if which == KeyToSet.PARTITION:
            where = (_PARTITION_SECURITY, PARTITION_KEY_IDENTIFIER)
            self.store.set_key(pid, 0, identifier, seed, where)
            return
        where = (_PARTITION_SECURITY, WORKING_KEY_IDENTIFIER_FIRST + version)
        self.store.set_key(pid, 1 + version, identifier, seed, where)

    def _get_attributes(self, req: Request) -> None:
        """GET ATTRIBUTES (OSD-2 6.11): only the attribute parts."""
        req.target = self._existing(req.pid, req.oid, req.action)

    _set_attributes = _get_attributes

    def _list(self, req: Request) -> None:
        """LIST (OSD-2 6.14): partition ids (partition 0) or a partition's object ids."""
        if req.pid == 0:
            ids = self.store.partitions(req.start)
            req.target = (0, 0, ObjectType.ROOT)
            self._list_answer(req, ids, DESCRIPTOR_PARTITION_IDS, ObjectType.PARTITION)
        else:
            pid = self._partition(req)
            ids = self.store.objects(pid, req.start, ObjectType.USER)
            self._list_answer(req, ids, DESCRIPTOR_OBJECT_IDS)

    def _list_collection(self, req: Request) -> None:
        """LIST COLLECTION (OSD-2 6.15): a collection's members, or the collections (id 0)."""
        pid = self._partition(req)
        fmt = DESCRIPTOR_OBJECT_IDS
        kind = ObjectType.USER
        if req.oid == 0:
            ids = self.store.objects(pid, req.start, ObjectType.COLLECTION)
            fmt = DESCRIPTOR_COLLECTION_IDS
            kind = ObjectType.COLLECTION
        else:
            if self.store.object_type(pid, req.oid) is not ObjectType.COLLECTION:
                raise _bad_cdb(OBJECT_ID_BYTE)
            req.target = (pid, req.oid, ObjectType.COLLECTION)
            ids = [
                o
                for o in self.store.holders(pid, _COLLECTIONS_PAGE, req.oid.to_bytes(8, "big"))
                if o >= req.start
            ]
        self._list_answer(req, ids, fmt, kind)

    def _list_answer(
        self, req: Request, ids: list[int], fmt: int, kind: ObjectType = ObjectType.USER
    ) -> None:
        """LIST parameter data (OSD-2 6.14.2): a header then eight bytes per id.

        With LIST_ATTR (bit 6 of byte 11) each id is followed by four
        reserved bytes, a four-byte length and the attributes the get list
        names, as retrieved attributes list entries (7.1.3.3); the format
        code says so (22h for user objects). LIST_ATTR needs the get list
        in data-out, so the command is bidirectional.
        """
        room = max(min(req.length, buffers.total(req.data_in)) - _LIST_HEAD.size, 0)
        cdb = req.cmd.cdb
        entry: Callable[[int], bytes]
        if cdb[11] & 0x40:
            if req.params.fmt is not CdbFormat.LIST or req.params.get_list_length == 0:
                raise _bad_cdb(11, 6)
            wanted = self._get_list(req)
            partitions = fmt == DESCRIPTOR_PARTITION_IDS
            pid = 0 if partitions else req.target[0]

            def entry(i: int) -> bytes:
                owner, oid = (i, 0) if partitions else (pid, i)
                listed = encode_value_list(self._listed(owner, oid, kind, wanted))[8:]
                return _LISTED_OBJECT_HEAD.pack(i, len(listed)) + listed

            fmt += DESCRIPTOR_WITH_ATTRIBUTES
            req.attributes_listed = True
        else:

            def entry(i: int) -> bytes:
                return i.to_bytes(8, "big")

        parts: list[bytes] = []
        used = 0
        for i in ids:  # up to the first that does not fit: the continuation id
            one = entry(i)
            if used + len(one) > room:
                break
            parts.append(one)
            used += len(one)
        sent = len(parts)
        continuation = ids[sent] if sent < len(ids) else 0
        body = b"".join(parts)
        head = _LIST_HEAD.pack(
            _LIST_HEAD.size - 8 + len(body),
            continuation,
            int.from_bytes(cdb[48:52], "big"),  # LIST IDENTIFIER, echoed
            fmt << 2,
        )
        payload = head + body
        req.data_in_length = buffers.scatter(req.data_in, 0, payload[: req.length])

    # --- set and get attributes (OSD-2 5.2.4) --------------------------------------------

    def _attribute_parts(self, req: Request) -> None:
        params = req.params
        pid, oid, kind = req.target
        to_set = self._attributes_to_set(req)
        if to_set:
            for each in req.created or [oid]:
                self._apply(req, pid, each, kind, to_set)
        if params.wants_data_in:
            self._retrieve(req, pid, oid, kind)

    def _attributes_to_set(self, req: Request) -> list[tuple[Attribute, int]]:
        """(attribute, field pointer) pairs from the CDB or data-out."""
        p = req.params
        iov = req.cmd.iov
        if p.fmt is CdbFormat.SET_ONE_ATTRIBUTE:
            if p.set_page == 0:
                return []
            if ALL in (p.set_page, p.set_number):
                raise _bad_cdb(ATTRIBUTE_PARAMETERS_BYTE)
            return [(Attribute(p.set_page, p.set_number, p.set_value), -1)]
        if p.fmt is CdbFormat.PAGE:
            if p.set_page == 0:
                return []
            if ALL in (p.set_page, p.set_number) or p.set_offset is None:
                raise _bad_cdb(ATTRIBUTE_PARAMETERS_BYTE + 12)
            if p.set_offset + p.set_length > buffers.total(iov):
                raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
            value = buffers.gather(iov, p.set_offset, p.set_length)
            return [(Attribute(p.set_page, p.set_number, value), -1)]
        if p.set_list_length == 0:
            return []
        if p.set_list_offset is None or p.set_list_offset + p.set_list_length > buffers.total(iov):
            raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
        raw = buffers.gather(iov, p.set_list_offset, p.set_list_length)
        try:
            entries = decode_value_list(raw)
        except ListError as err:
            raise SenseError(
                INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(p.set_list_offset + err.offset)
            ) from None
        return [(a, p.set_list_offset) for a in entries]

    def _apply(
        self,
        req: Request,
        pid: int,
        oid: int,
        kind: ObjectType,
        to_set: list[tuple[Attribute, int]],
    ) -> None:
        store = self.store
        values: list[tuple[int, int, bytes]] = []
        truncate: int | None = None
        for attr, where in to_set:
            page, number, value = attr.page, attr.number, attr.value or b""
            if not settable(kind, page, number) or (attr.value is None):
                raise self._refused(page, number, where)
            sub = page - RANGE_OF_TYPE[kind]
            if sub == StandardPage.INFORMATION and number == LOGICAL_LENGTH:
                if len(value) != 8:
                    raise self._refused(page, number, where)
                truncate = int.from_bytes(value, "big")
                continue
            if kind is ObjectType.USER and sub == StandardPage.COLLECTIONS and value:
                cid = int.from_bytes(value, "big") if len(value) == 8 else 0
                if store.object_type(pid, cid) is not ObjectType.COLLECTION:
                    raise self._refused(page, number, where)
            values.append((page, number, value))
        if not self._bypass_timestamps(req, pid) and (values or truncate is not None):
            ts_page = RANGE_OF_TYPE[kind] + StandardPage.TIMESTAMPS
            values.append((ts_page, 0x3, timestamp()))
        if truncate is not None:
            self._check_quota(pid, oid, truncate)
            store.truncate(pid, oid, truncate)
        with store.transaction() as db:
            store.set_attributes(db, pid, oid, values)

    def _bypass_timestamps(self, req: Request, pid: int) -> bool:
        """TIMESTAMPS CONTROL 7Fh, or TIMESTAMP BYPASS set on the partition or root.

        OSD-2 5.2.8, 7.1.2.15-16.
        """
        if req.bypass_timestamps:
            return True
        for owner, kind in ((pid, ObjectType.PARTITION), (0, ObjectType.ROOT)):
            page = RANGE_OF_TYPE[kind] + StandardPage.TIMESTAMPS
            flag = self.store.attribute(owner, 0, page, TIMESTAMP_BYPASS)
            if flag is not None and any(flag):
                return True
            if owner == 0:
                break
        return False

    @staticmethod
    def _refused(page: int, number: int, where: int) -> SenseError:
        if where < 0:
            err = SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(ATTRIBUTE_PARAMETERS_BYTE))
        else:
            err = SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(where))
        err.descriptors = attribute_identification([(page, number)])
        return err

    def _get_list(self, req: Request) -> list[tuple[int, int]]:
        """The get attributes list of data-out (OSD-2 5.2.4.4, 7.1.3.2)."""
        p = req.params
        iov = req.cmd.iov
        if p.get_list_offset is None or p.get_list_offset + p.get_list_length > buffers.total(iov):
            raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
        raw = buffers.gather(iov, p.get_list_offset, p.get_list_length)
        try:
            return decode_get_list(raw)
        except ListError as err:
            raise SenseError(
                INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(p.get_list_offset + err.offset)
            ) from None

    def _listed(
        self, pid: int, oid: int, kind: ObjectType, wanted: list[tuple[int, int]]
    ) -> list[Attribute]:
        """The attributes a get list names, of one object (OSD-2 7.1.3.3).

        FFFFFFFFh as the page asks for every page, as the number for every
        attribute of the page; an attribute the object does not have is
        reported with length FFFFh.
        """
        attrs = self.attributes
        out: list[Attribute] = []
        for page, number in wanted:
            if page == ALL:
                for pg in attrs.all_pages(pid, oid, kind):
                    out += attrs.page_list(pid, oid, kind, pg)
            elif number == ALL:
                out += attrs.page_list(pid, oid, kind, page)
            else:
                out.append(Attribute(page, number, attrs.get(pid, oid, kind, page, number)))
        return out

    def _put_data_in(self, req: Request, offset: int, payload: bytes) -> None:
        if offset + len(payload) > buffers.total(req.data_in):
            raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
        written = buffers.scatter(req.data_in, offset, payload)
        req.data_in_length = max(req.data_in_length, offset + written)

    def _retrieve(self, req: Request, pid: int, oid: int, kind: ObjectType) -> None:
        p = req.params
        if p.retrieved_offset is None and req.attributes_listed:
            return
        if p.retrieved_offset is None:
            raise _bad_cdb(ATTRIBUTE_PARAMETERS_BYTE + (12 if p.fmt is CdbFormat.LIST else 8))
        if p.fmt is CdbFormat.LIST:
            wanted = self._get_list(req)
            if len(req.created) > 1:  # every object a CREATE made: 7.1.3.4
                payload = encode_multi_object_list(
                    [(each, kind, self._listed(pid, each, kind, wanted)) for each in req.created]
                )
            else:
                payload = encode_value_list(self._listed(pid, oid, kind, wanted))
            self._put_data_in(req, p.retrieved_offset, payload[: p.allocation_length])
            return
        page = p.get_page
        attrs = self.attributes
        if page == ALL:
            entries = [
                a
                for pg in attrs.all_pages(pid, oid, kind)
                for a in attrs.page_list(pid, oid, kind, pg)
            ]
            payload = encode_value_list(entries)
        else:
            if page != CURRENT_COMMAND_PAGE and page_object_type(page) is not kind:
                raise _bad_cdb(ATTRIBUTE_PARAMETERS_BYTE)
            fixed = attrs.page_format(pid, oid, kind, page)
            payload = (
                fixed
                if fixed is not None
                else encode_value_list(attrs.page_list(pid, oid, kind, page))
            )
        self._put_data_in(req, p.retrieved_offset, payload[: p.allocation_length])


_FUNCTIONS: dict[ServiceAction, Callable[[OsdDevice, Request], None]] = {
    _SA.FORMAT_OSD: OsdDevice._format_osd,
    _SA.CREATE: OsdDevice._create,
    _SA.LIST: OsdDevice._list,
    _SA.PUNCH: OsdDevice._punch,
    _SA.READ: OsdDevice._read,
    _SA.WRITE: OsdDevice._write,
    _SA.APPEND: OsdDevice._append,
    _SA.FLUSH: OsdDevice._flush,
    _SA.CLEAR: OsdDevice._clear,
    _SA.REMOVE: OsdDevice._remove,
    _SA.CREATE_PARTITION: OsdDevice._create_partition,
    _SA.REMOVE_PARTITION: OsdDevice._remove_partition,
    _SA.GET_ATTRIBUTES: OsdDevice._get_attributes,
    _SA.SET_ATTRIBUTES: OsdDevice._set_attributes,
    _SA.CREATE_AND_WRITE: OsdDevice._create_and_write,
    _SA.CREATE_COLLECTION: OsdDevice._create_collection,
    _SA.REMOVE_COLLECTION: OsdDevice._remove_collection,
    _SA.LIST_COLLECTION: OsdDevice._list_collection,
    _SA.FLUSH_COLLECTION: OsdDevice._flush_collection,
    _SA.FLUSH_PARTITION: OsdDevice._flush_partition,
    _SA.FLUSH_OSD: OsdDevice._flush_osd,
    _SA.SET_KEY: OsdDevice._set_key,
}
