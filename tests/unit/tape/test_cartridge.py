"""The cartridge file: format golden bytes, replay, crash recovery, bad files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from devemu.errors import ImageError
from devemu.tape import mam
from devemu.tape.cartridge import FILEMARK, Cartridge
from devemu.tape.castagnoli import crc32c_of
from devemu.tape.records import (
    CURRENT,
    ENTRY_HEADER_SIZE,
    HEADER_SIZE,
    WHOLE_CARTRIDGE,
    CartridgeHeader,
    Entry,
    EntryHeader,
    EntryKind,
    FormatPayload,
)

pack_entry = CURRENT.pack_entry
unpack_entry = CURRENT.unpack_entry

# --- golden bytes, both directions ----------------------------------------------------

ENTRY_GOLDEN = bytes.fromhex(
    "5243"  # magic "RC"
    "01"  # kind DATA
    "02"  # partition 2
    "0000000000000007"  # seq 7
    "0000000000000003"  # position 3
    "00000400"  # length 1024
    "deadbeef"  # payload crc
    "00000000"  # count
    "00000000"  # pad
)


def test_entry_header_golden_both_ways() -> None:
    full = ENTRY_GOLDEN + crc32c_of(ENTRY_GOLDEN).to_bytes(4, "big")
    assert pack_entry(1, 2, 7, 3, 1024, 0xDEADBEEF, 0) == full
    parsed = EntryHeader.parse(full)
    assert (parsed.kind, parsed.partition, parsed.seq, parsed.position) == (1, 2, 7, 3)
    assert (parsed.length, parsed.payload_crc, parsed.header_crc) == (
        1024,
        0xDEADBEEF,
        crc32c_of(ENTRY_GOLDEN),
    )
    assert unpack_entry(full) == Entry(1, 2, 7, 3, 1024, 0xDEADBEEF, 0, 0)
    assert len(full) == ENTRY_HEADER_SIZE == EntryHeader.sizeof()


@pytest.mark.parametrize(
    "kind,part,seq,pos,length,crc,count",
    [(2, 0, 1, 0, 0, 0, 5), (3, 1, 2**40, 2**33, 0, 0, 0), (4, 0, 9, 0, 0, 0, 0)],
)
def test_fast_entry_agrees_with_construct(
    kind: int, part: int, seq: int, pos: int, length: int, crc: int, count: int
) -> None:
    fast = pack_entry(kind, part, seq, pos, length, crc, count)
    slow = EntryHeader.build(
        {
            "kind": kind,
            "partition": part,
            "seq": seq,
            "position": pos,
            "length": length,
            "payload_crc": crc,
            "count": count,
            "pad": 0,
            "header_crc": crc32c_of(fast[:36]),
        }
    )
    assert fast == slow
    assert unpack_entry(slow) == Entry(kind, part, seq, pos, length, crc, count, 0)


def test_entry_with_bad_crc_or_magic_is_rejected() -> None:
    good = pack_entry(1, 0, 1, 0, 5, 0, 0)
    assert unpack_entry(good[:-1] + bytes([good[-1] ^ 1])) is None
    assert unpack_entry(b"XX" + good[2:]) is None
    assert unpack_entry(good[:39]) is None


def test_header_golden_both_ways() -> None:
    value = {
        "barcode": "A00001L8",
        "media_type": "LTO-8",
        "density_code": 0x5E,
        "worm": True,
        "capacity": 12 * 10**12,
        "created": 0x01020304,
        "uuid": bytes(range(16)),
        "attributes": b"\x04\x08\x00\x00\x01\x80",
    }
    raw = CartridgeHeader.build({"body": {"value": value}})
    head = (
        b"DEVEMUT\x00"
        + bytes.fromhex("0002 1000")
        + b"A00001L8".ljust(32, b"\0")
        + b"LTO-8".ljust(16, b"\0")
        + bytes.fromhex("5e 01 0000")
        + (12 * 10**12).to_bytes(8, "big")
        + bytes.fromhex("0000000001020304")
        + bytes(range(16))
        + bytes.fromhex("0006 040800000180")
    )
    assert raw[: len(head)] == head
    assert raw[len(head) : HEADER_SIZE - 4] == bytes(HEADER_SIZE - 4 - len(head))
    assert raw[-4:] == crc32c_of(raw[:-4]).to_bytes(4, "big")
    assert len(raw) == HEADER_SIZE
    parsed = CartridgeHeader.parse(raw).body.value
    assert {k: parsed[k] for k in value} == value


def test_format_payload_golden() -> None:
    raw = bytes.fromhex("02000000000000006400000000000000c8")
    assert FormatPayload.build([100, 200]) == raw
    assert list(FormatPayload.parse(raw)) == [100, 200]


def test_attribute_golden_both_ways() -> None:
    a = mam.Attribute(0x0806, mam.AttributeFormat.ASCII, b"A00001L8", read_only=False)
    raw = bytes.fromhex("0806 01 0008") + b"A00001L8"
    assert a.encode() == raw
    assert mam.decode_attributes(raw + mam.standard(0x0003, 7).encode()) == [
        a,
        mam.Attribute(0x0003, mam.AttributeFormat.BINARY, (7).to_bytes(8, "big"), True),
    ]
    with pytest.raises(ValueError, match="byte 0"):
        mam.decode_attributes(raw[:-1])


# --- behaviour ------------------------------------------------------------------------


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "A00001L8.tape"


def make(path: Path, **kw: object) -> Cartridge:
    return Cartridge.create(path, "A00001L8", **kw)  # type: ignore[arg-type]


def objects(cart: Cartridge, part: int = 0) -> list[bytes | None]:
    """Each object of a partition: block bytes, or None for a filemark."""
    index = cart.partitions[part]
    return [
        None if index.lengths[i] == FILEMARK else cart.read_block_bytes(part, i)
        for i in range(index.eod)
    ]


def test_create_refuses_existing_file_and_bad_barcode(path: Path) -> None:
    make(path).close()
    with pytest.raises(FileExistsError):
        make(path)
    with pytest.raises(ValueError, match="barcode"):
        Cartridge.create(path.with_name("x.tape"), "HAS SPACE")
    with pytest.raises(ValueError, match="media type"):
        Cartridge.create(path.with_name("y.tape"), "B1", "LTO-99")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_header_facts_round_trip(path: Path) -> None:
    make(path, media_type="LTO-6", worm=True, capacity=5_000_000).close()
    with Cartridge.open(path) as cart:
        assert (cart.barcode, cart.media_type, cart.worm) == ("A00001L8", "LTO-6", True)
        assert cart.capacity == 5_000_000
        assert cart.medium.density_code == 0x5A
        attrs = cart.attributes(0)
        assert attrs[0x0408].value == bytes([mam.MEDIUM_TYPE_WORM])
        assert attrs[0x0806].value.rstrip() == b"A00001L8"


def test_blocks_filemarks_and_reopen(path: Path) -> None:
    with make(path) as cart:
        cart.write_block(0, 0, [b"one"])
        cart.write_block(0, 1, [memoryview(b"tw"), memoryview(b"o")])
        cart.write_filemarks(0, 2, 2)
        cart.write_block(0, 4, [b"three"])
        assert cart.partitions[0].filemarks == [2, 3]
        assert cart.partitions[0].used == 11
    with Cartridge.open(path) as cart:
        assert objects(cart) == [b"one", b"two", None, None, b"three"]
        assert cart.partitions[0].filemarks == [2, 3]
        assert list(cart.partitions[0].cum) == [0, 3, 6, 6, 6, 11]
        into = bytearray(10)
        assert cart.read_block(0, 4, [memoryview(into)[:2], memoryview(into)[2:]]) == 5
        assert into[:5] == b"three"


def test_overwrite_in_the_middle_truncates_and_survives_reopen(path: Path) -> None:
    with make(path) as cart:
        for i in range(5):
            cart.write_block(0, i, [bytes([65 + i]) * 4])
        cart.write_filemarks(0, 5, 1)
        cart.write_block(0, 2, [b"new"])
        assert objects(cart) == [b"AAAA", b"BBBB", b"new"]
        cart.erase(0, 1)
    with Cartridge.open(path) as cart:
        assert objects(cart) == [b"AAAA"]
        assert cart.partitions[0].filemarks == []


def test_attributes_and_format_persist(path: Path) -> None:
    with make(path) as cart:
        cart.write_block(0, 0, [b"data"])
        cart.format([1000, 2000])
        cart.write_block(1, 0, [b"p1"])
        cart.set_attributes(1, [mam.Attribute(0x0800, mam.AttributeFormat.ASCII, b"VENDOR  ")])
        cart.set_attributes(WHOLE_CARTRIDGE, [mam.standard(0x0003, 4)])
    with Cartridge.open(path) as cart:
        assert [p.capacity for p in cart.partitions] == [1000, 2000]
        assert objects(cart, 0) == []
        assert objects(cart, 1) == [b"p1"]
        assert cart.attributes(1)[0x0800].value == b"VENDOR  "
        assert 0x0800 not in cart.attributes(0)
        assert cart.attributes(0)[0x0003].value == (4).to_bytes(8, "big")
        cart.set_attributes(1, [mam.Attribute(0x0800, mam.AttributeFormat.ASCII, b"")])
    with Cartridge.open(path) as cart:
        assert 0x0800 not in cart.attributes(1)


def test_second_read_write_open_is_refused(path: Path) -> None:
    make(path).close()
    with Cartridge.open(path):
        with pytest.raises(ImageError, match="in use"):
            Cartridge.open(path)
        Cartridge.open(path, read_only=True).close()


# --- crash safety -----------------------------------------------------------------------


def _build_crash_image(path: Path) -> tuple[int, list[bytes | None]]:
    """A cartridge whose first records are synced and whose last ones are not.

    Returns the durable file size and the objects that must survive.
    """
    with make(path) as cart:
        cart.write_block(0, 0, [b"A" * 100])
        cart.write_filemarks(0, 1, 1)
        cart.flush()
        durable = cart.file_size
        survivors = objects(cart)
        cart.write_block(0, 2, [b"B" * 50])
        cart.write_block(0, 1, [b"C" * 30])  # overwrites the filemark: truncation
        cart.write_filemarks(0, 2, 1)
        cart._dirty = False  # a crash: nothing more reaches the file
    return durable, survivors


def _expected_after_cut(cut: int, entries: list[tuple[int, int, str]]) -> list[bytes | None]:
    tape: list[bytes | None] = [b"A" * 100, None]
    for end, _start, what in entries:
        if cut < end:
            break
        if what == "B":
            tape[2:] = [b"B" * 50]
        elif what == "C":
            tape[1:] = [b"C" * 30]
        elif what == "FM":
            tape[2:] = [None]
    return tape


def test_truncation_at_every_byte_of_the_tail_reopens_consistently(
    path: Path, tmp_path: Path
) -> None:
    durable, survivors = _build_crash_image(path)
    full = path.read_bytes()
    # the three unsynced entries, in order: (end offset, start offset, what)
    b_end = durable + ENTRY_HEADER_SIZE + 50
    c_end = b_end + ENTRY_HEADER_SIZE + 30
    fm_end = c_end + ENTRY_HEADER_SIZE
    assert len(full) == fm_end
    entries = [(b_end, durable, "B"), (c_end, b_end, "C"), (fm_end, c_end, "FM")]
    probe = tmp_path / "probe.tape"
    for cut in range(durable, len(full) + 1):
        probe.write_bytes(full[:cut])
        with Cartridge.open(probe) as cart:
            assert objects(cart) == _expected_after_cut(cut, entries), cut
            good_end = max([durable] + [end for end, _s, _w in entries if end <= cut])
            assert os.path.getsize(probe) == good_end, cut
        # appending after recovery lands after the last good entry and survives
        with Cartridge.open(probe) as cart:
            eod = cart.eod(0)
            cart.write_block(0, eod, [b"after"])
        with Cartridge.open(probe) as cart:
            assert objects(cart)[-1] == b"after"
    assert survivors == [b"A" * 100, None]


def test_zeroed_tail_and_damaged_payload_are_dropped(path: Path, tmp_path: Path) -> None:
    durable, _ = _build_crash_image(path)
    full = bytearray(path.read_bytes())
    zeroed = tmp_path / "zeroed.tape"
    zeroed.write_bytes(bytes(full[:durable]) + bytes(len(full) - durable))
    with Cartridge.open(zeroed) as cart:
        assert objects(cart) == [b"A" * 100, None]
    # a flipped bit in the unsynced B payload: B and everything after it go
    full[durable + ENTRY_HEADER_SIZE + 10] ^= 0x40
    damaged = tmp_path / "damaged.tape"
    damaged.write_bytes(bytes(full))
    with Cartridge.open(damaged) as cart:
        assert objects(cart) == [b"A" * 100, None]
        assert cart.truncated_tail == len(full) - durable


def test_damage_before_a_later_sync_is_an_error_not_a_truncation(
    path: Path, tmp_path: Path
) -> None:
    with make(path) as cart:
        cart.write_block(0, 0, [b"A" * 100])
        cart.flush()
        cart.write_block(0, 1, [b"B" * 100])
        cart.flush()
    raw = bytearray(path.read_bytes())
    raw[HEADER_SIZE + 5] ^= 0xFF  # the first entry's header
    bad = tmp_path / "bad.tape"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ImageError) as err:
        Cartridge.open(bad)
    assert err.value.where == f"record 1 at offset {HEADER_SIZE}"
    assert os.path.getsize(bad) == len(raw)


def test_read_only_open_reports_but_keeps_a_torn_tail(path: Path) -> None:
    _durable, _ = _build_crash_image(path)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 3)
    with Cartridge.open(path, read_only=True) as cart:
        assert cart.truncated_tail > 0
    assert os.path.getsize(path) == size - 3


def test_flush_makes_a_sync_entry_only_when_needed(path: Path) -> None:
    with make(path) as cart:
        cart.flush()
        start = cart.file_size
        cart.write_block(0, 0, [b"x"])
        cart.flush()
        cart.flush()
        kinds = [e.kind for e in cart.journal()]
    assert start == HEADER_SIZE
    assert kinds == [EntryKind.DATA, EntryKind.SYNC]


# --- bad files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate,where,reason",
    [
        (lambda b: b"NOTATAPE" + b[8:], "offset 0", "bad magic"),
        (lambda b: b[:8] + b"\x00\x09" + b[10:], "offset 8", "version 9"),
        (lambda b: b[:100] + b"\xff" + b[101:], f"offset {HEADER_SIZE - 4}", "bad header"),
        (lambda b: b[:2000], "offset 2000", "cut short"),
    ],
)
def test_bad_headers_name_the_file_and_offset(
    path: Path, tmp_path: Path, mutate: Callable[[bytes], bytes], where: str, reason: str
) -> None:
    make(path).close()
    bad = tmp_path / "bad.tape"
    bad.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(ImageError) as err:
        Cartridge.open(bad)
    assert err.value.path == bad
    assert err.value.where == where
    assert reason in err.value.reason


def test_impossible_entry_is_an_error(path: Path, tmp_path: Path) -> None:
    make(path).close()
    raw = path.read_bytes()
    entry = pack_entry(1, 0, 1, 5, 0, crc32c_of(b""), 0)  # position 5 on an empty tape
    sync = pack_entry(4, 0, 2, 0, 0, 0, 0)
    bad = tmp_path / "bad.tape"
    bad.write_bytes(raw + entry + sync)
    with pytest.raises(ImageError, match="beyond end of data") as err:
        Cartridge.open(bad)
    assert err.value.where == f"record 1 at offset {HEADER_SIZE}"


def test_missing_file_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot open"):
        Cartridge.open(tmp_path / "nope.tape")


def test_copy_of_an_open_cartridge_is_consistent(path: Path, tmp_path: Path) -> None:
    """A copy taken while a drive holds the cartridge opens like a crash image."""
    with make(path) as cart:
        cart.write_block(0, 0, [b"x" * 10])
        copy = tmp_path / "copy.tape"
        shutil.copy(path, copy)
    with Cartridge.open(copy) as cart:
        assert objects(cart) == [b"x" * 10]


def test_large_block_without_its_header_is_dropped(path: Path, tmp_path: Path) -> None:
    """A payload that reached the file while its header did not is not a record."""
    big = bytes(range(256)) * 512  # 128 KiB
    with make(path) as cart:
        cart.write_block(0, 0, [b"small"])
        cart.flush()
        durable = cart.file_size
        cart.write_block(0, 1, [memoryview(big)[:1000], memoryview(big)[1000:]])
        assert cart.read_block_bytes(0, 1) == big
        cart._dirty = False
    full = path.read_bytes()
    pad = CURRENT.pad(durable, len(big))
    assert len(full) == durable + ENTRY_HEADER_SIZE + pad + len(big)
    assert (durable + ENTRY_HEADER_SIZE + pad) % 4096 == 0
    no_header = tmp_path / "no_header.tape"
    no_header.write_bytes(full[:durable] + bytes(ENTRY_HEADER_SIZE) + full[durable + 40 :])
    with Cartridge.open(no_header) as cart:
        assert objects(cart) == [b"small"]
    probe = tmp_path / "probe.tape"
    for cut in (durable + 1, durable + 39, durable + 40, durable + 4096, len(full) - 1):
        probe.write_bytes(full[:cut])
        with Cartridge.open(probe) as cart:
            assert objects(cart) == [b"small"], cut
    with Cartridge.open(path) as cart:
        assert objects(cart) == [b"small", big]
