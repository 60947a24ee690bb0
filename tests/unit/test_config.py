"""The configuration file: refused with file, key and reason before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from devemu import config as cfg
from devemu.config_table import DevicePlan
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
        ('[daemon]\nfabric = "fc"\n', "daemon.fabric", "must be one of loopback, iscsi, none"),
        ("[daemon]\nstate_dir = 3\n", "daemon.state_dir", "must be a string"),
        ('[daemon]\nsocket = "/x"\n', "daemon.socket", "unknown key"),
        ('[daemon]\nwwn = "naa.123"\n', "daemon.wwn", "naa.5001405"),
        ('daemon = "x"\n', "daemon", "must be a table"),
        ("[daemon]\ncmd_time_out = 0\n", "daemon.cmd_time_out", "whole seconds from 1 to 3600"),
        ("[daemon]\ncmd_time_out = 2.5\n", "daemon.cmd_time_out", "whole seconds"),
        ("[daemon]\nring_workers = -1\n", "daemon.ring_workers", "a count from 0 to 1024"),
        ("[daemon]\nring_processes = true\n", "daemon.ring_processes", "a count from 0 to 256"),
        (
            "[[tape]]\nname = 'a'\n",
            "tape",
            "unknown section (known: daemon, iscsi, disk, cdrom, library, osd)",
        ),
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


class _Log:
    def __init__(self) -> None:
        self.checked: list[str] = []
        self.built: list[str] = []
        self.closed: list[str] = []


def _fake_loader(log: _Log, fail_on: str | None = None, fail_in: str = "build") -> Any:
    """Families whose ``check`` records what it saw and whose build may fail."""

    def loader(family: str, path: Path) -> Any:
        def check(
            table: dict[str, Any], *, path: Path, key: str, base_dir: Path, state_dir: Path
        ) -> DevicePlan:
            assert base_dir == PATH.parent
            name = table["name"]
            log.checked.append(name)
            if name == fail_on and fail_in == "check":
                raise ConfigError(path, f"{key}.image", "no such file")

            def build() -> list[ServedDevice]:
                if name == fail_on:
                    raise ConfigError(path, f"{key}.image", "no such file")
                log.built.append(name)
                return [
                    ServedDevice(
                        name,
                        family,
                        cast(ScsiDevice, object()),
                        close=lambda: log.closed.append(name),
                    )
                ]

            return DevicePlan((name,), f"{family} {name}", build)

        return check

    return loader


def _parse_here(text: str, tmp_path: Path) -> cfg.Config:
    """``text`` as a file in ``tmp_path`` whose state and socket are in ``tmp_path`` too."""
    daemon = f'[daemon]\nstate_dir = "{tmp_path}/state"\ncontrol_socket = "{tmp_path}/c.sock"\n'
    return parse(daemon + text)


def test_check_builds_nothing_then_build_dispatches_per_family(tmp_path: Path) -> None:
    config = _parse_here("[[disk]]\nname='a'\n[[library]]\nname='lib'\n", tmp_path)
    log = _Log()
    plans = cfg.check(config, _fake_loader(log))
    assert [p.names for p in plans] == [("a",), ("lib",)]
    assert (log.checked, log.built) == (["a", "lib"], [])
    devices = cfg.build_devices(config)
    assert [(d.name, d.kind) for d in devices] == [("a", "disk"), ("lib", "library")]
    assert config.devices == devices
    assert log.built == ["a", "lib"]


def test_build_error_closes_what_was_built(tmp_path: Path) -> None:
    config = _parse_here("[[disk]]\nname='a'\n[[disk]]\nname='b'\n", tmp_path)
    log = _Log()
    cfg.check(config, _fake_loader(log, fail_on="b"))
    with pytest.raises(ConfigError, match=r"disk\[1\]\.image: no such file"):
        cfg.build_devices(config)
    assert log.closed == ["a"]


def test_check_error_builds_nothing(tmp_path: Path) -> None:
    config = _parse_here("[[disk]]\nname='a'\n[[disk]]\nname='b'\n", tmp_path)
    log = _Log()
    with pytest.raises(ConfigError, match=r"disk\[1\]\.image: no such file"):
        cfg.check(config, _fake_loader(log, fail_on="b", fail_in="check"))
    assert (log.checked, log.built) == (["a", "b"], [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[disk]]\nname='a'\n[[cdrom]]\nname='a'\n",
            r"cdrom\[0\]\.name: 'a' is already used by disk\[0\]",
        ),
        ("[[disk]]\nname='a b'\n", r"disk\[0\]\.name: 'a b': use 1 to 64 of"),
    ],
)
def test_names_are_unique_and_lio_safe(text: str, message: str, tmp_path: Path) -> None:
    log = _Log()
    with pytest.raises(ConfigError, match=message):
        cfg.check(_parse_here(text, tmp_path), _fake_loader(log))
    assert log.built == []


def test_missing_family_module_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(cfg.FAMILIES, "disk", "devemu.no_such_family.config")
    with pytest.raises(ConfigError, match=r"disk: \[\[disk\]\] needs devemu.no_such_family.config"):
        cfg.check(_parse_here("[[disk]]\nname='a'\n", tmp_path))


@pytest.mark.parametrize(
    ("daemon", "key", "reason"),
    [
        ('state_dir = "{tmp}/file"', "daemon.state_dir", "{tmp}/file is a file, not a folder"),
        (
            'state_dir = "{tmp}/file/state"',
            "daemon.state_dir",
            "{tmp}/file/state cannot be made: {tmp}/file is a file",
        ),
        ('control_socket = "{tmp}/folder"', "daemon.control_socket", "is a folder, not a socket"),
        (
            'control_socket = "{tmp}/file/c.sock"',
            "daemon.control_socket",
            "{tmp}/file is a file, not a folder",
        ),
        ('control_socket = "/run/' + "x" * 120 + '"', "daemon.control_socket", "107 bytes"),
    ],
)
def test_daemon_places_are_checked_and_left_alone(
    tmp_path: Path, daemon: str, key: str, reason: str
) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    before = sorted(tmp_path.rglob("*"))
    defaults = f'state_dir = "{tmp_path}/state"\ncontrol_socket = "{tmp_path}/c.sock"\n'
    lines = {line.split(" = ")[0]: line for line in defaults.splitlines()}
    setting = daemon.format(tmp=tmp_path)
    lines[setting.split(" = ")[0]] = setting
    config = parse("[daemon]\n" + "\n".join(lines.values()) + "\n")
    with pytest.raises(ConfigError) as caught:
        cfg.check(config)
    assert caught.value.key == key
    assert reason.format(tmp=tmp_path) in caught.value.reason
    assert sorted(tmp_path.rglob("*")) == before


def test_default_socket_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cfg.SOCKET_ENV, raising=False)
    assert cfg.default_socket() == cfg.DEFAULT_CONTROL_SOCKET
    monkeypatch.setenv(cfg.SOCKET_ENV, "/tmp/x.sock")
    assert cfg.default_socket() == Path("/tmp/x.sock")
