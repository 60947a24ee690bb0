"""The object store keeps the table and the files in step across crashes."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from devemu.osd.cdb import ObjectType
from devemu.osd.store import ObjectStore
from devemu.testing.osd import OsdClient, SimulatorTransport
from devemu.testing.simulator import RingSimulator
from tests.unit.osd.conftest import make_device


def test_database_is_wal_and_synchronous_full(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_a_row_without_its_file_gets_an_empty_one(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    store.format(1 << 20)
    pid = store.create_partition(0)
    (oid,) = store.create_objects(pid, 0, 1, ObjectType.USER)
    store.close()
    os.unlink(tmp_path / f"{pid:016x}" / f"{oid:016x}")  # killed between row and file
    again = ObjectStore(tmp_path)
    assert again.object_type(pid, oid) is ObjectType.USER
    assert again.logical_length(pid, oid) == 0
    again.close()


def test_a_file_without_its_row_is_removed(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    store.format(1 << 20)
    pid = store.create_partition(0)
    (oid,) = store.create_objects(pid, 0, 1, ObjectType.USER)
    store.write(pid, oid, 0, [memoryview(b"data")])
    store.close()
    db = sqlite3.connect(tmp_path / "osd.sqlite3")
    db.execute("DELETE FROM objects WHERE oid != 0")  # killed between row and unlink
    db.commit()
    db.close()
    stray = tmp_path / f"{pid:016x}" / "not-ours"
    stray.write_bytes(b"x")
    again = ObjectStore(tmp_path)
    assert not (tmp_path / f"{pid:016x}" / f"{oid:016x}").exists()
    assert not stray.exists()
    assert again.objects(pid) == []
    again.close()


def test_everything_is_there_after_a_restart(tmp_path: Path) -> None:
    device = make_device(tmp_path)
    sim = RingSimulator()
    sim.attach(device)
    sim.execute(bytes(6))
    osd = OsdClient(SimulatorTransport(sim))
    osd.format(1 << 30)
    pid = osd.create_partition()
    oid = osd.create(pid)
    osd.write(pid, oid, b"kept")
    osd.set_attribute(pid, oid, 0x10000, 1, b"value")
    col = osd.create_collection(pid)
    osd.add_to_collection(pid, oid, col)
    device.close()

    device = make_device(tmp_path)
    sim = RingSimulator()
    sim.attach(device)
    sim.execute(bytes(6))
    osd = OsdClient(SimulatorTransport(sim))
    assert osd.read(pid, oid, 4) == b"kept"
    assert osd.get_attributes(pid, oid, 0x10000) == {(0x10000, 1): b"value"}
    assert osd.list_collection(pid, col).ids == [oid]
    assert osd.create(pid) == oid + 2  # ids are not handed out twice
    device.close()


def test_format_removes_every_partition(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    store.format(1 << 20)
    pid = store.create_partition(0)
    store.create_objects(pid, 0, 2, ObjectType.USER)
    store.format(1 << 21)
    assert store.partitions() == []
    assert not (tmp_path / f"{pid:016x}").exists()
    assert store.capacity == 1 << 21
    store.close()
