"""Clients that try to end or bloat the daemon through its control socket.

Each test drives the real server over a real Unix socket, with the
default limits, and checks that the loop serves on afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from devemu.cdrom.config import from_config as cdrom_from_config
from devemu.cdrom.device import CdromDevice
from devemu.cdrom.iso_writer import make_iso
from devemu.control import ControlError, call
from devemu.scsi.device import ScsiDevice
from devemu.served import ServedDevice
from tests.unit.control_fixtures import (
    WAIT,
    Serving,
    ask,
    ask_once,
    connect,
    eventually,
    read_line,
)

STATUS = {"op": "status", "device": "disk0"}


def _broken_status() -> dict[str, Any]:
    raise RuntimeError("status bug")


def _devices(tmp_path: Path) -> dict[str, ServedDevice]:
    def crash(args: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the secret contents of a file")

    def slow(args: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.001)
        return {}

    def circular(args: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        answer["self"] = answer
        return answer

    nothing = cast(ScsiDevice, object())
    (cd,) = cdrom_from_config(
        {"name": "cd0"},
        path=tmp_path / "c.toml",
        key="cdrom[0]",
        base_dir=tmp_path,
        state_dir=tmp_path,
    )
    return {
        "disk0": ServedDevice("disk0", "disk", nothing),
        "cd0": cd,
        "odd0": ServedDevice(
            "odd0", "disk", nothing, control={"crash": crash, "circular": circular, "slow": slow}
        ),
        "bad0": ServedDevice("bad0", "disk", nothing, status=_broken_status),
    }


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Serving]:
    devices = _devices(tmp_path)
    srv = Serving(tmp_path / "control.sock", devices)
    yield srv
    srv.close()
    for device in devices.values():
        device.close()


@pytest.fixture
def iso(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    make_iso(tmp_path / "src", tmp_path / "a.iso", label="A")
    return tmp_path / "a.iso"


# ------------------------------------------------------------- what a line holds


@pytest.mark.parametrize(
    "line",
    [b"[" * 10_000, b'{"a":' * 10_000, b"[" * 100_000, b"[{" * 5_000 + b"]}" * 5_000],
    ids=["10k [", "10k {", "100k [", "10k balanced"],
)
def test_deep_nesting_is_refused_and_the_loop_serves_on(serving: Serving, line: bytes) -> None:
    with connect(serving.path) as sock:
        reply = ask(sock, line)
        assert reply["ok"] is False
        assert "nested deeper than 32 levels" in reply["error"] or "longer than" in reply["error"]
    assert ask_once(serving.path, STATUS)["ok"] is True
    assert serving.alive


def test_brackets_inside_strings_are_not_nesting(serving: Serving) -> None:
    name = "[{" * 1000 + '\\"' + "[" * 1000
    reply = ask_once(serving.path, ('{"op": "status", "device": "' + name + '"}').encode())
    assert reply["ok"] is False and "no such device" in reply["error"]


# ------------------------------------------------------------ callbacks that fail


def test_a_failing_status_is_answered_and_logged(
    serving: Serving, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="devemu.control")
    with connect(serving.path) as sock:
        everything = ask(sock, {"op": "status"})
        assert everything["ok"] is True
        bad = everything["result"]["devices"][-1]
        assert bad["name"] == "bad0" and bad["error"].startswith("internal error (RuntimeError)")
        one = ask(sock, {"op": "status", "device": "bad0"})
        assert one == {
            "ok": False,
            "error": "bad0: status failed: internal error (RuntimeError);"
            " the daemon's log has the details",
        }
        assert ask(sock, STATUS)["ok"] is True
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert tracebacks and "status bug" in str(tracebacks[0].exc_info[1])  # type: ignore[index]


def test_an_op_that_raises_tells_only_its_type(serving: Serving) -> None:
    with connect(serving.path) as sock:
        reply = ask(sock, {"op": "crash", "device": "odd0"})
        assert reply["ok"] is False and "RuntimeError" in reply["error"]
        assert "secret" not in reply["error"]
        assert ask(sock, STATUS)["ok"] is True


def test_an_answer_that_cannot_be_encoded(serving: Serving) -> None:
    with connect(serving.path) as sock:
        reply = ask(sock, {"op": "circular", "device": "odd0"})
        assert reply == {
            "ok": False,
            "error": "internal error (ValueError); the daemon's log has the details",
        }
        assert ask(sock, STATUS)["ok"] is True


# ------------------------------------------------------------------ type checks


def test_force_must_be_a_boolean(serving: Serving, iso: Path) -> None:
    device = serving.server.devices["cd0"].device
    assert isinstance(device, CdromDevice)
    with connect(serving.path) as sock:
        assert ask(sock, {"op": "insert", "device": "cd0", "args": {"image": str(iso)}})["ok"]
        device.prevented = True
        reply = ask(sock, {"op": "eject", "device": "cd0", "args": {"force": "false"}})
        assert reply == {
            "ok": False,
            "error": "cd0: eject: 'force' must be true or false, not a string",
        }
        assert device.medium is not None
        reply = ask(sock, {"op": "eject", "device": "cd0", "args": {"force": 1}})
        assert reply["error"] == "cd0: eject: 'force' must be true or false, not a number"
        assert device.medium is not None
        assert ask(sock, {"op": "eject", "device": "cd0", "args": {"force": True}})["ok"]
        assert device.medium is None


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (
            {"op": "eject", "device": "cd0", "args": {"forse": True}},
            "cd0: eject: unknown argument 'forse' (arguments: force)",
        ),
        (
            {"op": "insert", "device": "cd0", "args": {"image": 5}},
            "cd0: insert: 'image' must be a string, not a number",
        ),
        (
            {"op": "insert", "device": "cd0", "args": {"image": "/a.iso", "force": None}},
            "cd0: insert: 'force' must be true or false, not null",
        ),
        ({"op": "status", "devcie": "cd0"}, "unknown field 'devcie' (fields: op, device, args)"),
        ({"op": "Eject", "device": "cd0"}, "cd0: unknown op 'Eject' (ops: status, insert, eject)"),
    ],
)
def test_fields_and_arguments_are_checked(
    serving: Serving, request_: dict[str, Any], error: str
) -> None:
    assert ask_once(serving.path, request_) == {"ok": False, "error": error}


def test_each_op_is_listed_once(serving: Serving) -> None:
    status = ask_once(serving.path, {"op": "status", "device": "cd0"})
    assert status["result"]["ops"] == ["status", "insert", "eject"]


# --------------------------------------------------------- what errors may tell


def test_image_errors_carry_no_size_or_contents(
    serving: Serving, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="devemu.control")
    odd = tmp_path / "odd.iso"
    odd.write_bytes(b"x" * 1234)
    sheet = tmp_path / "leak.cue"
    sheet.write_text('SECRETWORD "abc"\n')
    refused = "not a usable image (the daemon's log and `devemu image info` say why)"
    for image in (odd, sheet):
        reply = ask_once(
            serving.path, {"op": "insert", "device": "cd0", "args": {"image": str(image)}}
        )
        assert reply == {"ok": False, "error": f"cd0: insert: {refused}"}
    log = caplog.text
    assert "1234" in log and "SECRETWORD" in log  # the operator still learns why
    missing = {"op": "insert", "device": "cd0", "args": {"image": str(tmp_path / "none.iso")}}
    assert ask_once(serving.path, missing)["error"] == (
        "cd0: insert: cannot open the image: No such file or directory"
    )


def test_client_says_why_it_cannot_connect(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match=r"no such socket; is `devemu serve` running\?"):
        call(tmp_path / "none.sock", None, "status")
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(stale))
    with pytest.raises(ControlError, match=r"nothing listens on the socket .*devemu serve"):
        call(stale, None, "status")
    with pytest.raises(ControlError, match=r"the file is not a socket"):
        (tmp_path / "plain").write_text("")
        call(tmp_path / "plain", None, "status")


def _call_as_nobody(path: Path) -> str:
    """The error ``call`` raises in a child process running as nobody."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        message = "no error"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            call(path, None, "status")
        except BaseException as err:
            message = str(err)
        finally:
            os.write(write_end, message.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(child, 0)
    return message


def test_permission_denied_is_not_a_missing_daemon(serving: Serving) -> None:
    if os.geteuid() == 0:  # root passes every mode check: ask as nobody
        message = _call_as_nobody(serving.path)
    else:
        serving.path.chmod(0)
        with pytest.raises(ControlError) as info:
            call(serving.path, None, "status")
        message = str(info.value)
    assert "permission denied" in message and "run this as root" in message, message
    assert "devemu serve" not in message


# ----------------------------------------------------------------- resources


def test_a_client_that_never_reads_is_dropped(serving: Serving) -> None:
    requests = 200_000
    line = b'{"op": "status", "device": "disk0"}\n'
    with connect(serving.path) as sock:
        sock.settimeout(20)

        def send() -> None:
            with contextlib.suppress(OSError):  # dropped while sending: what should happen
                sock.sendall(line * requests)

        sender = threading.Thread(target=send)
        sender.start()
        sender.join(30)
        assert not sender.is_alive()
        answers = 0
        try:
            while chunk := sock.recv(1 << 16):
                answers += chunk.count(b"\n")
        except (ConnectionResetError, TimeoutError):
            pass
    # Dropped: far fewer answers than requests (1 MiB of answers waited for it).
    assert answers < requests // 4
    assert eventually(lambda: not serving.server.connections)
    assert ask_once(serving.path, STATUS)["ok"] is True


def test_a_thousand_idle_connections_do_not_end_the_loop(serving: Serving) -> None:
    held: list[socket.socket] = []
    try:
        for _ in range(1_100):
            held.append(connect(serving.path))
        # The first ones are served; the rest were told why and closed.
        assert ask(held[0], STATUS)["ok"] is True
        refused = read_line(held[-1])
        assert b"too many control connections (64)" in refused
        with pytest.raises(ControlError, match=r"too many control connections"):
            call(serving.path, None, "status")
    finally:
        for sock in held:
            sock.close()
    assert ask_once(serving.path, STATUS)["ok"] is True
    assert serving.alive


SERVE_WITH_FEW_FDS = """
import resource, selectors, sys
from pathlib import Path
from devemu.control import ControlServer
from devemu.served import ServedDevice

soft = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
selector = selectors.DefaultSelector()
server = ControlServer(Path(sys.argv[1]), {"disk0": ServedDevice("disk0", "disk", None)}, selector)
print("ready", flush=True)
while True:
    for key, events in selector.select(0.05):
        key.data(events)
    server.expire()
"""


def test_out_of_file_descriptors_refuses_and_serves_on(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    # 40 descriptors: fewer than the connection cap, so accept() meets EMFILE first.
    daemon = subprocess.Popen(
        [sys.executable, "-c", SERVE_WITH_FEW_FDS, str(path), "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    held: list[socket.socket] = []
    try:
        assert daemon.stdout is not None and daemon.stdout.readline() == "ready\n"
        for _ in range(1_100):
            held.append(connect(path))
        assert daemon.poll() is None
        answers = [read_line(sock) for sock in held[-50:]]
        assert all(b"out of file descriptors" in answer for answer in answers), answers[:3]
        assert ask(held[0], STATUS)["ok"] is True
        for sock in held:
            sock.close()
        held.clear()
        assert ask_once(path, STATUS)["ok"] is True
        assert call(path, "disk0", "status")["name"] == "disk0"
        assert daemon.poll() is None
    finally:
        for sock in held:
            sock.close()
        daemon.kill()
        _, errors = daemon.communicate(timeout=WAIT)
    assert "Traceback" not in errors, errors


def test_a_pipelined_burst_does_not_hold_the_loop(serving: Serving) -> None:
    burst = 1_500  # 1.5 s of work at 1 ms a request
    with connect(serving.path) as busy, connect(serving.path) as other:
        answers: list[bytes] = []

        def drain() -> None:
            data = b""
            while data.count(b"\n") < burst:
                chunk = busy.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
            answers.extend(data.splitlines())

        reader = threading.Thread(target=drain)
        reader.start()
        busy.sendall(b'{"op": "slow", "device": "odd0"}\n' * burst)
        time.sleep(0.05)
        start = time.monotonic()
        assert ask(other, STATUS)["ok"] is True
        waited = time.monotonic() - start
        reader.join(30)
        assert len(answers) == burst and all(a == b'{"ok": true, "result": {}}' for a in answers)
        assert waited < 0.5, f"a second client waited {waited:.2f} s behind a burst"


SERVE_WITHOUT_SPARE = """
import os, resource, selectors, sys, time
from pathlib import Path
from devemu.control import ControlServer
from devemu.served import ServedDevice

resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
selector = selectors.DefaultSelector()
filler = []
try:
    while True:
        filler.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    os.close(filler.pop())  # room for the listening socket, none for anything else
server = ControlServer(Path(sys.argv[1]), {"disk0": ServedDevice("disk0", "disk", None)}, selector)
print("ready", flush=True)
release = time.monotonic() + float(sys.argv[2])
while True:
    for key, events in selector.select(0.05):
        key.data(events)
    server.expire()
    if filler and time.monotonic() > release:
        for fd in filler:
            os.close(fd)
        filler.clear()
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_without_any_descriptor_accepting_pauses_then_resumes(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    daemon = subprocess.Popen(
        [sys.executable, "-c", SERVE_WITHOUT_SPARE, str(path), "2.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None and daemon.stdout.readline() == "ready\n"
        cpu = _cpu_seconds(daemon.pid)
        with connect(path) as sock:
            sock.settimeout(10)
            start = time.monotonic()
            reply = ask(sock, STATUS)  # waits in the backlog until descriptors are free
            waited = time.monotonic() - start
        assert reply["ok"] is True and 1.5 < waited < 8, waited
        # Paused, not spinning on a listening socket it cannot accept from.
        assert _cpu_seconds(daemon.pid) - cpu < 0.5 * waited
        assert daemon.poll() is None
    finally:
        daemon.kill()
        _, errors = daemon.communicate(timeout=WAIT)
    assert "Traceback" not in errors, errors
