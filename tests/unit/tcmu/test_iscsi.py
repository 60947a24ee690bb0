"""LIO's iSCSI target in a fake configfs tree (pyfakefs): made, adopted, cleaned, read."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from devemu.iscsi_config import Initiator, IscsiSettings, Portal
from devemu.tcmu.configfs import BackstoreSpec, Configfs, Journal, Lio, LioError
from devemu.tcmu.iscsi import IscsiFabric, parse_acl_info

ROOT = Path("/sys/kernel/config")
TARGET = ROOT / "target"
IQN = "iqn.2026-12.org.example:lab"
TPG = f"iscsi/{IQN}/tpgt_1"
A = "iqn.2026-12.org.example:a"
B = "iqn.2026-12.org.example:b"

TPG_ATTRIBS = (
    "authentication",
    "generate_node_acls",
    "cache_dynamic_acls",
    "demo_mode_write_protect",
)
AUTH = ("userid", "password", "userid_mutual", "password_mutual")


class FakeIscsiConfigfs(Configfs):
    """Creates the groups and files LIO creates on mkdir; removes them on rmdir."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes: list[tuple[str, str]] = []
        self.removed: list[str] = []

    def mkdir(self, path: Path) -> None:
        super().mkdir(path)
        rel = path.relative_to(self.target).parts
        files: list[str] = []
        if len(rel) == 3 and rel[0] == "core":
            files = ["control", "enable", *(f"attrib/{a}" for a in ("pgr_support", "alua_support"))]
            files += ["attrib/cmd_time_out", "wwn/vpd_unit_serial"]
        elif len(rel) == 3 and rel[0] == "iscsi":  # a TPG
            files = ["enable", "dynamic_sessions", *(f"attrib/{a}" for a in TPG_ATTRIBS)]
            for group in ("np", "lun", "acls"):
                (path / group).mkdir()
        elif len(rel) == 5 and rel[0] == "iscsi" and rel[3] == "acls":
            files = ["info", "attrib/authentication", *(f"auth/{a}" for a in AUTH)]
        for name in files:
            (path / name).parent.mkdir(exist_ok=True)
            (path / name).write_text("")

    def write(self, path: Path, value: str) -> None:
        super().write(path, value)
        self.writes.append((str(path.relative_to(self.target)), value))

    def rmdir(self, path: Path) -> None:
        for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if child.is_symlink():
                raise OSError(16, "Device or resource busy")  # configfs: links first
            if child.is_file():
                child.unlink()
            elif child.is_dir() and child.name in ("attrib", "auth", "wwn", "np", "lun", "acls"):
                if any(child.iterdir()):
                    raise OSError(39, "Directory not empty")
                child.rmdir()
        super().rmdir(path)
        self.removed.append(str(path.relative_to(self.target)))

    def unlink(self, link: Path) -> None:
        super().unlink(link)
        self.removed.append(str(link.relative_to(self.target)))


@pytest.fixture
def kernel(fs: FakeFilesystem) -> FakeIscsiConfigfs:
    fs.create_dir(TARGET / "core")
    fs.create_dir(TARGET / "iscsi")  # iscsi_target_mod loaded
    fs.create_file("/etc/devemu/a.secret", contents="a-secret-1234\n")
    fs.create_file("/etc/devemu/lab.secret", contents="lab-secret-5678\n")
    for name in ("a.secret", "lab.secret"):
        os.chmod(f"/etc/devemu/{name}", 0o600)
    return FakeIscsiConfigfs(ROOT)


def portal(text: str, port: int = 3260) -> Portal:
    return Portal(ipaddress.ip_address(text), port)


def settings(**changes: object) -> IscsiSettings:
    base: dict[str, object] = {
        "target": IQN,
        "portals": (portal("127.0.0.1"), portal("::1")),
        "initiators": (
            Initiator(
                A,
                "usera",
                Path("/etc/devemu/a.secret"),
                "lab",
                Path("/etc/devemu/lab.secret"),
            ),
            Initiator(B),
        ),
    }
    base.update(changes)
    return IscsiSettings(**base)  # type: ignore[arg-type]


def lab(kernel: FakeIscsiConfigfs, lio: Lio, fabric: IscsiFabric) -> None:
    for lun, name in enumerate(("disk0", "cd0")):
        backstore = lio.create_backstore(BackstoreSpec(name=name, dev_size=4096, pgr_support=True))
        fabric.export(backstore, lun, f"lun:{name}")


def test_target_portals_acls_luns_and_mappings(kernel: FakeIscsiConfigfs) -> None:
    lio = Lio(kernel)
    fabric = IscsiFabric(lio, settings())
    lab(kernel, lio, fabric)
    tpg = TARGET / TPG
    assert sorted(p.name for p in (tpg / "np").iterdir()) == ["127.0.0.1:3260", "[::1]:3260"]
    assert sorted(p.name for p in (tpg / "acls").iterdir()) == [A, B]
    for acl in (A, B):
        for lun, name in enumerate(("disk0", "cd0")):
            mapped = tpg / "acls" / acl / f"lun_{lun}" / "devemu"
            assert mapped.is_symlink()
            assert os.readlink(mapped) == str(tpg / "lun" / f"lun_{lun}")
            assert Path(os.readlink(tpg / "lun" / f"lun_{lun}" / "devemu")).name == name
    writes = dict(kernel.writes)
    assert writes[f"{TPG}/acls/{A}/auth/userid"] == "usera"
    assert writes[f"{TPG}/acls/{A}/auth/password"] == "a-secret-1234"
    assert writes[f"{TPG}/acls/{A}/auth/userid_mutual"] == "lab"
    assert writes[f"{TPG}/acls/{A}/auth/password_mutual"] == "lab-secret-5678"
    assert writes[f"{TPG}/acls/{A}/attrib/authentication"] == "1"
    assert writes[f"{TPG}/acls/{B}/attrib/authentication"] == "0"
    assert writes[f"{TPG}/acls/{B}/auth/password"] == "NULL"
    assert writes[f"{TPG}/attrib/authentication"] == "0"  # discovery needs no CHAP
    assert writes[f"{TPG}/attrib/generate_node_acls"] == "0"
    assert writes["core/user_0/disk0/attrib/pgr_support"] == "1"
    # The TPG is enabled once its portals and ACLs exist, before any LUN.
    order = [path for path, _ in kernel.writes]
    assert order.index(f"{TPG}/enable") > order.index(f"{TPG}/acls/{B}/attrib/authentication")
    assert fabric.describe() == {"fabric": "iscsi", "target": IQN}


def test_demo_mode(kernel: FakeIscsiConfigfs) -> None:
    lio = Lio(kernel)
    fabric = IscsiFabric(lio, settings(allow_any_initiator=True, initiators=()))
    lab(kernel, lio, fabric)
    writes = dict(kernel.writes)
    for name in ("generate_node_acls", "cache_dynamic_acls"):
        assert writes[f"{TPG}/attrib/{name}"] == "1"
    assert writes[f"{TPG}/attrib/demo_mode_write_protect"] == "0"
    assert list((TARGET / TPG / "acls").iterdir()) == []


def test_unexport_then_teardown_removes_exactly_what_was_made(kernel: FakeIscsiConfigfs) -> None:
    (TARGET / "iscsi/iqn.2026-12.org.other:keep/tpgt_1").mkdir(parents=True)
    lio = Lio(kernel)
    fabric = IscsiFabric(lio, settings())
    lab(kernel, lio, fabric)
    assert lio.remove_owner("lun:cd0") == []
    assert lio.remove_all() == []
    assert sorted(p.name for p in (TARGET / "iscsi").iterdir()) == ["iqn.2026-12.org.other:keep"]
    assert list((TARGET / "core").iterdir()) == []


def test_unexport_order_is_mappings_then_lun(kernel: FakeIscsiConfigfs) -> None:
    lio = Lio(kernel)
    lab(kernel, lio, IscsiFabric(lio, settings()))
    lio.remove_owner("lun:cd0")
    assert kernel.removed == [
        f"{TPG}/acls/{B}/lun_1/devemu",
        f"{TPG}/acls/{B}/lun_1",
        f"{TPG}/acls/{A}/lun_1/devemu",
        f"{TPG}/acls/{A}/lun_1",
        f"{TPG}/lun/lun_1/devemu",
        f"{TPG}/lun/lun_1",
    ]


def test_a_restart_adopts_the_journal_and_creates_nothing(kernel: FakeIscsiConfigfs) -> None:
    lio = Lio(kernel)
    lab(kernel, lio, IscsiFabric(lio, settings()))
    saved = lio.journal.dumps()
    adopted = Lio(kernel, Journal.loads(saved))
    fabric = IscsiFabric(adopted, settings())
    steps = len(adopted.journal.steps)
    disk = adopted.find_backstore("disk0")
    assert disk is not None
    fabric.export(disk, 0, "lun:disk0")
    assert len(adopted.journal.steps) == steps
    assert adopted.journal.dumps() == saved
    # The enabled TPG is not enabled again (LIO refuses that).
    assert [w for w in kernel.writes if w[0] == f"{TPG}/enable"] == [(f"{TPG}/enable", "1")]
    # The credentials are written again (a secret file may have changed).
    assert (f"{TPG}/acls/{A}/auth/password", "a-secret-1234") in kernel.writes[-12:]


def test_a_restart_drops_what_the_configuration_no_longer_has(kernel: FakeIscsiConfigfs) -> None:
    lio = Lio(kernel)
    lab(kernel, lio, IscsiFabric(lio, settings()))
    adopted = Lio(kernel, Journal.loads(lio.journal.dumps()))
    fewer = settings(portals=(portal("127.0.0.1"),), initiators=(Initiator(A),))
    fabric = IscsiFabric(adopted, fewer)
    disk = adopted.find_backstore("disk0")
    assert disk is not None
    fabric.export(disk, 0, "lun:disk0")
    tpg = TARGET / TPG
    assert [p.name for p in (tpg / "np").iterdir()] == ["127.0.0.1:3260"]
    assert [p.name for p in (tpg / "acls").iterdir()] == [A]
    assert not any(step.path.startswith(str(tpg / "acls" / B)) for step in adopted.journal.steps)
    # A now authenticates with nothing: its old credentials are cleared.
    assert (f"{TPG}/acls/{A}/auth/password", "NULL") in kernel.writes


def test_another_target_name_replaces_the_old_target(kernel: FakeIscsiConfigfs) -> None:
    lio = Lio(kernel)
    lab(kernel, lio, IscsiFabric(lio, settings()))
    adopted = Lio(kernel, Journal.loads(lio.journal.dumps()))
    adopted.remove_owner("lun:disk0")
    adopted.remove_owner("lun:cd0")
    renamed = IscsiFabric(adopted, settings(target="iqn.2026-12.org.example:new"))
    disk = adopted.find_backstore("disk0")
    assert disk is not None
    renamed.export(disk, 0, "lun:disk0")
    assert sorted(p.name for p in (TARGET / "iscsi").iterdir()) == ["iqn.2026-12.org.example:new"]


def test_a_lun_linked_to_another_backstore_is_refused(kernel: FakeIscsiConfigfs) -> None:
    lio = Lio(kernel)
    fabric = IscsiFabric(lio, settings())
    lab(kernel, lio, fabric)
    cd = lio.find_backstore("cd0")
    assert cd is not None
    with pytest.raises(LioError, match="already links"):
        fabric.export(cd, 0, "lun:cd0")


def test_an_unreadable_secret_undoes_the_target(kernel: FakeIscsiConfigfs) -> None:
    os.chmod("/etc/devemu/a.secret", 0o644)
    lio = Lio(kernel)
    fabric = IscsiFabric(lio, settings())
    backstore = lio.create_backstore(BackstoreSpec(name="disk0", dev_size=4096))
    with pytest.raises(LioError, match=r"a\.secret is readable by group or others"):
        fabric.export(backstore, 0, "lun:disk0")
    assert list((TARGET / "iscsi").iterdir()) == []
    assert [s.owner for s in lio.journal.steps] == ["hba", "disk0"]


INFO = """\
InitiatorName: iqn.2026-12.org.example:a
InitiatorAlias: host-a
LIO Session ID: 3   ISID: 0x00 02 3d 00 00 00  TSIH: 2  SessionType: Normal
Session State: TARG_SESS_STATE_LOGGED_IN
---------------------[iSCSI Session Values]-----------------------
  CmdSN/WR  :  CmdSN/WC  :  ExpCmdSN  :  MaxCmdSN  :     ITT    :     TTT
 0x00000010   0x00000010   0x00000010   0x00000050   0x00000000   0x00000000
----------------------[iSCSI Connections]-------------------------
CID: 0  Connection State: TARG_CONN_STATE_LOGGED_IN
   Address 127.0.0.1 TCP  StatSN: 0x00000012
"""


def test_acl_info_is_parsed() -> None:
    assert parse_acl_info(INFO) == [{"initiator": A, "address": "127.0.0.1"}]
    none = "No active iSCSI Session for Initiator Endpoint: iqn.2026-12.org.example:b\n"
    assert parse_acl_info(none) == []


def test_sessions_and_status(kernel: FakeIscsiConfigfs, fs: FakeFilesystem) -> None:
    lio = Lio(kernel)
    fabric = IscsiFabric(lio, settings(allow_any_initiator=True))
    lab(kernel, lio, fabric)
    tpg = TARGET / TPG
    (tpg / "acls" / A / "info").write_text(INFO)
    (tpg / "acls" / B / "info").write_text("No active iSCSI Session for Initiator Endpoint: x\n")
    (tpg / "dynamic_sessions").write_text("iqn.2026-12.org.example:guest\n")
    assert fabric.status() == {
        "fabric": "iscsi",
        "target": IQN,
        "portals": ["127.0.0.1:3260", "[::1]:3260"],
        "sessions": [
            {"initiator": A, "address": "127.0.0.1"},
            {"initiator": "iqn.2026-12.org.example:guest", "address": ""},
        ],
    }


class OldKernelConfigfs(FakeIscsiConfigfs):
    """Node ACLs without their own ``attrib/authentication`` (before Linux 5.16)."""

    def mkdir(self, path: Path) -> None:
        super().mkdir(path)
        switch = path / "attrib" / "authentication"
        if path.parent.name == "acls" and switch.exists():
            switch.unlink()


def test_without_per_acl_switch_chap_is_required_tpg_wide(fs: FakeFilesystem) -> None:
    fs.create_dir(TARGET / "core")
    fs.create_dir(TARGET / "iscsi")
    fs.create_file("/etc/devemu/a.secret", contents="a-secret-1234\n")
    os.chmod("/etc/devemu/a.secret", 0o600)
    kernel = OldKernelConfigfs(ROOT)
    lio = Lio(kernel)
    only_a = settings(initiators=(Initiator(A, "usera", Path("/etc/devemu/a.secret")),))
    lab(kernel, lio, IscsiFabric(lio, only_a))
    writes = [w for w in kernel.writes if w[0] == f"{TPG}/attrib/authentication"]
    assert writes == [(f"{TPG}/attrib/authentication", "0"), (f"{TPG}/attrib/authentication", "1")]
