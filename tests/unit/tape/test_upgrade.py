"""Format version 1 cartridges: still read and written, and upgraded to version 2 atomically."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from devemu.atomic_file import temporary_path
from devemu.cli import main
from devemu.errors import ImageError
from devemu.tape import mam
from devemu.tape.cartridge import Cartridge
from devemu.tape.records import (
    ENTRY_HEADER_SIZE,
    FORMATS,
    HEADER_SIZE,
    PAYLOAD_ALIGNMENT,
    SYNC_MARKS_OFFSET,
    WHOLE_CARTRIDGE,
    header_version,
)
from devemu.tape.upgrade import upgrade

ROOT = Path(__file__).resolve().parents[3]
BIG = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    """A version 1 cartridge with blocks of several sizes, filemarks, MAM and an unsynced tail."""
    path = tmp_path / "OLD001L8.tape"
    with Cartridge.create(path, "OLD001L8", version=1) as cart:
        cart.format([10**9, 10**9])
        cart.write_block(0, 0, [b"small"])
        cart.write_block(0, 1, [memoryview(BIG)[:1000], memoryview(BIG)[1000:]])
        cart.write_filemarks(0, 2, 2)
        cart.write_block(1, 0, [BIG[:5000]])
        cart.set_attributes(
            WHOLE_CARTRIDGE, [mam.Attribute(0x0800, mam.AttributeFormat.ASCII, b"VENDOR X")]
        )
        cart.write_block(0, 4, [BIG[:4096]])
        cart.write_block(0, 5, [b"tail, not synchronised"])
        cart._dirty = False  # a crash: the last two records were never flushed
    return path


def contents(path: Path) -> dict[str, Any]:
    """Everything a drive sees of a cartridge, and its format version."""
    with Cartridge.open(path, read_only=True) as cart:
        return {
            "version": cart.journal_format.version,
            "barcode": cart.barcode,
            "uuid": cart.uuid,
            "capacity": cart.capacity,
            "entries": cart.entries,
            "attributes": sorted((a.identifier, a.value) for a in cart.attributes(0).values()),
            "partitions": [
                [
                    cart.read_block_bytes(n, i) if part.lengths[i] >= 0 else None
                    for i in range(part.eod)
                ]
                for n, part in enumerate(cart.partitions)
            ],
            "damaged": cart.verify(),
        }


def test_version_1_is_read_with_its_own_layout_and_checksum(v1: Path) -> None:
    raw = v1.read_bytes()
    assert header_version(raw) == 1
    assert raw[HEADER_SIZE - 4 : HEADER_SIZE] == zlib.crc32(
        raw[:SYNC_MARKS_OFFSET] + bytes(HEADER_SIZE - 4 - SYNC_MARKS_OFFSET)
    ).to_bytes(4, "big")
    with Cartridge.open(v1) as cart:
        assert cart.journal_format is FORMATS[1]
        part = cart.partitions[0]
        assert [part.lengths[i] for i in range(part.eod)] == [5, len(BIG), -1, -1, 4096, 22]
        for i in (0, 1, 4):  # no padding: every payload right behind its header
            entry = next(e for e in cart.journal() if e.payload_offset == part.offsets[i])
            assert entry.pad == 0
            assert entry.payload_crc == zlib.crc32(cart.read_block_bytes(0, i))
        assert cart.read_block_bytes(0, 1) == BIG
        assert cart.read_block_bytes(1, 0) == BIG[:5000]
        cart.write_block(0, 6, [BIG])  # appended in version 1
        last = list(cart.journal())[-1]
        assert (last.pad, last.payload_crc) == (0, zlib.crc32(BIG))
        assert cart.partitions[0].offsets[6] == last.offset + ENTRY_HEADER_SIZE
    again = contents(v1)
    assert again["version"] == 1 and not again["damaged"]
    assert again["partitions"][0][6] == BIG


def test_upgrade_keeps_everything_and_aligns_payloads(
    v1: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = contents(v1)
    old_size = v1.stat().st_size
    assert main(["tape", "upgrade", str(v1)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{v1}: format version 1 -> 2, {before['entries']} entries")
    after = contents(v1)
    assert after.pop("version") == 2 and before.pop("version") == 1
    assert after == before
    with Cartridge.open(v1) as cart:
        assert cart.journal_format is FORMATS[2]
        assert cart.durable == (cart.entries, cart.file_size)  # all of it synchronised
        assert [e.seq for e in cart.journal()] == list(range(1, cart.entries + 1))
        part = cart.partitions[0]
        for i in (1, 4):
            assert part.offsets[i] % PAYLOAD_ALIGNMENT == 0
        assert cart.partitions[1].offsets[0] % PAYLOAD_ALIGNMENT == 0
        assert cart.file_size > old_size
    assert not temporary_path(v1).exists()
    assert main(["tape", "upgrade", str(v1)]) == 0
    assert capsys.readouterr().out == f"{v1}: already format version 2\n"


def test_upgrade_refuses_a_damaged_payload_and_leaves_the_file(v1: Path) -> None:
    raw = bytearray(v1.read_bytes())
    with Cartridge.open(v1, read_only=True) as cart:
        entry = next(e for e in cart.journal() if e.length == len(BIG))
    raw[entry.payload_offset + 7] ^= 0x10
    v1.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match="payload CRC mismatch: not upgraded") as err:
        upgrade(v1)
    assert err.value.where == f"record {entry.seq} at offset {entry.offset}"
    assert v1.read_bytes() == bytes(raw)
    assert not temporary_path(v1).exists()


def test_upgrade_refuses_a_cartridge_in_a_drive(v1: Path) -> None:
    with Cartridge.open(v1), pytest.raises(ImageError, match="in use by another drive"):
        upgrade(v1)
    assert header_version(v1.read_bytes()) == 1


def test_upgrade_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot open"):
        upgrade(tmp_path / "NONE01L8.tape")


def _run_upgrade(path: Path, die: str | None) -> subprocess.Popen[bytes]:
    """``upgrade(path)`` in a child process, which SIGKILLs itself at ``die``."""
    program = f"""
import os, signal, sys
from pathlib import Path
import devemu.atomic_file as atomic_file
from devemu.tape.upgrade import upgrade
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
if {die!r} == "rename":
    os.replace = die
elif {die!r} == "folder":
    atomic_file.fsync_directory = die
upgrade(Path({str(path)!r}))
"""
    return subprocess.Popen([sys.executable, "-c", program], cwd=ROOT)


@pytest.mark.parametrize(("die", "version"), [("rename", 1), ("folder", 2)])
def test_kill_during_upgrade_leaves_one_whole_cartridge(v1: Path, die: str, version: int) -> None:
    before = contents(v1)
    child = _run_upgrade(v1, die)
    assert child.wait(timeout=60) == -signal.SIGKILL
    after = contents(v1)
    assert after.pop("version") == version
    before.pop("version")
    assert after == before
    upgrade(v1)  # a temporary left behind is overwritten
    assert contents(v1)["version"] == 2
    assert not temporary_path(v1).exists()


def test_kill_at_any_instant_of_an_upgrade(tmp_path: Path) -> None:
    """SIGKILL at spread-out instants: the cartridge is always whole, old or new."""
    original = tmp_path / "original.tape"
    with Cartridge.create(original, "BIG001L8", version=1) as cart:
        for i in range(96):  # 24 MiB
            cart.write_block(0, i, [BIG[: len(BIG) - i]])
        cart.write_filemarks(0, 96, 1)
    before = contents(original)
    before.pop("version")
    path = tmp_path / "BIG001L8.tape"
    shutil.copyfile(original, path)
    start = time.perf_counter()
    child = _run_upgrade(path, None)
    assert child.wait(timeout=120) == 0
    whole = time.perf_counter() - start
    seen = set()
    for k in range(6):
        shutil.copyfile(original, path)
        child = _run_upgrade(path, None)
        time.sleep(whole * (k + 0.5) / 6)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        after = contents(path)
        seen.add(after.pop("version"))
        assert after == before, k
    assert seen <= {1, 2}
