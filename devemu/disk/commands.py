"""The SBC-4 command table of the disk.

Each entry names the CDB declaration (:mod:`devemu.disk.cdbs`), the
fields its handler takes, and the command's facts. What the disk refuses
on purpose is listed as unsupported and so left out of the usage data:
RDPROTECT/WRPROTECT/VRPROTECT (no protection information), ANCHOR
(ANC_SUP is 0), LOEJ for a fixed disk, SYNC_NV and FUA_NV, the FORMAT
UNIT parameter list, the obsolete fields of READ CAPACITY. The GROUP
NUMBER (SBC-4 4.22) is accepted and ignored.

Every command that changes the medium is :attr:`Access.WRITE`: a
read-only image refuses it before its handler runs, another nexus's
Write Exclusive reservation refuses it, and a restarted daemon runs it
again (writing the same blocks twice is writing them once), all but
COMPARE AND WRITE, whose compare may see its own write. SYNCHRONIZE
CACHE and START STOP UNIT change the unit's state, not its blocks: a
Write Exclusive reservation refuses them, write protection does not.
"""

from __future__ import annotations

from collections.abc import Callable

from construct import Construct

from devemu.disk import atomic, cache, capacity, cdbs, defects, power, provisioning, transfer
from devemu.disk.opcodes import Opcode, ServiceActionIn16
from devemu.scsi.table import Access, CommandSpec, Conflict, Data, Handler

_O = Opcode
_READ = frozenset({"flags.rdprotect"})
_WRITE = frozenset({"flags.wrprotect"})
_VERIFY = frozenset({"flags.protect"})
_RW = ("lba", "transfer_length")
_WRITE_FIELDS = ("flags.fua", "lba", "transfer_length")
_VERIFY_FIELDS = ("flags.bytchk", "lba", "transfer_length")
_CACHE_FIELDS = ("lba", "transfer_length")
_DEFECT_FIELDS = (
    "request.req_plist",
    "request.req_glist",
    "request.defect_list_format",
    "allocation_length",
)


def _medium_access(
    fields: tuple[str, ...], unsupported: frozenset[str], data: Data, access: Access
) -> Callable[[str, Opcode, Construct, Handler], CommandSpec]:
    """The spec builder of one family of block transfers (its 6/10/12/16-byte forms differ
    only in name, opcode, CDB layout and handler); a daemon restarted may run each again."""

    def build(name: str, opcode: Opcode, cdb: Construct, handler: Handler) -> CommandSpec:
        return CommandSpec(
            name,
            opcode,
            cdb,
            handler,
            fields=fields,
            unsupported=unsupported,
            data=data,
            access=access,
            idempotent=True,
            needs_medium=True,
        )

    return build


_read = _medium_access(_RW, _READ, Data.IN, Access.READ)
_write = _medium_access(_WRITE_FIELDS, _WRITE, Data.OUT, Access.WRITE)
_verify = _medium_access(_VERIFY_FIELDS, _VERIFY, Data.OUT, Access.READ)
_write_and_verify = _medium_access(_VERIFY_FIELDS, _VERIFY, Data.OUT, Access.WRITE)


SBC_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "FORMAT UNIT",
        _O.FORMAT_UNIT,
        cdbs.FormatUnitCdb,
        provisioning.format_unit,
        unsupported=frozenset(
            {"flags.fmtpinfo", "flags.longlist", "flags.fmtdata", "vendor_specific"}
        ),
        access=Access.WRITE,
        idempotent=True,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "READ(6)",
        _O.READ_6,
        cdbs.Rw6Cdb,
        transfer.read_6,
        fields=("address.lba", "transfer_length"),
        data=Data.IN,
        access=Access.READ,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE(6)",
        _O.WRITE_6,
        cdbs.Rw6Cdb,
        transfer.write_6,
        fields=("address.lba", "transfer_length"),
        data=Data.OUT,
        access=Access.WRITE,
        idempotent=True,
        needs_medium=True,
    ),
    CommandSpec(
        "START STOP UNIT",
        _O.START_STOP_UNIT,
        cdbs.StartStopUnitCdb,
        power.start_stop_unit,
        fields=("action.power_condition", "action.no_flush", "action.start"),
        unsupported=frozenset({"action.loej"}),
        access=Access.CONTROL,
        idempotent=True,
        timeout=60,
    ),
    CommandSpec(
        "READ CAPACITY(10)",
        _O.READ_CAPACITY_10,
        cdbs.ReadCapacity10Cdb,
        capacity.read_capacity_10,
        unsupported=frozenset({"lba", "pmi"}),
        data=Data.IN,
        conflict=Conflict.NEVER,
    ),
    _read("READ(10)", _O.READ_10, cdbs.Read10Cdb, transfer.read_10),
    _write("WRITE(10)", _O.WRITE_10, cdbs.Write10Cdb, transfer.write_10),
    _write_and_verify(
        "WRITE AND VERIFY(10)",
        _O.WRITE_AND_VERIFY_10,
        cdbs.WriteAndVerify10Cdb,
        transfer.write_and_verify_10,
    ),
    _verify("VERIFY(10)", _O.VERIFY_10, cdbs.Verify10Cdb, transfer.verify_10),
    CommandSpec(
        "PRE-FETCH(10)",
        _O.PRE_FETCH_10,
        cdbs.PreFetch10Cdb,
        cache.pre_fetch_10,
        fields=_CACHE_FIELDS,
        access=Access.READ,
        needs_medium=True,
    ),
    CommandSpec(
        "SYNCHRONIZE CACHE(10)",
        _O.SYNCHRONIZE_CACHE_10,
        cdbs.SynchronizeCache10Cdb,
        cache.synchronize_cache_10,
        fields=_CACHE_FIELDS,
        unsupported=frozenset({"flags.sync_nv"}),
        access=Access.CONTROL,
        idempotent=True,
        timeout=60,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE SAME(10)",
        _O.WRITE_SAME_10,
        cdbs.WriteSame10Cdb,
        provisioning.write_same_10,
        fields=("flags.unmap", "flags.ndob", "lba", "transfer_length"),
        unsupported=frozenset({"flags.wrprotect", "flags.anchor", "flags.ndob"}),
        data=Data.OUT,
        access=Access.WRITE,
        idempotent=True,
        timeout=60,
        needs_medium=True,
    ),
    CommandSpec(
        "UNMAP",
        _O.UNMAP,
        cdbs.UnmapCdb,
        provisioning.unmap,
        fields=("parameter_list_length",),
        unsupported=frozenset({"flags.anchor"}),
        data=Data.OUT,
        access=Access.WRITE,
        idempotent=True,
        timeout=60,
        needs_medium=True,
    ),
    _read("READ(16)", _O.READ_16, cdbs.Read16Cdb, transfer.read_16),
    CommandSpec(
        "COMPARE AND WRITE",
        _O.COMPARE_AND_WRITE,
        cdbs.CompareAndWriteCdb,
        transfer.compare_and_write,
        fields=("flags.fua", "lba", "number_of_blocks"),
        unsupported=frozenset({"flags.wrprotect", "flags.fua_nv"}),
        data=Data.OUT,
        access=Access.WRITE,
        idempotent=False,
        needs_medium=True,
    ),
    # VERIFY and WRITE AND VERIFY (12), ORWRITE, WRITE ATOMIC, READ DEFECT DATA.
    _verify("VERIFY(12)", _O.VERIFY_12, cdbs.Verify12Cdb, transfer.verify_12),
    _write_and_verify(
        "WRITE AND VERIFY(12)",
        _O.WRITE_AND_VERIFY_12,
        cdbs.WriteAndVerify12Cdb,
        transfer.write_and_verify_12,
    ),
    CommandSpec(
        "ORWRITE(16)",
        _O.ORWRITE_16,
        cdbs.OrWrite16Cdb,
        atomic.orwrite_16,
        fields=_WRITE_FIELDS,
        unsupported=frozenset({"flags.orprotect"}),
        data=Data.OUT,
        access=Access.WRITE,
        idempotent=True,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE ATOMIC(16)",
        _O.WRITE_ATOMIC_16,
        cdbs.WriteAtomic16Cdb,
        atomic.write_atomic_16,
        fields=("flags.fua", "lba", "atomic_boundary", "transfer_length"),
        unsupported=_WRITE,
        data=Data.OUT,
        access=Access.WRITE,
        idempotent=True,
        needs_medium=True,
    ),
    CommandSpec(
        "READ DEFECT DATA(10)",
        _O.READ_DEFECT_DATA_10,
        cdbs.ReadDefectData10Cdb,
        defects.read_defect_data_10,
        fields=_DEFECT_FIELDS,
        data=Data.IN,
        access=Access.READ,
        needs_medium=True,
    ),
    CommandSpec(
        "READ DEFECT DATA(12)",
        _O.READ_DEFECT_DATA_12,
        cdbs.ReadDefectData12Cdb,
        defects.read_defect_data_12,
        fields=_DEFECT_FIELDS,
        data=Data.IN,
        access=Access.READ,
        needs_medium=True,
    ),
    _write("WRITE(16)", _O.WRITE_16, cdbs.Write16Cdb, transfer.write_16),
    _write_and_verify(
        "WRITE AND VERIFY(16)",
        _O.WRITE_AND_VERIFY_16,
        cdbs.WriteAndVerify16Cdb,
        transfer.write_and_verify_16,
    ),
    _verify("VERIFY(16)", _O.VERIFY_16, cdbs.Verify16Cdb, transfer.verify_16),
    CommandSpec(
        "PRE-FETCH(16)",
        _O.PRE_FETCH_16,
        cdbs.PreFetch16Cdb,
        cache.pre_fetch_16,
        fields=_CACHE_FIELDS,
        access=Access.READ,
        needs_medium=True,
    ),
    CommandSpec(
        "SYNCHRONIZE CACHE(16)",
        _O.SYNCHRONIZE_CACHE_16,
        cdbs.SynchronizeCache16Cdb,
        cache.synchronize_cache_16,
        fields=_CACHE_FIELDS,
        unsupported=frozenset({"flags.sync_nv"}),
        access=Access.CONTROL,
        idempotent=True,
        timeout=60,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE SAME(16)",
        _O.WRITE_SAME_16,
        cdbs.WriteSame16Cdb,
        provisioning.write_same_16,
        fields=("flags.unmap", "flags.ndob", "lba", "transfer_length"),
        unsupported=frozenset({"flags.wrprotect", "flags.anchor"}),
        data=Data.OUT,
        access=Access.WRITE,
        idempotent=True,
        timeout=60,
        needs_medium=True,
    ),
    CommandSpec(
        "READ CAPACITY(16)",
        _O.SERVICE_ACTION_IN_16,
        cdbs.ReadCapacity16Cdb,
        capacity.read_capacity_16,
        service_action=ServiceActionIn16.READ_CAPACITY_16,
        fields=("allocation_length",),
        unsupported=frozenset({"lba", "pmi"}),
        data=Data.IN,
        conflict=Conflict.NEVER,
    ),
    CommandSpec(
        "GET LBA STATUS",
        _O.SERVICE_ACTION_IN_16,
        cdbs.GetLbaStatusCdb,
        provisioning.get_lba_status,
        service_action=ServiceActionIn16.GET_LBA_STATUS,
        fields=("lba", "allocation_length"),
        unsupported=frozenset({"report_type"}),
        data=Data.IN,
        access=Access.READ,
        needs_medium=True,
    ),
    _read("READ(12)", _O.READ_12, cdbs.Read12Cdb, transfer.read_12),
    _write("WRITE(12)", _O.WRITE_12, cdbs.Write12Cdb, transfer.write_12),
)
