"""Service notifications to a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.config import Config
from devemu.daemon import Daemon
from devemu.sd_notify import Notifier, message, socket_address, watchdog_interval
from tests.unit.test_daemon import Recorder, SimBackend, _served

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "devemu@.service"


class Manager:
    """The service manager's end: a bound datagram socket and what arrived on it."""

    def __init__(self, name: str, address: str | bytes) -> None:
        self.name = name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(2.0)

    def receive(self) -> dict[str, str]:
        data = self.sock.recv(4096)
        return dict(line.split("=", 1) for line in data.decode().split("\n"))

    def pending(self) -> list[dict[str, str]]:
        found = []
        self.sock.setblocking(False)
        try:
            while True:
                found.append(
                    dict(line.split("=", 1) for line in self.sock.recv(4096).decode().split("\n"))
                )
        except BlockingIOError:
            return found
        finally:
            self.sock.settimeout(2.0)


@pytest.fixture(params=["path", "abstract"])
def manager(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Manager]:
    if request.param == "path":
        path = tmp_path / "notify"
        m = Manager(str(path), str(path))
    else:
        name = f"devemu-test-{secrets.token_hex(8)}"
        m = Manager(f"@{name}", b"\0" + name.encode())
    yield m
    m.sock.close()


def test_addresses() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abc") == b"\0abc"
    assert socket_address("relative/notify") is None
    assert socket_address("vsock:2:1234") is None
    assert socket_address("@") is None


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    pid = os.getpid()
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, pid) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(pid)}, pid) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, pid) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}, pid) is None
    assert watchdog_interval({}, pid) is None


def test_a_status_is_one_line() -> None:
    assert message(READY="1", STATUS="a\nb") == b"READY=1\nSTATUS=a b"


def test_ready_stopping_status_reach_the_socket(manager: Manager) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": manager.name})
    assert notifier.enabled
    notifier.status("attaching 2 device(s)")
    notifier.ready("serving 2 device(s)")
    notifier.stopping("stopping: SIGTERM")
    assert manager.receive() == {"STATUS": "attaching 2 device(s)"}
    assert manager.receive() == {"READY": "1", "STATUS": "serving 2 device(s)"}
    assert manager.receive() == {"STOPPING": "1", "STATUS": "stopping: SIGTERM"}
    notifier.close()


def test_watchdog_keepalive_every_half_interval(manager: Manager) -> None:
    now = [100.0]
    env = {"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "2000000"}
    notifier = Notifier.from_environ(env)
    assert notifier.watchdog == 1.0
    notifier.clock = lambda: now[0]
    notifier.keepalive()  # due at once
    notifier.keepalive()  # not again before a second has passed
    now[0] += 0.5
    notifier.keepalive()
    now[0] += 0.6
    notifier.keepalive()
    assert manager.pending() == [{"WATCHDOG": "1"}, {"WATCHDOG": "1"}]
    notifier.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    notifier.ready("serving")  # no socket, no error
    assert not Notifier.from_environ({"NOTIFY_SOCKET": "not/absolute"}).enabled


def test_a_manager_gone_is_logged_once_and_serving_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    notifier.ready("serving")
    notifier.stopping("stopping")
    warnings = [r for r in caplog.records if "cannot notify" in r.getMessage()]
    assert len(warnings) == 1
    notifier.close()


def test_daemon_says_ready_once_every_lun_is_linked_and_stopping_on_shutdown(
    manager: Manager, tmp_path: Path
) -> None:
    config = Config(
        path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock", state_dir=tmp_path
    )
    config.devices = [_served("d0", Recorder()), _served("d1", Recorder())]
    backend = SimBackend()
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": manager.name, "WATCHDOG_USEC": "60000000"})
    daemon = Daemon(config, backend, notify=notifier)
    try:
        daemon.start()
        assert manager.receive() == {"STATUS": "attaching 2 device(s)"}
        for _ in range(100):
            daemon.step(0.05)
            if "export d1 1" in backend.calls and not daemon.pending_exports:
                break
        ready = [m for m in manager.pending() if "READY" in m]
        assert ready == [{"READY": "1", "STATUS": "serving 2 device(s)"}]
        # READY=1 came after the last LUN was linked.
        assert backend.calls[-2:] == ["export d0 0", "export d1 1"]
        daemon.request_stop("SIGTERM")
        daemon.shutdown()
        stopping = [m for m in manager.pending() if "STOPPING" in m]
        assert stopping == [{"STOPPING": "1", "STATUS": "stopping: SIGTERM"}]
    finally:
        daemon.close()


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _installed_unit(tmp_path: Path, text: str) -> Path:
    """The unit as installed for an instance, its ExecStart pointed at this environment's devemu.

    ``systemd-analyze verify`` checks that the program exists; the unit names
    where ``pip install`` as root puts it (/usr/local/bin), this test the
    devemu it runs with.
    """
    devemu = Path(sys.executable).parent / "devemu"
    assert devemu.exists()
    assert "ExecStart=/usr/local/bin/devemu serve " in text
    unit = tmp_path / "devemu@lab.service"
    unit.write_text(text.replace("/usr/local/bin/devemu", str(devemu)))
    return unit


def test_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert "\nType=notify\n" in text
    assert "\nWatchdogSec=" in text
    done = _verify(_installed_unit(tmp_path, text))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_systemd_analyze_verify_refuses_a_broken_unit(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("Type=notify", "Type=notified")
    done = _verify(_installed_unit(tmp_path, broken))
    assert "Failed to parse service type" in done.stderr, done.stderr
