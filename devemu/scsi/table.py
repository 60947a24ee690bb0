"""Command tables: every command declared once, as data.

A device type is a :class:`CommandTable`: the shared SPC entries plus the
type's own. Each entry is a :class:`CommandSpec` that holds the CDB's
construct declaration and the command's facts; everything else is
derived from those, never written a second time:

- the CDB usage data (SPC-5 6.35.3) for REPORT SUPPORTED OPERATION CODES
  and the mask the dispatcher checks every CDB against, so a reserved bit
  set anywhere is INVALID FIELD IN CDB with the field pointer on that bit
  (:func:`devemu.scsi.layout.usage_data`);
- the decoder of the fields the handler takes, a precompiled
  :class:`struct.Struct` where the fields allow it
  (:func:`devemu.scsi.layout.decoder`);
- which reservations the command conflicts with (SPC-5 5.13.1), whether
  write protection refuses it, and whether a restarted daemon may run it
  again, all from :class:`Access` and ``idempotent``.

A handler is ``handler(device, command, *fields)``: the CDB fields named
in the entry's ``fields``, decoded once, in that order, and named as the
handler's parameters (a unit test checks the names). It returns the
data-in length it placed (``None`` when the command moves no data-in),
or a full :class:`~devemu.scsi.command.Result` for the rare
GOOD-but-not-plain answers (CONDITION MET). Errors are raised as
:class:`~devemu.scsi.sense.SenseError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from construct import Construct

from devemu.scsi.command import Command, Deferred, Result
from devemu.scsi.layout import Decoder, decoder, usage_data

HandlerResult = int | Result | Deferred | None
Handler = Callable[..., HandlerResult]

VARIABLE_LENGTH_OPCODE = 0x7F

#: Opcodes whose service action sits in byte 1, bits 4-0 (SPC-5 4.2.5.2).
SERVICE_ACTION_IN_BYTE1 = frozenset(
    {0x5E, 0x5F, 0x83, 0x84, 0x8C, 0x9E, 0x9F, 0xA3, 0xA4, 0x48, 0x9B, 0x9D, 0xA9, 0xAB}
)


def service_action_of(cdb: bytes) -> int | None:
    """The service action of a CDB, or None for opcodes that have none."""
    op = cdb[0]
    if op in SERVICE_ACTION_IN_BYTE1:
        return cdb[1] & 0x1F if len(cdb) > 1 else None
    if op == VARIABLE_LENGTH_OPCODE:
        return int.from_bytes(cdb[8:10], "big") if len(cdb) >= 10 else None
    return None


class Access(Enum):
    """What a command does to the logical unit.

    The reservation rules (SPC-5 5.13.1 and the command standards' tables:
    SBC-4 4.17, SSC-5 4.2.x, MMC-6, SMC-3) and write protection read it.
    """

    #: Reports, changes nothing (INQUIRY, MODE SENSE, READ CAPACITY).
    NONE = "none"
    #: Reads the medium (READ, VERIFY, READ TOC, READ ELEMENT STATUS).
    READ = "read"
    #: Changes the medium (WRITE, UNMAP, FORMAT, WRITE FILEMARKS, ERASE).
    WRITE = "write"
    #: Changes the device's state (MODE SELECT, PREVENT, a tape's position,
    #: the changer's robot).
    CONTROL = "control"


class Conflict(Enum):
    """Which reservations held by another I_T nexus refuse the command (SPC-5 5.13.1)."""

    #: None (INQUIRY, REPORT LUNS, REQUEST SENSE, LOG SENSE, ...).
    NEVER = "never"
    #: Only a RESERVE(6)/(10) reservation; every persistent reservation
    #: type allows it (SPC-5 table 63: TEST UNIT READY, READ CAPACITY).
    RESERVE = "reserve"
    #: Reservations of the exclusive access types; write exclusive ones
    #: allow it (the reading commands).
    EXCLUSIVE_ACCESS = "exclusive access"
    #: Every reservation type (the commands that change anything).
    ALWAYS = "always"


class Data(Enum):
    """Direction of the data transfer (SAM-5 5.4)."""

    NONE = "none"
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One supported command: its CDB declaration, its handler and its facts.

    ``cdb`` is the construct declaration of the CDB; ``unsupported`` lists
    declared fields the device refuses when non-zero (they are left out of
    the usage data). ``fields`` are the paths of the CDB fields the handler
    takes, in order.

    Facts: ``data`` is the transfer direction; ``access`` what the command
    does (:class:`Access`); ``conflict`` which reservations refuse it
    (default: from ``access``); ``idempotent`` whether running it twice
    leaves the same state as running it once (default: true for commands
    that change nothing), which decides what a restarted daemon may run
    again; ``timeout`` the nominal and recommended timeout in seconds
    (SPC-5 6.35.4); ``needs_medium`` runs the device's readiness check
    first (NOT READY without a medium); ``blocked_by_unit_attention`` is
    false for INQUIRY, REPORT LUNS and REQUEST SENSE (SPC-5 5.14).
    """

    name: str
    opcode: int
    cdb: Construct
    handler: Handler
    service_action: int | None = None
    fields: tuple[str, ...] = ()
    unsupported: frozenset[str] = frozenset()
    data: Data = Data.NONE
    access: Access = Access.NONE
    conflict: Conflict | None = None
    idempotent: bool | None = None
    timeout: int = 30
    needs_medium: bool = False
    blocked_by_unit_attention: bool = True
    #: Byte 1 bits 7-5 of a CDB of up to 12 bytes held the LOGICAL UNIT
    #: NUMBER in SCSI-2 (obsolete since SPC-2); programs of that age still
    #: fill it in for a logical unit other than 0 (wodim, through libusal,
    #: in every CDB). True: the bits are accepted and ignored, and the usage
    #: data says so (:meth:`CommandTable.accepting_obsolete_lun`).
    obsolete_lun: bool = False
    #: The CDB usage data of SPC-5 6.35.3 (table 244), derived from ``cdb``.
    usage: bytes = field(init=False, repr=False, compare=False)
    #: The complement of ``usage[1:]`` as one integer: a single AND finds a
    #: reserved bit.
    reserved_mask: int = field(init=False, repr=False, compare=False)
    #: ``reserved_mask`` over the whole CDB (the opcode byte counts as
    #: allowed): for a CDB of exactly ``length`` bytes,
    #: ``int.from_bytes(cdb, "big") & cdb_mask`` is zero when no reserved bit
    #: is set, without slicing the CDB.
    cdb_mask: int = field(init=False, repr=False, compare=False)
    #: CDB bytes -> the ``fields`` tuple; None when the handler takes none.
    decode: Decoder | None = field(init=False, repr=False, compare=False)
    #: ``run(device, command)``: the handler called with the decoded fields
    #: (the handler itself when it takes none).
    run: Callable[[Any, Command], HandlerResult] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        usage = usage_data(
            self.cdb,
            self.opcode,
            service_action=self.service_action,
            unsupported=self.unsupported,
        )
        if self.obsolete_lun and len(usage) <= OBSOLETE_LUN_CDB_LENGTH:
            usage = usage[:1] + bytes((usage[1] | OBSOLETE_LUN_BITS,)) + usage[2:]
        inverse = bytes(~b & 0xFF for b in usage[1:])
        set_ = object.__setattr__
        set_(self, "opcode", int(self.opcode))
        set_(self, "usage", usage)
        set_(self, "reserved_mask", int.from_bytes(inverse, "big"))
        set_(self, "cdb_mask", int.from_bytes(b"\0" + inverse, "big"))
        decode = decoder(self.cdb, self.fields) if self.fields else None
        set_(self, "decode", decode)
        set_(
            self,
            "run",
            self.handler if decode is None else _runner(self.handler, decode, len(self.fields)),
        )
        if self.conflict is None:
            reads = self.access in (Access.NONE, Access.READ)
            set_(self, "conflict", Conflict.EXCLUSIVE_ACCESS if reads else Conflict.ALWAYS)
        if self.idempotent is None:
            set_(self, "idempotent", self.access in (Access.NONE, Access.READ))

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


def _runner(handler: Handler, decode: Decoder, count: int) -> Callable[[Any, Command], Any]:
    """``run(device, command)`` that calls ``handler`` with ``count`` decoded fields.

    Generated so that each field is a plain positional argument: a call
    with ``*fields`` costs as much again as the decoding on the per-command
    path.
    """
    names = ", ".join(f"f{i}" for i in range(count))
    source = (
        "def run(device, cmd):\n"
        f"    {names}{',' if count == 1 else ''} = _decode(cmd.cdb)\n"
        f"    return _handler(device, cmd, {names})\n"
    )
    namespace: dict[str, Any] = {"_decode": decode, "_handler": handler}
    exec(compile(source, f"<run {getattr(handler, '__name__', 'handler')}>", "exec"), namespace)
    run: Callable[[Any, Command], Any] = namespace["run"]
    return run


#: Byte 1 bits 7-5: the LUN field of SCSI-2 CDBs (6, 10 and 12 bytes long).
OBSOLETE_LUN_BITS = 0xE0
OBSOLETE_LUN_CDB_LENGTH = 12


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

    def accepting_obsolete_lun(self) -> CommandTable:
        """The same commands, each accepting the SCSI-2 LUN bits (``CommandSpec.obsolete_lun``)."""
        return CommandTable(replace(spec, obsolete_lun=True) for spec in self)

    def lookup_opcode(self, opcode: int) -> CommandSpec | dict[int, CommandSpec] | None:
        """The spec for an opcode, or its service-action map, or None."""
        return self._by_opcode.get(opcode)

    def get(self, opcode: int, service_action: int | None = None) -> CommandSpec | None:
        return self._specs.get((opcode, service_action))

    def spec_for(self, cdb: bytes) -> CommandSpec | None:
        """The entry a CDB names (opcode and, where it has one, service action)."""
        if not cdb:
            return None
        entry = self._by_opcode.get(cdb[0])
        if isinstance(entry, dict):
            sa = service_action_of(cdb)
            return entry.get(sa) if sa is not None else None
        return entry

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
