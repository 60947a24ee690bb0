"""The configuration file: refused with file, key and reason before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from devemu import config as cfg
from devemu.errors import ConfigError
from devemu.scsi.device import ScsiDevice
from devemu.served import ServedDevice

PATH = Path("/etc/devemu/lab.toml")


def parse(text: str) -> cfg.Config:
    return cfg.parse_text(text, PATH)


def test_defaults_and_daemon_table() -> None:
    config = parse("")
    assert config.control_socket == cfg.DEFAULT_CONTROL_SOCKET
    assert config.state_dir == cfg.DEFAULT_STATE_DIR
    assert config.fabric == "loopback"
    config = parse(
        '[daemon]\ncontrol_socket = "run/c.sock"\nstate_dir = "/srv/state"\n'
        'fabric = "none"\nwwn = "naa.5001405abcdef012"\ncmd_time_out = 90\n'
    )
    assert config.control_socket == Path("/etc/devemu/run/c.sock")
    assert config.state_dir == Path("/srv/state")
    assert config.fabric == "none"
    assert config.wwn == "naa.5001405abcdef012"
    assert config.cmd_time_out == 90


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[daemon]\nfabric = "iscsi"\n', "daemon.fabric", "must be one of loopback, none"),
        ("[daemon]\nstate_dir = 3\n", "daemon.state_dir", "must be a string"),
        ('[daemon]\nsocket = "/x"\n', "daemon.socket", "unknown key"),
        ('[daemon]\nwwn = "naa.123"\n', "daemon.wwn", "naa.5001405"),
        ('daemon = "x"\n', "daemon", "must be a table"),
        ("[daemon]\ncmd_time_out = 0\n", "daemon.cmd_time_out", "whole seconds from 1 to 3600"),
        ("[daemon]\ncmd_time_out = 2.5\n", "daemon.cmd_time_out", "whole seconds"),
        ("[[tape]]\nname = 'a'\n", "tape", "unknown section (known: daemon, disk, cdrom, library)"),
        ("[disk]\nname = 'a'\n", "disk", "must be an array of tables: [[disk]]"),
    ],
)
def test_bad_daemon_or_sections(text: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{PATH}: {key}: ")


def test_toml_syntax_error_names_line_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        parse('[daemon]\nfabric = "loopback"\n[[disk]\n')
    assert caught.value.key == "line 3, column 7"
    assert caught.value.reason.startswith("TOML syntax error: ")
    assert "(at line" not in caught.value.reason


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        cfg.parse_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"name = '\xff'\n")
    with pytest.raises(ConfigError, match=r"offset 8: not UTF-8"):
        cfg.parse_file(bad)


def test_sections_keep_family_and_index() -> None:
    config = parse("[[disk]]\nname='a'\n[[cdrom]]\nname='c'\n[[disk]]\nname='b'\n")
    assert [s.key for s in config.sections] == ["disk[0]", "disk[1]", "cdrom[0]"]


class _Closable:
    def __init__(self) -> None:
        self.closed: list[str] = []


def _fake_loader(log: _Closable, fail_on: str | None = None) -> Any:
    def loader(family: str, path: Path) -> Any:
        def from_config(
            table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
        ) -> list[ServedDevice]:
            assert base_dir == PATH.parent
            if table.get("name") == fail_on:
                raise ConfigError(path, f"{key}.image", "no such file")
            name = table["name"]
            return [
                ServedDevice(
                    name,
                    family,
                    cast(ScsiDevice, object()),
                    close=lambda: log.closed.append(name),
                )
            ]

        return from_config

    return loader


def test_build_devices_dispatches_per_family() -> None:
    config = parse("[[disk]]\nname='a'\n[[library]]\nname='lib'\n")
    log = _Closable()
    devices = cfg.build_devices(config, _fake_loader(log))
    assert [(d.name, d.kind) for d in devices] == [("a", "disk"), ("lib", "library")]
    assert config.devices == devices


def test_family_error_closes_what_was_built() -> None:
    config = parse("[[disk]]\nname='a'\n[[disk]]\nname='b'\n")
    log = _Closable()
    with pytest.raises(ConfigError, match=r"disk\[1\]\.image: no such file"):
        cfg.build_devices(config, _fake_loader(log, fail_on="b"))
    assert log.closed == ["a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[disk]]\nname='a'\n[[cdrom]]\nname='a'\n",
            r"cdrom\[0\]\.name: 'a' is already used by disk\[0\]",
        ),
        ("[[disk]]\nname='a b'\n", r"disk\[0\]\.name: 'a b' must be 1-64 of"),
    ],
)
def test_names_are_unique_and_lio_safe(text: str, message: str) -> None:
    log = _Closable()
    with pytest.raises(ConfigError, match=message):
        cfg.build_devices(parse(text), _fake_loader(log))
    assert len(log.closed) == text.count("[[") - 1


def test_missing_family_module_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cfg.FAMILIES, "disk", "devemu.no_such_family.config")
    with pytest.raises(ConfigError, match=r"disk: \[\[disk\]\] needs devemu.no_such_family.config"):
        cfg.build_devices(parse("[[disk]]\nname='a'\n"))


def test_default_socket_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cfg.SOCKET_ENV, raising=False)
    assert cfg.default_socket() == cfg.DEFAULT_CONTROL_SOCKET
    monkeypatch.setenv(cfg.SOCKET_ENV, "/tmp/x.sock")
    assert cfg.default_socket() == Path("/tmp/x.sock")
