"""Finding TCMU UIO devices in sysfs and the doorbell on /dev/uioN."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from devemu.tcmu.uio import (
    UioDevice,
    UioError,
    UioMapping,
    UioName,
    describe,
    find_device,
    find_devices,
)

SYSFS = Path("/sys")


def _uio(fs: FakeFilesystem, index: int, name: str, size: str = "0x40800000") -> None:
    base = SYSFS / "class" / "uio" / f"uio{index}"
    fs.create_file(base / "name", contents=name + "\n")
    fs.create_file(base / "maps" / "map0" / "size", contents=size + "\n")


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("tcm-user/0/disk0/devemu/disk0", UioName(0, "disk0", "devemu", "disk0")),
        ("tcm-user/12/bs/devemu/a/b/c", UioName(12, "bs", "devemu", "a/b/c")),
        ("tcm-user/1/bs/file/", UioName(1, "bs", "file", "")),
        ("tcm-user/2/plain", UioName(2, "plain", "", "")),
    ],
)
def test_names_parse_and_print_back(raw: str, parsed: UioName) -> None:
    assert UioName.parse(raw) == parsed
    assert str(parsed) == raw


@pytest.mark.parametrize("raw", ["uio_pdrv", "tcm-user/x/bs/devemu/a", "tcm-user/0", ""])
def test_other_uio_devices_are_not_tcmu(raw: str) -> None:
    assert UioName.parse(raw) is None


def test_find_devices_filters_by_subtype(fs: FakeFilesystem) -> None:
    _uio(fs, 3, "tcm-user/0/cd0/devemu/cd0", "0x1800000")
    _uio(fs, 1, "tcm-user/0/disk0/devemu/disk0")
    _uio(fs, 0, "tcm-user/0/rbd1/rbd/pool/image")
    _uio(fs, 2, "uio_hv_generic")
    found = find_devices(sysfs=SYSFS)
    assert [d.index for d in found] == [1, 3]
    cd = found[1]
    assert (cd.index, cd.name, cd.map_size) == (3, UioName(0, "cd0", "devemu", "cd0"), 0x1800000)
    assert str(cd.dev) == "/dev/uio3"
    assert cd.minor == 3
    assert [d.index for d in find_devices(None, sysfs=SYSFS)] == [0, 1, 3]
    assert find_device("cd0", sysfs=SYSFS) == found[1]
    assert find_device("rbd1", sysfs=SYSFS) is None


def test_missing_uio_class_means_no_devices(fs: FakeFilesystem) -> None:
    assert find_devices(sysfs=SYSFS) == []


def test_unreadable_map_size_is_skipped(fs: FakeFilesystem) -> None:
    fs.create_file(SYSFS / "class/uio/uio0/name", contents="tcm-user/0/d/devemu/d")
    assert describe(SYSFS / "class/uio/uio0") is None


def test_mapping_and_doorbell_on_a_file(tmp_path: Path) -> None:
    """/dev/uioN stands in as a plain file: shared mapping, 4-byte read and write."""
    dev = tmp_path / "uio7"
    dev.write_bytes((5).to_bytes(4, "little") + bytes(4092))
    device = UioDevice(7, UioName(0, "d", "devemu", "d"), 4096, dev)
    mapping = UioMapping(device)
    try:
        assert len(mapping.mem) == 4096
        mapping.mem[100:104] = b"ring"
        assert mapping.wait() == 5
        mapping.notify()
    finally:
        mapping.close()
        mapping.close()  # twice is harmless
    data = dev.read_bytes()
    assert data[100:104] == b"ring"
    assert data[4:8] == bytes(4)  # the notify write after the 4-byte read


def test_missing_device_node_is_a_clear_error(tmp_path: Path) -> None:
    device = UioDevice(9, UioName(0, "d", "devemu", "d"), 4096, tmp_path / "uio9")
    with pytest.raises(Exception, match=r"uio9 \(tcm-user/0/d/devemu/d\): cannot open"):
        UioMapping(device)
    assert not os.path.exists(tmp_path / "uio9")


def test_a_ring_another_process_serves_is_refused(tmp_path: Path) -> None:
    """Two daemons with a device of one name never serve the same ring."""
    dev = tmp_path / "uio3"
    dev.write_bytes(bytes(4096))
    device = UioDevice(3, UioName(0, "d", "devemu", "d"), 4096, dev)
    first = UioMapping(device)
    try:
        with pytest.raises(UioError, match=r"uio3 \(tcm-user/0/d/devemu/d\): another process"):
            UioMapping(device)
    finally:
        first.close()
    again = UioMapping(device)  # free once its server has let go
    again.close()
