"""``[[library]]`` tables: a tape library with its changer and drives.

Schema (keys not listed are refused)::

    [[library]]
    name = "vtl0"                 # the changer's LIO backstore name (required)
    directory = "tapes"           # cartridge folder; relative: to the config file's folder
    slots = 20                    # storage elements (required, 1..64511)
    import_export = 2             # import/export elements (mail slots), default 0
    barcodes = ["E01001L8", ...]  # cartridges placed in the first slots on the first start,
    # or: barcode_prefix = "E01", count = 10, barcode_start = 1
    #     -> E01001L8 ... E01010L8 (6-character volume serial + LTO media id)
    media_type = "LTO-8"          # media of cartridges the library creates
    capacity = "8M"               # their capacity (default: the medium's native one);
                                  # small cartridges reach end of medium soon
    personality = "generic"       # or ibm-ts3500, ibm-ts4300, hp-msl, quantum-scalar-i,
                                  # stk-sl500: identity, INQUIRY, VPD, element addresses
    vendor = "DEVEMU"             # the changer's INQUIRY identity (optional), default:
    product = "VIRTUAL LIBRARY"   # the personality's
    revision = "0100"
    serial = "..."                # default: derived from the name, in the personality's format
    auto_unload = true            # MOVE MEDIUM out of a loaded drive unloads it first;
                                  # false: ILLEGAL REQUEST 0x53/0x01 until the host unloads

    [[library.drives]]            # one table per drive (at least one), in element order
    name = "vtl0-drive0"          # the drive's LIO backstore name (required)
    type = "LTO-8"                # drive generation, default LTO-8
    personality = "generic"       # or ibm-lto, hp-lto
    serial = "..."                # default: derived from the library and drive names
    vendor = "IBM"                # default: the personality's (generic: IBM ULT3580-TD<n>)
    product = "ULT3580-TD8"
    revision = "0100"

Personalities are the tables of :mod:`devemu.personality`; an explicit
``vendor``/``product``/``revision``/``serial`` overrides the personality's.

A configured barcode whose cartridge file (``BARCODE.tape``) is missing is
created blank. Barcodes are placed only once: a cartridge the operator
exported stays out of the library until it is imported again.

State: the inventory is ``<state_dir>/library/<name>.json``; each drive
keeps its own state under ``<state_dir>/tape/<drive name>/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from devemu.changer import door
from devemu.changer.cartridge_store import CartridgeDirectory
from devemu.changer.device import MediumChanger
from devemu.changer.elements import Element, ElementLayout, ElementType
from devemu.changer.inventory import load_state
from devemu.changer.library import Library, LibraryError
from devemu.config_table import (
    DevicePlan,
    TableReader,
    file_problem,
    folder_problem,
    reservation_problem,
)
from devemu.control_protocol import control_op
from devemu.errors import ConfigError, DevemuError
from devemu.personality import DRIVE_PERSONALITIES, LIBRARY_PERSONALITIES, DrivePersonality
from devemu.scsi.identity import Identity
from devemu.served import ServedDevice
from devemu.sizes import parse_size
from devemu.tape.cartridge_check import check_cartridge_folder
from devemu.tape.drive import TapeDrive
from devemu.tape.drive_state import reservation_file
from devemu.tape.faults import fault_op
from devemu.tape.media import VOLSER_LENGTH, drive_type, media_identifier, medium_type

LIBRARY_KEYS = (
    "name",
    "directory",
    "slots",
    "import_export",
    "barcodes",
    "barcode_prefix",
    "count",
    "barcode_start",
    "media_type",
    "drives",
    "vendor",
    "product",
    "revision",
    "serial",
    "personality",
    "auto_unload",
    "capacity",
)
DRIVE_KEYS = ("name", "type", "serial", "vendor", "product", "revision", "personality")

#: Barcodes double as file names: letters, digits, '-' and '_', up to 32 (SMC-3 volume tag).
BARCODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: TCMU wants a size for every backstore; changer and drives have no blocks of their own.
CHANGER_DEV_SIZE = 1 << 20

DriveFactory = Callable[[Identity, str, Path], TapeDrive]
T = TypeVar("T")


def _default_drive(identity: Identity, drive_type_name: str, state_dir: Path) -> TapeDrive:
    return TapeDrive(identity, drive_type=drive_type_name, state_dir=state_dir)


def _personality(r: TableReader, table: dict[str, T]) -> T:
    """The ``personality`` key's entry of ``table``; ``generic`` when absent."""
    name = r.string("personality", "generic")
    if name not in table:
        raise r.error("personality", f"unknown personality {name!r}: use one of {', '.join(table)}")
    return table[name]


def _capacity(r: TableReader) -> int | None:
    """The ``capacity`` key: bytes of each cartridge the library creates; None: native."""
    text = r.string("capacity", "", empty=True)
    if not text:
        return None
    try:
        capacity = parse_size(text)
    except ValueError as err:
        raise r.error("capacity", str(err)) from None
    if capacity <= 0:
        raise r.error("capacity", f"must be more than 0 bytes, not {text!r}")
    return capacity


def _barcodes(r: TableReader, media: str) -> list[str]:
    if "barcodes" in r.table:
        if "barcode_prefix" in r.table or "count" in r.table:
            raise r.error("barcodes", "give either barcodes or barcode_prefix + count")
        value = r.table["barcodes"]
        if not isinstance(value, list) or not all(isinstance(b, str) for b in value):
            raise r.error("barcodes", "must be a list of strings")
        barcodes: list[str] = value
    elif "barcode_prefix" in r.table or "count" in r.table:
        prefix = r.string("barcode_prefix")
        count = r.integer("count", None, 0, 0xFFFF)
        start = r.integer("barcode_start", 1, 0, 999_999)
        digits = VOLSER_LENGTH - len(prefix)
        if digits < 1:
            raise r.error("barcode_prefix", f"{prefix!r} leaves no room for a number")
        if start + count - 1 >= 10**digits:
            raise r.error("count", f"{count} barcodes from {start} need more than {digits} digits")
        suffix = media_identifier(medium_type(media))
        barcodes = [f"{prefix}{n:0{digits}d}{suffix}" for n in range(start, start + count)]
    else:
        barcodes = []
    seen: set[str] = set()
    for i, barcode in enumerate(barcodes):
        if not BARCODE_PATTERN.match(barcode):
            raise r.error(f"barcodes[{i}]", f"{barcode!r}: use 1-32 of A-Z, a-z, 0-9, '-', '_'")
        if barcode in seen:
            raise r.error(f"barcodes[{i}]", f"{barcode} is listed twice")
        seen.add(barcode)
    return barcodes


def _element_arg(layout: ElementLayout, value: Any) -> Element:
    """An ``export`` slot: an mtx slot number, or an element address like ``0x0300``."""
    element: Element | None = None
    if isinstance(value, str) and value.lower().startswith("0x"):
        try:
            element = layout.element(int(value, 16))
        except ValueError:
            element = None
    elif isinstance(value, int) and not isinstance(value, bool):
        element = layout.mtx_slot(value)
    elif isinstance(value, str) and value.isdigit():
        element = layout.mtx_slot(int(value))
    if element is None or element.type not in (ElementType.STORAGE, ElementType.IMPORT_EXPORT):
        last = layout.slots + layout.import_export
        raise LibraryError(f"no slot {value!r}: slots are 1 to {last} (mail slots last)")
    return element


def _mtx_number(layout: ElementLayout, element: Element) -> int:
    if element.type is ElementType.IMPORT_EXPORT:
        return layout.slots + element.number
    return element.number


def control_ops(changer: MediumChanger) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """The changer's control-socket operations: ``import``, ``export`` and ``fault``."""
    layout = changer.library.layout
    changer_name = changer.library.name

    @control_op(barcode=str)
    def do_import(args: dict[str, Any]) -> dict[str, Any]:
        barcode = args.get("barcode")
        if not isinstance(barcode, str) or not BARCODE_PATTERN.match(barcode):
            raise LibraryError(f"import needs a barcode, not {barcode!r}")
        element = changer.import_cartridge(barcode)
        return {
            "barcode": barcode,
            "element": element.name,
            "address": element.address,
            "slot": _mtx_number(layout, element),
        }

    @control_op(slot=(int, str))
    def do_export(args: dict[str, Any]) -> dict[str, Any]:
        element = _element_arg(layout, args.get("slot"))
        barcode = changer.export_cartridge(element)
        return {"barcode": barcode, "element": element.name, "address": element.address}

    return {"import": do_import, "export": do_export, "fault": door.fault_op(changer_name, changer)}


def check(
    table: dict[str, Any],
    *,
    path: Path,
    key: str,
    base_dir: Path,
    state_dir: Path,
    make_drive: DriveFactory = _default_drive,
) -> DevicePlan:
    """Check one ``[[library]]`` table, its folders and its saved inventory; create nothing."""
    r = TableReader(table, path=path, key=key, known=LIBRARY_KEYS)
    name = r.name()
    folder = r.file_path("directory", base_dir)
    media = r.string("media_type", "LTO-8")
    try:
        medium_type(media)
    except ValueError as err:
        raise r.error("media_type", str(err)) from None
    capacity = _capacity(r)
    personality = _personality(r, LIBRARY_PERSONALITIES)
    drives_table = table.get("drives")
    if not isinstance(drives_table, list) or not drives_table:
        raise r.error("drives", "needs at least one [[library.drives]] table")
    bases = personality.bases
    try:
        layout = ElementLayout(
            drives=len(drives_table),
            slots=r.integer("slots", None, 1, bases.room(ElementType.STORAGE)),
            import_export=r.integer("import_export", 0, 0, bases.room(ElementType.IMPORT_EXPORT)),
            bases=bases,
        )
    except ValueError as err:
        raise r.error("drives", str(err)) from None
    barcodes = _barcodes(r, media)
    auto_unload = r.boolean("auto_unload", True)
    changer_identity = r.identity(personality.identity(name))

    drive_specs: list[tuple[str, Identity, str, Path, DrivePersonality]] = []
    for i, entry in enumerate(drives_table):
        if not isinstance(entry, dict):
            raise r.error(f"drives[{i}]", "must be a table: [[library.drives]]")
        d = TableReader(entry, path=path, key=f"{key}.drives[{i}]", known=DRIVE_KEYS)
        drive_name = d.name()
        kind = d.string("type", "LTO-8")
        try:
            generation = drive_type(kind).generation
        except ValueError as err:
            raise d.error("type", str(err)) from None
        drive_personality = _personality(d, DRIVE_PERSONALITIES)
        identity = d.identity(drive_personality.identity(generation, name, drive_name))
        drive_state = state_dir / "tape" / drive_name
        problem = folder_problem(drive_state)
        if problem:
            raise d.error("name", f"cannot keep the drive's state: {problem}")
        problem = reservation_problem(reservation_file(drive_state, identity.serial))
        if problem:
            raise d.error("name", f"cannot keep the drive's reservation state: {problem}")
        drive_specs.append((drive_name, identity, kind, drive_state, drive_personality))

    store = CartridgeDirectory(folder, media, capacity)
    problem = folder_problem(folder)
    if problem:
        raise r.error("directory", problem)
    for barcode in barcodes:
        problem = file_problem(store.path(store.file_name(barcode)))
        if problem:
            raise r.error("directory", f"cartridge {barcode}: {problem}")
    bad = check_cartridge_folder(folder)
    if bad:
        raise r.error("directory", f"{len(bad)} bad cartridge(s): {'; '.join(bad)}")
    state_path = state_dir / "library" / f"{name}.json"
    try:
        problem = file_problem(state_path)
        saved = load_state(state_path) if problem is None else None
    except (DevemuError, OSError) as err:
        problem = str(err)
    if problem:
        raise ConfigError(path, key, f"cannot keep the inventory: {problem}")
    if saved is None and len(barcodes) > layout.slots:
        raise ConfigError(
            path,
            key,
            f"no free slot for cartridge {barcodes[layout.slots]}: "
            f"{len(barcodes)} cartridges, {layout.slots} slots",
        )

    def build() -> list[ServedDevice]:
        drives: list[TapeDrive] = []
        for i, (_drive_name, identity, kind, drive_state, persona) in enumerate(drive_specs):
            try:
                drive = make_drive(identity, kind, drive_state)
                drive.medium_types = persona.medium_types
                drives.append(drive)
            except (DevemuError, ValueError, OSError) as err:
                raise ConfigError(
                    path, f"{key}.drives[{i}].name", f"cannot make the drive: {err}"
                ) from err
        drive_names = [spec[0] for spec in drive_specs]
        library = Library(
            name,
            layout,
            store,
            drives,
            state_path,
            drive_names=drive_names,
            auto_unload=auto_unload,
            refusals=personality.refusals,
        )
        try:
            library.open(barcodes)
        except (DevemuError, ValueError, OSError) as err:
            raise ConfigError(path, key, f"cannot open library {name}: {err}") from err
        changer = MediumChanger(changer_identity, library)
        served = [
            ServedDevice(
                name=name,
                kind="changer",
                device=changer,
                size=CHANGER_DEV_SIZE,
                block_size=512,
                control=control_ops(changer),
                status=lambda: {**library.status(), "faults": door.listing(changer)},
                close=library.close,
                group=name,
            )
        ]

        def drives_changed() -> None:
            changer.set_drives_offline(any(d.faults.offline for d in drives))

        for drive_name, drive in zip(drive_names, drives, strict=True):
            served.append(drive_served(drive_name, drive, group=name, after=drives_changed))
        return served

    names = (name, *(spec[0] for spec in drive_specs))
    summary = (
        f"tape library, {len(drive_specs)} drive(s), {layout.slots} slots, "
        f"{changer_identity.vendor} {changer_identity.product}, "
        f"{len(barcodes)} configured cartridge(s) in {folder}"
    )
    return DevicePlan(names, summary, build)


def from_config(
    table: dict[str, Any],
    *,
    path: Path,
    key: str,
    base_dir: Path,
    state_dir: Path,
    make_drive: DriveFactory = _default_drive,
) -> list[ServedDevice]:
    """The changer and the drives of one ``[[library]]`` table: :func:`check`, then build."""
    plan = check(
        table, path=path, key=key, base_dir=base_dir, state_dir=state_dir, make_drive=make_drive
    )
    return plan.build()


def drive_served(
    name: str, drive: TapeDrive, *, group: str = "", after: Callable[[], None] | None = None
) -> ServedDevice:
    """A tape drive of the library as a served device (replay policy: the drive's).

    ``after`` runs after each of the drive's ``fault`` requests (the library's
    TapeAlert follows its drives being offline: :mod:`devemu.changer.tapealert`).
    """
    return ServedDevice(
        name=name,
        kind="tape",
        device=drive,
        size=CHANGER_DEV_SIZE,
        block_size=512,
        control={"fault": fault_op(name, drive, after=after)},
        status=drive.status,
        close=drive.close,
        group=group,
    )
