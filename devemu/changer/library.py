"""The virtual tape library: elements, inventory, drives and the operator.

Theory of operation
-------------------
A library is an :class:`~devemu.changer.elements.ElementLayout` (one robot
hand, drives, mail slots, storage slots), a folder of cartridge files
named after their barcodes, the tape drives that serve as its data
transfer elements, and an inventory: which cartridge is in which element
and where it came from. The inventory is the one source of truth; the
drives follow it.

Moves (SMC-3 6.6 MOVE MEDIUM, 6.3 EXCHANGE MEDIUM) are checked before
anything changes, in this order: element addresses, source full,
destination empty, drive readiness. A drive still holding its cartridge
loaded is unloaded by the library itself, as modern libraries do
(``auto_unload``, the default): the drive does what its own LOAD UNLOAD
with LOAD=0 does (SSC-5 7.3: buffered writes made durable, the tape
rewound, the load's totals written to the MAM) before the robot takes the
cartridge. A drive whose host prevents medium removal (PREVENT ALLOW
MEDIUM REMOVAL to the drive, SPC-5 6.15) refuses with MEDIUM REMOVAL
PREVENTED (ILLEGAL REQUEST 0x53/0x02, SMC-3 6.6). With ``auto_unload``
off, a drive gives its cartridge up only once the host has unloaded it
(``drive.ejected``); until then it refuses with UNLOAD TAPE FAILURE
(ILLEGAL REQUEST 0x53/0x01), for testing software against libraries that
need the explicit offline. A product personality may answer either
refusal with its own code (:mod:`devemu.changer.refusals`).
Then the drives are driven (``unload`` of a source drive, ``load`` into
a destination drive, which the drive reports to its host as a new
medium), and last the inventory is written (see :mod:`.inventory`).
A crash before the write leaves the old inventory, which the next start
re-imposes on the drives; the host got no GOOD status for the move and
the daemon does not replay it, so host and library agree again.

Starting (:meth:`Library.open`) reconciles: every cartridge recorded in a
drive is loaded back into it, a drive holding anything else is unloaded,
entries whose cartridge file has vanished are dropped, and configured
barcodes that are neither in the library nor exported by the operator
are created (when their file is missing) and put into free slots.

The operator imports a cartridge file into a free import/export element
(or a free slot when the library has none) and exports a cartridge from
a slot or import/export element, which takes it out of the library; both
are refused while the host prevents medium removal (SMC-3 6.13), and the
changer reports them to the host as IMPORT OR EXPORT ELEMENT ACCESSED.

Threads: none. SCSI commands and control requests (the operator's
import, export and status) all run on the daemon's event loop thread,
one after the other, so the library needs no lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devemu.changer.element_status import ElementState, MediumType
from devemu.changer.elements import Element, ElementLayout, ElementType
from devemu.changer.inventory import InventoryState, Occupant, load_state, save_state
from devemu.changer.refusals import STANDARD_REFUSALS, Refusals
from devemu.errors import DevemuError
from devemu.scsi.identity import Identity
from devemu.scsi.sense import (
    INVALID_ELEMENT_ADDRESS,
    MEDIUM_DESTINATION_ELEMENT_FULL,
    MEDIUM_LOAD_OR_EJECT_FAILED,
    MEDIUM_SOURCE_ELEMENT_EMPTY,
    SenseCode,
)
from devemu.tape.media import CLEANING

log = logging.getLogger(__name__)


class TapeDriveLike(Protocol):
    """What the library needs of a tape drive (a data transfer element)."""

    identity: Identity

    def load(self, path: Path) -> None: ...

    def unload(self) -> Path | None: ...

    def robot_unload(self) -> None:
        """Unload a loaded cartridge as the drive's LOAD UNLOAD with LOAD=0 would."""
        ...

    @property
    def loaded_path(self) -> Path | None: ...

    @property
    def ejected(self) -> bool: ...

    @property
    def removal_prevented(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class CartridgeInfo:
    """What the library reports of a cartridge file."""

    barcode: str
    media_type: str
    worm: bool = False


class CartridgeStore(Protocol):
    """The folder of cartridge files, one per barcode."""

    def file_name(self, barcode: str) -> str:
        """The file name (no folder) a cartridge with ``barcode`` has."""
        ...

    def path(self, file_name: str) -> Path: ...

    def exists(self, file_name: str) -> bool: ...

    def create(self, barcode: str) -> str:
        """Create a blank cartridge; return its file name."""
        ...

    def info(self, file_name: str) -> CartridgeInfo: ...


class LibraryError(DevemuError):
    """An operator request the library refuses; the message says why."""


class MoveError(Exception):
    """A move the library refuses, with the sense code and the CDB field at fault.

    ``role`` names the address at fault: ``"transport"``, ``"source"``,
    ``"destination"`` or ``"second"`` (EXCHANGE MEDIUM's second
    destination), or None when no single field is to blame.
    """

    def __init__(self, code: SenseCode, role: str | None = None) -> None:
        super().__init__(f"{code} ({role})")
        self.code = code
        self.role = role


class Library:
    """One tape library: see the module documentation."""

    def __init__(
        self,
        name: str,
        layout: ElementLayout,
        store: CartridgeStore,
        drives: Sequence[TapeDriveLike],
        state_path: Path,
        *,
        drive_names: Sequence[str] = (),
        auto_unload: bool = True,
        refusals: Refusals = STANDARD_REFUSALS,
    ) -> None:
        if len(drives) != layout.drives:
            raise ValueError(f"{layout.drives} data transfer elements but {len(drives)} drives")
        self.name = name
        self.layout = layout
        self.store = store
        self.drives = list(drives)
        self.drive_names = list(drive_names) or [f"drive{i + 1}" for i in range(len(drives))]
        self.state_path = state_path
        #: A move out of a loaded drive unloads it first (else 0x53/0x01 until the host did).
        self.auto_unload = auto_unload
        #: The sense codes of the product's refusals (:mod:`devemu.changer.refusals`).
        self.refusals = refusals
        self.state = InventoryState()
        #: PREVENT MEDIUM REMOVAL from the host: the mail slots stay locked.
        self.locked = False
        self._info_cache: dict[str, CartridgeInfo] = {}
        width = max(10, *(len(d.identity.serial) for d in self.drives))
        #: Length of the DVCID device identifier: vendor, product, padded serial.
        self.identifier_length = 8 + 16 + width

    # --- start -----------------------------------------------------------------------

    def open(self, barcodes: Sequence[str] = ()) -> None:
        """Load the saved inventory, reconcile it with files and drives, place new barcodes."""
        saved = load_state(self.state_path)
        self.state = saved if saved is not None else InventoryState()
        self._drop_misplaced()
        self._drop_missing_files()
        self._place_configured(barcodes)
        self._reconcile_drives()
        self.save()

    def _drop_misplaced(self) -> None:
        for address in list(self.state.occupants):
            element = self.layout.element(address)
            if element is None or element.type is ElementType.MEDIUM_TRANSPORT:
                occupant = self.state.occupants.pop(address)
                free = self._first_free(ElementType.STORAGE)
                if free is None:
                    log.warning(
                        "%s: no element 0x%04x any more and no free slot for %s; it leaves",
                        self.name,
                        address,
                        occupant.barcode,
                    )
                    self.state.exported.add(occupant.barcode)
                    continue
                log.warning(
                    "%s: no element 0x%04x any more; %s goes to %s",
                    self.name,
                    address,
                    occupant.barcode,
                    free.name,
                )
                self.state.occupants[free.address] = Occupant(occupant.barcode, occupant.file)

    def _drop_missing_files(self) -> None:
        for address, occupant in list(self.state.occupants.items()):
            if not self.store.exists(occupant.file):
                log.warning(
                    "%s: cartridge file %s of %s is gone; element 0x%04x is now empty",
                    self.name,
                    self.store.path(occupant.file),
                    occupant.barcode,
                    address,
                )
                del self.state.occupants[address]

    def _place_configured(self, barcodes: Sequence[str]) -> None:
        present = {o.barcode for o in self.state.occupants.values()}
        for barcode in barcodes:
            if barcode in present or barcode in self.state.exported:
                continue
            slot = self._first_free(ElementType.STORAGE)
            if slot is None:
                raise LibraryError(
                    f"{self.name}: no free slot for cartridge {barcode} ({self.layout.slots} slots)"
                )
            file_name = self.store.file_name(barcode)
            if not self.store.exists(file_name):
                file_name = self.store.create(barcode)
            self.state.occupants[slot.address] = Occupant(barcode, file_name)
            present.add(barcode)

    def _reconcile_drives(self) -> None:
        for element, drive in zip(self._drive_elements(), self.drives, strict=True):
            occupant = self.state.occupants.get(element.address)
            want = self.store.path(occupant.file) if occupant is not None else None
            have = drive.loaded_path
            if have is not None and want is not None and Path(have) == want:
                continue
            if have is not None:
                drive.unload()
            if want is not None:
                try:
                    drive.load(want)
                except Exception as err:
                    raise LibraryError(
                        f"{self.name}: cannot load {want} back into {element.name}: {err}"
                    ) from err

    # --- queries ---------------------------------------------------------------------

    def _drive_elements(self) -> list[Element]:
        return list(self.layout.range_of(ElementType.DATA_TRANSFER))

    def drive_at(self, element: Element) -> TapeDriveLike:
        return self.drives[element.number - 1]

    def _first_free(self, type_: ElementType) -> Element | None:
        for element in self.layout.range_of(type_):
            if element.address not in self.state.occupants:
                return element
        return None

    def occupant(self, address: int) -> Occupant | None:
        return self.state.occupants.get(address)

    def info(self, occupant: Occupant) -> CartridgeInfo:
        cached = self._info_cache.get(occupant.file)
        if cached is None:
            try:
                cached = self.store.info(occupant.file)
            except Exception:
                log.exception("%s: cannot read %s", self.name, occupant.file)
                cached = CartridgeInfo(occupant.barcode, "unknown")
            self._info_cache[occupant.file] = cached
        return cached

    def device_identifier(self, drive: TapeDriveLike) -> bytes:
        """DVCID identifier: T10 vendor, product and serial of ``drive`` (SPC-5 7.7.6.4)."""
        ident = drive.identity
        width = self.identifier_length - 24
        return ident.vendor_bytes() + ident.product_bytes() + ident.serial.encode().ljust(width)

    def element_states(self) -> list[ElementState]:
        """Every element's state for READ ELEMENT STATUS, ascending addresses."""
        states = []
        for element in self.layout:
            occupant = self.state.occupants.get(element.address)
            access = True
            identifier = b""
            if element.type is ElementType.DATA_TRANSFER:
                drive = self.drive_at(element)
                identifier = self.device_identifier(drive)
                access = occupant is None or drive.ejected
            if occupant is None:
                states.append(ElementState(element, access=access, identifier=identifier))
                continue
            medium = _element_medium_type(self.info(occupant))
            states.append(
                ElementState(
                    element,
                    barcode=occupant.barcode,
                    source=occupant.source,
                    medium_type=medium,
                    access=access,
                    operator_placed=occupant.operator_placed,
                    identifier=identifier,
                )
            )
        return states

    def status(self) -> dict[str, Any]:
        """The elements table for ``devemu library status``."""
        rows = []
        for element in self.layout:
            if element.type is ElementType.MEDIUM_TRANSPORT:
                continue
            occupant = self.state.occupants.get(element.address)
            row: dict[str, Any] = {
                "address": element.address,
                "type": element.type.label,
                "number": element.number,
                "barcode": occupant.barcode if occupant else None,
                "source": occupant.source if occupant else None,
            }
            if element.type is ElementType.DATA_TRANSFER:
                drive = self.drive_at(element)
                row["device"] = self.drive_names[element.number - 1]
                row["serial"] = drive.identity.serial
                row["ejected"] = bool(occupant) and drive.ejected
            if occupant is not None:
                row["media_type"] = self.info(occupant).media_type
            rows.append(row)
        return {
            "library": self.name,
            "locked": self.locked,
            "elements": rows,
            "exported": sorted(self.state.exported),
        }

    # --- moves -----------------------------------------------------------------------

    def element(self, address: int, role: str) -> Element:
        """The element at ``address`` that can hold media, else INVALID ELEMENT ADDRESS."""
        element = self.layout.element(address)
        if element is None or element.type is ElementType.MEDIUM_TRANSPORT:
            raise MoveError(INVALID_ELEMENT_ADDRESS, role)
        return element

    def check_transport(self, address: int) -> None:
        """Address 0 names the default transport (SMC-3 6.6); else it must be ours."""
        if address == 0:
            return
        element = self.layout.element(address)
        if element is None or element.type is not ElementType.MEDIUM_TRANSPORT:
            raise MoveError(INVALID_ELEMENT_ADDRESS, "transport")

    def _check_release(self, element: Element, role: str) -> None:
        """May the robot take the cartridge out of a drive (SMC-3 6.6, 6.3)?

        An empty or ejected drive gives it up. A loaded one refuses with
        MEDIUM REMOVAL PREVENTED while its host prevents removal; else
        it is unloaded by the move itself (``auto_unload``) or refuses
        with UNLOAD TAPE FAILURE until its host unloads it.
        """
        if element.type is not ElementType.DATA_TRANSFER:
            return
        drive = self.drive_at(element)
        if drive.loaded_path is None or drive.ejected:
            return
        if drive.removal_prevented:
            raise MoveError(self.refusals.drive_prevented, role)
        if not self.auto_unload:
            raise MoveError(self.refusals.drive_not_unloaded, role)

    def _check_accept(self, element: Element, role: str) -> None:
        """A destination drive must be empty in the inventory and in fact."""
        if element.type is ElementType.DATA_TRANSFER and self.drive_at(element).loaded_path:
            raise MoveError(MEDIUM_DESTINATION_ELEMENT_FULL, role)

    def _source_after(self, src: Element, dst: Element, occupant: Occupant) -> int:
        """The source address a moved cartridge reports (SMC-3 6.11.4).

        The element it was moved from; a move from drive to drive keeps the
        slot it came from, so ``mtx unload`` still knows where it belongs.
        """
        if (
            src.type is ElementType.DATA_TRANSFER
            and dst.type is ElementType.DATA_TRANSFER
            and occupant.source is not None
        ):
            return occupant.source
        return src.address

    def move(self, source: int, destination: int) -> None:
        """MOVE MEDIUM from ``source`` to ``destination`` (SMC-3 6.6)."""
        src = self.element(source, "source")
        dst = self.element(destination, "destination")
        occupants = self.state.occupants
        occupant = occupants.get(src.address)
        if occupant is None:
            raise MoveError(MEDIUM_SOURCE_ELEMENT_EMPTY, "source")
        if dst.address in occupants:
            raise MoveError(MEDIUM_DESTINATION_ELEMENT_FULL, "destination")
        self._check_release(src, "source")
        self._check_accept(dst, "destination")
        moved = Occupant(occupant.barcode, occupant.file, self._source_after(src, dst, occupant))
        self._run_drives(
            unloads=[src],
            loads=[(dst, occupant)],
            undo_loads=[(src, occupant)],
        )
        del occupants[src.address]
        occupants[dst.address] = moved
        self.save()

    def exchange(self, source: int, first: int, second: int) -> None:
        """EXCHANGE MEDIUM (SMC-3 6.3): source to first, first's medium to second."""
        src = self.element(source, "source")
        dst1 = self.element(first, "destination")
        dst2 = self.element(second, "second")
        occupants = self.state.occupants
        a = occupants.get(src.address)
        b = occupants.get(dst1.address)
        if a is None:
            raise MoveError(MEDIUM_SOURCE_ELEMENT_EMPTY, "source")
        if b is None or dst1.address == src.address:
            raise MoveError(MEDIUM_SOURCE_ELEMENT_EMPTY, "destination")
        if dst2.address != src.address and dst2.address in occupants:
            raise MoveError(MEDIUM_DESTINATION_ELEMENT_FULL, "second")
        if dst2.address == dst1.address:
            raise MoveError(MEDIUM_DESTINATION_ELEMENT_FULL, "second")
        self._check_release(src, "source")
        self._check_release(dst1, "destination")
        if dst2.address != src.address:
            self._check_accept(dst2, "second")
        new_a = Occupant(a.barcode, a.file, self._source_after(src, dst1, a))
        new_b = Occupant(b.barcode, b.file, self._source_after(dst1, dst2, b))
        self._run_drives(
            unloads=[src, dst1],
            loads=[(dst1, a), (dst2, b)],
            undo_loads=[(src, a), (dst1, b)],
        )
        del occupants[src.address]
        del occupants[dst1.address]
        occupants[dst1.address] = new_a
        occupants[dst2.address] = new_b
        self.save()

    def _run_drives(
        self,
        *,
        unloads: Sequence[Element],
        loads: Sequence[tuple[Element, Occupant]],
        undo_loads: Sequence[tuple[Element, Occupant]],
    ) -> None:
        """Unload source drives, load destination drives; on failure put back what was."""
        unloaded = []
        for element in unloads:
            if element.type is ElementType.DATA_TRANSFER:
                drive = self.drive_at(element)
                if drive.loaded_path is not None:
                    drive.robot_unload()
                    drive.unload()
                    unloaded.append(element)
        done: list[Element] = []
        try:
            for element, occupant in loads:
                if element.type is ElementType.DATA_TRANSFER:
                    self.drive_at(element).load(self.store.path(occupant.file))
                    done.append(element)
        except Exception:
            log.exception("%s: loading a drive failed; putting cartridges back", self.name)
            for element in done:
                self.drive_at(element).unload()
            for element, occupant in undo_loads:
                if element in unloaded:
                    try:
                        self.drive_at(element).load(self.store.path(occupant.file))
                    except Exception:
                        log.exception("%s: cannot put %s back", self.name, occupant.barcode)
            raise MoveError(MEDIUM_LOAD_OR_EJECT_FAILED) from None

    # --- INITIALIZE ELEMENT STATUS ------------------------------------------------------

    def rescan(self, first: int = 0, count: int | None = None) -> None:
        """Check elements (all, or ``count`` from address ``first``) against the files.

        SMC-3 6.4/6.5: a cartridge whose file has vanished leaves its
        element empty. Drives are not touched: a loaded tape stays loaded.
        """
        changed = False
        seen = 0
        for element in self.layout:
            if element.address < first or (count is not None and seen >= count):
                continue
            seen += 1
            occupant = self.state.occupants.get(element.address)
            if occupant is None or element.type is ElementType.DATA_TRANSFER:
                continue
            if not self.store.exists(occupant.file):
                log.warning("%s: %s is gone; %s is empty", self.name, occupant.file, element.name)
                del self.state.occupants[element.address]
                changed = True
        if changed:
            self.save()

    # --- the operator -------------------------------------------------------------------

    def operator_import(self, barcode: str) -> Element:
        """Put cartridge ``barcode`` (its file must be in the folder) into a mail slot."""
        self._check_unlocked("import")
        for address, occupant in self.state.occupants.items():
            if occupant.barcode == barcode:
                element = self.layout.element(address)
                where = element.name if element else f"0x{address:04x}"
                raise LibraryError(f"{self.name}: {barcode} is already in {where}")
        file_name = self.store.file_name(barcode)
        if not self.store.exists(file_name):
            raise LibraryError(
                f"{self.name}: no cartridge file {self.store.path(file_name)} to import"
            )
        target = self._first_free(ElementType.IMPORT_EXPORT)
        if target is None and self.layout.import_export == 0:
            target = self._first_free(ElementType.STORAGE)
        if target is None:
            raise LibraryError(f"{self.name}: no free import/export element for {barcode}")
        self.state.occupants[target.address] = Occupant(
            barcode, file_name, None, operator_placed=True
        )
        self.state.exported.discard(barcode)
        self._info_cache.pop(file_name, None)
        self.save()
        return target

    def operator_export(self, element: Element) -> str:
        """Take the cartridge in ``element`` (a slot or mail slot) out of the library."""
        self._check_unlocked("export")
        if element.type not in (ElementType.STORAGE, ElementType.IMPORT_EXPORT):
            raise LibraryError(
                f"{self.name}: only slots and mail slots can be exported, not {element.name}"
            )
        occupant = self.state.occupants.get(element.address)
        if occupant is None:
            raise LibraryError(f"{self.name}: {element.name} is empty")
        del self.state.occupants[element.address]
        self.state.exported.add(occupant.barcode)
        self.save()
        return occupant.barcode

    def _check_unlocked(self, what: str) -> None:
        if self.locked:
            raise LibraryError(
                f"{self.name}: cannot {what}: the host prevents medium removal"
                " (PREVENT ALLOW MEDIUM REMOVAL)"
            )

    # --- persistence ------------------------------------------------------------------

    def save(self) -> None:
        """Write the inventory (atomically, see :mod:`.inventory`)."""
        save_state(self.state_path, self.state)

    def close(self) -> None:
        self.save()


def _element_medium_type(info: CartridgeInfo) -> int:
    """READ ELEMENT STATUS's MEDIUM TYPE (SMC-3 6.11.4): cleaning, WORM or data."""
    if info.media_type == CLEANING.name:
        return MediumType.CLEANING
    return MediumType.WORM if info.worm else MediumType.DATA
