"""The READ (10)/(12) fast path answers exactly what the dispatcher answers.

Every case runs on two drives in the same state: one through
:meth:`CdromDevice.execute` (the fast path, or its hand-over), one
straight through the general :meth:`ScsiDevice.execute`. Status, sense,
data-in length, every byte of the data-in buffer and the answer to the
next TEST UNIT READY must agree; the cases marked fast must not reach the
dispatcher at all.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devemu.cdrom import cdbs
from devemu.cdrom.device import CdromDevice
from devemu.cdrom.disc import FastRange
from devemu.cdrom.image import load_image
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.scsi.sense import NOT_READY_TO_READY_CHANGE

SECTOR = 2048
#: What the data-in buffer holds before the command: a stray write shows.
FILL = 0xA5


def read10(lba: int, count: int, flags: int = 0, byte6: int = 0, control: int = 0) -> bytes:
    return (
        bytes([0x28, flags]) + lba.to_bytes(4, "big") + bytes([byte6]) + count.to_bytes(2, "big")
    ) + bytes([control])


def read12(lba: int, count: int, byte10: int = 0) -> bytes:
    return bytes([0xA8, 0]) + lba.to_bytes(4, "big") + count.to_bytes(4, "big") + bytes([byte10, 0])


@pytest.fixture(scope="module")
def images(samples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample ISO and mixed-mode CUE, a CUE with a Mode 1/2048 data track
    followed by an audio track, and a copy of the ISO to shorten under a loaded disc."""
    out = tmp_path_factory.mktemp("fast")
    iso = out / "data.iso"
    shutil.copyfile(samples["data"], iso)
    (out / "audio.bin").write_bytes(bytes(2352 * 300))
    cue = out / "cooked.cue"
    cue.write_text(
        'FILE "data.iso" BINARY\n'
        "  TRACK 01 MODE1/2048\n"
        "    INDEX 01 00:00:00\n"
        'FILE "audio.bin" BINARY\n'
        "  TRACK 02 AUDIO\n"
        "    PREGAP 00:02:00\n"
        "    INDEX 01 00:00:00\n"
    )
    shrinking = out / "shrinking.iso"
    shutil.copyfile(samples["data"], shrinking)
    return {
        "iso": iso,
        "mixed": samples["mixed"],
        "cooked": cue,
        "shrinking": shrinking,
    }


def ready(image: Path | None) -> CdromDevice:
    """A drive with ``image`` loaded and every unit attention taken."""
    device = CdromDevice(Identity(serial="FAST1"))
    if image is not None:
        device.insert(load_image(image))
    device.unit_attentions.clear()
    device.becoming_ready = False
    return device


Setup = Callable[[CdromDevice], None]


def nothing(device: CdromDevice) -> None:
    """The drive as :func:`ready` left it."""


def tray_open(device: CdromDevice) -> None:
    device.open_tray()


def attention(device: CdromDevice) -> None:
    device.unit_attentions.post(NOT_READY_TO_READY_CHANGE)


def becoming_ready(device: CdromDevice) -> None:
    device.becoming_ready = True


def reserved(device: CdromDevice) -> None:
    device.reservations.holder = "iqn.other"


@dataclass(frozen=True)
class Case:
    name: str
    image: str | None
    #: The CDB, given the disc's sector count.
    cdb: Callable[[int], bytes]
    #: Data-in buffer length, given the CDB's transfer in bytes.
    buffer: Callable[[int], int] = lambda n: n
    setup: Setup = nothing
    #: The fast path answers without the dispatcher.
    fast: bool = False
    nexus: str = ""


def transfer_of(cdb: bytes) -> int:
    if cdb[0] == 0x28:
        return int.from_bytes(cdb[7:9], "big") * SECTOR
    return int.from_bytes(cdb[6:10], "big") * SECTOR


CASES = [
    Case("in range", "iso", lambda n: read10(16, 4), fast=True),
    Case("DPO and FUA", "iso", lambda n: read10(16, 4, flags=0x18), fast=True),
    Case("READ (12) in range", "iso", lambda n: read12(0, 32), fast=True),
    Case("READ (12) streaming", "iso", lambda n: read12(20, 1, byte10=0x80), fast=True),
    Case("last sector", "iso", lambda n: read10(n - 1, 1), fast=True),
    Case("whole disc", "iso", lambda n: read12(0, n), fast=True),
    Case("across the end", "iso", lambda n: read10(n - 1, 2)),
    Case("at the lead-out", "iso", lambda n: read10(n, 1)),
    Case("LBA ffffffff", "iso", lambda n: read10(0xFFFFFFFF, 1)),
    Case("READ (12) across the end", "iso", lambda n: read12(n - 2, 3)),
    Case("transfer length 0", "iso", lambda n: read10(16, 0)),
    Case("READ (12) transfer length 0", "iso", lambda n: read12(n, 0)),
    Case("reserved bit in byte 6", "iso", lambda n: read10(16, 1, byte6=0x01)),
    Case("reserved bit in byte 1", "iso", lambda n: read10(16, 1, flags=0x02)),
    Case("NACA in the control byte", "iso", lambda n: read10(16, 1, control=0x04)),
    Case("READ (12) reserved bit", "iso", lambda n: read12(16, 1, byte10=0x40)),
    Case("short CDB", "iso", lambda n: read10(16, 1)[:9]),
    Case("long CDB", "iso", lambda n: read10(16, 1) + b"\0\0"),
    Case("buffer larger", "iso", lambda n: read10(16, 2), buffer=lambda b: b + 4096),
    Case("no buffer", "iso", lambda n: read10(16, 2), buffer=lambda b: 0),
    Case("buffer shorter", "iso", lambda n: read10(16, 2), buffer=lambda b: b - 100),
    Case("tray open", "iso", lambda n: read10(16, 1), setup=tray_open),
    Case("no disc", None, lambda n: read10(16, 1)),
    Case("unit attention pending", "iso", lambda n: read10(16, 1), setup=attention),
    Case("becoming ready", "iso", lambda n: read10(16, 1), setup=becoming_ready),
    Case("reserved by another nexus", "iso", lambda n: read10(16, 1), setup=reserved),
    Case("nexus named", "iso", lambda n: read10(16, 1), nexus="iqn.me"),
    Case("raw Mode 1/2352 track", "mixed", lambda n: read10(16, 2)),
    Case("audio track", "mixed", lambda n: read10(n - 10, 1)),
    Case("CUE Mode 1/2048 track", "cooked", lambda n: read10(16, 8), fast=True),
    Case("CUE data into the audio pregap", "cooked", lambda n: read10(n - 300 - 151, 2)),
    Case("CUE audio pregap", "cooked", lambda n: read10(n - 300 - 100, 1)),
    Case("CUE audio track", "cooked", lambda n: read12(n - 1, 1)),
]


def run(device: CdromDevice, cmd_cdb: bytes, length: int, nexus: str, general: bool) -> Any:
    buf = bytearray([FILL]) * length
    cmd = Command(cmd_cdb, [memoryview(buf)] if length else [], nexus=nexus)
    result = ScsiDevice.execute(device, cmd) if general else device.execute(cmd)
    tur = ScsiDevice.execute(device, Command(bytes(6)))
    return result, bytes(buf), tur


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fast_path_answers_as_the_dispatcher(
    case: Case, images: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = images[case.image] if case.image is not None else None
    fast_drive, general_drive = ready(image), ready(image)
    sectors = fast_drive.disc.leadout if fast_drive.disc is not None else 100
    cdb = case.cdb(sectors)
    length = case.buffer(transfer_of(cdb) if len(cdb) >= 10 else 0)
    case.setup(fast_drive)
    case.setup(general_drive)

    expected = run(general_drive, cdb, length, case.nexus, general=True)
    dispatched: list[bytes] = []
    original = ScsiDevice.execute

    def counting(device: ScsiDevice, cmd: Command) -> Result:
        dispatched.append(cmd.cdb)
        return original(device, cmd)

    monkeypatch.setattr(ScsiDevice, "execute", counting)
    got = run(fast_drive, cdb, length, case.nexus, general=False)
    monkeypatch.undo()

    assert got == expected
    assert dispatched.count(cdb) == (0 if case.fast else 1)
    if case.fast:
        assert got[0] == Result(Status.GOOD, b"", length)
        assert image is not None
        start = int.from_bytes(cdb[2:6], "big")
        iso = images["iso"].read_bytes()
        assert got[1] == iso[start * SECTOR : start * SECTOR + length]


@pytest.mark.parametrize("room", [0, SECTOR - 100, SECTOR + 1])
def test_short_buffers_get_what_fits(images: dict[str, Path], room: int) -> None:
    drive = ready(images["iso"])
    result, data, _ = run(drive, read10(16, 2), room, "", general=True)
    assert result.status == Status.GOOD
    assert result.data_in_length == room
    with open(images["iso"], "rb") as iso:
        assert data == iso.read(16 * SECTOR + room)[16 * SECTOR :]


def test_fast_range_of_each_image(images: dict[str, Path]) -> None:
    iso = load_image(images["iso"])
    sectors = images["iso"].stat().st_size // SECTOR
    assert iso.fast_range is not None
    assert iso.fast_range[:2] == (0, sectors) and iso.fast_range.offset == 0
    cooked = load_image(images["cooked"])
    assert cooked.fast_range is not None and cooked.fast_range[:2] == (0, sectors)
    assert cooked.tracks[1].mode.is_audio
    assert load_image(images["mixed"]).fast_range is None  # raw 2352-byte sectors
    iso.close()
    assert iso.fast_range is None  # a closed disc reads nothing
    assert isinstance(cooked.fast_range, FastRange)
    cooked.close()


def test_file_shorter_than_the_disc(images: dict[str, Path]) -> None:
    """A read past the end of a shortened file is handed over: zeros, as the general path."""
    fast_drive, general_drive = ready(images["shrinking"]), ready(images["shrinking"])
    assert fast_drive.disc is not None
    sectors = fast_drive.disc.leadout
    with images["shrinking"].open("r+b") as f:
        f.truncate((sectors - 1) * SECTOR + 100)
    cdb = read10(sectors - 2, 2)
    expected = run(general_drive, cdb, 2 * SECTOR, "", general=True)
    got = run(fast_drive, cdb, 2 * SECTOR, "", general=False)
    assert got == expected
    assert got[0].status == Status.GOOD and got[1][SECTOR + 100 :] == bytes(SECTOR - 100)


@pytest.mark.parametrize(
    ("fast", "decl", "cdb"),
    [
        (cdbs.READ10_FAST, cdbs.Read10Cdb, read10(0x12345678, 0xABCD, flags=0x18)),
        (cdbs.READ12_FAST, cdbs.Read12Cdb, read12(0x01020304, 0x0A0B0C0D, byte10=0x80)),
    ],
)
def test_fast_structs_agree_with_declarations(fast: Any, decl: Any, cdb: bytes) -> None:
    parsed = decl.parse(cdb)
    assert fast.unpack(cdb) == (parsed.lba, parsed.transfer_length)
    assert fast.size == decl.sizeof() == len(cdb)
    assert decl.build(dict(parsed)) == cdb
