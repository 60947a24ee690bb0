"""READ (10)/(12): one ``os.preadv`` into the command's buffers, and the right answer always.

A plain data READ inside the disc's fast range is one ``os.preadv``
straight into the very buffers the transport handed over. Every other
case (audio sectors, CUE gaps, the end of the disc, tray states, reserved
bits, buffers of another size) gets the answer MMC-6 gives it, and the
data-in buffer is left untouched when the command fails. Every case runs
through :meth:`CdromDevice.execute`, the one path a command takes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devemu.cdrom import disc as disc_module
from devemu.cdrom.device import CdromDevice
from devemu.cdrom.disc import FastRange
from devemu.cdrom.image import load_image
from devemu.scsi import sense as s
from devemu.scsi.command import Command, Result, Status, answered
from devemu.scsi.identity import Identity
from devemu.scsi.sense import NOT_READY_TO_READY_CHANGE, SenseCode, parse_sense

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
    nexus: str = ""
    #: One ``os.preadv`` into the command's own buffers, nothing else read.
    one_preadv: bool = False
    #: The status, and for CHECK CONDITION the sense code.
    status: Status = Status.GOOD
    sense: SenseCode | None = None
    #: The INFORMATION field (given the disc's sector count), if the sense has one.
    information: Callable[[int], int] | None = None
    #: The field pointer (sense-key specific bytes) of INVALID FIELD IN CDB.
    field: bytes | None = None
    #: The data-in length of a GOOD answer, given the buffer length.
    length: Callable[[int], int] = lambda n: n
    #: The status of the TEST UNIT READY that follows.
    after: Status = Status.GOOD


def transfer_of(cdb: bytes) -> int:
    if cdb[0] == 0x28:
        return int.from_bytes(cdb[7:9], "big") * SECTOR
    return int.from_bytes(cdb[6:10], "big") * SECTOR


_CC = Status.CHECK_CONDITION
_OUT = s.LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
_MODE = s.ILLEGAL_MODE_FOR_THIS_TRACK
_FIELD = s.INVALID_FIELD_IN_CDB

CASES = [
    Case("in range", "iso", lambda n: read10(16, 4), one_preadv=True),
    Case("DPO and FUA", "iso", lambda n: read10(16, 4, flags=0x18), one_preadv=True),
    Case("READ (12) in range", "iso", lambda n: read12(0, 32), one_preadv=True),
    Case("READ (12) streaming", "iso", lambda n: read12(20, 1, byte10=0x80), one_preadv=True),
    Case("last sector", "iso", lambda n: read10(n - 1, 1), one_preadv=True),
    Case("whole disc", "iso", lambda n: read12(0, n), one_preadv=True),
    Case("nexus named", "iso", lambda n: read10(16, 1), nexus="iqn.me", one_preadv=True),
    Case("long CDB", "iso", lambda n: read10(16, 1) + b"\0\0", one_preadv=True),
    Case("CUE Mode 1/2048 track", "cooked", lambda n: read10(16, 8), one_preadv=True),
    Case(
        "across the end",
        "iso",
        lambda n: read10(n - 1, 2),
        status=_CC,
        sense=_OUT,
        information=lambda n: n - 1,
    ),
    Case(
        "at the lead-out",
        "iso",
        lambda n: read10(n, 1),
        status=_CC,
        sense=_OUT,
        information=lambda n: n,
    ),
    Case(
        "LBA ffffffff",
        "iso",
        lambda n: read10(0xFFFFFFFF, 1),
        status=_CC,
        sense=_OUT,
        information=lambda n: 0xFFFFFFFF,
    ),
    Case(
        "READ (12) across the end",
        "iso",
        lambda n: read12(n - 2, 3),
        status=_CC,
        sense=_OUT,
        information=lambda n: n - 2,
    ),
    Case("transfer length 0", "iso", lambda n: read10(16, 0)),
    Case("READ (12) transfer length 0", "iso", lambda n: read12(n, 0)),
    Case(
        "reserved bit in byte 6",
        "iso",
        lambda n: read10(16, 1, byte6=0x01),
        status=_CC,
        sense=_FIELD,
        field=bytes.fromhex("c80006"),
    ),
    Case(
        "reserved bit in byte 1",
        "iso",
        lambda n: read10(16, 1, flags=0x02),
        status=_CC,
        sense=_FIELD,
        field=bytes.fromhex("c90001"),
    ),
    Case(
        "NACA in the control byte",
        "iso",
        lambda n: read10(16, 1, control=0x04),
        status=_CC,
        sense=_FIELD,
        field=bytes.fromhex("ca0009"),
    ),
    Case(
        "READ (12) reserved bit",
        "iso",
        lambda n: read12(16, 1, byte10=0x40),
        status=_CC,
        sense=_FIELD,
        field=bytes.fromhex("ce000a"),
    ),
    Case(
        "short CDB",
        "iso",
        lambda n: read10(16, 1)[:9],
        status=_CC,
        sense=_FIELD,
        field=bytes.fromhex("c00000"),
    ),
    Case(
        "buffer larger",
        "iso",
        lambda n: read10(16, 2),
        buffer=lambda b: b + 4096,
        length=lambda b: b - 4096,
    ),
    Case("no buffer", "iso", lambda n: read10(16, 2), buffer=lambda b: 0),
    Case("buffer shorter", "iso", lambda n: read10(16, 2), buffer=lambda b: b - 100),
    Case(
        "tray open",
        "iso",
        lambda n: read10(16, 1),
        setup=tray_open,
        status=_CC,
        sense=s.MEDIUM_NOT_PRESENT_TRAY_OPEN,
        after=_CC,
    ),
    Case(
        "no disc",
        None,
        lambda n: read10(16, 1),
        status=_CC,
        sense=s.MEDIUM_NOT_PRESENT_TRAY_CLOSED,
        after=_CC,
    ),
    Case(
        "unit attention pending",
        "iso",
        lambda n: read10(16, 1),
        setup=attention,
        status=_CC,
        sense=NOT_READY_TO_READY_CHANGE,
    ),
    Case(
        "becoming ready",
        "iso",
        lambda n: read10(16, 1),
        setup=becoming_ready,
        status=_CC,
        sense=s.LOGICAL_UNIT_BECOMING_READY,
    ),
    Case(
        "reserved by another nexus",
        "iso",
        lambda n: read10(16, 1),
        setup=reserved,
        status=Status.RESERVATION_CONFLICT,
        after=Status.RESERVATION_CONFLICT,
    ),
    Case("raw Mode 1/2352 track", "mixed", lambda n: read10(16, 2)),
    Case(
        "audio track",
        "mixed",
        lambda n: read10(n - 10, 1),
        status=_CC,
        sense=_MODE,
        information=lambda n: n - 10,
    ),
    Case(
        "CUE data into the audio pregap",
        "cooked",
        lambda n: read10(n - 300 - 151, 2),
        status=_CC,
        sense=_MODE,
        information=lambda n: n - 300 - 150,
    ),
    Case(
        "CUE audio pregap",
        "cooked",
        lambda n: read10(n - 300 - 100, 1),
        status=_CC,
        sense=_MODE,
        information=lambda n: n - 300 - 100,
    ),
    Case(
        "CUE audio track",
        "cooked",
        lambda n: read12(n - 1, 1),
        status=_CC,
        sense=_MODE,
        information=lambda n: n - 1,
    ),
]


@pytest.fixture
def preadv_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[Any]]]:
    """Every ``os.preadv`` the drive makes, with the buffers it was given."""
    calls: list[list[Any]] = []
    real = os.preadv

    def preadv(fd: int, bufs: list[Any], offset: int) -> int:
        calls.append(list(bufs))
        return real(fd, bufs, offset)

    monkeypatch.setattr(os, "preadv", preadv)
    monkeypatch.setattr(disc_module, "_preadv", preadv)
    yield calls


def run(device: CdromDevice, cdb: bytes, length: int, nexus: str = "") -> Any:
    buf = bytearray([FILL]) * length
    iov = [memoryview(buf)] if length else []
    result = answered(device.execute(Command(cdb, iov, nexus=nexus)))
    tur = answered(device.execute(Command(bytes(6))))
    return result, bytes(buf), tur, iov


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_read_answers(case: Case, images: dict[str, Path], preadv_calls: list[list[Any]]) -> None:
    image = images[case.image] if case.image is not None else None
    drive = ready(image)
    sectors = drive.disc.leadout if drive.disc is not None else 100
    cdb = case.cdb(sectors)
    length = case.buffer(transfer_of(cdb) if len(cdb) >= 10 else 0)
    case.setup(drive)
    preadv_calls.clear()
    result, data, tur, iov = run(drive, cdb, length, case.nexus)

    assert result.status == case.status
    assert tur.status == case.after
    if case.one_preadv:
        assert len(preadv_calls) == 1
        assert len(preadv_calls[0]) == len(iov) == 1
        assert preadv_calls[0][0] is iov[0]
    if case.status != Status.GOOD:
        assert data == bytes([FILL]) * length  # nothing placed
        if case.sense is None:
            assert not result.sense
            return
        code, fields = parse_sense(result.sense)
        assert code == case.sense
        if case.information is not None:
            assert fields["information"] == case.information(sectors)
        if case.field is not None:
            assert fields["sense_key_specific"] == case.field
        if case.after != Status.GOOD:
            assert parse_sense(tur.sense)[0] == case.sense
        return
    placed = case.length(length)
    assert result == Result(Status.GOOD, b"", placed)
    assert data[placed:] == bytes([FILL]) * (length - placed)
    if case.image in ("iso", "cooked"):
        start = int.from_bytes(cdb[2:6], "big")
        iso = images["iso"].read_bytes()
        assert data[:placed] == iso[start * SECTOR : start * SECTOR + placed]


def test_plain_reads_are_one_preadv_into_the_buffers(
    images: dict[str, Path], preadv_calls: list[list[Any]]
) -> None:
    """READ (10) and READ (12) of data: the transport's buffers, one system call each."""
    drive = ready(images["iso"])
    iso = images["iso"].read_bytes()
    for cdb in (read10(3, 2), read12(5, 3)):
        preadv_calls.clear()
        count = transfer_of(cdb) // SECTOR
        halves = bytearray(count * SECTOR)
        iov = [memoryview(halves)[:SECTOR], memoryview(halves)[SECTOR:]]
        result = answered(drive.execute(Command(cdb, iov)))
        assert (result.status, result.data_in_length) == (Status.GOOD, count * SECTOR)
        assert [list(map(id, c)) for c in preadv_calls] == [[id(iov[0]), id(iov[1])]]
        lba = int.from_bytes(cdb[2:6], "big")
        assert halves == iso[lba * SECTOR : (lba + count) * SECTOR]
    drive.close()


@pytest.mark.parametrize("room", [0, SECTOR - 100, SECTOR + 1])
def test_short_buffers_get_what_fits(images: dict[str, Path], room: int) -> None:
    drive = ready(images["iso"])
    result, data, _, _ = run(drive, read10(16, 2), room)
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
    """A read past the end of a shortened file: what the file holds, then zeros."""
    drive = ready(images["shrinking"])
    assert drive.disc is not None
    sectors = drive.disc.leadout
    with images["shrinking"].open("r+b") as f:
        f.truncate((sectors - 1) * SECTOR + 100)
    held = images["shrinking"].read_bytes()[(sectors - 2) * SECTOR :]
    result, data, tur, _ = run(drive, read10(sectors - 2, 2), 2 * SECTOR)
    assert result == Result(Status.GOOD, b"", 2 * SECTOR)
    assert tur.status == Status.GOOD
    assert data[: SECTOR + 100] == held
    assert data[SECTOR + 100 :] == bytes(SECTOR - 100)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d, image: d.open_tray(), s.MEDIUM_NOT_PRESENT_TRAY_OPEN),
        (lambda d, image: d.eject(), s.MEDIUM_NOT_PRESENT_TRAY_OPEN),
        (lambda d, image: d.insert(load_image(image)), NOT_READY_TO_READY_CHANGE),
        (lambda d, image: setattr(d, "becoming_ready", True), s.LOGICAL_UNIT_BECOMING_READY),
        (lambda d, image: setattr(d, "tray_open", True), s.MEDIUM_NOT_PRESENT_TRAY_OPEN),
    ],
    ids=["tray opened", "ejected", "new disc", "becoming ready", "tray flag"],
)
def test_readiness_is_checked_again_after_a_change(
    images: dict[str, Path], change: Callable[[CdromDevice, Path], None], expected: SenseCode
) -> None:
    """A drive found ready stops checking, until its state changes."""
    drive = ready(images["iso"])
    assert run(drive, read10(16, 1), SECTOR)[0].status == Status.GOOD
    assert not drive.may_be_not_ready
    change(drive, images["iso"])
    result, data, _, _ = run(drive, read10(16, 1), SECTOR)
    assert result.status == Status.CHECK_CONDITION
    assert parse_sense(result.sense)[0] == expected
    assert data == bytes([FILL]) * SECTOR
    drive.close()
