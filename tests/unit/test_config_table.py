"""One table of the configuration file: every refusal names the key and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devemu.config_table import TableReader, resolve_path
from devemu.errors import ConfigError
from devemu.scsi.identity import Identity

PATH = Path("/etc/devemu/devemu.toml")
KNOWN = ("name", "image", "size", "sync", "vendor", "product", "revision", "serial")


def reader(**table: Any) -> TableReader:
    return TableReader(table, path=PATH, key="disk[2]", known=KNOWN)


def refusal(read: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        read()
    return caught.value


def test_unknown_key_lists_the_known_ones() -> None:
    err = refusal(lambda: reader(name="a", colour="red"))
    assert err.key == "disk[2].colour"
    assert err.reason == f"unknown key (known: {', '.join(KNOWN)})"
    assert str(err) == f"{PATH}: disk[2].colour: {err.reason}"


@pytest.mark.parametrize(
    ("table", "read", "key", "reason"),
    [
        ({}, lambda r: r.string("image"), "disk[2].image", "is required"),
        ({"image": 3}, lambda r: r.string("image"), "disk[2].image", "must be a string, not 3"),
        ({"image": ""}, lambda r: r.string("image"), "disk[2].image", "must be a non-empty string"),
        ({"sync": "yes"}, lambda r: r.boolean("sync", False), "disk[2].sync", "true or false"),
        ({"size": True}, lambda r: r.integer("size", 1), "disk[2].size", "an integer, not True"),
        (
            {"size": 9},
            lambda r: r.integer("size", 1, 1, 8),
            "disk[2].size",
            "must be an integer from 1 to 8, not 9",
        ),
        ({"name": "a b"}, lambda r: r.name(), "disk[2].name", "'a b': use 1 to 64 of A-Z"),
        ({"name": "x" * 65}, lambda r: r.name(), "disk[2].name", "use 1 to 64"),
        ({"vendor": "é"}, lambda r: r.identity(Identity()), "disk[2].vendor", "printable ASCII"),
        (
            {"product": "P" * 17},
            lambda r: r.identity(Identity()),
            "disk[2].product",
            "longer than 16 characters",
        ),
        ({"serial": ""}, lambda r: r.identity(Identity()), "disk[2].serial", "1 to 64"),
    ],
)
def test_refusals(table: dict[str, Any], read: Any, key: str, reason: str) -> None:
    err = refusal(lambda: read(reader(**table)))
    assert err.key == key
    assert reason in err.reason


def test_values_and_defaults() -> None:
    r = reader(name="db-1", size=4, sync=True, image="", vendor="ACME")
    assert r.name() == "db-1" and r.name("other") == "db-1"
    assert reader().name("stem") == "stem"
    assert r.integer("size", 1, 1, 8) == 4 and reader().integer("size", 7) == 7
    assert r.boolean("sync", False) is True and reader().boolean("sync", False) is False
    assert r.string("image", empty=True) == ""
    assert r.identity(Identity("DEVEMU", "DISK", "0100", "S1")) == Identity(
        "ACME", "DISK", "0100", "S1"
    )


def test_paths_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    base = tmp_path / "etc"
    assert resolve_path(base, "disk.img") == base / "disk.img"
    assert resolve_path(base, "/srv/disk.img") == Path("/srv/disk.img")
    assert resolve_path(base, "~/d.img") == Path.home() / "d.img"
    assert reader(image="sub/d.img").file_path("image", base) == base / "sub/d.img"
    assert reader().file_path("image", base, "x.img") == base / "x.img"
