"""How a rewritable DVD or BD is formatted: the fact ``state.json`` keeps for it.

A DVD+RW, DVD-RW or BD-RE is written at random once a FORMAT UNIT (MMC-6
6.4) has laid out its user data area. :class:`FormatState` is what the
drive remembers of that format: how many blocks from LBA 0 are formatted,
the format type that made them (MMC-6 table 52) and, for a BD-RE, whether
spare areas were kept for defect management (format types 00h and 30h; none
with 31h). An unformatted disc has no format state. The MMC logic that
reads it lives in :mod:`devemu.cdrom.overwrite` and
:mod:`devemu.cdrom.format_unit`; :mod:`devemu.cdrom.recording` only stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FormatState:
    """A formatted user data area: LBAs 0 to ``blocks - 1``."""

    blocks: int
    format_type: int
    #: BD-RE with spare areas (defect management on, MMC-6 4.8.3.3).
    spare: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"blocks": self.blocks, "format_type": self.format_type, "spare": self.spare}

    @classmethod
    def from_json(cls, data: Any) -> FormatState:
        """The state of a ``format`` object; ValueError/KeyError/TypeError when it is not one."""
        if not isinstance(data, dict):
            raise TypeError("format is not an object")
        blocks = int(data["blocks"])
        format_type = int(data["format_type"])
        if blocks <= 0 or not 0 <= format_type <= 0x3F:
            raise ValueError(f"format of {blocks} blocks, type {format_type:#x}")
        return cls(blocks, format_type, bool(data.get("spare", False)))
