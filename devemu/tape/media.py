"""LTO generations: media, densities and what each drive reads and writes.

The density codes are those LTO drives report in the block descriptor
(SSC-5 8.3.2) and in REPORT DENSITY SUPPORT (SSC-5 6.6): LTO-3 0x44,
LTO-4 0x46, LTO-5 0x58, LTO-6 0x5A, LTO-7 0x5C, LTO-7 Type M (an LTO-7
cartridge formatted by an LTO-8 drive) 0x5D, LTO-8 0x5E and LTO-9 0x60.
Capacities are native (uncompressed) and in decimal bytes, as the LTO
program states them.

The compatibility rules are the LTO program's: up to LTO-7 a drive reads
its own generation and the two before and writes its own and the one
before; an LTO-8 drive reads and writes LTO-7 and LTO-8 (and Type M);
an LTO-9 drive reads and writes LTO-8 and LTO-9.

A cleaning cartridge (:data:`CLEANING`, labels ``CLNnnnCU``) holds no
data: a drive it is loaded into is cleaned and ejects it
(:meth:`devemu.tape.drive.TapeDrive.load`), :data:`CLEANING_USES` times.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

GB = 1000**3
TB = 1000**4


@dataclass(frozen=True, slots=True)
class MediumType:
    """One kind of cartridge, as REPORT DENSITY SUPPORT and the MAM describe it."""

    name: str
    generation: int
    density_code: int
    capacity: int
    density_name: str
    description: str
    tracks: int
    bits_per_mm: int
    length_m: int
    mam_capacity: int
    max_partitions: int
    #: Medium width in tenths of a millimetre: half-inch tape for every LTO.
    width: int = 127
    assigning_organization: str = "LTO-CVE"
    #: A cleaning cartridge: no data, it cleans the drive it is loaded into.
    cleaning: bool = False


MEDIA: dict[str, MediumType] = {
    m.name: m
    for m in (
        MediumType("LTO-3", 3, 0x44, 400 * GB, "U-316", "Ultrium 3/16T", 704, 9638, 680, 4096, 1),
        MediumType("LTO-4", 4, 0x46, 800 * GB, "U-416", "Ultrium 4/16T", 896, 13250, 820, 8192, 1),
        MediumType(
            "LTO-5", 5, 0x58, 1500 * GB, "U-516", "Ultrium 5/16T", 1280, 15142, 846, 8192, 2
        ),
        MediumType(
            "LTO-6", 6, 0x5A, 2500 * GB, "U-616", "Ultrium 6/16T", 2176, 15142, 846, 16384, 4
        ),
        MediumType("LTO-7", 7, 0x5C, 6 * TB, "U-716", "Ultrium 7/32T", 3584, 19107, 960, 16384, 4),
        MediumType(
            "LTO-7M8", 7, 0x5D, 9 * TB, "U-7M8", "Ultrium 7 Type M/32T", 6656, 20669, 960, 16384, 4
        ),
        MediumType("LTO-8", 8, 0x5E, 12 * TB, "U-832", "Ultrium 8/32T", 6656, 20669, 960, 16384, 4),
        MediumType(
            "LTO-9", 9, 0x60, 18 * TB, "U-932", "Ultrium 9/32T", 8960, 23830, 1035, 32768, 4
        ),
    )
}

#: The LTO Ultrium universal cleaning cartridge (bar code label ``CLNnnnCU``): no
#: density, no data capacity; any LTO drive is cleaned by it.
CLEANING = MediumType(
    "CLN",
    0,
    0x00,
    0,
    "CLEAN",
    "Ultrium universal cleaning cartridge",
    0,
    0,
    0,
    4096,
    1,
    cleaning=True,
)
MEDIA[CLEANING.name] = CLEANING
#: A cleaning cartridge's volume serial begins with these letters (IBM's LTO bar code
#: label specification; libraries recognise cleaning cartridges by them).
CLEANING_LABEL_PREFIX = "CLN"
#: The cleanings a universal cleaning cartridge gives before it has expired (IBM's
#: LTO cleaning cartridge: 50 uses).
CLEANING_USES = 50


def is_cleaning_label(barcode: str) -> bool:
    """Is ``barcode`` the label of a cleaning cartridge (volume serial ``CLN...``)?"""
    return barcode.upper().startswith(CLEANING_LABEL_PREFIX)


@dataclass(frozen=True, slots=True)
class DriveType:
    """A drive personality: which media it reads and which it writes."""

    name: str
    generation: int
    reads: frozenset[str]
    writes: frozenset[str]
    #: The medium a FORMAT MEDIUM or a blank write produces by default.
    native: str

    def can_read(self, medium: MediumType) -> bool:
        return medium.name in self.reads

    def can_write(self, medium: MediumType) -> bool:
        return medium.name in self.writes

    @property
    def densities(self) -> list[MediumType]:
        """Every medium the drive reads, newest first (REPORT DENSITY SUPPORT order)."""
        return sorted((MEDIA[n] for n in self.reads), key=lambda m: -m.density_code)


def _drive(gen: int, reads: tuple[str, ...], writes: tuple[str, ...]) -> DriveType:
    return DriveType(f"LTO-{gen}", gen, frozenset(reads), frozenset(writes), f"LTO-{gen}")


DRIVES: dict[str, DriveType] = {
    d.name: d
    for d in (
        _drive(5, ("LTO-3", "LTO-4", "LTO-5"), ("LTO-4", "LTO-5")),
        _drive(6, ("LTO-4", "LTO-5", "LTO-6"), ("LTO-5", "LTO-6")),
        _drive(7, ("LTO-5", "LTO-6", "LTO-7"), ("LTO-6", "LTO-7")),
        _drive(8, ("LTO-7", "LTO-7M8", "LTO-8"), ("LTO-7", "LTO-7M8", "LTO-8")),
        _drive(9, ("LTO-8", "LTO-9"), ("LTO-8", "LTO-9")),
    )
}


class MediumTypeCodes(Enum):
    """How a drive product fills the MEDIUM TYPE of the mode parameter header.

    SSC-5 8.3.2 leaves the field's values to the vendor; what LTO drives
    put there is what LTFS's backends read from it (``sg_tape.c``,
    ``sg_load``): IBM drives the cartridge type, the generation in the
    high nibble and 8h for data or Ch for WORM (58h an LTO-5 data
    cartridge, 8Ch an LTO-8 WORM one; an LTO-7 Type M cartridge is 78h);
    HP drives 01h for a WORM cartridge and 00h otherwise.
    """

    IBM = "ibm"
    HP = "hp"


def medium_type_code(codes: MediumTypeCodes, medium: MediumType, worm: bool) -> int:
    """The MEDIUM TYPE a drive of ``codes`` reports for a cartridge (see MediumTypeCodes)."""
    if codes is MediumTypeCodes.HP:
        return 0x01 if worm else 0x00
    return (medium.generation << 4) | (0x0C if worm else 0x08)


def medium_type(name: str) -> MediumType:
    """The medium called ``name`` (``"LTO-8"``); ValueError names the choices."""
    try:
        return MEDIA[name.upper()]
    except KeyError:
        raise ValueError(f"unknown media type {name!r}; choose from {', '.join(MEDIA)}") from None


def drive_type(name: str) -> DriveType:
    """The drive personality called ``name``; ValueError names the choices."""
    try:
        return DRIVES[name.upper()]
    except KeyError:
        raise ValueError(f"unknown drive type {name!r}; choose from {', '.join(DRIVES)}") from None


#: The WORM media identifier letter of each LTO generation (L3 WORM is "LT").
_WORM_LETTERS = {3: "T", 4: "U", 5: "V", 6: "W", 7: "X", 8: "Y", 9: "Z"}
#: Characters of the six-character volume serial of an LTO bar code label.
VOLSER_LENGTH = 6
_VOLSER_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def media_identifier(medium: MediumType, worm: bool = False) -> str:
    """The two-character media identifier ending an LTO bar code label.

    ``L`` and the generation (``L8``), ``M8`` for LTO-7 Type M, ``CU``
    for the universal cleaning cartridge, and for WORM cartridges ``L``
    and a letter from ``T`` (LTO-3) to ``Z`` (LTO-9), as IBM's LTO bar
    code label specification lists them.
    ValueError for a WORM Type M cartridge, which does not exist.
    """
    if medium.cleaning:
        if worm:
            raise ValueError("there is no WORM cleaning cartridge")
        return "CU"
    if medium.name == "LTO-7M8":
        if worm:
            raise ValueError("there is no WORM LTO-7 Type M cartridge")
        return "M8"
    if worm:
        return f"L{_WORM_LETTERS[medium.generation]}"
    return f"L{medium.generation}"


def check_volume_label(barcode: str, medium: MediumType, worm: bool = False) -> str:
    """``barcode`` if it is an LTO bar code label for ``medium``; ValueError says why not.

    A label is eight uppercase alphanumeric characters: a six-character
    volume serial (A-Z, 0-9) and the media identifier of the cartridge
    (:func:`media_identifier`), e.g. ``E01001L8``.
    """
    suffix = media_identifier(medium, worm)
    kind = f"{'WORM ' if worm else ''}{medium.name}"
    example = f"{'CLN001' if medium.cleaning else 'E01001'}{suffix}"
    bad = next((c for c in barcode if c.upper() not in _VOLSER_CHARACTERS), None)
    if bad is not None:
        raise ValueError(f"barcode {barcode!r}: {bad!r} is not allowed; use A-Z and 0-9")
    if barcode != barcode.upper():
        raise ValueError(
            f"barcode {barcode!r} has lowercase letters; LTO labels are uppercase: "
            f"{barcode.upper()!r}"
        )
    if len(barcode) != VOLSER_LENGTH + 2:
        raise ValueError(
            f"barcode {barcode!r} has {len(barcode)} characters, not 8: six for the volume "
            f"serial and the media identifier {suffix}, e.g. {example}"
        )
    if barcode[VOLSER_LENGTH:] != suffix:
        raise ValueError(
            f"barcode {barcode!r} ends in {barcode[VOLSER_LENGTH:]}, but the media "
            f"identifier of {kind} is {suffix} (--type, --worm), e.g. {example}"
        )
    if medium.cleaning != is_cleaning_label(barcode):
        raise ValueError(
            f"barcode {barcode!r}: the volume serial of a cleaning cartridge, and only of one, "
            f"begins with {CLEANING_LABEL_PREFIX}, e.g. CLN001CU"
        )
    return barcode
