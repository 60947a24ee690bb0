"""``devemu status`` and ``serve --check`` with an iSCSI target: sessions, portals, summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyfakefs.fake_filesystem import FakeFilesystem

from devemu import config as cfg
from devemu.control_protocol import answer
from devemu.daemon_cli import check_summary, fabric_lines

TARGET = "iqn.2026-12.org.example:lab"
SESSIONS = [
    {"initiator": "iqn.2026-12.org.example:a", "address": "10.0.0.7"},
    {"initiator": "iqn.2026-12.org.example:guest", "address": ""},
]
FABRIC: dict[str, Any] = {
    "fabric": "iscsi",
    "target": TARGET,
    "portals": ["0.0.0.0:3260", "[::]:3260"],
    "sessions": SESSIONS,
}


def test_status_of_all_carries_the_fabric() -> None:
    line = answer({}, b'{"op": "status"}', lambda: FABRIC)
    assert json.loads(line) == {"ok": True, "result": {"devices": [], "fabric": FABRIC}}


def test_no_fabric_and_a_failing_fabric_leave_the_devices_alone() -> None:
    assert json.loads(answer({}, b'{"op": "status"}', lambda: None))["result"] == {"devices": []}

    def broken() -> dict[str, Any]:
        raise OSError("configfs went away")

    assert json.loads(answer({}, b'{"op": "status"}', broken)) == {
        "ok": True,
        "result": {"devices": []},
    }


def test_fabric_lines() -> None:
    assert fabric_lines(FABRIC).splitlines() == [
        f"iscsi target {TARGET} on 0.0.0.0:3260, [::]:3260",
        "  2 session(s)",
        "  iqn.2026-12.org.example:a  10.0.0.7",
        "  iqn.2026-12.org.example:guest  address unknown",
    ]


def test_check_summary_names_the_target(fs: FakeFilesystem) -> None:
    path = Path("/etc/devemu/lab.toml")
    fs.create_file(
        path,
        contents=f'[daemon]\nfabric = "iscsi"\n[iscsi]\ntarget = "{TARGET}"\n'
        "allow_any_initiator = true\n",
    )
    config = cfg.check_file(path)
    assert check_summary(config).splitlines()[-1] == (
        f"  iscsi target {TARGET} on 0.0.0.0:3260; 0 initiator(s), any other in demo mode"
    )
