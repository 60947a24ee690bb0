"""The ring ABI: construct declarations, fast paths, and the real C header."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devemu.tcmu import abi

HEADER = Path("/usr/include/linux/target_core_user.h")

# --- golden bytes, written out by hand from the C layout

MAILBOX_GOLDEN = (
    bytes.fromhex("0200 0f00 80000000 80ff7f00 28010000")
    + bytes(48)
    + bytes.fromhex("10010000")
    + bytes(60)
)
MAILBOX_VALUES = {
    "version": 2,
    "flags": 0xF,
    "cmdr_off": 0x80,
    "cmdr_size": 0x7FFF80,
    "cmd_head": 0x128,
    "cmd_tail": 0x110,
}

REQUEST_GOLDEN = bytes.fromhex(
    "81000000 0700 00 00"  # len_op = 0x80 | CMD, cmd_id 7
    "02000000 00000000 00000000"  # iov_cnt 2, bidi 0, dif 0
    "00000000"  # alignment hole before cdb_off
    "f000000000000000"  # cdb_off
    "0000000000000000 0000000000000000"  # __pad1, __pad2
    "0000800000000000 0010000000000000"  # iov[0] base 0x800000 len 0x1000
    "0030800000000000 0002000000000000"  # iov[1] base 0x803000 len 0x200
)
REQUEST_VALUES = {
    "len_op": 0x81,
    "cmd_id": 7,
    "iov_cnt": 2,
    "cdb_off": 0xF0,
    "iov": [(0x800000, 0x1000), (0x803000, 0x200)],
}

RESPONSE_GOLDEN = (
    bytes.fromhex("81000000 0700 00 02 02 000000 24000000")
    + bytes.fromhex("7000050000000a00000000240000000000")
    + bytes(96 - 17)
)

TMR_GOLDEN = bytes.fromhex(
    "22000000 0000 00 00"  # len_op = 0x20 | TMR
    "01 000000 02000000"  # ABORT_TASK, two ids
    "0000000000000000 0000000000000000"
    "0500 0900"
)


def test_mailbox_golden_both_directions() -> None:
    parsed = abi.Mailbox.parse(MAILBOX_GOLDEN)
    assert {k: parsed[k] for k in MAILBOX_VALUES} == MAILBOX_VALUES
    assert abi.Mailbox.build(MAILBOX_VALUES) == MAILBOX_GOLDEN
    assert abi.FAST.mailbox.pack(*MAILBOX_VALUES.values()) == MAILBOX_GOLDEN
    assert abi.FAST.mailbox.unpack(MAILBOX_GOLDEN) == tuple(MAILBOX_VALUES.values())
    assert abi.Mailbox.sizeof() == abi.FAST.mailbox.size == abi.MAILBOX_SIZE == 128


def test_request_golden_both_directions() -> None:
    parsed = abi.CmdRequest.parse(REQUEST_GOLDEN)
    head = parsed.head
    assert (head.hdr.len_op, head.hdr.cmd_id, head.iov_cnt, head.cdb_off) == (0x81, 7, 2, 0xF0)
    assert abi.entry_op(head.hdr.len_op) == abi.Opcode.CMD
    assert abi.entry_length(head.hdr.len_op) == 0x80
    assert [(v.base, v.len) for v in parsed.iov] == REQUEST_VALUES["iov"]
    built = abi.CmdRequest.build(
        {
            "head": {
                "hdr": {"len_op": 0x81, "cmd_id": 7, "kflags": 0, "uflags": 0},
                "iov_cnt": 2,
                "iov_bidi_cnt": 0,
                "iov_dif_cnt": 0,
                "cdb_off": 0xF0,
            },
            "iov": [{"base": b, "len": n} for b, n in REQUEST_VALUES["iov"]],
        }
    )
    assert built == REQUEST_GOLDEN
    # fast path: the head, one iov at a time, and head + first iov in one call
    assert abi.FAST.req.pack(0x81, 7, 0, 0, 2, 0, 0, 0xF0) == REQUEST_GOLDEN[:48]
    assert abi.FAST.req.unpack_from(REQUEST_GOLDEN) == (0x81, 7, 0, 0, 2, 0, 0, 0xF0)
    assert abi.FAST.req_iov1.unpack_from(REQUEST_GOLDEN)[-2:] == (0x800000, 0x1000)
    assert abi.FAST.iov.unpack_from(REQUEST_GOLDEN, 64) == (0x803000, 0x200)
    assert abi.FAST.iov.pack(0x803000, 0x200) == REQUEST_GOLDEN[64:80]


def test_response_golden_both_directions() -> None:
    sense = bytes.fromhex("7000050000000a00000000240000000000").ljust(96, b"\0")
    values = {
        "head": {
            "hdr": {"len_op": 0x81, "cmd_id": 7, "kflags": 0, "uflags": abi.UserFlag.READ_LEN},
            "scsi_status": 2,
            "read_len": 0x24,
        },
        "sense_buffer": sense,
    }
    assert abi.CmdResponse.build(values) == RESPONSE_GOLDEN
    parsed = abi.CmdResponse.parse(RESPONSE_GOLDEN)
    assert (parsed.head.scsi_status, parsed.head.read_len, parsed.sense_buffer) == (2, 0x24, sense)
    assert abi.FAST.rsp.pack(0x81, 7, 0, 2, 2, 0x24) == RESPONSE_GOLDEN[:16]
    assert abi.FAST.rsp.unpack_from(RESPONSE_GOLDEN) == (0x81, 7, 0, 2, 2, 0x24)
    assert abi.CmdResponse.sizeof() == abi.ENTRY_SIZE == 112


def test_tmr_golden_both_directions() -> None:
    parsed = abi.TmrEntry.parse(TMR_GOLDEN)
    assert parsed.head.tmr_type == abi.TmrType.ABORT_TASK
    assert list(parsed.cmd_ids) == [5, 9]
    built = abi.TmrEntry.build(
        {
            "head": {
                "hdr": {"len_op": 0x22, "cmd_id": 0, "kflags": 0, "uflags": 0},
                "tmr_type": 1,
                "cmd_cnt": 2,
            },
            "cmd_ids": [5, 9],
        }
    )
    assert built == TMR_GOLDEN
    assert abi.FAST.tmr.pack(0x22, 0, 0, 0, 1, 2) == TMR_GOLDEN[:32]
    assert abi.FAST.tmr.unpack_from(TMR_GOLDEN) == (0x22, 0, 0, 0, 1, 2)


def test_header_fast_path_matches_construct() -> None:
    golden = bytes.fromhex("a1000000 3412 05 06")
    assert (
        abi.EntryHeader.build({"len_op": 0xA1, "cmd_id": 0x1234, "kflags": 5, "uflags": 6})
        == golden
    )
    assert abi.FAST.hdr.unpack(golden) == (0xA1, 0x1234, 5, 6)
    assert abi.FAST.hdr.pack(0xA1, 0x1234, 5, 6) == golden


@pytest.mark.parametrize(
    ("cdb", "length"),
    [
        (b"\x00", 6),
        (b"\x28", 10),
        (b"\x5a", 10),
        (b"\xa0", 12),
        (b"\x88", 16),
        (b"\xc0", 10),
        (b"\xe0", 10),
        (b"\x7f\0\0\0\0\0\0\x18", 32),
    ],
)
def test_cdb_length_follows_the_kernel_table(cdb: bytes, length: int) -> None:
    assert abi.cdb_length(cdb[0], cdb[7] if len(cdb) > 7 else 0) == length


def test_len_op_helpers() -> None:
    assert abi.make_len_op(0x70, abi.Opcode.PAD) == 0x70
    assert abi.make_len_op(0x80, abi.Opcode.TMR) == 0x82
    assert abi.request_base_size(1) == 112
    assert abi.request_base_size(5) == 128


# --- the compiled probe: every offset and constant against the real header

PROBE = r"""
#include <stdio.h>
#include <stddef.h>
#include <linux/target_core_user.h>
#define OFF(t, f) printf("%s.%s %zu\n", #t, #f, offsetof(struct t, f))
#define SIZE(t) printf("sizeof.%s %zu\n", #t, sizeof(struct t))
#define VAL(n) printf("value.%s %lld\n", #n, (long long)(n))
int main(void) {
    SIZE(tcmu_mailbox); SIZE(tcmu_cmd_entry_hdr); SIZE(tcmu_cmd_entry); SIZE(tcmu_tmr_entry);
    OFF(tcmu_mailbox, version); OFF(tcmu_mailbox, flags); OFF(tcmu_mailbox, cmdr_off);
    OFF(tcmu_mailbox, cmdr_size); OFF(tcmu_mailbox, cmd_head); OFF(tcmu_mailbox, cmd_tail);
    OFF(tcmu_cmd_entry_hdr, len_op); OFF(tcmu_cmd_entry_hdr, cmd_id);
    OFF(tcmu_cmd_entry_hdr, kflags); OFF(tcmu_cmd_entry_hdr, uflags);
    OFF(tcmu_cmd_entry, req.iov_cnt); OFF(tcmu_cmd_entry, req.iov_bidi_cnt);
    OFF(tcmu_cmd_entry, req.iov_dif_cnt); OFF(tcmu_cmd_entry, req.cdb_off);
    OFF(tcmu_cmd_entry, req.iov); OFF(tcmu_cmd_entry, rsp.scsi_status);
    OFF(tcmu_cmd_entry, rsp.read_len); OFF(tcmu_cmd_entry, rsp.sense_buffer);
    OFF(tcmu_tmr_entry, tmr_type); OFF(tcmu_tmr_entry, cmd_cnt); OFF(tcmu_tmr_entry, cmd_ids);
    printf("sizeof.iovec %zu\n", sizeof(struct iovec));
    VAL(TCMU_MAILBOX_VERSION); VAL(TCMU_MAILBOX_FLAG_CAP_OOOC); VAL(TCMU_MAILBOX_FLAG_CAP_READ_LEN);
    VAL(TCMU_MAILBOX_FLAG_CAP_TMR); VAL(TCMU_MAILBOX_FLAG_CAP_KEEP_BUF);
    VAL(TCMU_OP_PAD); VAL(TCMU_OP_CMD); VAL(TCMU_OP_TMR); VAL(TCMU_OP_MASK);
    VAL(TCMU_UFLAG_UNKNOWN_OP); VAL(TCMU_UFLAG_READ_LEN); VAL(TCMU_UFLAG_KEEP_BUF);
    VAL(TCMU_SENSE_BUFFERSIZE); VAL(TCMU_OP_ALIGN_SIZE);
    VAL(TCMU_TMR_UNKNOWN); VAL(TCMU_TMR_ABORT_TASK); VAL(TCMU_TMR_ABORT_TASK_SET);
    VAL(TCMU_TMR_CLEAR_ACA); VAL(TCMU_TMR_CLEAR_TASK_SET); VAL(TCMU_TMR_LUN_RESET);
    VAL(TCMU_TMR_TARGET_WARM_RESET); VAL(TCMU_TMR_TARGET_COLD_RESET); VAL(TCMU_TMR_LUN_RESET_PRO);
    VAL(TCMU_CMD_UNSPEC); VAL(TCMU_CMD_ADDED_DEVICE); VAL(TCMU_CMD_REMOVED_DEVICE);
    VAL(TCMU_CMD_RECONFIG_DEVICE); VAL(TCMU_CMD_ADDED_DEVICE_DONE);
    VAL(TCMU_CMD_REMOVED_DEVICE_DONE);
    VAL(TCMU_CMD_RECONFIG_DEVICE_DONE); VAL(TCMU_CMD_SET_FEATURES);
    VAL(TCMU_ATTR_UNSPEC); VAL(TCMU_ATTR_DEVICE); VAL(TCMU_ATTR_MINOR); VAL(TCMU_ATTR_PAD);
    VAL(TCMU_ATTR_DEV_CFG); VAL(TCMU_ATTR_DEV_SIZE); VAL(TCMU_ATTR_WRITECACHE);
    VAL(TCMU_ATTR_CMD_STATUS); VAL(TCMU_ATTR_DEVICE_ID); VAL(TCMU_ATTR_SUPP_KERN_CMD_REPLY);
    return 0;
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    gcc = shutil.which("gcc")
    if gcc is None or not HEADER.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("gcc and linux/target_core_user.h are required in CI (linux-libc-dev)")
        pytest.skip("gcc or linux/target_core_user.h not available")
    work = tmp_path_factory.mktemp("probe")
    (work / "probe.c").write_text(PROBE)
    subprocess.run([gcc, "-o", str(work / "probe"), str(work / "probe.c")], check=True)
    out = subprocess.run([str(work / "probe")], check=True, capture_output=True, text=True)
    return {k: int(v) for k, v in (line.split() for line in out.stdout.splitlines())}


def test_sizes_match_the_header(probe: dict[str, int]) -> None:
    assert probe["sizeof.tcmu_mailbox"] == abi.Mailbox.sizeof() == abi.MAILBOX_SIZE
    assert probe["sizeof.tcmu_cmd_entry_hdr"] == abi.EntryHeader.sizeof() == 8
    assert probe["sizeof.tcmu_cmd_entry"] == abi.CmdResponse.sizeof() == abi.ENTRY_SIZE
    assert probe["sizeof.tcmu_tmr_entry"] == abi.TmrEntryHead.sizeof()
    assert probe["sizeof.iovec"] == abi.Iovec.sizeof()


def test_offsets_match_the_header(probe: dict[str, int]) -> None:
    mailbox = abi.field_offsets(abi.Mailbox)
    for name in ("version", "flags", "cmdr_off", "cmdr_size", "cmd_head", "cmd_tail"):
        assert probe[f"tcmu_mailbox.{name}"] == mailbox[name], name
    assert mailbox["cmd_head"] == abi.CMD_HEAD_OFFSET
    assert mailbox["cmd_tail"] == abi.CMD_TAIL_OFFSET
    header = abi.field_offsets(abi.EntryHeader)
    for name in ("len_op", "cmd_id", "kflags", "uflags"):
        assert probe[f"tcmu_cmd_entry_hdr.{name}"] == header[name], name
    req = abi.field_offsets(abi.CmdRequestHead)
    for name in ("iov_cnt", "iov_bidi_cnt", "iov_dif_cnt", "cdb_off"):
        assert probe[f"tcmu_cmd_entry.req.{name}"] == req[name], name
    assert probe["tcmu_cmd_entry.req.iov"] == abi.CmdRequestHead.sizeof() == abi.REQ_IOV_OFFSET
    rsp = abi.field_offsets(abi.CmdResponse)
    assert probe["tcmu_cmd_entry.rsp.scsi_status"] == rsp["head.scsi_status"]
    assert probe["tcmu_cmd_entry.rsp.read_len"] == rsp["head.read_len"]
    assert probe["tcmu_cmd_entry.rsp.sense_buffer"] == rsp["sense_buffer"] == abi.RSP_SENSE_OFFSET
    tmr = abi.field_offsets(abi.TmrEntryHead)
    assert probe["tcmu_tmr_entry.tmr_type"] == tmr["tmr_type"]
    assert probe["tcmu_tmr_entry.cmd_cnt"] == tmr["cmd_cnt"]
    assert probe["tcmu_tmr_entry.cmd_ids"] == abi.TmrEntryHead.sizeof() == abi.TMR_CMD_IDS_OFFSET


def test_constants_match_the_header(probe: dict[str, int]) -> None:
    expected = {
        "TCMU_MAILBOX_VERSION": abi.MAILBOX_VERSION,
        "TCMU_SENSE_BUFFERSIZE": abi.SENSE_BUFFER_SIZE,
        "TCMU_OP_ALIGN_SIZE": abi.OP_ALIGN_SIZE,
        "TCMU_OP_MASK": abi.OP_MASK,
    }
    expected |= {f"TCMU_MAILBOX_FLAG_{f.name}": f.value for f in abi.MailboxFlag}
    expected |= {f"TCMU_OP_{o.name}": o.value for o in abi.Opcode}
    expected |= {f"TCMU_UFLAG_{f.name}": f.value for f in abi.UserFlag}
    expected |= {f"TCMU_TMR_{t.name}": t.value for t in abi.TmrType}
    expected |= {f"TCMU_CMD_{c.name}": c.value for c in abi.GenlCommand}
    expected |= {f"TCMU_ATTR_{a.name}": a.value for a in abi.GenlAttribute}
    for name, value in expected.items():
        assert probe[f"value.{name}"] == value, name
    assert abi.ALL_CAPS == 0xF
