"""The ``target`` fixture: one :class:`scsi_target.SimulatorTarget` per device type."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance.scsi_target import DEVICE_TYPES, SimulatorTarget, settle


@pytest.fixture(params=sorted(DEVICE_TYPES))
def target(request: pytest.FixtureRequest, tmp_path: Path) -> SimulatorTarget:
    name: str = request.param
    t = SimulatorTarget(name, DEVICE_TYPES[name](tmp_path))
    settle(t)
    return t
