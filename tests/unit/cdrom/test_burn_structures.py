"""Golden bytes, both ways, of every structure the recording commands add (MMC-6)."""

from __future__ import annotations

from typing import Any

import pytest

from devemu.cdrom import (
    cue_sheet,
    performance,
    recordable_info,
    write_cdbs,
    write_commands,
    write_pages,
)
from tests.golden import check_both_ways

PAGE05_DEFAULT = bytes.fromhex("01 04 08 00 00 00 00 00 00000000 0096".replace(" ", "")) + bytes(36)

CASES: list[tuple[Any, bytes, dict[str, Any]]] = [
    (
        write_pages.WriteParametersPage,
        PAGE05_DEFAULT,
        {
            "flags": {
                "reserved": 0,
                "bufe": False,
                "ls_v": False,
                "test_write": False,
                "write_type": 1,
            },
            "track": {"multi_session": 0, "fp": False, "copy": False, "track_mode": 4},
            "data_block_type": {"reserved": 0, "type": 8},
            "link_size": 0,
            "reserved": 0,
            "host_application_code": {"reserved": 0, "code": 0},
            "session_format": 0,
            "reserved2": 0,
            "packet_size": 0,
            "audio_pause_length": 150,
            "media_catalog_number": bytes(16),
            "isrc": bytes(16),
            "subheader": bytes(4),
        },
    ),
    (
        cue_sheet.CueEntry,
        bytes.fromhex("4101011000000200"),
        {"ctl_adr": 0x41, "tno": 1, "index": 1, "data_form": 0x10, "scms": 0, "msf": [0, 2, 0]},
    ),
    (
        write_cdbs.CloseTrackSessionCdb,
        bytes.fromhex("5b010200000100000000"),
        {
            "opcode": 0x5B,
            "flags": {"reserved": 0, "immed": True},
            "function": {"reserved": 0, "close_function": 2},
            "reserved": 0,
            "track_number": 1,
            "reserved2": bytes(3),
            "control": 0,
        },
    ),
    (
        write_cdbs.BlankCdb,
        bytes.fromhex("a1110000000000000000 0000".replace(" ", "")),
        {
            "opcode": 0xA1,
            "flags": {"reserved": 0, "immed": True, "reserved2": False, "blanking_type": 1},
            "start_address": 0,
            "reserved": bytes(5),
            "control": 0,
        },
    ),
    (
        write_cdbs.SendCueSheetCdb,
        bytes.fromhex("5d000000000000002000"),
        {"opcode": 0x5D, "reserved": bytes(5), "cue_sheet_size": 32, "control": 0},
    ),
    (
        write_cdbs.SynchronizeCacheCdb,
        bytes.fromhex("35020000000000000000"),
        {
            "opcode": 0x35,
            "flags": {"reserved": 0, "obsolete": False, "immed": True, "reloc": False},
            "lba": 0,
            "reserved": 0,
            "number_of_blocks": 0,
            "control": 0,
        },
    ),
    (
        write_cdbs.ReadBufferCapacityCdb,
        bytes.fromhex("5c010000000000000c00"),
        {
            "opcode": 0x5C,
            "flags": {"reserved": 0, "block": True},
            "reserved": bytes(5),
            "allocation_length": 12,
            "control": 0,
        },
    ),
    (
        write_cdbs.SetStreamingCdb,
        bytes.fromhex("b60000000000000000001c00"),
        {
            "opcode": 0xB6,
            "reserved": bytes(7),
            "type": 0,
            "parameter_list_length": 28,
            "control": 0,
        },
    ),
    (
        write_cdbs.SendOpcCdb,
        bytes.fromhex("54010000000000000000"),
        {
            "opcode": 0x54,
            "flags": {"reserved": 0, "do_opc": True},
            "exclude": 0,
            "reserved": bytes(4),
            "parameter_list_length": 0,
            "control": 0,
        },
    ),
    (
        write_cdbs.ReserveTrackCdb,
        bytes.fromhex("53000000000000100000"),
        {
            "opcode": 0x53,
            "flags": {"reserved": 0, "arsv": False},
            "reserved": bytes(3),
            "reservation_size": 0x1000,
            "control": 0,
        },
    ),
    (
        performance.WriteSpeedDescriptor,
        bytes.fromhex("00000000 00057d80 00002100 00002100".replace(" ", "")),
        {"flags": 0, "end_lba": 359808, "read_speed": 8448, "write_speed": 8448},
    ),
    (
        recordable_info.AtipHeader,
        bytes.fromhex("001e0000"),
        {"length": 30, "reserved": 0},
    ),
]


@pytest.mark.parametrize(("struct", "raw", "fields"), CASES)
def test_golden_both_ways(struct: Any, raw: bytes, fields: dict[str, Any]) -> None:
    check_both_ways(struct, raw, fields)


def test_buffer_capacity_golden() -> None:
    raw = bytes.fromhex("000a0000 00200000 00200000".replace(" ", ""))
    fields = {"data_length": 10, "buffer_length": 0x200000, "blank_length": 0x200000}
    assert write_commands.BufferCapacityBytes.build(fields) == raw
    assert {k: write_commands.BufferCapacityBytes.parse(raw)[k] for k in fields} == fields
    raw = bytes.fromhex("000a0001 00000000 00000400".replace(" ", ""))
    fields = {"data_length": 10, "block": 1, "available_blocks": 1024}
    assert write_commands.BufferCapacityBlocks.build(fields) == raw
    assert {k: write_commands.BufferCapacityBlocks.parse(raw)[k] for k in fields} == fields


def test_streaming_descriptor_golden() -> None:
    raw = bytes.fromhex(
        "00000000 00000000 ffffffff 000003e8 000003e8 00002100 000003e8".replace(" ", "")
    )
    fields = {
        "flags": 0,
        "start_lba": 0,
        "end_lba": 0xFFFFFFFF,
        "read_size": 1000,
        "read_time": 1000,
        "write_size": 8448,
        "write_time": 1000,
    }
    assert write_commands.StreamingDescriptor.build(fields) == raw
    assert {k: write_commands.StreamingDescriptor.parse(raw)[k] for k in fields} == fields
