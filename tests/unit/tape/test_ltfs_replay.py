"""What LTFS sends, replayed: mkltfs, a mount and a copy, ltfsck, a kill -9 and recovery.

``tests/ltfs/record`` ran ``scripts/ltfs-check`` (LTFS 2.4.8.4, the
public LinearTapeFileSystem sources, sg backend) against a devemu LTO-8
``ibm-lto`` drive and kept every command LTFS's tools sent, with its
data-out and the drive's answer: ``ltfs-check`` with logical block
protection off, ``ltfs-check-lbp`` with it on (CRC32C on every block,
SSC-5 4.2, logical block protection), ``ltfs-check-hpe`` with an ``hp-lto`` drive (an HPE
Ultrium 8, which LTFS drives through its HP backend), ``ltfs-check-lto6-lbp``
with an LTO-6 drive and protection on (there LTFS uses the Reed-Solomon
CRC of ECMA-319). The steps each run
passed are in the ``.steps`` file next to its recording.

Each replay sends the same commands, with the same data, to a new drive
holding a new cartridge, and checks that the drive answers as it did:
the same status, the same sense bytes, the same number of data-in bytes
and the same data-in (byte for byte when short, else its SHA-256). So CI
checks the sequence LTFS depends on without an LTFS build. What differs
between two cartridges or two moments is left out of the comparison:
the drive dump (READ BUFFER, which names the time it was taken) is
compared by length, and the medium serial number of a new cartridge
(the volume serial parameter of log page 17h) is masked. REPORT SUPPORTED
OPERATION CODES of all commands (SPC-5 6.35) lists the drive's command
table, which grows with every command the drive gains: its answer is
checked to list every command the recording's programs had answered GOOD.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from devemu.personality import DRIVE_PERSONALITIES
from devemu.scsi.command import Command, answered
from devemu.scsi.log_sense import LogPage
from devemu.tape import log_pages
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.tape.opcodes import Opcode

RECORDINGS = Path(__file__).resolve().parents[2] / "ltfs"
#: Answers that hold the time they were made: compared by length.
TIMED = {Opcode.READ_BUFFER}


def masked(cdb: bytes, data: bytes) -> bytes:
    """``data`` with what a new cartridge makes different blanked out."""
    if cdb[0] != 0x4D or cdb[2] & 0x3F != log_pages.VOLUME_STATISTICS:
        return data
    out = bytearray(data)
    page = LogPage.parse(data)
    at, end = 4, 4 + page.page_length
    while at + 4 <= min(end, len(out)):
        code, length = int.from_bytes(out[at : at + 2], "big"), out[at + 3]
        if code == log_pages.VolumeParameter.VOLUME_SERIAL:
            out[at + 4 : at + 4 + length] = bytes(length)
        at += 4 + length
    return bytes(out)


#: The steps of ``scripts/ltfs-check``, in order (its header lists them).
LTFS_CHECK_STEPS = (
    "mkltfs",
    "mount",
    "copy",
    "unmount",
    "ltfsck",
    "remount",
    "compare",
    "unmount2",
    "killmount",
    "killed",
    "ltfsck2",
    "remount2",
    "compare2",
    "unmount3",
)
#: The steps ``scripts/ltfs-check`` adds with ``LTFS_KILL_SERVER`` set: the drive's
#: server killed with SIGKILL mid-copy and started again (the recordings have none).
LTFS_SERVER_KILL_STEPS = (
    "serverkill",
    "serverback",
    "ltfsck3",
    "remount3",
    "compare3",
    "unmount4",
)


def lists_all_commands(cdb: bytes) -> bool:
    """REPORT SUPPORTED OPERATION CODES, REPORTING OPTIONS 000b: every command (SPC-5 6.35)."""
    return cdb[0] == 0xA3 and cdb[1] & 0x1F == 0x0C and cdb[2] & 0x07 == 0


def listed_opcodes(data: bytes) -> set[int]:
    """The operation codes of an all-commands REPORT SUPPORTED OPERATION CODES answer."""
    end = 4 + int.from_bytes(data[:4], "big")
    at, opcodes = 4, set()
    while at + 8 <= min(end, len(data)):
        opcodes.add(data[at])
        at += 8 + (12 if data[at + 5] & 0x02 else 0)  # CTDP: a timeouts descriptor follows
    return opcodes


def recordings() -> list[Path]:
    return sorted(RECORDINGS.glob("*.jsonl.gz"))


def load(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def make_drive(setup: dict[str, Any], tmp_path: Path) -> TapeDrive:
    persona = DRIVE_PERSONALITIES[setup["personality"]]
    generation = int(setup["generation"])
    cartridge = tmp_path / f"{setup['barcode']}.tape"
    Cartridge.create(cartridge, setup["barcode"], f"LTO-{generation}").close()
    drive = TapeDrive(persona.identity(generation, *setup["names"]), drive_type=f"LTO-{generation}")
    drive.medium_types = persona.medium_types
    drive.load(cartridge)
    return drive


def test_the_recordings_are_there_and_every_step_passed() -> None:
    names = [p.name for p in recordings()]
    assert names == [
        "ltfs-check-hpe.jsonl.gz",
        "ltfs-check-lbp.jsonl.gz",
        "ltfs-check-lto6-lbp.jsonl.gz",
        "ltfs-check.jsonl.gz",
    ]
    for path in recordings():
        steps = (RECORDINGS / path.name.replace(".jsonl.gz", ".steps")).read_text().split("\n")
        assert [s for s in steps if s] == [f"STEP {name} 0" for name in LTFS_CHECK_STEPS]


@pytest.mark.parametrize("path", recordings(), ids=lambda p: p.name.split(".")[0])
def test_ltfs_replay(path: Path, tmp_path: Path) -> None:
    lines = load(path)
    assert lines[0]["event"] == "setup"
    drive = make_drive(lines[0], tmp_path)
    good_opcodes = {int(line["cdb"][:2], 16) for line in lines[1:] if line.get("status") == 0}
    opened = 0
    for number, line in enumerate(lines[1:], start=2):
        if "event" in line:
            opened += line["event"] == "open"
            continue
        cdb = bytes.fromhex(line["cdb"])
        data = bytes.fromhex(line["data_out"]) if line["data_out"] else b""
        buf = bytearray(data or line["length"])
        result = answered(drive.execute(Command(cdb, [memoryview(buf)] if line["length"] else [])))
        where = f"{path.name} line {number}: {line['cdb']}"
        assert int(result.status) == line["status"], where
        assert bytes(result.sense).hex() == line["sense"], where
        got = (result.data_in_length or 0) if line["dir"] == -3 else 0
        if lists_all_commands(cdb) and line["status"] == 0:
            assert good_opcodes <= listed_opcodes(bytes(buf[:got])), where
            continue
        assert got == line["data_in"], where
        if not got or cdb[0] in TIMED:
            continue
        if line.get("data_in_bytes") is not None:
            recorded = bytes.fromhex(line["data_in_bytes"])
            assert masked(cdb, bytes(buf[:got])) == masked(cdb, recorded), where
        else:
            assert hashlib.sha256(buf[:got]).hexdigest() == line["sha256"], where
    # every program that ran: mkltfs, ltfs four times (one killed), ltfsck twice
    assert opened == 7


def test_the_replay_covers_what_ltfs_needs() -> None:
    """Every command the drive added for LTFS is in the recordings, and answered GOOD."""
    seen: dict[int, set[int]] = {}
    for path in recordings():
        for line in load(path)[1:]:
            if "cdb" in line:
                seen.setdefault(int(line["cdb"][:2], 16), set()).add(line["status"])
    for opcode in (
        Opcode.READ_BUFFER,
        Opcode.SET_CAPACITY,
        Opcode.LOCATE_16,
        Opcode.FORMAT_MEDIUM,
        Opcode.READ_ATTRIBUTE,
        Opcode.WRITE_ATTRIBUTE,
        Opcode.WRITE_FILEMARKS_6,
        Opcode.READ_POSITION,
        Opcode.SPACE_16,
    ):
        assert 0 in seen.get(opcode, set()), opcode.name
    assert 0 in seen[0x1D]  # SEND DIAGNOSTIC (force dump)
    assert 0 in seen[0x4D] and 0 in seen[0x5A] and 0 in seen[0x55]  # LOG/MODE SENSE, SELECT
