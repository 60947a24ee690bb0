"""Serve one devemu tape drive to ``sg_shim.so`` and record what the programs send.

Usage: python drive_server.py SOCKET CARTRIDGE RECORDING

The drive is an LTO-8 ``ibm-lto`` drive (``PERSONALITY``, ``GENERATION``
in the environment change it) holding CARTRIDGE (made blank, bar code
``LTF001L8``, when it does not exist). Each SG_IO request that reaches
SOCKET from a program run with ``LD_PRELOAD=sg_shim.so`` is executed by
the drive; RECORDING gets one JSON line per command: the CDB, the data
direction and length, the data-out bytes, the status, the sense bytes,
the data-in length, the SHA-256 of the data-in and, when short, the
data-in itself, which
``tests/unit/tape/test_ltfs_replay.py`` replays. A program's connection
opening and closing are recorded too (``{"event": "open"}``).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import sys
from pathlib import Path

from devemu.personality import DRIVE_PERSONALITIES
from devemu.scsi.command import Command, answered
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive

#: sg_io_hdr dxfer_direction values (include/scsi/sg.h).
TO_DEVICE, FROM_DEVICE = -2, -3
BARCODE = "LTF001L8"
#: Data-in up to this many bytes is recorded whole (larger: its SHA-256 only).
SHOWN = 4096


def setup() -> dict[str, object]:
    """The drive and cartridge a recording was made with (its first line)."""
    return {
        "event": "setup",
        "personality": os.environ.get("PERSONALITY", "ibm-lto"),
        "generation": int(os.environ.get("GENERATION", "8")),
        "barcode": BARCODE,
        "names": ["ltfslib", "ltfs-d0"],
    }


def make_drive(conf: dict[str, object], cartridge: Path) -> TapeDrive:
    persona = DRIVE_PERSONALITIES[str(conf["personality"])]
    generation = int(str(conf["generation"]))
    if not cartridge.exists():
        Cartridge.create(cartridge, str(conf["barcode"]), f"LTO-{generation}").close()
    names = [str(n) for n in conf["names"]]  # type: ignore[attr-defined]
    drive = TapeDrive(persona.identity(generation, *names), drive_type=f"LTO-{generation}")
    drive.medium_types = persona.medium_types
    drive.load(cartridge)
    return drive


def _read(conn: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        got = conn.recv(n - len(data))
        if not got:
            raise EOFError
        data += got
    return bytes(data)


def serve(sock_path: str, cartridge: Path, recording: Path) -> None:
    conf = setup()
    drive = make_drive(conf, cartridge)
    with recording.open("a") as rec:
        rec.write(json.dumps(conf) + "\n")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(sock_path)
        server.listen(4)
        while True:
            conn, _ = server.accept()
            rec.write(json.dumps({"event": "open"}) + "\n")
            try:
                while True:
                    cmd_len, direction, length = struct.unpack("<IiI", _read(conn, 12))
                    cdb = _read(conn, cmd_len)
                    out = _read(conn, length) if direction == TO_DEVICE and length else b""
                    buf = bytearray(out or length)
                    result = answered(
                        drive.execute(Command(cdb, [memoryview(buf)] if length else []))
                    )
                    n = (result.data_in_length or 0) if direction == FROM_DEVICE else 0
                    sense = bytes(result.sense)
                    line = {
                        "cdb": cdb.hex(),
                        "dir": direction,
                        "length": length,
                        "data_out": out.hex() if out else None,
                        "status": int(result.status),
                        "sense": sense.hex(),
                        "data_in": n,
                        "sha256": hashlib.sha256(buf[:n]).hexdigest() if n else None,
                        "data_in_bytes": bytes(buf[:n]).hex() if 0 < n <= SHOWN else None,
                    }
                    rec.write(json.dumps(line) + "\n")
                    # recorded before the answer goes back: a killed program's last
                    # command was executed all the same
                    reply = struct.pack("<II", int(result.status), len(sense)) + sense
                    conn.sendall(reply + struct.pack("<I", n) + bytes(buf[:n]))
            except (EOFError, OSError):
                # the program ended, or was killed (kill -9) with a command under way: the
                # drive completed that command, as it does when its initiator goes away
                rec.write(json.dumps({"event": "close"}) + "\n")
                rec.flush()
                conn.close()


if __name__ == "__main__":
    serve(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
