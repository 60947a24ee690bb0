"""Sample discs built once per test session from images/make_samples.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devemu.cdrom.device import CdromDevice
from devemu.scsi.command import Command, Result, answered
from devemu.scsi.identity import Identity
from devemu.scsi.sense import SenseCode, parse_sense
from tests.sample_images import load_make_samples


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("samples")
    paths: dict[str, Path] = load_make_samples().build(out)
    return paths


@pytest.fixture(scope="session")
def make_samples() -> Any:
    return load_make_samples()


class Drive:
    """A CdromDevice with helpers: run a CDB, get status, sense code and data."""

    def __init__(self, device: CdromDevice) -> None:
        self.device = device

    def run(self, cdb: bytes | list[int], length: int = 65536) -> tuple[Result, bytes]:
        buf = bytearray(length)
        result = answered(self.device.execute(Command(bytes(cdb), [memoryview(buf)])))
        return result, bytes(buf[: result.data_in_length or 0])

    def data(self, cdb: bytes | list[int], length: int = 65536) -> bytes:
        result, data = self.run(cdb, length)
        assert result.status == 0, parse_sense(result.sense)
        return data

    def sense(self, cdb: bytes | list[int], length: int = 65536) -> SenseCode:
        result, _ = self.run(cdb, length)
        assert result.status == 2
        return parse_sense(result.sense)[0]

    def settle(self) -> None:
        """Take the power-on and media unit attentions and BECOMING READY off."""
        for _ in range(4):
            result, _ = self.run([0, 0, 0, 0, 0, 0])
            if result.status == 0:
                return


@pytest.fixture
def drive() -> Drive:
    return Drive(CdromDevice(Identity(product="VIRTUAL CDROM", serial="CD0001")))


@pytest.fixture
def drive_class() -> type[Drive]:
    return Drive
