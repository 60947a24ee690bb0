"""Stand-ins for the drive and the cartridge folder, shared by the library tests.

``FakeDrive`` has the interface the library uses of a tape drive;
``FakeStore`` keeps cartridge files as small text files named
``BARCODE.tape``. ``make_library`` builds a library over both.
"""

from __future__ import annotations

from pathlib import Path

from devemu.changer.device import MediumChanger
from devemu.changer.elements import ElementLayout
from devemu.changer.library import CartridgeInfo, Library
from devemu.scsi.command import Command, Result, answered
from devemu.scsi.identity import Identity


class FakeDrive:
    def __init__(self, serial: str) -> None:
        self.identity = Identity("IBM", "ULT3580-TD8", "0100", serial)
        self.loaded_path: Path | None = None
        self.ejected = False
        self.removal_prevented = False
        self.loads: list[Path] = []
        self.fail_next_load = False
        self.robot_unloads = 0

    def load(self, path: Path) -> None:
        if self.fail_next_load:
            self.fail_next_load = False
            raise OSError("load failed")
        assert self.loaded_path is None, "load into a loaded drive"
        self.loaded_path = path
        self.ejected = False
        self.loads.append(path)

    def unload(self) -> Path | None:
        path, self.loaded_path = self.loaded_path, None
        self.ejected = False
        return path

    def robot_unload(self) -> None:
        """What the drive's own UNLOAD does when the library moves its cartridge out."""
        assert not self.removal_prevented, "robot unload of a drive that prevents removal"
        if not self.ejected:
            self.robot_unloads += 1
        self.ejected = True

    def host_unload(self) -> None:
        """What START STOP UNIT with LOEJ=0 (mt offline) does."""
        self.ejected = True


class FakeStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.worm: set[str] = set()
        folder.mkdir(parents=True, exist_ok=True)

    def file_name(self, barcode: str) -> str:
        return f"{barcode}.tape"

    def path(self, file_name: str) -> Path:
        return self.folder / file_name

    def exists(self, file_name: str) -> bool:
        return self.path(file_name).exists()

    def create(self, barcode: str) -> str:
        name = self.file_name(barcode)
        self.path(name).write_text(barcode)
        return name

    def info(self, file_name: str) -> CartridgeInfo:
        barcode = self.path(file_name).read_text()
        return CartridgeInfo(barcode, "LTO-8", barcode in self.worm)


def make_library(
    tmp_path: Path,
    *,
    drives: int = 2,
    slots: int = 6,
    import_export: int = 2,
    barcodes: tuple[str, ...] = ("E01001L8", "E01002L8", "E01003L8"),
    fake_drives: list[FakeDrive] | None = None,
    auto_unload: bool = True,
) -> Library:
    drive_list = fake_drives or [FakeDrive(f"DRV{i:07d}") for i in range(1, drives + 1)]
    library = Library(
        "lib0",
        ElementLayout(drives=len(drive_list), slots=slots, import_export=import_export),
        FakeStore(tmp_path / "tapes"),
        drive_list,
        tmp_path / "state" / "lib0.json",
        auto_unload=auto_unload,
    )
    library.open(barcodes)
    return library


def make_changer(tmp_path: Path, **kwargs: object) -> MediumChanger:
    library = make_library(tmp_path, **kwargs)  # type: ignore[arg-type]
    changer = MediumChanger(Identity("DEVEMU", "VTL CHANGER", "0100", "LIB0SERIAL"), library)
    changer.unit_attentions.clear()
    return changer


def run(changer: MediumChanger, cdb: bytes, length: int = 4096) -> tuple[Result, bytes]:
    """Execute ``cdb``; return the result and the data-in bytes."""
    buf = bytearray(length)
    result = answered(changer.execute(Command(cdb, [memoryview(buf)])))
    n = result.data_in_length or 0
    return result, bytes(buf[:n])
