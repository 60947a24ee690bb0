"""The ``served`` fixture: each device type of :mod:`tests.conformance.devices` behind
the ring simulator, settled, with its profile."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from devemu.testing.conformance import Profile, RingTarget, settle
from tests.conformance.devices import DEVICES


class Served(NamedTuple):
    target: RingTarget
    profile: Profile


@pytest.fixture(params=sorted(DEVICES))
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Served:
    profile, make = DEVICES[request.param]
    target = RingTarget(make(tmp_path))
    settle(target)
    return Served(target, profile)
