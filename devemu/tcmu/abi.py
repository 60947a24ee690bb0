"""The TCMU shared-ring ABI of ``linux/target_core_user.h``, version 2.

The kernel's userspace backstore (drivers/target/target_core_user.c)
shares one mapping with its handler: a mailbox, then a circular command
ring, then a data area. The kernel appends entries at ``cmd_head``; the
handler answers in place and moves ``cmd_tail``. Every offset in an entry
(``cdb_off``, ``iov[].base``) is relative to the start of the mapping.

The structures are declared once here with construct, with the byte
offsets the C compiler gives them (checked against the real header by a
compiled probe in the tests). Two details of the C layout are easy to
get wrong:

- ``struct tcmu_mailbox`` puts ``cmd_tail`` on its own 64-byte cache
  line, so it sits at offset 64 and the mailbox is 128 bytes long.
- The anonymous ``req`` struct inside the packed ``tcmu_cmd_entry`` is
  itself not packed: ``cdb_off`` (a u64) is aligned to entry+24 and the
  ``iov[]`` array starts at entry+48.

The per-command path never parses with construct: :data:`FAST` holds
precompiled :class:`struct.Struct` objects whose formats are derived
from these declarations by :func:`struct_format`, and the tests prove the
two agree byte for byte.
"""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag
from typing import Any

from construct import (
    Adapter,
    Array,
    Bytes,
    Construct,
    FormatField,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    Padded,
    Padding,
    Pass,
    Renamed,
    Struct,
    this,
)

MAILBOX_VERSION = 2
ALIGN_SIZE = 64
SENSE_BUFFER_SIZE = 96
OP_ALIGN_SIZE = 8
OP_MASK = 0x7


class MailboxFlag(IntFlag):
    """``TCMU_MAILBOX_FLAG_CAP_*``: what the kernel side supports."""

    CAP_OOOC = 1 << 0  # out-of-order completion
    CAP_READ_LEN = 1 << 1  # rsp.read_len honoured with TCMU_UFLAG_READ_LEN
    CAP_TMR = 1 << 2  # task management notifications as ring entries
    CAP_KEEP_BUF = 1 << 3  # data buffer kept after completion


ALL_CAPS = (
    MailboxFlag.CAP_OOOC | MailboxFlag.CAP_READ_LEN | MailboxFlag.CAP_TMR | MailboxFlag.CAP_KEEP_BUF
)


class Opcode(IntEnum):
    """``enum tcmu_opcode``: the low three bits of ``len_op``."""

    PAD = 0
    CMD = 1
    TMR = 2


class UserFlag(IntFlag):
    """``TCMU_UFLAG_*``: set by the handler in ``hdr.uflags``."""

    UNKNOWN_OP = 0x1
    READ_LEN = 0x2
    KEEP_BUF = 0x4


class TmrType(IntEnum):
    """``TCMU_TMR_*``: the task management function of a TMR entry (SAM-5 7)."""

    UNKNOWN = 0
    ABORT_TASK = 1
    ABORT_TASK_SET = 2
    CLEAR_ACA = 3
    CLEAR_TASK_SET = 4
    LUN_RESET = 5
    TARGET_WARM_RESET = 6
    TARGET_COLD_RESET = 7
    LUN_RESET_PRO = 128  # pseudo reset after a PERSISTENT RESERVE OUT


class GenlCommand(IntEnum):
    """``enum tcmu_genl_cmd``: commands of the "TCM-USER" netlink family."""

    UNSPEC = 0
    ADDED_DEVICE = 1
    REMOVED_DEVICE = 2
    RECONFIG_DEVICE = 3
    ADDED_DEVICE_DONE = 4
    REMOVED_DEVICE_DONE = 5
    RECONFIG_DEVICE_DONE = 6
    SET_FEATURES = 7


class GenlAttribute(IntEnum):
    """``enum tcmu_genl_attr``: attributes of the "TCM-USER" netlink family."""

    UNSPEC = 0
    DEVICE = 1
    MINOR = 2
    PAD = 3
    DEV_CFG = 4
    DEV_SIZE = 5
    WRITECACHE = 6
    CMD_STATUS = 7
    DEVICE_ID = 8
    SUPP_KERN_CMD_REPLY = 9


GENL_FAMILY = "TCM-USER"
GENL_VERSION = 2
GENL_MCGRP_CONFIG = "config"

# --- struct tcmu_mailbox (packed, cmd_tail aligned to its own cache line)
Mailbox = Struct(
    "version" / Int16ul,
    "flags" / Int16ul,
    "cmdr_off" / Int32ul,
    "cmdr_size" / Int32ul,
    "cmd_head" / Int32ul,
    Padding(48),
    "cmd_tail" / Int32ul,
    Padding(60),
)
MAILBOX_SIZE = 128
CMD_HEAD_OFFSET = 12
CMD_TAIL_OFFSET = 64
#: ``cmd_head`` and ``cmd_tail`` as indexes of :func:`mailbox_words`.
CMD_HEAD_WORD = CMD_HEAD_OFFSET // 4
CMD_TAIL_WORD = CMD_TAIL_OFFSET // 4


def mailbox_words(mapping: memoryview) -> memoryview:
    """The mailbox up to ``cmd_tail`` as 32-bit words, for the fields two sides share.

    ``cmd_head`` and ``cmd_tail`` are read and written while the other
    side runs on another CPU. An element of this view is loaded and
    stored whole (one aligned 32-bit access: CPython's memoryview packs
    a native ``I`` with one fixed-size ``memcpy``), where
    ``struct.pack_into`` first zeroes its destination and then writes
    it, so that a concurrent reader can see 0 or a partial value. The
    mapping is page aligned, so both words are aligned.
    """
    return mapping[: CMD_TAIL_OFFSET + 4].cast("I")


# --- struct tcmu_cmd_entry_hdr (packed, 8 bytes)
EntryHeader = Struct(
    "len_op" / Int32ul,
    "cmd_id" / Int16ul,
    "kflags" / Int8ul,
    "uflags" / Int8ul,
)

# --- struct iovec (base is an offset into the mapping)
Iovec = Struct(
    "base" / Int64ul,
    "len" / Int64ul,
)

# --- struct tcmu_cmd_entry, req half of the union: the fixed part
CmdRequestHead = Struct(
    "hdr" / EntryHeader,
    "iov_cnt" / Int32ul,
    "iov_bidi_cnt" / Int32ul,
    "iov_dif_cnt" / Int32ul,
    Padding(4),  # alignment of cdb_off: the req struct is not packed
    "cdb_off" / Int64ul,
    Padding(16),  # __pad1, __pad2
)
REQ_IOV_OFFSET = 48

# The whole request entry, iov array included (parse/build for tests and tools).
CmdRequest = Struct(
    "head" / CmdRequestHead,
    "iov" / Array(this.head.iov_cnt + this.head.iov_bidi_cnt + this.head.iov_dif_cnt, Iovec),
)

# --- struct tcmu_cmd_entry, rsp half of the union
CmdResponseHead = Struct(
    "hdr" / EntryHeader,
    "scsi_status" / Int8ul,
    Padding(3),  # __pad1, __pad2
    "read_len" / Int32ul,
)
CmdResponse = Struct(
    "head" / CmdResponseHead,
    "sense_buffer" / Bytes(SENSE_BUFFER_SIZE),
)
RSP_SENSE_OFFSET = 16
ENTRY_SIZE = 112  # sizeof(struct tcmu_cmd_entry): the smallest CMD entry

# --- struct tcmu_tmr_entry (packed)
TmrEntryHead = Struct(
    "hdr" / EntryHeader,
    "tmr_type" / Int8ul,
    Padding(3),  # __pad1, __pad2
    "cmd_cnt" / Int32ul,
    Padding(16),  # __pad3, __pad4
)
TmrEntry = Struct(
    "head" / TmrEntryHead,
    "cmd_ids" / Array(this.head.cmd_cnt, Int16ul),
)
TMR_CMD_IDS_OFFSET = 32


def entry_op(len_op: int) -> int:
    """``tcmu_hdr_get_op``: the opcode in the low bits of ``len_op``."""
    return len_op & OP_MASK


def entry_length(len_op: int) -> int:
    """``tcmu_hdr_get_len``: the entry length (a multiple of 8)."""
    return len_op & ~OP_MASK & 0xFFFFFFFF


def make_len_op(length: int, op: int) -> int:
    """``len_op`` of an entry of ``length`` bytes with opcode ``op``."""
    return (length & ~OP_MASK & 0xFFFFFFFF) | (op & OP_MASK)


def align_up(value: int, alignment: int = OP_ALIGN_SIZE) -> int:
    """Round ``value`` up to a multiple of ``alignment``."""
    return (value + alignment - 1) // alignment * alignment


# Linux scsi_command_size_tbl: CDB length by opcode group (SPC-5 4.2.5.1).
_GROUP_LENGTH = (6, 10, 10, 12, 16, 12, 10, 10)
VARIABLE_LENGTH_CMD = 0x7F


def cdb_length(opcode: int, additional_length: int = 0) -> int:
    """CDB length the kernel copies into the ring for ``opcode``.

    Groups follow SPC-5 4.2.5.1 as the kernel's table has them (vendor
    groups 6 and 7 count as 10 bytes). A variable-length CDB (SPC-5
    4.2.3) is 8 bytes plus its ADDITIONAL CDB LENGTH (byte 7).
    """
    if opcode == VARIABLE_LENGTH_CMD:
        return 8 + additional_length
    return _GROUP_LENGTH[(opcode >> 5) & 7]


def request_base_size(iov_count: int) -> int:
    """``tcmu_cmd_get_base_cmd_size``: the entry before its CDB."""
    return max(REQ_IOV_OFFSET + 16 * iov_count, ENTRY_SIZE)


# --- precompiled fast paths derived from the declarations above


def _unwrap(sc: Construct) -> Construct:
    while isinstance(sc, Renamed | Adapter):
        sc = sc.subcon
    return sc


def struct_format(st: Construct) -> str:
    """The :mod:`struct` format (without byte order) of a fixed construct.

    Handles what the ring declarations use: integer fields, padding,
    fixed byte strings, nested structs and fixed arrays.
    """
    sc = _unwrap(st)
    if isinstance(sc, FormatField):
        fmt: str = sc.fmtstr
        return fmt[1:]
    if sc is Pass:
        return ""
    if isinstance(sc, Padded):
        inner = struct_format(sc.subcon)
        size = struct.calcsize("<" + inner)
        return inner + "x" * (int(sc.length) - size)
    if isinstance(sc, Bytes) and isinstance(sc.length, int):
        return f"{sc.length}s"
    if isinstance(sc, Array) and isinstance(sc.count, int):
        return struct_format(sc.subcon) * sc.count
    if isinstance(sc, Struct):
        return "".join(struct_format(sub) for sub in sc.subcons)
    raise TypeError(f"no fixed struct format for {sc!r}")


def fast_struct(*parts: Construct) -> struct.Struct:
    """A little-endian :class:`struct.Struct` for consecutive declarations."""
    return struct.Struct("<" + "".join(struct_format(p) for p in parts))


def field_offsets(st: Construct, prefix: str = "") -> dict[str, int]:
    """Byte offset of every named field of a fixed-layout declaration."""
    out: dict[str, int] = {}
    offset = 0
    for sub in _unwrap(st).subcons:
        size = struct.calcsize("<" + struct_format(sub))
        name = getattr(sub, "name", None)
        inner = _unwrap(sub)
        if name:
            out[prefix + name] = offset
            if isinstance(inner, Struct):
                for k, v in field_offsets(inner, prefix + name + ".").items():
                    out[k] = offset + v
        offset += size
    return out


class _Fast:
    """The precompiled structs of the per-command path.

    ``hdr``: len_op, cmd_id, kflags, uflags.
    ``req``: the header then iov_cnt, iov_bidi_cnt, iov_dif_cnt, cdb_off.
    ``req_iov1``: ``req`` followed by one iovec (base, len): one call reads
    a single-buffer command.
    ``iov``: base, len.
    ``rsp``: the header then scsi_status, read_len (the sense buffer is a
    plain slice at :data:`RSP_SENSE_OFFSET`).
    ``tmr``: the header then tmr_type, cmd_cnt.
    ``u32``/``u16``: mailbox words and TMR command ids.
    """

    def __init__(self) -> None:
        self.mailbox = fast_struct(Mailbox)
        self.hdr = fast_struct(EntryHeader)
        self.req = fast_struct(CmdRequestHead)
        self.req_iov1 = fast_struct(CmdRequestHead, Iovec)
        self.iov = fast_struct(Iovec)
        self.rsp = fast_struct(CmdResponseHead)
        self.tmr = fast_struct(TmrEntryHead)
        self.u32 = struct.Struct("<I")
        self.u16 = struct.Struct("<H")


FAST = _Fast()


def parse(st: Construct, data: bytes | bytearray | memoryview) -> Any:
    """Parse ``data`` with a declaration (tests and tools, never the hot path)."""
    return st.parse(bytes(data))
