"""The SBC-4 command table of the disk.

Each entry is the CDB usage data of SPC-5 6.35.3: the opcode, then a one
for every CDB bit the disk interprets. The dispatcher refuses any other
bit with INVALID FIELD IN CDB, so what is absent here is unsupported on
purpose: RDPROTECT/WRPROTECT/VRPROTECT (no protection information), the
obsolete bits, ANCHOR (ANC_SUP is 0), LOEJ for a fixed disk, the FORMAT
UNIT parameter list, and NACA/LINK in the control byte. The GROUP NUMBER
(SBC-4 4.22) is accepted and ignored. For the commands under SERVICE
ACTION IN (16), byte 1 is the service action itself.
"""

from __future__ import annotations

from devemu.disk import cache, capacity, power, provisioning, transfer
from devemu.disk.opcodes import Opcode, ServiceActionIn16
from devemu.scsi.table import CommandSpec


def _usage(opcode: int, mask: str) -> bytes:
    """Usage data: the opcode byte, then the mask given as hex bytes."""
    return bytes([opcode]) + bytes.fromhex(mask)


_O = Opcode
_SA = ServiceActionIn16

#: Byte 1 of READ (DPO, FUA, RARC), WRITE (DPO, FUA), VERIFY (DPO, BYTCHK).
_READ_FLAGS = "1c"
_WRITE_FLAGS = "18"
_VERIFY_FLAGS = "16"
_LBA4 = "ffffffff"
_LBA8 = "ffffffffffffffff"
_GROUP = "3f"


def _rw10(flags: str) -> str:
    return flags + _LBA4 + _GROUP + "ffff" + "00"


def _rw12(flags: str) -> str:
    return flags + _LBA4 + "ffffffff" + _GROUP + "00"


def _rw16(flags: str) -> str:
    return flags + _LBA8 + "ffffffff" + _GROUP + "00"


SBC_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "FORMAT UNIT",
        _usage(_O.FORMAT_UNIT, "0f00000000"),
        provisioning.format_unit,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec("READ(6)", _usage(_O.READ_6, "1fffffff00"), transfer.read_6, needs_medium=True),
    CommandSpec("WRITE(6)", _usage(_O.WRITE_6, "1fffffff00"), transfer.write_6, needs_medium=True),
    CommandSpec(
        "START STOP UNIT",
        _usage(_O.START_STOP_UNIT, "01000ff5" + "00"),
        power.start_stop_unit,
        timeout=60,
    ),
    CommandSpec(
        "READ CAPACITY(10)",
        _usage(_O.READ_CAPACITY_10, "000000000000000000"),
        capacity.read_capacity_10,
        conflicts=False,
    ),
    CommandSpec(
        "READ(10)", _usage(_O.READ_10, _rw10(_READ_FLAGS)), transfer.read_10, needs_medium=True
    ),
    CommandSpec(
        "WRITE(10)", _usage(_O.WRITE_10, _rw10(_WRITE_FLAGS)), transfer.write_10, needs_medium=True
    ),
    CommandSpec(
        "WRITE AND VERIFY(10)",
        _usage(_O.WRITE_AND_VERIFY_10, _rw10(_VERIFY_FLAGS)),
        transfer.write_and_verify_10,
        needs_medium=True,
    ),
    CommandSpec(
        "VERIFY(10)",
        _usage(_O.VERIFY_10, _rw10(_VERIFY_FLAGS)),
        transfer.verify_10,
        needs_medium=True,
    ),
    CommandSpec(
        "PRE-FETCH(10)", _usage(_O.PRE_FETCH_10, _rw10("02")), cache.pre_fetch_10, needs_medium=True
    ),
    CommandSpec(
        "SYNCHRONIZE CACHE(10)",
        _usage(_O.SYNCHRONIZE_CACHE_10, _rw10("02")),
        cache.synchronize_cache_10,
        timeout=60,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE SAME(10)",
        _usage(_O.WRITE_SAME_10, _rw10("08")),
        provisioning.write_same_10,
        timeout=60,
        needs_medium=True,
    ),
    CommandSpec(
        "UNMAP",
        _usage(_O.UNMAP, "00" + "00000000" + _GROUP + "ffff" + "00"),
        provisioning.unmap,
        timeout=60,
        needs_medium=True,
    ),
    CommandSpec(
        "READ(16)", _usage(_O.READ_16, _rw16(_READ_FLAGS)), transfer.read_16, needs_medium=True
    ),
    CommandSpec(
        "COMPARE AND WRITE",
        _usage(_O.COMPARE_AND_WRITE, _WRITE_FLAGS + _LBA8 + "000000" + "ff" + _GROUP + "00"),
        transfer.compare_and_write,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE(16)", _usage(_O.WRITE_16, _rw16(_WRITE_FLAGS)), transfer.write_16, needs_medium=True
    ),
    CommandSpec(
        "WRITE AND VERIFY(16)",
        _usage(_O.WRITE_AND_VERIFY_16, _rw16(_VERIFY_FLAGS)),
        transfer.write_and_verify_16,
        needs_medium=True,
    ),
    CommandSpec(
        "VERIFY(16)",
        _usage(_O.VERIFY_16, _rw16(_VERIFY_FLAGS)),
        transfer.verify_16,
        needs_medium=True,
    ),
    CommandSpec(
        "PRE-FETCH(16)", _usage(_O.PRE_FETCH_16, _rw16("02")), cache.pre_fetch_16, needs_medium=True
    ),
    CommandSpec(
        "SYNCHRONIZE CACHE(16)",
        _usage(_O.SYNCHRONIZE_CACHE_16, _rw16("02")),
        cache.synchronize_cache_16,
        timeout=60,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE SAME(16)",
        _usage(_O.WRITE_SAME_16, _rw16("09")),
        provisioning.write_same_16,
        timeout=60,
        needs_medium=True,
    ),
    CommandSpec(
        "READ CAPACITY(16)",
        _usage(_O.SERVICE_ACTION_IN_16, "10" + "0000000000000000" + "ffffffff" + "0000"),
        capacity.read_capacity_16,
        service_action=_SA.READ_CAPACITY_16,
        conflicts=False,
    ),
    CommandSpec(
        "GET LBA STATUS",
        _usage(_O.SERVICE_ACTION_IN_16, "12" + _LBA8 + "ffffffff" + "0000"),
        provisioning.get_lba_status,
        service_action=_SA.GET_LBA_STATUS,
        needs_medium=True,
    ),
    CommandSpec(
        "READ(12)", _usage(_O.READ_12, _rw12(_READ_FLAGS)), transfer.read_12, needs_medium=True
    ),
    CommandSpec(
        "WRITE(12)", _usage(_O.WRITE_12, _rw12(_WRITE_FLAGS)), transfer.write_12, needs_medium=True
    ),
)
