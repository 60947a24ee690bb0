"""``[[osd]]`` tables of the configuration file.

Keys::

    [[osd]]
    name = "osd0"               # LIO backstore name; default: the folder's name
    root = "objects"            # required; the folder the store lives in,
                                # relative to the config file's folder
    capacity = "10G"            # format at first start with this capacity
                                # (an initiator may FORMAT OSD again)
    vendor = "DEVEMU"           # INQUIRY strings (8 / 16 / 4 ASCII characters)
    product = "OBJECT STORE"
    revision = "0100"
    serial = "..."              # default: the name

The store (:mod:`devemu.osd.store`) keeps everything under ``root``:
one folder per partition, a file per user object, a folder per
collection and ``osd.sqlite3`` for the object table and attributes.
Nothing outside ``root`` is read or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devemu.config_table import DevicePlan, TableReader, folder_problem
from devemu.osd.device import OsdDevice
from devemu.osd.store import ObjectStore, StoreError
from devemu.scsi.identity import Identity
from devemu.served import ServedDevice
from devemu.sizes import parse_size

DEFAULT_VENDOR = "DEVEMU"
DEFAULT_PRODUCT = "OBJECT STORE"
DEFAULT_REVISION = "0100"
KNOWN_KEYS = ("name", "root", "capacity", "vendor", "product", "revision", "serial")


def check(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> DevicePlan:
    """Check one ``[[osd]]`` table and its folder; create nothing."""
    r = TableReader(table, path=path, key=key, known=KNOWN_KEYS)
    if "root" not in table:
        raise r.error("root", "missing: the folder the objects are kept in")
    root = r.file_path("root", base_dir)
    problem = folder_problem(root)
    if problem:
        raise r.error("root", problem)
    dev_name = r.name(root.name)
    identity = r.identity(Identity(DEFAULT_VENDOR, DEFAULT_PRODUCT, DEFAULT_REVISION, dev_name))
    capacity = 0
    text = r.string("capacity", "", empty=True)
    if text:
        try:
            capacity = parse_size(text)
        except ValueError as err:
            raise r.error("capacity", str(err)) from None
        if capacity <= 0:
            raise r.error("capacity", "must be positive")

    def build() -> list[ServedDevice]:
        try:
            store = ObjectStore(root)
        except (StoreError, OSError) as err:
            raise r.error("root", str(err)) from None
        if capacity and not store.formatted:
            store.format(capacity)
        device = OsdDevice(store, identity)
        return [_served(dev_name, device)]

    return DevicePlan((dev_name,), f"osd {root}", build)


def _served(name: str, device: OsdDevice) -> ServedDevice:
    def status() -> dict[str, Any]:
        store = device.store
        return {
            "root": str(store.root),
            "formatted": store.formatted,
            "capacity": store.capacity,
            "partitions": len(store.partitions()),
        }

    return ServedDevice(name=name, kind="osd", device=device, status=status, close=device.close)


def from_config(
    table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
) -> list[ServedDevice]:
    """One :class:`ServedDevice` for one ``[[osd]]`` table: :func:`check`, then build."""
    return check(table, path=path, key=key, base_dir=base_dir, state_dir=state_dir).build()
