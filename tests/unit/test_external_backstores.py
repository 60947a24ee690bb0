"""``external_backstores``: devices whose backstore targetcli makes, served when it appears."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from devemu import config as cfg
from devemu.config import Config
from devemu.daemon import Daemon
from devemu.errors import ConfigError
from devemu.served import ServedDevice
from devemu.tcmu.backend import KernelBackend, NoBackstoreYetError
from devemu.tcmu.netlink import DeviceEvent, TcmuCommand
from devemu.tcmu_service import check_devemu_config
from tests.unit.tcmu.test_backend import FakeChannel, UioKernel, _backend
from tests.unit.tcmu.test_backend import kernel as kernel_fixture
from tests.unit.test_config import _fake_loader, _Log, _parse_here, parse
from tests.unit.test_daemon import Recorder, SimBackend, SimChannel, _served

kernel = kernel_fixture


def test_config_reads_the_list(tmp_path: Path) -> None:
    config = _parse_here('[[disk]]\nname="a"\n', tmp_path)
    assert config.external_backstores == ()
    text = f'[daemon]\nstate_dir = "{tmp_path}/s"\nexternal_backstores = ["tc0"]\n'
    config = parse(text + '[[disk]]\nname="a"\n[[disk]]\nname="tc0"\n')
    cfg.check(config, _fake_loader(_Log()))
    assert config.external_backstores == ("tc0",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"tc0"', r"daemon\.external_backstores: must be a list of device names, not 'tc0'"),
        ("[1]", r"daemon\.external_backstores: must be a list of device names"),
        (
            '["nope"]',
            r"daemon\.external_backstores: 'nope' is not a device of this file \(devices: a\)",
        ),
    ],
)
def test_config_refuses(value: str, message: str, tmp_path: Path) -> None:
    text = (
        f'[daemon]\nstate_dir = "{tmp_path}/s"\nexternal_backstores = {value}\n[[disk]]\nname="a"\n'
    )
    with pytest.raises(ConfigError, match=message):
        config = parse(text)
        cfg.check(config, _fake_loader(_Log()))


def test_kernel_backend_creates_nothing_for_an_external_device(kernel: UioKernel) -> None:
    backend, device = _backend(kernel)
    backend.config.external_backstores = ("d0",)
    with pytest.raises(NoBackstoreYetError, match="cfgstring=d0"):
        backend.attach(device)
    assert kernel.writes == []
    # targetcli makes it (rtslib: mkdir, control, enable): now it is adopted, not owned.
    store = kernel.target / "core/user_0/d0"
    store.mkdir(parents=True)
    (store / "enable").touch()
    kernel.write(store / "enable", "1")
    channel = cast(FakeChannel, backend.attach(device))
    assert channel.uio.name.path == "d0"
    assert not backend.lio.journal.owned(store)
    assert isinstance(backend, KernelBackend)


class TargetcliBackend(SimBackend):
    """The simulator, where the backstores of ``external`` exist once ``made``."""

    def __init__(self, external: set[str]) -> None:
        super().__init__()
        self.external = external
        self.made: set[str] = set()

    def attach(self, device: ServedDevice) -> SimChannel:
        if device.name in self.external and device.name not in self.made:
            raise NoBackstoreYetError(f"{device.name}: no backstore yet")
        return super().attach(device)


class FakeService:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def start(self) -> None:
        self.seen.append("start")

    def stop(self) -> None:
        self.seen.append("stop")


def _event(command: TcmuCommand, name: str) -> DeviceEvent:
    return DeviceEvent(command, f"tcm-user/1/{name}b/devemu/{name}", 3, 7)


def test_daemon_serves_an_external_backstore_when_it_appears(tmp_path: Path) -> None:
    config = Config(
        path=tmp_path / "lab.toml",
        control_socket=tmp_path / "c.sock",
        state_dir=tmp_path,
        external_backstores=("tc0",),
    )
    config.devices = [_served("d0", Recorder()), _served("tc0", Recorder())]
    backend = TargetcliBackend({"tc0"})
    seen: list[str] = []
    daemon = Daemon(config, backend, ready_file=tmp_path / "ready")
    daemon.services.append(FakeService(seen))

    def check(cfgstring: str) -> tuple[bool, str]:
        return check_devemu_config(cfgstring, config.path, daemon.attached)

    try:
        daemon.start()
        assert seen == ["start"]
        for _ in range(100):
            if daemon.ready_file is not None and daemon.ready_file.exists():
                break
            daemon.step(0.05)
        # Only the device devemu made is linked; the other waits for targetcli.
        assert backend.calls == ["attach d0", "export d0 0"]
        assert daemon.attached() == {"d0": True, "tc0": False}
        assert check("devemu/tc0") == (True, "success")
        assert check("devemu/d0")[0] is False

        backend.made.add("tc0")
        daemon.handle_event(_event(TcmuCommand.ADDED_DEVICE, "tc0"))
        assert backend.calls[-1] == "attach tc0"
        assert daemon.attached() == {"d0": True, "tc0": True}
        assert check("devemu/tc0")[0] is False

        daemon.handle_event(_event(TcmuCommand.REMOVED_DEVICE, "tc0"))
        assert daemon.attached()["tc0"] is False
        assert backend.channels["tc0"].closed

        daemon.request_stop("SIGTERM")
        daemon.shutdown()
        assert seen == ["start", "stop"]
        assert "export tc0 1" not in backend.calls
    finally:
        daemon.close()
