"""The control server's limits, each set low so that a test reaches it quickly."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import pytest

from devemu.control import ControlError, Limits, call
from devemu.scsi.device import ScsiDevice
from devemu.served import ServedDevice
from tests.unit.control_fixtures import WAIT, Serving, ask, ask_once, connect, read_line

STATUS = {"op": "status", "device": "disk0"}


def _serve(tmp_path: Path, **limits: Any) -> Serving:
    devices = {"disk0": ServedDevice("disk0", "disk", cast(ScsiDevice, object()))}
    return Serving(tmp_path / "control.sock", devices, limits=Limits(**limits))


def test_defaults_are_the_documented_ones() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    limits = Limits()
    for text in (
        f"{limits.line // 1024} KiB",
        f"{limits.pending >> 20} MiB",
        f"{limits.connections} connections",
        f"{limits.idle:g} s",
    ):
        assert text in readme, text


def test_an_idle_connection_is_closed(tmp_path: Path) -> None:
    serving = _serve(tmp_path, idle=0.3)
    try:
        with connect(serving.path) as idle, connect(serving.path) as busy:
            idle.sendall(b'{"op": "sta')  # half a request is not activity that lasts
            start = time.monotonic()
            while time.monotonic() - start < 0.9:
                assert ask(busy, STATUS)["ok"] is True
                time.sleep(0.1)
            assert read_line(idle) == b""  # closed, without a word
            assert time.monotonic() - start < WAIT
            assert ask(busy, STATUS)["ok"] is True
    finally:
        serving.close()


def test_connections_past_the_cap_are_told_and_closed(tmp_path: Path) -> None:
    serving = _serve(tmp_path, connections=3)
    try:
        held = [connect(serving.path) for _ in range(3)]
        try:
            with connect(serving.path) as extra:
                assert read_line(extra) == (
                    b'{"ok": false, "error": "too many control connections (3); try again later"}\n'
                )
            with pytest.raises(ControlError, match=r"^too many control connections \(3\)"):
                call(serving.path, None, "status")
            assert all(ask(sock, STATUS)["ok"] for sock in held)
            held.pop().close()
            time.sleep(0.1)
            assert call(serving.path, "disk0", "status")["name"] == "disk0"
        finally:
            for sock in held:
                sock.close()
    finally:
        serving.close()


@pytest.mark.parametrize("newline", [b"\n", b""], ids=["whole line", "no newline yet"])
def test_a_line_past_the_limit_is_refused_and_the_connection_closed(
    tmp_path: Path, newline: bytes
) -> None:
    serving = _serve(tmp_path, line=100)
    try:
        request = b'{"op": "status", "device": "disk0"}'
        with connect(serving.path) as sock:
            assert ask(sock, request + b" " * (100 - len(request)))["ok"] is True
            sock.sendall(request + b" " * (101 - len(request)) + newline)
            assert read_line(sock) == (
                b'{"ok": false, "error": "request line longer than 100 bytes"}\n'
            )
            assert read_line(sock) == b""
        assert ask_once(serving.path, STATUS)["ok"] is True
    finally:
        serving.close()


def test_pipelined_answers_within_the_pending_limit_all_arrive(tmp_path: Path) -> None:
    serving = _serve(tmp_path, pending=4096)
    try:
        with connect(serving.path) as sock:
            sock.sendall(b'{"op": "status", "device": "disk0"}\n' * 40)
            lines = [read_line(sock) for _ in range(40)]
            assert all(line.startswith(b'{"ok": true') for line in lines)
    finally:
        serving.close()
