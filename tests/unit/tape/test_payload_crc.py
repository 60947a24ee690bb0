"""Checksums of the cartridge format: CRC-32C in version 2, zlib's CRC-32 in version 1."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest

from devemu.tape.cartridge import Cartridge
from devemu.tape.castagnoli import crc32c_of
from devemu.tape.records import (
    ENTRY_HEADER_SIZE,
    FORMATS,
    HEADER_SIZE,
    PAYLOAD_ALIGNMENT,
)

# RFC 3720 B.4 (iSCSI CRC32C examples): the 32-bit value of each 32-byte
# message (the RFC lists the bytes as sent, least significant first).
RFC3720_VECTORS = [
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]


@pytest.mark.parametrize(("data", "crc"), RFC3720_VECTORS)
def test_crc32c_rfc3720_vectors(data: bytes, crc: int) -> None:
    assert crc32c_of(data) == crc


def test_crc32c_check_value() -> None:
    # The CRC-32C (iSCSI, Castagnoli) check value of "123456789".
    assert crc32c_of(b"123456789") == 0xE3069283
    assert crc32c_of(b"") == 0


@pytest.mark.parametrize("size", [0, 1, 7, 64, 4096, 256 * 1024 + 3])
def test_crc32c_continues_across_pieces(size: int) -> None:
    data = os.urandom(size)
    half = size // 2
    whole = crc32c_of(data)
    assert crc32c_of(memoryview(data)[half:], crc32c_of(data[:half])) == whole
    assert FORMATS[2].payload_crc([data[:half], memoryview(data)[half:]]) == whole


def test_version_1_checksum_is_zlib_crc32() -> None:
    assert FORMATS[1].crc(b"123456789", 0) == 0xCBF43926 == zlib.crc32(b"123456789")


def test_written_block_carries_crc32c(tmp_path: Path) -> None:
    path = tmp_path / "CRC001L8.tape"
    data = os.urandom(1_000)
    with Cartridge.create(path, "CRC001L8") as cart:
        cart.write_block(0, 0, [memoryview(data)[:400], memoryview(data)[400:]])
    raw = path.read_bytes()
    header = raw[HEADER_SIZE : HEADER_SIZE + ENTRY_HEADER_SIZE]
    assert int.from_bytes(header[24:28], "big") == crc32c_of(data)
    assert int.from_bytes(header[36:40], "big") == crc32c_of(header[:36])
    assert raw[HEADER_SIZE + ENTRY_HEADER_SIZE :][: len(data)] == data  # small: no padding
    with Cartridge.open(path) as again:
        assert again.read_block_bytes(0, 0) == data and not again.verify()


@pytest.mark.parametrize("first", [1, 100, 4056, 4057, 70_000])
def test_large_payloads_start_aligned(tmp_path: Path, first: int) -> None:
    """Version 2: a payload of a page or more starts on a page, after zeros."""
    path = tmp_path / "ALN001L8.tape"
    big = os.urandom(256 * 1024)
    with Cartridge.create(path, "ALN001L8") as cart:
        cart.write_block(0, 0, [b"a" * first])
        cart.write_block(0, 1, [big[:5000], big[5000:]])
        cart.write_block(0, 2, [big[: PAYLOAD_ALIGNMENT - 1]])
        cart.write_block(0, 3, [big[:PAYLOAD_ALIGNMENT]])
        offsets = list(cart.partitions[0].offsets)
        entries = list(cart.journal())
    assert offsets[0] == HEADER_SIZE + ENTRY_HEADER_SIZE + (
        (-(HEADER_SIZE + ENTRY_HEADER_SIZE)) % PAYLOAD_ALIGNMENT if first >= 4096 else 0
    )
    assert offsets[1] % PAYLOAD_ALIGNMENT == 0
    assert offsets[2] == offsets[1] + len(big) + ENTRY_HEADER_SIZE  # under a page: packed
    assert offsets[3] % PAYLOAD_ALIGNMENT == 0
    raw = path.read_bytes()
    for e in entries[:4]:
        assert raw[e.offset + ENTRY_HEADER_SIZE : e.payload_offset] == bytes(e.pad)
    with Cartridge.open(path) as again:
        assert again.read_block_bytes(0, 1) == big
        assert again.read_block_bytes(0, 3) == big[:PAYLOAD_ALIGNMENT]
        assert list(again.partitions[0].offsets) == offsets
        assert not again.verify()


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
