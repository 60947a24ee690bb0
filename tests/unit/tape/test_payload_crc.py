"""The payload CRC is zlib's CRC-32 whichever implementation computes it."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest

from devemu.tape.cartridge import Cartridge
from devemu.tape.records import ENTRY_HEADER_SIZE, HEADER_SIZE, payload_crc32


@pytest.mark.parametrize("size", [0, 1, 7, 64, 4096, 256 * 1024 + 3])
def test_payload_crc32_is_zlib_crc32(size: int) -> None:
    data = os.urandom(size)
    assert payload_crc32(data, 0) == zlib.crc32(data)
    half = size // 2
    assert payload_crc32(memoryview(data)[half:], payload_crc32(data[:half], 0)) == zlib.crc32(data)


def test_check_value() -> None:
    # The CRC-32/ISO-HDLC check value of "123456789".
    assert payload_crc32(b"123456789", 0) == 0xCBF43926


def test_written_block_carries_zlib_crc(tmp_path: Path) -> None:
    path = tmp_path / "CRC001L8.tape"
    data = os.urandom(10_000)
    with Cartridge.create(path, "CRC001L8") as cart:
        cart.write_block(0, 0, [memoryview(data)[:4000], memoryview(data)[4000:]])
    raw = path.read_bytes()
    header = raw[HEADER_SIZE : HEADER_SIZE + ENTRY_HEADER_SIZE]
    assert int.from_bytes(header[24:28], "big") == zlib.crc32(data)
    with Cartridge.open(path) as again:
        assert again.read_block_bytes(0, 0) == data and not again.verify()


def test_verify_finds_a_damaged_payload(tmp_path: Path) -> None:
    path = tmp_path / "CRC002L8.tape"
    with Cartridge.create(path, "CRC002L8") as cart:
        cart.write_block(0, 0, [b"good block"])
        cart.write_block(0, 1, [b"soon damaged"])
        damaged_at = cart.partitions[0].offsets[1]
    raw = bytearray(path.read_bytes())
    raw[damaged_at] ^= 0xFF
    path.write_bytes(bytes(raw))
    with Cartridge.open(path, read_only=True) as again:
        entry = HEADER_SIZE + ENTRY_HEADER_SIZE + len(b"good block")
        assert again.verify() == [f"offset {entry}: DATA entry payload CRC mismatch"]
