"""``devemu library``: the commands against a control socket served in a thread."""

from __future__ import annotations

import json
import selectors
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.changer.cli import format_status
from devemu.cli import build_parser
from devemu.control import ControlError, ControlServer
from devemu.errors import DevemuError
from devemu.global_options import fill_defaults
from devemu.scsi.sense import IMPORT_OR_EXPORT_ELEMENT_ACCESSED
from devemu.served import ServedDevice
from tests.unit.changer.test_library_config import build


class Daemon:
    def __init__(self, path: Path, devices: list[ServedDevice]) -> None:
        self.selector = selectors.DefaultSelector()
        self.server = ControlServer(path, {d.name: d for d in devices}, self.selector)
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.stop:
            for key, events in self.selector.select(0.05):
                key.data(events)

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.server.close()
        self.selector.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Path, list[ServedDevice]]]:
    devices = build(tmp_path)
    sock = tmp_path / "control.sock"
    d = Daemon(sock, devices)
    yield sock, devices
    d.close()


def devemu(sock: Path, *argv: str) -> int:
    args = build_parser().parse_args(["library", "--socket", str(sock), *argv])
    fill_defaults(args)
    code: int = args.func(args)
    return code


def test_status_table(
    daemon: tuple[Path, list[ServedDevice]], capsys: pytest.CaptureFixture[str]
) -> None:
    sock, devices = daemon
    devices[0].device.library.move(0x400, 0x100)  # type: ignore[attr-defined]
    assert devemu(sock, "status") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "vtl0"
    assert out[1].split() == ["ELEMENT", "ADDRESS", "BARCODE", "FROM", "DEVICE"]
    drive = next(line for line in out if line.startswith("drive 1"))
    assert drive.split()[:6] == ["drive", "1", "0x0100", "E01001L8", "slot", "1"]
    assert "vtl0-d0" in drive
    assert next(line for line in out if line.startswith("slot 2 ")).split()[3] == "E01002L8"
    assert next(line for line in out if line.startswith("mailslot 2")).split()[3] == "-"


def test_import_and_export(
    daemon: tuple[Path, list[ServedDevice]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sock, devices = daemon
    (tmp_path / "tapes" / "F00001L8.tape").write_text("F00001L8")
    assert devemu(sock, "import", "F00001L8") == 0
    assert capsys.readouterr().out == "F00001L8 is in mailslot 1 (mtx slot 9)\n"
    assert devemu(sock, "export", "9", "--library", "vtl0") == 0
    assert capsys.readouterr().out == "F00001L8 left the library from mailslot 1\n"
    assert devemu(sock, "status", "vtl0", "--json") == 0
    assert '"exported": [\n  "F00001L8"\n ]' in capsys.readouterr().out
    unit_attentions = devices[0].device.unit_attentions
    assert IMPORT_OR_EXPORT_ELEMENT_ACCESSED in unit_attentions
    assert len(unit_attentions) == 2  # power on, then one for both the import and the export


def test_import_and_export_json(
    daemon: tuple[Path, list[ServedDevice]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sock, _ = daemon
    (tmp_path / "tapes" / "F00001L8.tape").write_text("F00001L8")
    assert devemu(sock, "import", "F00001L8", "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["barcode"], answer["slot"]) == ("F00001L8", 9)
    assert devemu(sock, "export", "9", "--json") == 0
    assert json.loads(capsys.readouterr().out)["barcode"] == "F00001L8"


def test_errors_come_back_as_messages(daemon: tuple[Path, list[ServedDevice]]) -> None:
    sock, _ = daemon
    with pytest.raises(ControlError, match="no cartridge file"):
        devemu(sock, "import", "NOPE01L8")
    with pytest.raises(ControlError, match="slot 7 is empty"):
        devemu(sock, "export", "7")
    with pytest.raises(ControlError, match="no such device"):
        devemu(sock, "status", "nolib")


def test_no_daemon(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="is `devemu serve` running"):
        devemu(tmp_path / "none.sock", "status")


def test_library_name_needed_when_several(tmp_path: Path) -> None:
    one = build(tmp_path / "a")
    two = build(tmp_path / "b")
    two[0].name = "vtl1"
    sock = tmp_path / "c.sock"
    d = Daemon(sock, [one[0], two[0]])
    try:
        with pytest.raises(DevemuError, match=r"several libraries \(vtl0, vtl1\)"):
            devemu(sock, "status")
        assert devemu(sock, "status", "vtl1") == 0
    finally:
        d.close()


def test_format_status_marks_a_locked_library() -> None:
    text = format_status(
        {
            "library": "x",
            "locked": True,
            "elements": [{"address": 0x400, "type": "slot", "number": 1, "barcode": None}],
            "exported": [],
        }
    )
    assert text.splitlines()[0] == "x  (mail slots locked by the host)"
    assert text.splitlines()[2].split() == ["slot", "1", "0x0400", "-", "-"]
