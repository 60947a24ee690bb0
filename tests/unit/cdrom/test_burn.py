"""Recording CD-R and CD-RW through the MMC-6 commands: TAO, SAO, multisession,
BLANK, the write-once refusals, and the disc kept in its folder surviving a restart."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from devemu.cdrom.device import CdromDevice
from devemu.cdrom.image import load_image
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.recording import new_recording
from devemu.scsi.command import Command, Result
from devemu.scsi.identity import Identity
from devemu.scsi.sense import (
    INVALID_ADDRESS_FOR_WRITE,
    parse_sense,
)
from tests.unit.cdrom.conftest import Drive


class Burner(Drive):
    """A drive that records, with helpers for the recording commands."""

    def __init__(self, root: Path, medium: str = "cd-r", sectors: int = 20000) -> None:
        super().__init__(
            CdromDevice(
                Identity(product="VIRTUAL CDRW", serial="CDW001"), burn_root=root, name="cd0"
            )
        )
        self.root = root
        rec = new_recording(root, "cd0", BlankMedium.from_label(medium), sectors)
        self.device.insert(rec.disc(), rec)
        self.settle()

    def out(self, cdb: bytes | list[int], payload: bytes) -> Result:
        return self.device.execute(Command(bytes(cdb), [memoryview(bytearray(payload))]))

    def ok(self, cdb: bytes | list[int], payload: bytes = b"") -> None:
        result = self.out(cdb, payload) if payload else self.run(cdb)[0]
        assert result.status == 0, parse_sense(result.sense)

    def out_sense(self, cdb: bytes | list[int], payload: bytes) -> tuple[object, ...]:
        result = self.out(cdb, payload)
        assert result.status == 2
        return parse_sense(result.sense)

    def page05(self) -> bytearray:
        data = self.data([0x5A, 0x08, 0x05, 0, 0, 0, 0, 0x01, 0x00, 0])
        return bytearray(data[8:])

    def select05(self, page: bytes | bytearray) -> Result:
        plist = bytes(8) + bytes(page)
        n = len(plist)
        return self.out([0x55, 0x10, 0, 0, 0, 0, 0, n >> 8, n & 0xFF, 0], plist)

    def set_params(
        self, *, write_type: int = 1, dbtype: int = 8, track_mode: int = 4, multi: int = 0
    ) -> None:
        page = self.page05()
        page[2] = (page[2] & 0xF0) | write_type
        page[3] = (multi << 6) | track_mode
        page[4] = dbtype
        result = self.select05(page)
        assert result.status == 0, parse_sense(result.sense)

    def write(self, lba: int, blocks: int, payload: bytes) -> Result:
        cdb = struct.pack(">BBiBHB", 0x2A, 0, lba, 0, blocks, 0)
        return self.out(cdb, payload)

    def sync(self) -> None:
        self.ok([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0])

    def close(self, function: int, track: int = 0) -> None:
        self.ok([0x5B, 0, function, 0, track >> 8, track & 0xFF, 0, 0, 0, 0])

    def disc_info(self) -> bytes:
        return self.data([0x51, 0, 0, 0, 0, 0, 0, 0, 34, 0])

    def track_info(self, number: int) -> bytes:
        return self.data([0x52, 0x01, 0, 0, 0, number, 0, 0, 36, 0])

    def nwa(self) -> int:
        info = self.track_info(0xFF)
        assert info[7] & 0x01
        return int(struct.unpack(">i", info[12:16])[0])

    def read(self, lba: int, blocks: int) -> bytes:
        return self.data(struct.pack(">BBIBHB", 0x28, 0, lba, 0, blocks, 0), blocks * 2048)


def data_blocks(blocks: int, seed: int) -> bytes:
    return b"".join(bytes([(seed + i) & 0xFF]) * 2048 for i in range(blocks))


@pytest.fixture
def burner(tmp_path: Path) -> Burner:
    return Burner(tmp_path / "discs")


def test_blank_disc_reports_empty(burner: Burner) -> None:
    info = burner.disc_info()
    assert info[2] & 0x03 == 0 and (info[2] >> 2) & 0x03 == 0  # empty disc, empty session
    assert info[2] & 0x10 == 0  # CD-R: not erasable
    assert info[4] == 1 and info[5] == 1 and info[6] == 1
    assert burner.nwa() == 0
    profile = burner.data([0x46, 0x02, 0, 0, 0, 0, 0, 0, 16, 0])
    assert profile[6:8] == b"\x00\x09"


def test_tao_data_track_then_finalize(burner: Burner, samples: dict[str, Path]) -> None:
    burner.set_params()
    payload = samples["data"].read_bytes()
    blocks = len(payload) // 2048
    for i in range(0, blocks, 100):
        n = min(100, blocks - i)
        r = burner.write(i, n, payload[i * 2048 : (i + n) * 2048])
        assert r.status == 0, parse_sense(r.sense)
    burner.sync()
    assert burner.read(0, blocks) == payload
    info = burner.disc_info()
    assert info[2] & 0x03 == 1  # incomplete
    assert burner.nwa() == blocks + 150
    burner.close(2)
    info = burner.disc_info()
    assert info[2] & 0x03 == 2 and (info[2] >> 2) & 3 == 3
    rec = burner.device.recording
    assert rec is not None and rec.image_path.name == "disc.iso"
    assert rec.image_path.read_bytes() == payload
    disc = load_image(rec.image_path)
    assert disc.leadout == blocks
    disc.close()


def test_write_elsewhere_is_refused(burner: Burner) -> None:
    burner.set_params()
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0
    burner.sync()
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, 0, 0, 1, 0), bytes(2048))
    assert sense[0] == INVALID_ADDRESS_FOR_WRITE
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, 5000, 0, 1, 0), bytes(2048))
    assert sense[0] == INVALID_ADDRESS_FOR_WRITE
