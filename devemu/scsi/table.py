"""Command tables: opcode (and service action) to handler, as data.

A device type is a :class:`CommandTable`: the shared SPC entries plus the
type's own. The same table dispatches, answers REPORT SUPPORTED
OPERATION CODES (SPC-5 6.35) and checks every CDB against its usage data
before the handler sees it, so a reserved bit set anywhere is INVALID
FIELD IN CDB with the field pointer on that bit, for every command alike.

A handler is ``handler(device, command) -> int | Result | None``: the
data-in length it placed (``None`` when the command moves no data-in), or
a full :class:`~devemu.scsi.command.Result` for the rare GOOD-but-not-plain
answers (CONDITION MET). Errors are raised as
:class:`~devemu.scsi.sense.SenseError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from devemu.scsi.command import Command, Result

HandlerResult = int | Result | None
Handler = Callable[[Any, Command], HandlerResult]

VARIABLE_LENGTH_OPCODE = 0x7F

#: Opcodes whose service action sits in byte 1, bits 4-0 (SPC-5 4.2.5.2).
SERVICE_ACTION_IN_BYTE1 = frozenset(
    {0x5E, 0x5F, 0x83, 0x84, 0x8C, 0x9E, 0x9F, 0xA3, 0xA4, 0x48, 0x9B, 0x9D, 0xA9, 0xAB}
)


def cdb_length(opcode: int) -> int | None:
    """CDB length implied by the group code, SPC-5 4.2.5.1 table 5.

    Returns None for the variable-length group (0x7F) and for groups
    whose length is vendor specific.
    """
    group = opcode >> 5
    return {0: 6, 1: 10, 2: 10, 4: 16, 5: 12}.get(group)


def service_action_of(cdb: bytes) -> int | None:
    """The service action of a CDB, or None for opcodes that have none."""
    op = cdb[0]
    if op in SERVICE_ACTION_IN_BYTE1:
        return cdb[1] & 0x1F if len(cdb) > 1 else None
    if op == VARIABLE_LENGTH_OPCODE:
        return int.from_bytes(cdb[8:10], "big") if len(cdb) >= 10 else None
    return None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One supported command.

    ``usage`` is the CDB usage data of SPC-5 6.35.3 (table 244): byte 0 is
    the opcode, every other byte has a one for each bit the device
    interprets. Its length is the CDB length. The dispatcher refuses any
    CDB with a bit set outside ``usage``.

    ``timeout`` is the nominal and recommended command timeout in seconds
    for the command timeouts descriptor (SPC-5 6.35.4).

    ``needs_medium``: the device's readiness check runs first (NOT READY
    when no medium is mounted). ``blocked_by_unit_attention``: a pending
    unit attention is reported instead of running the command (false for
    INQUIRY, REPORT LUNS and REQUEST SENSE, SPC-5 5.14). ``conflicts``:
    the command is refused with RESERVATION CONFLICT while another I_T
    nexus holds a reservation (SPC-5 5.13.1 tables 59 and 60).
    """

    name: str
    usage: bytes
    handler: Handler
    service_action: int | None = None
    timeout: int = 30
    needs_medium: bool = False
    blocked_by_unit_attention: bool = True
    conflicts: bool = True
    #: The complement of ``usage[1:]`` as one integer: a single AND finds a
    #: reserved bit on the per-command path.
    reserved_mask: int = field(init=False, repr=False, compare=False)
    #: ``reserved_mask`` over the whole CDB (the opcode byte counts as
    #: allowed): for a CDB of exactly ``length`` bytes,
    #: ``int.from_bytes(cdb, "big") & cdb_mask`` is zero when no reserved bit
    #: is set, without slicing the CDB.
    cdb_mask: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        inverse = bytes(~b & 0xFF for b in self.usage[1:])
        object.__setattr__(self, "reserved_mask", int.from_bytes(inverse, "big"))
        object.__setattr__(self, "cdb_mask", int.from_bytes(b"\0" + inverse, "big"))

    @property
    def opcode(self) -> int:
        return self.usage[0]

    @property
    def length(self) -> int:
        return len(self.usage)

    def first_reserved_bit(self, cdb: bytes) -> tuple[int, int] | None:
        """(byte, bit) of the first bit set where usage has none, else None."""
        usage = self.usage
        if not int.from_bytes(cdb[1 : len(usage)], "big") & self.reserved_mask:
            return None
        for i in range(1, len(usage)):
            bad = cdb[i] & ~usage[i]
            if bad:
                return i, bad.bit_length() - 1
        return None


class CommandTable:
    """An immutable mapping (opcode, service action) -> :class:`CommandSpec`."""

    __slots__ = ("_by_opcode", "_specs", "plain")

    def __init__(self, *groups: Iterable[CommandSpec]) -> None:
        specs: dict[tuple[int, int | None], CommandSpec] = {}
        for group in groups:
            for spec in group:
                specs[(spec.opcode, spec.service_action)] = spec
        self._specs = specs
        by_opcode: dict[int, CommandSpec | dict[int, CommandSpec]] = {}
        for (op, sa), spec in sorted(specs.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)):
            if sa is None:
                by_opcode[op] = spec
            else:
                sub = by_opcode.setdefault(op, {})
                assert isinstance(sub, dict), f"opcode 0x{op:02x} mixes service actions"
                sub[sa] = spec
        self._by_opcode = by_opcode
        #: The opcodes without service actions, straight to their spec: the
        #: dispatcher's first look-up for every command.
        self.plain: dict[int, CommandSpec] = {
            op: entry for op, entry in by_opcode.items() if not isinstance(entry, dict)
        }

    def without(self, *keys: int | tuple[int, int]) -> CommandTable:
        """A copy without the given opcodes (or (opcode, service action) pairs)."""
        drop = {(k, None) if isinstance(k, int) else k for k in keys}
        drop_ops = {k for k in keys if isinstance(k, int)}
        return CommandTable(
            s for key, s in self._specs.items() if key not in drop and s.opcode not in drop_ops
        )

    def lookup_opcode(self, opcode: int) -> CommandSpec | dict[int, CommandSpec] | None:
        """The spec for an opcode, or its service-action map, or None."""
        return self._by_opcode.get(opcode)

    def get(self, opcode: int, service_action: int | None = None) -> CommandSpec | None:
        return self._specs.get((opcode, service_action))

    def has_service_actions(self, opcode: int) -> bool:
        return isinstance(self._by_opcode.get(opcode), dict)

    def __iter__(self) -> Iterator[CommandSpec]:
        """Every spec, by opcode then service action (REPORT SUPPORTED OPERATION CODES order)."""
        for entry in self._by_opcode.values():
            if isinstance(entry, dict):
                yield from entry.values()
            else:
                yield entry

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, key: object) -> bool:
        return key in self._specs
