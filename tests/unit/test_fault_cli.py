"""``devemu fault`` and ``devemu status`` against a control socket served in a thread."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu import cli
from devemu.changer import config as library_config
from devemu.served import ServedDevice
from tests.unit.changer.test_library_cli import Daemon
from tests.unit.changer.test_library_config import BASIC


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[Path]:
    devices: list[ServedDevice] = library_config.from_config(
        tomllib.loads(BASIC),
        path=tmp_path / "devemu.toml",
        key="library[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
    )
    path = tmp_path / "control.sock"
    daemon = Daemon(path, devices)
    yield path
    assert daemon.thread.is_alive()  # nothing a request sent ended the loop
    daemon.close()


def devemu(sock: Path, *argv: str) -> int:
    return cli.main(["--socket", str(sock), *argv])


def test_set_list_clear(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert devemu(sock, "fault", "vtl0-d0", "write-error", "--record", "3") == 0
    assert capsys.readouterr().out == "vtl0-d0: write-error at record 3\n"
    assert devemu(sock, "fault", "vtl0-d0", "end-of-medium", "--bytes", "4096") == 0
    assert capsys.readouterr().out == (
        "vtl0-d0: write-error at record 3, end-of-medium after 4096 bytes\n"
    )
    assert devemu(sock, "fault", "vtl0", "door-open", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"faults": [{"kind": "door-open"}]}
    assert devemu(sock, "status") == 0
    table = capsys.readouterr().out
    assert "faults=write-error,end-of-medium" in table
    assert "faults=door-open" in table
    assert devemu(sock, "fault", "vtl0-d0", "clear") == 0
    assert capsys.readouterr().out == "vtl0-d0: no faults\n"
    assert devemu(sock, "status", "--json") == 0
    devices = json.loads(capsys.readouterr().out)["devices"]
    assert {d["name"]: d["faults"] for d in devices} == {
        "vtl0": [{"kind": "door-open"}],
        "vtl0-d0": [],
        "vtl0-d1": [],
    }


@pytest.mark.parametrize(
    "argv,status,message",
    [
        (["vtl0-d0", "read-error"], 2, "devemu: fault read-error needs --record\n"),
        (["vtl0-d0", "offline", "--bytes", "3"], 2, "devemu: fault offline takes no --bytes\n"),
        (["vtl0", "offline"], 1, "devemu: vtl0: fault: a library's faults are door-open and clear"),
        (["vtl0-d0", "door-open"], 1, "devemu: vtl0-d0: fault: unknown fault 'door-open'"),
        (["nodev", "clear"], 1, "devemu: nodev: no such device (served: vtl0, vtl0-d0, vtl0-d1)"),
    ],
)
def test_refusals_are_one_line(
    sock: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, message: str
) -> None:
    assert devemu(sock, "fault", *argv) == status
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert devemu(sock, "fault", "vtl0-d1", "cleaning") == 0  # the daemon answers on


@pytest.mark.parametrize("argv", [["d", "melt"], ["d", "read-error", "--record", "-1"]])
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["fault", *argv])
    assert stop.value.code == 2
    assert "devemu fault: error:" in capsys.readouterr().err
