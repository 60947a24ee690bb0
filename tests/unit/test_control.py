"""The control socket: JSON lines, per-device ops, built-in status."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from devemu.control import ControlError, ControlServer, call
from devemu.control_protocol import dispatch
from devemu.errors import ImageError
from devemu.scsi.device import ScsiDevice
from devemu.served import ServedDevice


def _devices() -> dict[str, ServedDevice]:
    state = {"image": None}

    def insert(args: dict[str, Any]) -> dict[str, Any]:
        if args.get("image") == "bad.iso":
            raise ImageError("bad.iso", "offset 0x8000", "no primary volume descriptor")
        state["image"] = args["image"]
        return {"inserted": args["image"]}

    def crash(args: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("bug")

    cd = ServedDevice(
        "cd0",
        "cdrom",
        cast(ScsiDevice, object()),
        control={"insert": insert, "crash": crash},
        status=lambda: {"image": state["image"]},
    )
    disk = ServedDevice("disk0", "disk", cast(ScsiDevice, object()))
    return {"cd0": cd, "disk0": disk}


def test_dispatch_table() -> None:
    devices = _devices()
    assert dispatch(devices, {"device": "cd0", "op": "insert", "args": {"image": "a.iso"}}) == {
        "ok": True,
        "result": {"inserted": "a.iso"},
    }
    status = dispatch(devices, {"op": "status"})
    assert status["result"]["devices"] == [
        {"name": "cd0", "kind": "cdrom", "ops": ["status", "insert", "crash"], "image": "a.iso"},
        {"name": "disk0", "kind": "disk", "ops": ["status"]},
    ]


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ([], "a request is a JSON object, not an array"),
        ({"device": "cd0"}, "'op' must be a string, not null"),
        ({"op": "insert"}, "op 'insert' needs a 'device'"),
        ({"op": "status", "device": 3}, "'device' must be a string, not a number"),
        ({"op": "status", "device": None}, "'device' must be a string, not null"),
        ({"op": "status", "device": "cd9"}, "cd9: no such device (served: cd0, disk0)"),
        ({"op": "eject", "device": "cd0"}, "cd0: unknown op 'eject' (ops: status, insert, crash)"),
        ({"op": "insert", "device": "cd0", "args": []}, "'args' must be an object, not an array"),
        (
            {"op": "status", "device": "cd0", "args": {"all": True}},
            "cd0: status takes no arguments",
        ),
        ({"op": "status", "dev": "cd0"}, "unknown field 'dev' (fields: op, device, args)"),
        (
            {"op": "insert", "device": "cd0", "args": {"image": "bad.iso"}},
            "cd0: insert: not a usable image (the daemon's log and `devemu image info` say why)",
        ),
        (
            {"op": "crash", "device": "cd0"},
            "cd0: crash failed: internal error (RuntimeError); the daemon's log has the details",
        ),
    ],
)
def test_dispatch_errors(request_: Any, error: str) -> None:
    assert dispatch(_devices(), request_) == {"ok": False, "error": error}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ControlServer]:
    selector = selectors.DefaultSelector()
    srv = ControlServer(tmp_path / "run" / "control.sock", _devices(), selector)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            for key, events in selector.select(0.05):
                key.data(events)

    thread = threading.Thread(target=loop)
    thread.start()
    yield srv
    stop.set()
    thread.join()
    srv.close()
    selector.close()


def test_call_round_trip(server: ControlServer) -> None:
    assert server.path.stat().st_mode & 0o777 == 0o600
    assert call(server.path, "cd0", "insert", image="x.iso") == {"inserted": "x.iso"}
    assert call(server.path, "cd0", "status")["image"] == "x.iso"
    assert [d["name"] for d in call(server.path, None, "status")["devices"]] == ["cd0", "disk0"]
    with pytest.raises(ControlError, match="unknown op 'eject'"):
        call(server.path, "cd0", "eject")


def test_pipelined_requests_and_garbage(server: ControlServer) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(server.path))
        sock.sendall(b'{"op": "status", "device": "disk0"}\nnot json\n\n{"op": "status"}\n')
        data = b""
        while data.count(b"\n") < 3:
            data += sock.recv(65536)
    lines = data.splitlines()
    assert lines[0].startswith(b'{"ok": true')
    assert lines[1].startswith(b'{"ok": false, "error": "not JSON')
    assert b'"devices"' in lines[2]


def test_second_server_on_the_same_socket_is_refused(server: ControlServer) -> None:
    with pytest.raises(ControlError, match="another devemu daemon is listening"):
        ControlServer(server.path, {}, selectors.DefaultSelector())


def test_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "c.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens
    selector = selectors.DefaultSelector()
    srv = ControlServer(path, {}, selector)
    srv.close()
    assert not path.exists()


def test_no_daemon_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match=r"no such socket; is `devemu serve` running\?"):
        call(tmp_path / "none.sock", None, "status")
