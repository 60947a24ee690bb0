"""The image file: zero-copy reads and writes, holes, lba status, locking, bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devemu.disk import image as image_mod
from devemu.disk.image import DiskImage, Extent, create_image
from devemu.errors import ImageError


def test_create_image_is_sparse_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "a.img"
    create_image(path, 64 << 20, 4096)
    st = path.stat()
    assert st.st_size == 64 << 20
    assert st.st_blocks == 0
    with pytest.raises(ImageError, match="already exists"):
        create_image(path, 1 << 20)
    with pytest.raises(ValueError, match="multiple of the block size 4096"):
        create_image(tmp_path / "b.img", 1000, 4096)


def test_read_write_scatter_gather(tmp_path: Path) -> None:
    path = tmp_path / "a.img"
    create_image(path, 1 << 20)
    with DiskImage(path) as img:
        assert img.capacity == 2048
        data = bytes(range(256)) * 8  # 4 blocks
        src = memoryview(bytearray(data))
        assert img.write_from(10, 4, [src[:100], src[100:1500], src[1500:]]) == 2048
        out = bytearray(2048)
        view = memoryview(out)
        assert img.read_into(10, 4, [view[:7], view[7:]]) == 2048
        assert out == data
        # Buffers larger than the run: only the run is read.
        big = bytearray(b"\xee" * 4096)
        assert img.read_into(10, 1, [memoryview(big)]) == 512
        assert big[:512] == data[:512] and big[512:] == b"\xee" * 3584
    assert path.read_bytes()[10 * 512 : 14 * 512] == data


def test_more_buffers_than_iov_max(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_mod, "IOV_MAX", 3)
    path = tmp_path / "a.img"
    create_image(path, 1 << 20)
    with DiskImage(path) as img:
        data = os.urandom(4096)
        src = memoryview(data)
        img.write_from(0, 8, [src[i : i + 512] for i in range(0, 4096, 512)])
        out = bytearray(4096)
        view = memoryview(out)
        assert img.read_into(0, 8, [view[i : i + 256] for i in range(0, 4096, 256)]) == 4096
        assert out == data


def test_read_past_a_truncated_file_reads_zeros(tmp_path: Path) -> None:
    path = tmp_path / "a.img"
    create_image(path, 1 << 20)
    with DiskImage(path) as img:
        os.pwrite(img.fd, b"\x11" * 512, 0)
        os.truncate(path, 256)
        out = bytearray(b"\xff" * 1024)
        assert img.read_into(0, 2, [memoryview(out)]) == 1024
        assert out == b"\x11" * 256 + bytes(768)


def test_unmap_punches_a_hole_and_lba_status_sees_it(tmp_path: Path) -> None:
    path = tmp_path / "a.img"
    create_image(path, 1 << 20)
    with DiskImage(path) as img:
        img.write_pattern(0, 2048, b"\x5a" * 512)
        img.flush()
        full = img.allocated_bytes()
        assert full >= 1 << 20
        img.unmap(256, 512)
        assert img.allocated_bytes() <= full - (256 << 10)
        assert img.read(256, 512) == bytes(512 * 512)
        assert img.read(255, 1) == b"\x5a" * 512
        assert img.lba_status(0, 10) == [
            Extent(0, 256, False),
            Extent(256, 512, True),
            Extent(768, 1280, False),
        ]
        assert img.lba_status(300, 10)[0] == Extent(300, 468, True)
        assert img.lba_status(0, 2) == [Extent(0, 256, False), Extent(256, 512, True)]


def test_lba_status_of_a_fresh_image_is_one_hole(tmp_path: Path) -> None:
    path = tmp_path / "a.img"
    create_image(path, 4 << 20, 4096)
    with DiskImage(path, 4096) as img:
        assert img.lba_status(0, 100) == [Extent(0, 1024, True)]
        img.write_from(1023, 1, [memoryview(b"\x01" * 4096)])
        assert img.lba_status(1000, 100) == [Extent(1000, 23, True), Extent(1023, 1, False)]


def test_unmap_falls_back_to_zeros_without_punch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_punch(fd: int, mode: int, offset: int, length: int) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(image_mod, "fallocate", no_punch)
    path = tmp_path / "a.img"
    create_image(path, 1 << 20)
    with DiskImage(path) as img:
        img.write_pattern(0, 16, b"\x77" * 512)
        img.unmap(4, 4)
        assert img.read(0, 16) == b"\x77" * 2048 + bytes(2048) + b"\x77" * 4096
        img.write_zeros(0, 2)
        assert img.read(0, 2) == bytes(1024)


def test_write_zeros_keeps_blocks_allocated(tmp_path: Path) -> None:
    path = tmp_path / "a.img"
    create_image(path, 1 << 20, 4096)
    with DiskImage(path, 4096) as img:
        img.write_pattern(0, 4, b"\x01" * 4096)
        img.write_zeros(0, 4)
        assert img.read(0, 4) == bytes(4 * 4096)
        assert img.lba_status(0, 4)[0] == Extent(0, 4, False)


def test_write_pattern_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_mod, "_PATTERN_CHUNK", 2048)
    path = tmp_path / "a.img"
    create_image(path, 1 << 20)
    with DiskImage(path) as img:
        block = bytes(range(256)) * 2
        img.write_pattern(3, 11, block)
        assert img.read(3, 11) == block * 11
        assert img.read(14, 1) == bytes(512)
        with pytest.raises(ValueError, match="one logical block"):
            img.write_pattern(0, 1, b"x")


@pytest.mark.parametrize(
    ("size", "message"),
    [(0, "empty"), (1000, "not a multiple of the block size 512")],
)
def test_bad_image_sizes_name_the_file(tmp_path: Path, size: int, message: str) -> None:
    path = tmp_path / "bad.img"
    path.write_bytes(b"\0" * size)
    with pytest.raises(ImageError, match=message) as caught:
        DiskImage(path)
    assert caught.value.path == path
    if size:
        assert caught.value.where == "offset 1000"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot open"):
        DiskImage(tmp_path / "nope.img")
    with pytest.raises(ImageError, match=r"cannot open|not a regular file"):
        DiskImage(tmp_path)


def test_image_is_locked_while_open(tmp_path: Path) -> None:
    path = tmp_path / "a.img"
    create_image(path, 1 << 20)
    with DiskImage(path):
        with pytest.raises(ImageError, match="in use"):
            DiskImage(path)
        with pytest.raises(ImageError, match="in use"):
            DiskImage(path, read_only=True)
    with DiskImage(path, read_only=True), DiskImage(path, read_only=True) as second:
        assert second.read_only
    with DiskImage(path) as again:
        assert again.capacity == 2048


def test_block_size_must_be_supported(tmp_path: Path) -> None:
    path = tmp_path / "a.img"
    create_image(path, 1 << 20)
    with pytest.raises(ValueError, match="block size 1024"):
        DiskImage(path, 1024)


def test_prefetch_and_flush_do_not_fail(tmp_path: Path) -> None:
    path = tmp_path / "a.img"
    create_image(path, 1 << 20)
    with DiskImage(path) as img:
        img.prefetch(0, 2048)
        img.flush()
    with DiskImage(path, read_only=True) as ro:
        ro.flush()
