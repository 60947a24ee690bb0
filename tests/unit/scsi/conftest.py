"""Fixtures of the SPC unit tests: see :mod:`spc_fixtures`."""

from __future__ import annotations

import pytest

from tests.unit.scsi.spc_fixtures import DiskLikeDevice, Run, SpcDevice, execute


@pytest.fixture
def run() -> Run:
    return execute


@pytest.fixture
def dev() -> SpcDevice:
    device = SpcDevice()
    device.unit_attentions.clear()
    return device


@pytest.fixture
def disk() -> DiskLikeDevice:
    device = DiskLikeDevice()
    device.unit_attentions.clear()
    return device
