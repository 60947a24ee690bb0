"""``[[osd]]`` in the configuration and ``devemu osd info``."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from devemu import cli
from devemu.config import check_file, load
from devemu.errors import ConfigError
from devemu.osd.device import OsdDevice
from devemu.testing.osd import OsdClient


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "devemu.toml"
    path.write_text(
        f'[daemon]\nfabric = "none"\nstate_dir = "{tmp_path}/state"\n'
        f'control_socket = "{tmp_path}/state/c.sock"\n{body}'
    )
    return path


def test_an_osd_table_builds_a_formatted_device(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[[osd]]\nname = "osd0"\nroot = "objects"\ncapacity = "64M"\n')
    config = load(path)
    (served,) = config.devices
    assert served.kind == "osd" and isinstance(served.device, OsdDevice)
    assert served.device.store.root == tmp_path / "objects"
    assert served.status()["formatted"] and served.status()["capacity"] == 64 << 20
    served.close()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[osd]]\nname = "osd0"\n', "root"),
        ('[[osd]]\nroot = "objects"\ncapacity = "lots"\n', "capacity"),
        ('[[osd]]\nroot = "objects"\ncolour = "red"\n', "colour"),
    ],
)
def test_bad_tables_are_refused_naming_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = write_config(tmp_path, body)
    with pytest.raises(ConfigError, match=message):
        check_file(path)


def test_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "objects").write_text("not a folder")
    path = write_config(tmp_path, '[[osd]]\nroot = "objects"\n')
    with pytest.raises(ConfigError, match="not a folder"):
        check_file(path)


def test_info_prints_partitions_and_objects(
    tmp_path: Path, osd: OsdClient, device: OsdDevice, capsys: pytest.CaptureFixture[str]
) -> None:
    osd.format(1 << 20)
    pid = osd.create_partition()
    oid = osd.create(pid)
    osd.write(pid, oid, b"x" * 5000)
    osd.create_collection(pid)
    assert cli.main(["osd", "info", str(device.store.root)]) == 0
    out = capsys.readouterr().out
    assert "partition 0x10000: 1 objects, 5000 bytes, 1 collections" in out
    assert "object 0x10000: 5000 bytes" in out
    assert cli.main(["osd", "info", "--json", str(device.store.root)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["capacity"] == 1 << 20
    assert info["partitions"][0]["objects"][0]["length"] == 5000


def test_info_on_a_folder_without_a_store_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["osd", "info", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no OSD store here" in err


def test_the_initiator_imports_nothing_of_the_target() -> None:
    for module in ("osd.py", "iscsi_initiator.py", "osd_client_cli.py"):
        source = (Path(__file__).parents[3] / "devemu" / "testing" / module).read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("devemu.osd"), module
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("devemu.osd") for a in node.names), module
