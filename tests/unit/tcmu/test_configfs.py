"""LIO objects in a fake configfs tree (pyfakefs), created and removed in order."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from devemu.tcmu.configfs import (
    HBA_OWNER,
    BackstoreSpec,
    Configfs,
    Journal,
    Lio,
    LioError,
    LoopbackFabric,
    naa_wwn,
)

ROOT = Path("/sys/kernel/config")
TARGET = ROOT / "target"


class FakeKernelConfigfs(Configfs):
    """Creates what LIO creates on mkdir, records every write, refuses on demand."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes: list[tuple[str, str]] = []
        self.refuse: dict[str, int] = {}
        self.removed: list[str] = []

    def mkdir(self, path: Path) -> None:
        super().mkdir(path)
        rel = path.relative_to(self.target).parts
        if len(rel) == 3 and rel[0] == "core":  # a backstore
            for name in ("control", "enable", "info"):
                (path / name).write_text("")
            (path / "attrib").mkdir()
            for name in (
                "pgr_support",
                "alua_support",
                "cmd_time_out",
                "dev_config",
                "nl_reply_supported",
            ):
                (path / "attrib" / name).write_text("")
            (path / "wwn").mkdir()
            (path / "wwn" / "vpd_unit_serial").write_text("")
        if len(rel) == 3 and rel[0] == "loopback":  # a TPG
            (path / "nexus").write_text("")
            (path / "lun").mkdir()

    def write(self, path: Path, value: str) -> None:
        name = f"{path.name}:{value.split('=', maxsplit=1)[0]}"
        if name in self.refuse:
            raise LioError(path, f"kernel refused {value!r}: {errno.errorcode[self.refuse[name]]}")
        super().write(path, value)
        self.writes.append((str(path.relative_to(self.target)), value))

    def rmdir(self, path: Path) -> None:
        super().rmdir(path)
        self.removed.append(str(path.relative_to(self.target)))

    def unlink(self, link: Path) -> None:
        super().unlink(link)
        self.removed.append(str(link.relative_to(self.target)))


@pytest.fixture
def kernel(fs: FakeFilesystem) -> FakeKernelConfigfs:
    fs.create_dir(TARGET / "core")
    return FakeKernelConfigfs(ROOT)


def _rmtree_kernel_files(fake: FakeKernelConfigfs, path: Path) -> None:
    """Configfs removes attribute files with the folder; pyfakefs needs help."""
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if child.is_file() and not child.is_symlink():
            child.unlink()
        elif child.is_dir() and not any(child.iterdir()) and child.name in ("attrib", "wwn", "lun"):
            child.rmdir()


class TearingDownConfigfs(FakeKernelConfigfs):
    def rmdir(self, path: Path) -> None:
        _rmtree_kernel_files(self, path)
        super().rmdir(path)


@pytest.fixture
def tearing(fs: FakeFilesystem) -> TearingDownConfigfs:
    fs.create_dir(TARGET / "core")
    return TearingDownConfigfs(ROOT)


def test_backstore_is_configured_in_the_order_lio_needs(kernel: FakeKernelConfigfs) -> None:
    lio = Lio(kernel)
    spec = BackstoreSpec(name="disk0", dev_size=1 << 30, hw_block_size=512, serial="SN1")
    backstore = lio.create_backstore(spec)
    assert str(backstore.path) == str(TARGET / "core/user_0/disk0")
    assert backstore.dev_config == "devemu/disk0"
    base = "core/user_0/disk0"
    assert kernel.writes == [
        (f"{base}/control", "dev_config=devemu/disk0"),
        (f"{base}/control", f"dev_size={1 << 30}"),
        (f"{base}/control", "hw_block_size=512"),
        (f"{base}/control", "hw_max_sectors=2048"),
        (f"{base}/control", "max_data_area_mb=128"),
        (f"{base}/control", "nl_reply_supported=-1"),
        (f"{base}/attrib/pgr_support", "0"),
        (f"{base}/attrib/alua_support", "0"),
        (f"{base}/wwn/vpd_unit_serial", "SN1"),
        (f"{base}/enable", "1"),
    ]
    assert [(s.owner, s.kind, s.path) for s in lio.journal.steps] == [
        (HBA_OWNER, "mkdir", str(TARGET / "core/user_0")),
        ("disk0", "mkdir", str(TARGET / "core/user_0/disk0")),
    ]


def test_command_timeout_is_set_before_enable(kernel: FakeKernelConfigfs) -> None:
    lio = Lio(kernel)
    lio.create_backstore(BackstoreSpec(name="tape0", dev_size=0, cmd_time_out=90))
    names = [path.rsplit("/", 1)[1] + "=" + value for path, value in kernel.writes]
    assert names.index("cmd_time_out=90") < names.index("enable=1")


def test_tmr_notification_where_asked_and_the_kernel_has_it(
    kernel: FakeKernelConfigfs, fs: FakeFilesystem
) -> None:
    lio = Lio(kernel)
    lio.create_backstore(BackstoreSpec(name="tape0", dev_size=0, tmr_notification=True))
    lio.create_backstore(BackstoreSpec(name="disk0", dev_size=0))
    written = [path for path, _ in kernel.writes if path.endswith("tmr_notification")]
    assert written == []  # this kernel (the fake) has no such attribute
    kernel.writes.clear()
    real_mkdir = kernel.mkdir

    def mkdir_with_attribute(path: Path) -> None:
        real_mkdir(path)
        if (path / "attrib").is_dir():
            (path / "attrib" / "tmr_notification").write_text("0")

    kernel.mkdir = mkdir_with_attribute  # type: ignore[method-assign]
    lio.create_backstore(BackstoreSpec(name="tape1", dev_size=0, tmr_notification=True))
    lio.create_backstore(BackstoreSpec(name="disk1", dev_size=0))
    names = [path.rsplit("/", 1)[1] + "=" + value for path, value in kernel.writes]
    assert names.count("tmr_notification=1") == 1
    assert names.index("tmr_notification=1") < names.index("enable=1")
    assert ("core/user_0/tape1/attrib/tmr_notification", "1") in kernel.writes


def test_transfer_and_data_area_follow_the_block_size() -> None:
    cd = BackstoreSpec(name="cd0", dev_size=0, hw_block_size=2048)
    assert cd.max_sectors == 512  # 1 MiB per command
    assert cd.data_area_mb == 128  # a full queue of 1 MiB commands
    assert BackstoreSpec(name="x", dev_size=0, max_data_area_mb=16).data_area_mb == 16
    huge = BackstoreSpec(name="x", dev_size=0, hw_block_size=512, hw_max_sectors=65536)
    assert huge.data_area_mb == 1024


def test_existing_hba_is_not_ours(kernel: FakeKernelConfigfs, fs: FakeFilesystem) -> None:
    fs.create_dir(TARGET / "core/user_0/someone_else")
    lio = Lio(kernel)
    lio.create_backstore(BackstoreSpec(name="d", dev_size=4096))
    assert [s.owner for s in lio.journal.steps] == ["d"]


def test_failed_create_cleans_up(tearing: TearingDownConfigfs) -> None:
    tearing.refuse["enable:1"] = errno.EINVAL
    lio = Lio(tearing)
    with pytest.raises(LioError, match=r"enable: kernel refused '1': EINVAL"):
        lio.create_backstore(BackstoreSpec(name="d", dev_size=4096))
    assert lio.journal.steps == []
    assert tearing.removed == ["core/user_0/d", "core/user_0"]
    assert list((TARGET / "core").iterdir()) == []


def test_existing_backstore_is_refused(kernel: FakeKernelConfigfs, fs: FakeFilesystem) -> None:
    fs.create_dir(TARGET / "core/user_0/d")
    with pytest.raises(LioError, match="already exists"):
        Lio(kernel).create_backstore(BackstoreSpec(name="d", dev_size=4096))


def test_find_backstore_reads_dev_config(kernel: FakeKernelConfigfs, fs: FakeFilesystem) -> None:
    fs.create_file(TARGET / "core/user_3/tgt/attrib/dev_config", contents="devemu/cd0\n")
    found = Lio(kernel).find_backstore("tgt")
    assert found is not None
    assert (found.hba, found.dev_config, found.created) == (3, "devemu/cd0", False)
    assert Lio(kernel).find_backstore("nope") is None


def test_naa_wwn_is_stable_and_in_lio_range() -> None:
    wwn = naa_wwn("/var/lib/devemu:target")
    assert wwn == naa_wwn("/var/lib/devemu:target")
    assert wwn != naa_wwn("/other:target")
    assert wwn.startswith("naa.5001405") and len(wwn) == len("naa.5001405") + 9
    int(wwn[4:], 16)


def test_loopback_export_and_teardown_in_reverse(tearing: TearingDownConfigfs) -> None:
    lio = Lio(tearing)
    fabric = LoopbackFabric(lio, "seed")
    d0 = lio.create_backstore(BackstoreSpec(name="d0", dev_size=4096))
    fabric.export(d0, 0, "lun:d0")
    d1 = lio.create_backstore(BackstoreSpec(name="d1", dev_size=4096))
    fabric.export(d1, 1, "lun:d1")
    tpg = f"loopback/{fabric.wwn}/tpgt_1"
    assert (f"{tpg}/nexus", fabric.initiator) in tearing.writes
    link = TARGET / tpg / "lun/lun_1/devemu"
    assert link.is_symlink() and str(link.resolve()) == str(d1.path)
    assert str(fabric.linked(1)) == str(d1.path)
    # Exporting again is a no-op; another backstore on the same LUN is refused.
    fabric.export(d1, 1, "lun:d1")
    with pytest.raises(LioError, match="already links"):
        fabric.export(d0, 1, "lun:d0")

    assert lio.remove_owner("lun:d1") == []
    assert tearing.removed == [f"{tpg}/lun/lun_1/devemu", f"{tpg}/lun/lun_1"]
    tearing.removed.clear()
    assert lio.remove_all() == []
    assert tearing.removed == [
        "core/user_0/d1",
        f"{tpg}/lun/lun_0/devemu",
        f"{tpg}/lun/lun_0",
        tpg,
        f"loopback/{fabric.wwn}",
        "loopback",
        "core/user_0/d0",
        "core/user_0",
    ]
    assert lio.journal.steps == []
    assert not (TARGET / "loopback").exists()
    assert list((TARGET / "core").iterdir()) == []


def test_teardown_keeps_going_and_reports(kernel: FakeKernelConfigfs) -> None:
    lio = Lio(kernel)
    lio.create_backstore(BackstoreSpec(name="d", dev_size=4096))
    # The fake leaves attribute files behind, so rmdir fails: reported, not raised.
    problems = lio.remove_all()
    assert len(problems) == 2
    assert "core/user_0/d" in problems[0]


def test_journal_round_trip_and_adoption(kernel: FakeKernelConfigfs) -> None:
    lio = Lio(kernel)
    lio.create_backstore(BackstoreSpec(name="d", dev_size=4096))
    again = Journal.loads(lio.journal.dumps())
    assert again == lio.journal
    adopted = Lio(kernel, again)
    adopted.journal.record("gone", "mkdir", TARGET / "core/user_9/gone")
    adopted.forget_missing()
    assert adopted.journal == lio.journal
    assert adopted.journal.owned(TARGET / "core/user_0/d")
    with pytest.raises(ValueError, match="unknown step kind"):
        Journal.loads('{"steps": [["a", "rm", "/x"]]}')
