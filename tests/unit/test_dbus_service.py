"""devemu's handler on a real dbus-daemon, seen through targetcli's own discovery code.

Each test starts a private ``dbus-daemon`` whose policy is the system
bus's (nobody may own a name or call a method unless a policy file says
so) plus the policy file devemu ships (``dbus/devemu.conf``). The
client side is targetcli-fb's ``UIBackstores._user_backstores`` (Gio's
D-Bus proxies, as ``targetcli ls /backstores`` and ``create`` use them),
run by the system Python where python3-gi lives.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.dbus_service import BusService
from devemu.tcmu_service import TcmuService, devemu_handler

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "dbus" / "devemu.conf"
SYSTEM_PYTHON = "/usr/bin/python3"
CONFIG = Path("/etc/devemu/lab.toml")

#: The system bus's default policy (Debian's /usr/share/dbus-1/system.conf).
BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  {extra}
</busconfig>
"""

#: targetcli's discovery and its create's check, as its shell runs them.
TARGETCLI_CLIENT = """\
import json, sys
from targetcli.ui_backstore import UIBackstores
found = {}
for name, iface, props in UIBackstores._user_backstores(None):
    checks = {c: list(iface.CheckConfig("(s)", c)) for c in sys.argv[1:]}
    found[name] = {"props": props, "checks": checks}
print(json.dumps(found))
"""


class Bus:
    def __init__(self, folder: Path, *, with_policy: bool = True) -> None:
        self.socket = folder / "bus"
        self.address = f"unix:path={self.socket}"
        extra = f"<include>{POLICY}</include>" if with_policy else ""
        user = pwd.getpwuid(os.getuid()).pw_name
        if with_policy and user != "root":
            # The shipped policy lets root own the name; here the tests' user serves.
            extra += f'<policy user="{user}"><allow own="org.kernel.TCMUService1"/></policy>'
        config = folder / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.socket, extra=extra))
        self.process = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile"],
            stderr=subprocess.PIPE,
        )
        for _ in range(200):
            if self.socket.exists():
                return
            time.sleep(0.025)
        self.close()
        raise AssertionError("dbus-daemon did not start")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    b = Bus(tmp_path)
    yield b
    b.close()


def _service(bus: Bus, state: dict[str, bool]) -> BusService:
    handler = devemu_handler(CONFIG, list(state), lambda: state)
    return BusService(TcmuService([handler]), bus=bus.address)


def _targetcli(bus: Bus, *cfgstrings: str) -> dict[str, dict[str, object]]:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus.address}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", TARGETCLI_CLIENT, *cfgstrings],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, dict[str, object]] = json.loads(done.stdout)
    return found


def test_targetcli_lists_devemu_and_has_it_check_every_create(bus: Bus) -> None:
    service = _service(bus, {"disk0": True, "tc0": False})
    service.start()
    try:
        assert service.owned.wait(10)
        found = _targetcli(bus, "devemu/tc0", "devemu/disk0", "devemu/nope")
    finally:
        service.stop()
    assert list(found) == ["devemu"]
    props = found["devemu"]["props"]
    assert isinstance(props, dict)
    assert props["org.kernel.TCMUService1"]["ConfigDesc"].startswith(
        "The name of a device of /etc/devemu/lab.toml (disk0, tc0)"
    )
    assert found["devemu"]["checks"] == {
        "devemu/tc0": [True, "success"],
        "devemu/disk0": [False, "disk0 is already served by devemu (one backstore per device)"],
        "devemu/nope": [
            False,
            "'nope' is not a device of /etc/devemu/lab.toml (devices: disk0, tc0)",
        ],
    }


def test_stop_ends_the_thread_at_once_and_frees_the_name(bus: Bus) -> None:
    service = _service(bus, {"tc0": False})
    service.start()
    assert service.owned.wait(10)
    # The thread blocks in receive() with no timeout: only stop()'s shutdown of
    # the socket can end it (a generous join, so a loaded host is no failure).
    service.stop(timeout=30)
    assert service._thread is not None and not service._thread.is_alive()
    assert _targetcli(bus) == {}
    again = _service(bus, {"tc0": False})
    again.start()
    try:
        assert again.owned.wait(10)
    finally:
        again.stop()


def test_a_name_owned_elsewhere_is_one_line_and_no_service(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    first = _service(bus, {"tc0": False})
    first.start()
    second = _service(bus, {"tc0": False})
    try:
        assert first.owned.wait(10)
        with caplog.at_level(logging.INFO, logger="devemu.dbus_service"):
            second.start()
            assert second._thread is not None
            second._thread.join(10)
        assert not second.owned.is_set()
    finally:
        second.stop()
        first.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "devemu.dbus_service"]
    assert len(lines) == 1 and "is owned by another process" in lines[0], lines


def test_without_the_policy_file_the_bus_refuses_the_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = Bus(tmp_path, with_policy=False)
    service = _service(closed, {"tc0": False})
    try:
        with caplog.at_level(logging.INFO, logger="devemu.dbus_service"):
            service.start()
            assert service._thread is not None
            service._thread.join(10)
    finally:
        service.stop()
        closed.close()
    assert not service.owned.is_set()
    assert any("not allowed to own" in r.getMessage() for r in caplog.records), caplog.text


def test_no_bus_is_one_line_and_serving_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = BusService(TcmuService([]), bus=f"unix:path={tmp_path / 'none'}")
    with caplog.at_level(logging.INFO, logger="devemu.dbus_service"):
        service.start()
        assert service._thread is not None
        service._thread.join(10)
    service.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "devemu.dbus_service"]
    assert len(lines) == 1 and lines[0].startswith("no D-Bus at unix:path="), lines
