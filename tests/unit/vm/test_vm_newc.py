"""The newc cpio writer against the kernel's buffer-format.rst."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devemu.vm import newc

GOLDEN_FILE_MEMBER = (
    b"070701"
    b"00000001"  # ino
    b"000081ED"  # mode: regular file, 0755
    b"00000000"  # uid
    b"00000000"  # gid
    b"00000001"  # nlink
    b"00000000"  # mtime
    b"00000003"  # filesize
    b"00000000"  # devmajor
    b"00000000"  # devminor
    b"00000000"  # rdevmajor
    b"00000000"  # rdevminor
    b"00000005"  # namesize (with NUL)
    b"00000000"  # check
    b"init\0"  # 110 + 5 = 115 -> padded to 116
    b"\0"
    b"abc\0"  # data padded to 4
)


def test_file_member_golden_bytes() -> None:
    archive = newc.build([newc.Member.file("init", b"abc", 0o755)])
    assert archive.startswith(GOLDEN_FILE_MEMBER)
    assert newc.parse(GOLDEN_FILE_MEMBER + archive[len(GOLDEN_FILE_MEMBER) :]) == [
        newc.Member.file("init", b"abc", 0o755)
    ]


def test_trailer_ends_archive_and_everything_is_aligned() -> None:
    archive = newc.build([newc.Member.directory("bin"), newc.Member.symlink("bin/sh", "busybox")])
    assert b"TRAILER!!!\0" in archive[-16:]
    assert len(archive) % 4 == 0


def test_round_trip_keeps_kinds_and_device_numbers() -> None:
    members = [
        newc.Member.directory("dev"),
        newc.Member.char_device("dev/console", 5, 1),
        newc.Member.symlink("bin/sh", "busybox"),
        newc.Member.file("data", bytes(range(7))),
    ]
    assert newc.parse(newc.build(members)) == members


def test_parse_rejects_bad_magic() -> None:
    with pytest.raises(ValueError, match="bad magic at offset 0"):
        newc.parse(b"070707" + b"0" * 200)


def test_gnu_cpio_lists_and_extracts_it(tmp_path: Path) -> None:
    archive = newc.build(
        [
            newc.Member.directory("bin"),
            newc.Member.file("bin/hello", b"hello\n", 0o755),
            newc.Member.symlink("bin/hi", "hello"),
        ]
    )
    listing = subprocess.run(
        ["cpio", "-t", "--quiet"], input=archive, capture_output=True, check=True
    )
    assert listing.stdout.decode().split() == ["bin", "bin/hello", "bin/hi"]
    subprocess.run(["cpio", "-i", "-d", "--quiet"], input=archive, cwd=tmp_path, check=True)
    assert (tmp_path / "bin" / "hello").read_bytes() == b"hello\n"
    assert (tmp_path / "bin" / "hi").readlink() == Path("hello")
