"""READ and WRITE move the data with one system call, straight into the transport's buffers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from devemu.scsi.command import Command, Status, answered
from tests.unit.disk.disk_fixtures import make_disk, make_image

BLOCKS = 32


@pytest.mark.parametrize("block_size", [512, 4096])
def test_one_pwritev_and_one_preadv_into_the_buffers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_size: int
) -> None:
    calls: list[tuple[str, list[Any]]] = []
    real_read, real_write = os.preadv, os.pwritev

    def preadv(fd: int, bufs: list[Any], offset: int) -> int:
        calls.append(("preadv", list(bufs)))
        return real_read(fd, bufs, offset)

    def pwritev(fd: int, bufs: list[Any], offset: int, flags: int = 0) -> int:
        calls.append(("pwritev", list(bufs)))
        return real_write(fd, bufs, offset, flags)

    monkeypatch.setattr(os, "preadv", preadv)
    monkeypatch.setattr(os, "pwritev", pwritev)
    dev = make_disk(make_image(tmp_path / "z.img", block_size, BLOCKS), block_size)
    try:
        data = memoryview(bytearray(os.urandom(2 * block_size)))
        write = Command(bytes([0x2A, 0, 0, 0, 0, 3, 0, 0, 2, 0]), [data])
        assert answered(dev.execute(write)).status == Status.GOOD
        out = memoryview(bytearray(2 * block_size))
        read = Command(bytes([0x88, 0]) + (3).to_bytes(8, "big") + (2).to_bytes(4, "big") + b"\0\0")
        read.iov = [out]
        result = answered(dev.execute(read))
        assert (result.status, result.data_in_length) == (Status.GOOD, 2 * block_size)
        assert out == data
        # The buffers the transport handed over, not copies of them.
        assert [name for name, _ in calls] == ["pwritev", "preadv"]
        assert calls[0][1][0] is data
        assert calls[1][1][0] is out
    finally:
        dev.close()
