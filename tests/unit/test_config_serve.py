"""``devemu serve`` checks, then acts: nothing exists until the file and the host pass.

Order: the configuration in a pure pass (:func:`devemu.config.check`), then
the host (:func:`check_host`), only then images, cartridges and state.
The host check is pointed at a fake sysfs/configfs tree; ``serve`` itself
(the kernel side) is replaced by a stub that records the configuration.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest

from devemu import cli, daemon_cli
from devemu.config import Config
from devemu.tcmu.backend import JOURNAL_NAME
from devemu.tcmu.host import check_host

LAB = """\
[daemon]
state_dir = "state"
control_socket = "run/control.sock"

[[disk]]
name = "disk0"
image = "images/disk0.img"
size = "1M"

[[cdrom]]
name = "cd0"

[[library]]
name = "vtl0"
directory = "tapes"
slots = 6
import_export = 1
barcode_prefix = "LAB"
count = 3

[[library.drives]]
name = "vtl0-drive0"
"""


def tree(root: Path) -> list[str]:
    """Everything under ``root``, as relative paths."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A lab folder with an image folder and the file to serve; nothing else yet."""
    (tmp_path / "images").mkdir()
    config = tmp_path / "lab.toml"
    config.write_text(LAB)
    return config


class Host:
    """A fake host for ``check_host`` and a stub ``serve`` that records what it got."""

    def __init__(self, root: Path, *, tcmu: bool, euid: int = 0) -> None:
        self.sysfs = root / "host-sys"
        self.configfs = root / "host-config"
        self.configfs.mkdir()
        if tcmu:
            for module in ("target_core_user", "tcm_loop"):
                (self.sysfs / "module" / module).mkdir(parents=True)
            (self.configfs / "target" / "core").mkdir(parents=True)
        self.euid = euid
        self.checked_with: list[str] | None = None
        self.served: Config | None = None

    def check(self, lab: Path, *, fabric: str = "loopback") -> None:
        self.checked_with = tree(lab)
        check_host(self.configfs, self.sysfs, fabric=fabric, euid=self.euid)

    def serve(self, config: Config, **_kwargs: Any) -> int:
        self.served = config
        for device in config.devices:
            device.close()
        return 0


def install(monkeypatch: pytest.MonkeyPatch, host: Host, lab: Path) -> None:
    monkeypatch.setattr(daemon_cli, "check_host", functools.partial(host.check, lab))
    monkeypatch.setattr(daemon_cli, "serve", host.serve)
    monkeypatch.delenv("DEVEMU_SOCKET", raising=False)


def only_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda text: text + '\n[[cdrom]]\nname = "cd1"\ncolour = "red"\n',
            r"cdrom\[1\]\.colour: unknown key",
        ),
        (
            lambda text: text + '\n[[cdrom]]\nname = "disk0"\n',
            r"cdrom\[1\]\.name: 'disk0' is already used by disk\[0\]",
        ),
        (
            lambda text: text + '\n[[cdrom]]\nname = "cd1"\nimage = "images"\n',
            r"cdrom\[1\]\.image: .*images",
        ),
        (
            lambda text: text.replace("count = 3", "count = 7"),
            r"library\[0\]: no free slot for cartridge LAB007L8",
        ),
        (
            lambda text: text.replace('state_dir = "state"', 'state_dir = "lab.toml"'),
            r"daemon\.state_dir: .*lab\.toml is a file, not a folder",
        ),
        (
            lambda text: text.replace('directory = "tapes"', 'directory = "lab.toml/tapes"'),
            r"library\[0\]\.directory: .*tapes cannot be made: .*lab\.toml is a file",
        ),
    ],
    ids=["unknown-key", "name-twice", "folder-as-iso", "slots", "state-dir-file", "tapes-in-file"],
)
def test_a_refused_configuration_creates_nothing(
    lab: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: Any,
    message: str,
) -> None:
    lab.write_text(change(LAB))
    host = Host(tmp_path_factory.mktemp("host"), tcmu=True)
    install(monkeypatch, host, lab.parent)
    before = tree(lab.parent)
    code = cli.main(["serve", str(lab)])
    assert tree(lab.parent) == before
    assert code == 1
    line = only_line(capsys.readouterr().err)
    assert line.startswith(f"devemu: {lab}: ")
    assert re.search(message, line), line
    assert host.checked_with is None


@pytest.mark.parametrize(
    ("euid", "tcmu", "message"),
    [
        (0, False, "the target_core_user module is not loaded: run `modprobe target_core_user"),
        (1000, True, "devemu serve must run as root"),
    ],
    ids=["no-tcmu", "not-root"],
)
def test_a_host_that_cannot_serve_creates_nothing(
    lab: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    euid: int,
    tcmu: bool,
    message: str,
) -> None:
    host = Host(tmp_path_factory.mktemp("host"), tcmu=tcmu, euid=euid)
    install(monkeypatch, host, lab.parent)
    before = tree(lab.parent)
    code = cli.main(["serve", str(lab)])
    assert tree(lab.parent) == before
    assert code == 1
    assert message in only_line(capsys.readouterr().err)
    assert host.checked_with == before
    assert host.served is None


def test_an_unreadable_journal_creates_nothing(
    lab: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (lab.parent / "state").mkdir()
    (lab.parent / "state" / JOURNAL_NAME).write_text("{not json")
    host = Host(tmp_path_factory.mktemp("host"), tcmu=True)
    install(monkeypatch, host, lab.parent)
    before = tree(lab.parent)
    code = cli.main(["serve", str(lab)])
    assert tree(lab.parent) == before
    assert code == 1
    assert f"{JOURNAL_NAME}: unreadable journal" in only_line(capsys.readouterr().err)


def test_check_only_reads(
    lab: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = Host(tmp_path_factory.mktemp("host"), tcmu=False, euid=1000)
    install(monkeypatch, host, lab.parent)
    before = tree(lab.parent)
    assert cli.main(["serve", "--check", str(lab)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{lab}: ok, 4 device(s), state in {lab.parent / 'state'}"
    assert out[1].split() == [
        "disk[0]",
        "disk0:",
        "disk",
        str(lab.parent / "images/disk0.img"),
        "(created",
        "at",
        "start:",
        "1048576",
        "bytes)",
    ]
    assert out[3].startswith("  library[0]  vtl0, vtl0-drive0: tape library, 1 drive(s), 6 slots")
    assert host.checked_with is None
    assert tree(lab.parent) == before


def test_then_the_host_then_images_cartridges_and_state(
    lab: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = Host(tmp_path_factory.mktemp("host"), tcmu=True)
    install(monkeypatch, host, lab.parent)
    before = tree(lab.parent)
    assert cli.main(["serve", str(lab)]) == 0
    assert host.checked_with == before
    assert host.served is not None
    assert [d.name for d in host.served.devices] == ["disk0", "cd0", "vtl0", "vtl0-drive0"]
    assert host.served.control_socket == lab.parent / "run/control.sock"
    created = set(tree(lab.parent)) - set(before)
    assert {
        "images/disk0.img",
        "state",
        "state/disk-disk0.pr.json",
        "state/library/vtl0.json",
        "tapes/LAB001L8.tape",
        "tapes/LAB003L8.tape",
    } <= created


def test_socket_option_and_environment_replace_the_configured_socket(
    lab: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = Host(tmp_path_factory.mktemp("host"), tcmu=True)
    install(monkeypatch, host, lab.parent)
    monkeypatch.setenv("DEVEMU_SOCKET", str(lab.parent / "env.sock"))
    assert cli.main(["serve", str(lab)]) == 0
    assert host.served is not None and host.served.control_socket == lab.parent / "env.sock"
    assert cli.main(["serve", str(lab), "--socket", str(lab.parent / "opt.sock")]) == 0
    assert host.served.control_socket == lab.parent / "opt.sock"


def test_a_drive_reservation_file_that_is_no_such_file_is_refused(
    lab: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = Host(tmp_path_factory.mktemp("host"), tcmu=True)
    install(monkeypatch, host, lab.parent)
    assert cli.main(["serve", str(lab)]) == 0
    kept = list((lab.parent / "state" / "tape" / "vtl0-drive0").glob("drive-*.pr.json"))
    assert len(kept) == 1  # the drive keeps its reservations beside its state
    kept[0].write_text("{not json")
    capsys.readouterr()
    assert cli.main(["serve", str(lab)]) == 1
    line = only_line(capsys.readouterr().err)
    assert "library[0].drives[0].name: cannot keep the drive's reservation state" in line, line
    assert str(kept[0]) in line, line
