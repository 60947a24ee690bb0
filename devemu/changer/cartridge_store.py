"""The library's cartridge folder: one cartridge file per barcode.

A cartridge with barcode ``E01001L8`` is the file ``E01001L8.tape`` in the
folder the ``[[library]]`` table names (:mod:`devemu.tape.cartridge`
defines what is inside). The library creates blank cartridges for the
barcodes its configuration lists, and the operator imports a cartridge by
dropping its file into the folder and naming its barcode.
"""

from __future__ import annotations

from pathlib import Path

from devemu.changer.library import CartridgeInfo
from devemu.tape.cartridge import Cartridge
from devemu.tape.cartridge_check import CARTRIDGE_SUFFIX
from devemu.tape.media import CLEANING, is_cleaning_label

#: File name suffix of a cartridge file.


class CartridgeDirectory:
    """A folder of cartridge files; new ones get ``media_type``."""

    def __init__(self, folder: Path, media_type: str = "LTO-8") -> None:
        self.folder = folder
        self.media_type = media_type

    def file_name(self, barcode: str) -> str:
        return f"{barcode}{CARTRIDGE_SUFFIX}"

    def path(self, file_name: str) -> Path:
        return self.folder / file_name

    def exists(self, file_name: str) -> bool:
        return self.path(file_name).is_file()

    def create(self, barcode: str) -> str:
        """A blank cartridge of the folder's media type (SSC-5: unformatted, empty).

        A cleaning cartridge label (``CLN...``) makes a cleaning cartridge.
        """
        name = self.file_name(barcode)
        self.folder.mkdir(parents=True, exist_ok=True)
        media = CLEANING.name if is_cleaning_label(barcode) else self.media_type
        Cartridge.create(self.path(name), barcode, media).close()
        return name

    def info(self, file_name: str) -> CartridgeInfo:
        """Barcode, media type and WORM flag from the cartridge's header."""
        with Cartridge.open(self.path(file_name), read_only=True) as cart:
            return CartridgeInfo(cart.barcode, cart.media_type, cart.worm)
