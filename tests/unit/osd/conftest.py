from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.osd.device import OsdDevice
from devemu.osd.store import ObjectStore
from devemu.scsi.identity import Identity
from devemu.testing.osd import OsdClient, SimulatorTransport
from devemu.testing.simulator import RingSimulator


def make_device(root: Path) -> OsdDevice:
    return OsdDevice(ObjectStore(root), Identity("DEVEMU", "OBJECT STORE", "0100", "OSD00001"))


@pytest.fixture
def device(tmp_path: Path) -> Iterator[OsdDevice]:
    dev = make_device(tmp_path / "store")
    yield dev
    dev.close()


@pytest.fixture
def sim(device: OsdDevice) -> RingSimulator:
    simulator = RingSimulator()
    simulator.attach(device)
    simulator.execute(bytes(6))  # the power-on unit attention
    return simulator


@pytest.fixture
def osd(sim: RingSimulator) -> OsdClient:
    return OsdClient(SimulatorTransport(sim))


@pytest.fixture
def formatted(osd: OsdClient) -> OsdClient:
    osd.format(1 << 30)
    return osd
