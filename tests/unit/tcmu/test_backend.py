"""The kernel backend in a fake configfs and sysfs (pyfakefs): a broken ring's backstore is remade.

The fake kernel registers a UIO device when a backstore is enabled and
drops it when the backstore goes, as target_core_user does; the ring
itself is not opened (no mapping in a fake file system).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from devemu.config import Config
from devemu.scsi.device import ScsiDevice
from devemu.served import ServedDevice
from devemu.tcmu import backend as backend_module
from devemu.tcmu.backend import JOURNAL_NAME, KernelBackend
from devemu.tcmu.configfs import Backstore, LioError
from devemu.tcmu.uio import UioDevice
from tests.unit.tcmu.test_configfs import ROOT, TARGET, TearingDownConfigfs

SYSFS = Path("/sys")
STATE = Path("/var/lib/devemu")


class UioKernel(TearingDownConfigfs):
    """Registers ``/sys/class/uio/uioN`` on enable and removes it with the backstore."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.next_index = 0
        self.uios: dict[str, Path] = {}

    def write(self, path: Path, value: str) -> None:
        super().write(path, value)
        if path.name == "enable" and value == "1":
            store = path.parent
            hba = int(store.parent.name.removeprefix("user_"))
            uio = SYSFS / "class" / "uio" / f"uio{self.next_index}"
            self.next_index += 1
            (uio / "maps" / "map0").mkdir(parents=True)
            (uio / "name").write_text(f"tcm-user/{hba}/{store.name}/devemu/{store.name}\n")
            (uio / "maps" / "map0" / "size").write_text("0x40800000\n")
            self.uios[str(store)] = uio

    def rmdir(self, path: Path) -> None:
        super().rmdir(path)
        uio = self.uios.pop(str(path), None)
        if uio is not None:
            shutil.rmtree(uio)


class FakeChannel:
    def __init__(self, uio: UioDevice) -> None:
        self.uio = uio


@pytest.fixture
def kernel(fs: FakeFilesystem, monkeypatch: pytest.MonkeyPatch) -> UioKernel:
    fs.create_dir(TARGET / "core")
    fs.create_dir(STATE)
    monkeypatch.setattr(backend_module, "UioChannel", FakeChannel)
    return UioKernel(ROOT)


def _backend(kernel: UioKernel) -> tuple[KernelBackend, ServedDevice]:
    device = ServedDevice(
        "d0",
        "disk",
        cast(ScsiDevice, SimpleNamespace(identity=SimpleNamespace(serial="SN0"))),
        size=1 << 20,
    )
    config = Config(path=STATE / "lab.toml", state_dir=STATE, devices=[device])
    backend = KernelBackend(config, configfs_root=ROOT, sysfs=SYSFS, use_netlink=False)
    backend.lio.fs = kernel
    return backend, device


def _journal() -> list[Any]:
    steps: list[Any] = json.loads((STATE / JOURNAL_NAME).read_text())["steps"]
    return steps


def test_recreate_removes_the_backstore_and_makes_it_anew_then_relinks(
    kernel: UioKernel,
) -> None:
    backend, device = _backend(kernel)
    first = cast(FakeChannel, backend.attach(device))
    assert (first.uio.index, first.uio.name.backstore) == (0, "d0")
    backend.export(device, 0)
    assert backend.fabric is not None
    store = TARGET / "core/user_0/d0"
    assert str(backend.fabric.linked(0)) == str(store)

    backend.unexport(device, 0)
    assert backend.fabric.linked(0) is None
    kernel.removed.clear()
    kernel.writes.clear()
    second = cast(FakeChannel, backend.recreate(device))

    assert kernel.removed == ["core/user_0/d0"]  # the HBA and the target stay
    assert ("core/user_0/d0/enable", "1") in kernel.writes
    assert ("core/user_0/d0/control", "dev_config=devemu/d0") in kernel.writes
    assert second.uio.index == 1 and second.uio.name.backstore == "d0"
    assert backend.lio.journal.owned(store)
    assert [s[1:] for s in _journal() if s[0] == "d0"] == [["mkdir", str(store)]]

    backend.export(device, 0)
    assert str(backend.fabric.linked(0)) == str(store)
    assert any(s[0] == "lun:d0" for s in _journal())


def test_a_backstore_made_elsewhere_is_not_recreated(kernel: UioKernel, fs: FakeFilesystem) -> None:
    backend, device = _backend(kernel)
    fs.create_dir(TARGET / "core/user_0/d0")
    backend.backstores["d0"] = Backstore(TARGET / "core/user_0/d0", "d0", 0, "devemu/d0", False)
    with pytest.raises(LioError, match="was not created by devemu serve; not recreated"):
        backend.recreate(device)
    assert (TARGET / "core/user_0/d0").is_dir()
    assert kernel.removed == []


def _iscsi_backend(kernel: UioKernel) -> tuple[KernelBackend, ServedDevice]:
    from devemu.iscsi_config import IscsiSettings  # noqa: PLC0415

    backend, device = _backend(kernel)
    backend.config.fabric = "iscsi"
    backend.config.iscsi = IscsiSettings("iqn.2026-12.org.example:lab", allow_any_initiator=True)
    backend.fabric = backend._fabric()
    return backend, device


def test_on_iscsi_lio_answers_reservations(kernel: UioKernel) -> None:
    backend, device = _iscsi_backend(kernel)
    backend.attach(device)
    assert ("core/user_0/d0/attrib/pgr_support", "1") in kernel.writes
    status = backend.fabric_status()
    assert status is not None and status["target"] == "iqn.2026-12.org.example:lab"
    loopback, _ = _backend(kernel)
    assert loopback.fabric_status() is None


def test_an_adopted_backstore_is_switched_to_lio_reservations(kernel: UioKernel) -> None:
    loopback, device = _backend(kernel)
    loopback.attach(device)
    pgr = TARGET / "core/user_0/d0/attrib/pgr_support"
    assert pgr.read_text() == "0"
    backend, _ = _iscsi_backend(kernel)
    backend.attach(device)
    assert pgr.read_text() == "1"


def test_an_adopted_backstore_that_keeps_devemu_reservations_is_refused(
    kernel: UioKernel,
) -> None:
    loopback, device = _backend(kernel)
    loopback.attach(device)
    backend, _ = _iscsi_backend(kernel)
    kernel.refuse["pgr_support:1"] = 22
    with pytest.raises(LioError, match="cannot tell initiators apart"):
        backend.attach(device)


def test_a_previous_runs_loopback_exports_go_when_the_fabric_is_iscsi(kernel: UioKernel) -> None:
    loopback, device = _backend(kernel)
    loopback.attach(device)
    loopback.export(device, 0)
    assert (TARGET / "loopback").is_dir()
    backend, _ = _iscsi_backend(kernel)
    backend._forget_other_fabrics()
    assert not (TARGET / "loopback").exists()
    assert (TARGET / "core/user_0/d0").is_dir()
