"""The attribute pages OSD-2 defines, for each kind of object (OSD-2 7.1.2).

Root, partition, collection and user object each have an information
page (7.1.2.8-11), a quotas page (7.1.2.12-14), a timestamps page
(7.1.2.15-18) and a policy/security page (7.1.2.20-23); a user object
also has its collections page (7.1.2.19), which names the collections
it belongs to. Most values are derived (lengths and capacities from the
files, counts from the table) and read-only; the user name (attribute
9h of an information page), the OSD name, a user object's logical
length, quotas and collection membership may be set. Pages outside the
standard subrange (application-defined from 10000h, vendor, public) hold
whatever the application client stores.

:class:`Attributes` answers one attribute, a whole page as a list, and
the pages with a fixed layout (quotas, timestamps, current command) in
the page format of OSD-2 5.2.4.3.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from devemu.osd.attributes import (
    CURRENT_COMMAND_PAGE,
    PAGE_IDENTIFICATION,
    RANGE_OF_TYPE,
    STANDARD_LAST,
    Attribute,
    StandardPage,
    page_identification,
    page_object_type,
    timestamp,
    u32,
    u64,
)
from devemu.osd.cdb import ObjectType, SecurityMethod
from devemu.osd.continuation import MAXIMUM_LENGTH
from devemu.osd.store import ObjectStore
from devemu.scsi.identity import Identity

#: Attribute numbers of the information pages (OSD-2 7.1.2.8-11).
PARTITION_ID = 0x1
OBJECT_ID = 0x2
OSD_SYSTEM_ID = 0x3
VENDOR_IDENTIFICATION = 0x4
PRODUCT_IDENTIFICATION = 0x5
PRODUCT_MODEL = 0x6
PRODUCT_REVISION_LEVEL = 0x7
PRODUCT_SERIAL_NUMBER = 0x8
USERNAME = 0x9  # OSD NAME on the root information page
TOTAL_CAPACITY = 0x80
USED_CAPACITY = 0x81
LOGICAL_LENGTH = 0x82
NUMBER_OF_PARTITIONS = 0xC0
NUMBER_OF_OBJECTS = 0xC1
CLOCK = 0x100
#: Timestamps pages (OSD-2 7.1.2.15-18).
CREATED_TIME = 0x1
ATTRIBUTES_ACCESSED_TIME = 0x2
ATTRIBUTES_MODIFIED_TIME = 0x3
DATA_ACCESSED_TIME = 0x4
DATA_MODIFIED_TIME = 0x5
#: Quotas pages (OSD-2 7.1.2.12-14).
DEFAULT_MAXIMUM_USER_OBJECT_LENGTH = 0x1
MAXIMUM_USER_OBJECT_LENGTH = 0x1
CAPACITY_QUOTA = 0x10001
OBJECT_COUNT_QUOTA = 0x10002
COLLECTIONS_PER_USER_OBJECT = 0x10081
PARTITION_COUNT_QUOTA = 0x20002
#: Policy/security pages (OSD-2 7.1.2.20-21).
DEFAULT_SECURITY_METHOD = 0x1
PARTITION_DEFAULT_SECURITY_METHOD = 0x6
SUPPORTED_SECURITY_METHODS = 0x7
#: Root and partition timestamps pages (OSD-2 7.1.2.15-16): TIMESTAMP BYPASS, one byte.
TIMESTAMP_BYPASS = 0xFFFFFFFE
#: Root information page (OSD-2 7.1.2.8): MAXIMUM CDB CONTINUATION LENGTH, four bytes.
MAXIMUM_CDB_CONTINUATION_LENGTH = 0xA
#: Policy/security pages (OSD-2 7.1.2.20-21): key identifiers SET KEY records.
MASTER_KEY_IDENTIFIER = 0x7FFD
ROOT_KEY_IDENTIFIER = 0x7FFE
PARTITION_KEY_IDENTIFIER = 0x7FFF
WORKING_KEY_IDENTIFIER_FIRST = 0x8000
#: Current command page (OSD-2 7.1.2.24).
CC_RESPONSE_INTEGRITY_CHECK_VALUE = 0x1
CC_OBJECT_TYPE = 0x2
CC_PARTITION_ID = 0x3
CC_OBJECT_ID = 0x4
CC_STARTING_BYTE_ADDRESS_OF_APPEND = 0x5
CC_CHANGE_IN_USED_CAPACITY = 0x6

NO_LIMIT = (1 << 64) - 1
#: OSD-2 7.1.2.8-23: how each object type is named in its pages' identification.
_KIND_NAMES = {
    ObjectType.ROOT: "Root",
    ObjectType.PARTITION: "Partition",
    ObjectType.COLLECTION: "Collection",
    ObjectType.USER: "User Object",
}
_PAGE_NAMES: dict[int, str] = {
    StandardPage.DIRECTORY: "Directory",
    StandardPage.INFORMATION: "Information",
    StandardPage.QUOTAS: "Quotas",
    StandardPage.TIMESTAMPS: "Timestamps",
    StandardPage.COLLECTIONS: "Collections",
    StandardPage.POLICY_SECURITY: "Policy/Security",
}


def _page(kind: ObjectType, page: StandardPage) -> int:
    return int(RANGE_OF_TYPE[kind]) + int(page)


def settable(kind: ObjectType, page: int, number: int) -> bool:
    """May an application client set this attribute of an object of ``kind``?"""
    sub = page - RANGE_OF_TYPE[kind] if page_object_type(page) is kind else None
    if sub is None:
        return False
    if sub > STANDARD_LAST:
        return True
    if sub == StandardPage.INFORMATION:
        return number == USERNAME or (kind is ObjectType.USER and number == LOGICAL_LENGTH)
    if sub == StandardPage.QUOTAS:
        return number in _QUOTA_NUMBERS[kind]
    if sub == StandardPage.COLLECTIONS:
        return kind is ObjectType.USER and 0 < number < 0xFFFFFFFE
    if sub == StandardPage.TIMESTAMPS:
        return number == TIMESTAMP_BYPASS and kind in (ObjectType.ROOT, ObjectType.PARTITION)
    return False


_QUOTA_NUMBERS = {
    ObjectType.ROOT: (
        DEFAULT_MAXIMUM_USER_OBJECT_LENGTH,
        CAPACITY_QUOTA,
        OBJECT_COUNT_QUOTA,
        COLLECTIONS_PER_USER_OBJECT,
        PARTITION_COUNT_QUOTA,
    ),
    ObjectType.PARTITION: (
        DEFAULT_MAXIMUM_USER_OBJECT_LENGTH,
        CAPACITY_QUOTA,
        OBJECT_COUNT_QUOTA,
        COLLECTIONS_PER_USER_OBJECT,
    ),
    ObjectType.COLLECTION: (),
    ObjectType.USER: (MAXIMUM_USER_OBJECT_LENGTH,),
}
#: Page format layouts (OSD-2 7.1.2.12-18): attribute numbers and widths in order.
_QUOTA_LAYOUT = {
    ObjectType.ROOT: (
        (1, 8),
        (CAPACITY_QUOTA, 8),
        (OBJECT_COUNT_QUOTA, 8),
        (COLLECTIONS_PER_USER_OBJECT, 4),
        (PARTITION_COUNT_QUOTA, 8),
    ),
    ObjectType.PARTITION: (
        (1, 8),
        (CAPACITY_QUOTA, 8),
        (OBJECT_COUNT_QUOTA, 8),
        (COLLECTIONS_PER_USER_OBJECT, 4),
    ),
    ObjectType.USER: ((MAXIMUM_USER_OBJECT_LENGTH, 8),),
}
_TIMES = ((1, 6), (2, 6), (3, 6), (4, 6), (5, 6))
#: OSD-2 7.1.2.15-18: root and partition pages end with the one-byte TIMESTAMP BYPASS.
_TIMESTAMP_LAYOUT = {
    ObjectType.ROOT: ((2, 6), (3, 6), (TIMESTAMP_BYPASS, 1)),
    ObjectType.PARTITION: (*_TIMES, (TIMESTAMP_BYPASS, 1)),
    ObjectType.COLLECTION: _TIMES,
    ObjectType.USER: _TIMES,
}
#: OSD-2 7.1.2.24: 68 bytes after the page header.
_CURRENT_COMMAND_LAYOUT = ((1, 32), (2, 1), (0, 3), (3, 8), (4, 8), (5, 8), (6, 8))
_QUOTA_DEFAULT = {4: 0xFFFFFFFF, 8: NO_LIMIT}


@dataclass
class CurrentCommand:
    """What the current command page reports (OSD-2 7.1.2.24)."""

    object_type: ObjectType = ObjectType.ROOT
    partition_id: int = 0
    object_id: int = 0
    append_start: int = NO_LIMIT
    #: Bytes the command added to (or, negative, took from) the used capacity.
    used_change: int = 0


class Attributes:
    """Every attribute of every object of one OSD, read and written."""

    def __init__(self, store: ObjectStore, identity: Identity, system_id: bytes) -> None:
        self.store = store
        self.identity = identity
        self.system_id = system_id
        self.current = CurrentCommand()

    # --- reading ---------------------------------------------------------------------

    def get(self, pid: int, oid: int, kind: ObjectType, page: int, number: int) -> bytes | None:
        """One attribute's value, or None when it is not defined."""
        if page == CURRENT_COMMAND_PAGE:
            return self._current().get(number)
        return self._page(pid, oid, kind, page).get(number)

    def page_list(self, pid: int, oid: int, kind: ObjectType, page: int) -> list[Attribute]:
        """Every defined attribute of a page, in number order (a get list's FFFFFFFFh)."""
        if page == CURRENT_COMMAND_PAGE:
            values = self._current()
        else:
            values = self._page(pid, oid, kind, page)
        return [Attribute(page, n, v) for n, v in sorted(values.items())]

    def all_pages(self, pid: int, oid: int, kind: ObjectType) -> list[int]:
        base = int(RANGE_OF_TYPE[kind])
        standard = [
            base + p
            for p in StandardPage
            if p != StandardPage.COLLECTIONS or kind is ObjectType.USER
        ]
        stored = [p for p in self.store.pages(pid, oid) if p not in standard]
        return standard + stored

    def page_format(self, pid: int, oid: int, kind: ObjectType, page: int) -> bytes | None:
        """A page in the page format (OSD-2 5.2.4.3): header and fixed layout; None if none."""
        if page == CURRENT_COMMAND_PAGE:
            layout: tuple[tuple[int, int], ...] | None = _CURRENT_COMMAND_LAYOUT
            values = self._current()
        else:
            if page_object_type(page) is not kind:
                return None
            sub = page - RANGE_OF_TYPE[kind]
            if sub == StandardPage.QUOTAS:
                layout = _QUOTA_LAYOUT.get(kind)
            elif sub == StandardPage.TIMESTAMPS:
                layout = _TIMESTAMP_LAYOUT.get(kind)
            else:
                layout = None
            values = self._page(pid, oid, kind, page)
        if layout is None:
            return None
        body = b"".join(
            (values.get(n) or _QUOTA_DEFAULT.get(w, 0).to_bytes(w, "big") if n else bytes(w))[
                :w
            ].rjust(w, b"\0")
            for n, w in layout
        )
        return struct.pack(">II", page, len(body)) + body

    def _current(self) -> dict[int, bytes]:
        c = self.current
        return {
            CC_RESPONSE_INTEGRITY_CHECK_VALUE: bytes(32),
            CC_OBJECT_TYPE: bytes([c.object_type]),
            CC_PARTITION_ID: u64(c.partition_id),
            CC_OBJECT_ID: u64(c.object_id),
            CC_STARTING_BYTE_ADDRESS_OF_APPEND: u64(c.append_start),
            CC_CHANGE_IN_USED_CAPACITY: c.used_change.to_bytes(8, "big", signed=True),
        }

    def _page(self, pid: int, oid: int, kind: ObjectType, page: int) -> dict[int, bytes]:
        stored = self.store.page_attributes(pid, oid, page)
        if page_object_type(page) is not kind:
            return stored
        sub = page - RANGE_OF_TYPE[kind]
        if sub > STANDARD_LAST:
            return stored
        maker = _DERIVED.get((kind, sub))
        values: dict[int, bytes] = {}
        if sub in _PAGE_NAMES:
            name = f"T10 {_KIND_NAMES[kind]} {_PAGE_NAMES[sub]}"
            values[PAGE_IDENTIFICATION] = page_identification(b"INCITS  ", name)
        if maker is not None:
            values.update(maker(self, pid, oid))
        values.update(stored)
        return values

    # --- derived pages -------------------------------------------------------------------

    def _root_information(self, pid: int, oid: int) -> dict[int, bytes]:
        ident = self.identity
        partitions = self.store.partitions()
        used = sum(_folder_bytes(self.store.partition_path(p)) for p in partitions)
        return {
            OSD_SYSTEM_ID: self.system_id,
            VENDOR_IDENTIFICATION: ident.vendor_bytes(),
            PRODUCT_IDENTIFICATION: ident.product_bytes(),
            PRODUCT_MODEL: ident.product.encode("ascii")[:32].ljust(32),
            PRODUCT_REVISION_LEVEL: ident.revision_bytes(),
            PRODUCT_SERIAL_NUMBER: ident.serial.encode("ascii"),
            TOTAL_CAPACITY: u64(self.store.capacity),
            USED_CAPACITY: u64(used),
            MAXIMUM_CDB_CONTINUATION_LENGTH: u32(MAXIMUM_LENGTH),
            NUMBER_OF_PARTITIONS: u64(len(partitions)),
            CLOCK: timestamp(),
        }

    def _partition_information(self, pid: int, oid: int) -> dict[int, bytes]:
        return {
            PARTITION_ID: u64(pid),
            USED_CAPACITY: u64(_folder_bytes(self.store.partition_path(pid))),
            NUMBER_OF_OBJECTS: u64(len(self.store.objects(pid))),
        }

    def _collection_information(self, pid: int, oid: int) -> dict[int, bytes]:
        return {PARTITION_ID: u64(pid), OBJECT_ID: u64(oid), USED_CAPACITY: u64(0)}

    def _user_information(self, pid: int, oid: int) -> dict[int, bytes]:
        return {
            PARTITION_ID: u64(pid),
            OBJECT_ID: u64(oid),
            USED_CAPACITY: u64(self.store.used_capacity(pid, oid)),
            LOGICAL_LENGTH: u64(self.store.logical_length(pid, oid)),
        }

    def _timestamps(self, pid: int, oid: int, kind: ObjectType) -> dict[int, bytes]:
        created = self.store.created(pid, oid).to_bytes(6, "big")
        out = {CREATED_TIME: created, ATTRIBUTES_ACCESSED_TIME: timestamp()}
        if kind is ObjectType.USER:
            st = os.fstat(self.store.fd(pid, oid))
            out[DATA_ACCESSED_TIME] = timestamp(st.st_atime)
            out[DATA_MODIFIED_TIME] = timestamp(st.st_mtime)
        else:
            out[DATA_ACCESSED_TIME] = created
            out[DATA_MODIFIED_TIME] = created
        out.setdefault(ATTRIBUTES_MODIFIED_TIME, created)
        if kind is ObjectType.ROOT:
            del out[CREATED_TIME], out[DATA_ACCESSED_TIME], out[DATA_MODIFIED_TIME]
        if kind in (ObjectType.ROOT, ObjectType.PARTITION):
            out[TIMESTAMP_BYPASS] = b"\x00"
        return out

    def _quotas(self, pid: int, oid: int, kind: ObjectType) -> dict[int, bytes]:
        return {n: _QUOTA_DEFAULT[w].to_bytes(w, "big") for n, w in _QUOTA_LAYOUT[kind]}

    def _root_security(self, pid: int, oid: int) -> dict[int, bytes]:
        return {
            DEFAULT_SECURITY_METHOD: bytes([SecurityMethod.NOSEC]),
            PARTITION_DEFAULT_SECURITY_METHOD: bytes([SecurityMethod.NOSEC]),
            SUPPORTED_SECURITY_METHODS: (1 << SecurityMethod.NOSEC).to_bytes(2, "big"),
        }

    def _partition_security(self, pid: int, oid: int) -> dict[int, bytes]:
        return {DEFAULT_SECURITY_METHOD: bytes([SecurityMethod.NOSEC])}


def _folder_bytes(folder: os.PathLike[str] | str) -> int:
    total = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.is_file(follow_symlinks=False):
            total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total


_Maker = Callable[[Attributes, int, int], dict[int, bytes]]
_R, _P, _C, _U = ObjectType.ROOT, ObjectType.PARTITION, ObjectType.COLLECTION, ObjectType.USER
_S = StandardPage
_DERIVED: dict[tuple[ObjectType, int], _Maker] = {
    (_R, _S.INFORMATION): Attributes._root_information,
    (_P, _S.INFORMATION): Attributes._partition_information,
    (_C, _S.INFORMATION): Attributes._collection_information,
    (_U, _S.INFORMATION): Attributes._user_information,
    (_R, _S.POLICY_SECURITY): Attributes._root_security,
    (_P, _S.POLICY_SECURITY): Attributes._partition_security,
}


def _of_kind(
    method: Callable[[Attributes, int, int, ObjectType], dict[int, bytes]], kind: ObjectType
) -> _Maker:
    def make(attributes: Attributes, pid: int, oid: int) -> dict[int, bytes]:
        return method(attributes, pid, oid, kind)

    return make


for _kind in (_R, _P, _C, _U):
    _DERIVED[(_kind, _S.TIMESTAMPS)] = _of_kind(Attributes._timestamps, _kind)
for _kind in (_R, _P, _U):
    _DERIVED[(_kind, _S.QUOTAS)] = _of_kind(Attributes._quotas, _kind)
