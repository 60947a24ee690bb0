"""One way to replace a file: temporary beside it, fsync, rename, fsync of the folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devemu.atomic_file import replacing, temporary_path, write_atomic

Call = tuple[str, str]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every fsync (of a regular file or of a folder) and every rename, in order."""
    seen: list[Call] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        seen.append(("fsync", "folder" if stat.S_ISDIR(mode) else "file"))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        seen.append(("replace", Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return seen


ORDER = [("fsync", "file"), ("replace", "state.json"), ("fsync", "folder")]


def test_write_flushes_the_file_then_renames_then_flushes_the_folder(
    tmp_path: Path, calls: list[Call]
) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new")
    assert calls == ORDER
    assert target.read_bytes() == b"new"
    assert not temporary_path(target).exists()


def test_the_folder_flushed_is_the_one_holding_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            folders.append((st.st_dev, st.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    (tmp_path / "sub").mkdir()
    write_atomic(tmp_path / "sub" / "x", b"1")
    here = (tmp_path / "sub").stat()
    assert folders == [(here.st_dev, here.st_ino)]


def test_replacing_gives_a_name_beside_the_file_and_publishes_it(
    tmp_path: Path, calls: list[Call]
) -> None:
    target = tmp_path / "state.json"
    with replacing(target) as tmp:
        assert tmp.parent == tmp_path
        tmp.write_bytes(b"written by a library")
        assert not target.exists()
    assert calls == ORDER
    assert target.read_bytes() == b"written by a library"


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "image.iso"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert not temporary_path(target).exists()


def test_a_temporary_left_by_a_kill_is_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    temporary_path(target).write_bytes(b"left over from a killed writer, longer")
    write_atomic(target, b"{}")
    assert target.read_bytes() == b"{}"
    assert not temporary_path(target).exists()
