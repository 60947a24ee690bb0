"""Fixtures: a disk over a small sparse image, for both block lengths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.disk.device import Disk
from tests.unit.disk.disk_fixtures import Answer, Run, execute, make_disk, make_image


@pytest.fixture(params=[512, 4096], ids=["512", "4096"])
def block_size(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def image_path(tmp_path: Path, block_size: int) -> Path:
    return make_image(tmp_path / "disk.img", block_size)


@pytest.fixture
def disk(image_path: Path, block_size: int) -> Iterator[Disk]:
    dev = make_disk(image_path, block_size)
    yield dev
    dev.close()


@pytest.fixture
def run(disk: Disk) -> Run:
    def _run(cdb: bytes, data_out: bytes | None = None, data_in: int = 0, **kw: int) -> Answer:
        return execute(disk, cdb, data_out, data_in, **kw)

    return _run
