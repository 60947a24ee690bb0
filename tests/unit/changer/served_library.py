"""One ``[[library]]`` table served as the daemon would: its changer and real drives."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devemu.changer import config as library_config
from devemu.changer.device import MediumChanger
from devemu.served import ServedDevice
from devemu.tape.drive import TapeDrive


@contextmanager
def served_library(tmp_path: Path, text: str) -> Iterator[list[ServedDevice]]:
    """The served devices of TOML table ``text``, power-on unit attentions taken; closed after."""
    devices = library_config.from_config(
        tomllib.loads(text),
        path=tmp_path / "devemu.toml",
        key="library[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
    )
    for d in devices:
        assert isinstance(d.device, MediumChanger | TapeDrive)
        d.device.unit_attentions.clear()
    try:
        yield devices
    finally:
        for d in devices:
            if d.close is not None:
                d.close()


def changer_and_drive(devices: list[ServedDevice]) -> tuple[MediumChanger, TapeDrive]:
    """The changer and the first drive of a served library."""
    changer, drive = devices[0].device, devices[1].device
    assert isinstance(changer, MediumChanger) and isinstance(drive, TapeDrive)
    return changer, drive
