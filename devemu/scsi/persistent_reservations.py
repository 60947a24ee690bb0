"""Persistent reservations: PERSISTENT RESERVE IN and OUT, SPC-5 5.13, 6.16, 6.17.

Theory of operation
-------------------
An I_T nexus first registers a reservation key (REGISTER, or REGISTER AND
IGNORE EXISTING KEY); only registered nexuses may then reserve, release,
clear or preempt, and each such request must carry the nexus's own key,
else the answer is RESERVATION CONFLICT (SPC-5 5.13.7 to 5.13.11). One
persistent reservation at most exists, of one of six types:

- Write Exclusive / Exclusive Access: only the holder may write / access;
- ... Registrants Only: every registered nexus may, the holder is the one
  that reserved;
- ... All Registrants: every registered nexus is a holder.

:meth:`PersistentReservations.conflict` applies SPC-5 5.13.1 to any other
command: a nexus that is neither holder nor (for the registrants types)
registered gets RESERVATION CONFLICT for every command that the
reservation type forbids; under Write Exclusive it may still read.

The state (generation, registrations, reservation, APTPL) is written after
every change to a file when one is set: temp file, fsync, rename, fsync of
the directory, so a kill at any instant leaves the old or the new state.
It is kept whatever APTPL says: a restart of this process is not a power
loss for the initiators, whose I_T nexuses never went away.

TCMU names no initiator, so through the kernel every command comes from
the one empty nexus: registrations and reservations still work, and
conflicts need a transport that tells initiators apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Int32ub, Int64ub, Struct

from devemu.atomic_file import write_atomic
from devemu.errors import ImageError
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.opcodes import Opcode
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    INVALID_RELEASE_OF_PERSISTENT_RESERVATION,
    PARAMETER_LIST_LENGTH_ERROR,
    RESERVATIONS_PREEMPTED,
    RESERVATIONS_RELEASED,
    SenseCode,
    SenseError,
    cdb_field,
    param_field,
)
from devemu.scsi.table import Access, CommandSpec, Conflict, Data

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice


class PrInAction(IntEnum):
    """PERSISTENT RESERVE IN service actions, SPC-5 6.16.1 table 173."""

    READ_KEYS = 0x00
    READ_RESERVATION = 0x01
    REPORT_CAPABILITIES = 0x02
    READ_FULL_STATUS = 0x03


class PrOutAction(IntEnum):
    """PERSISTENT RESERVE OUT service actions, SPC-5 6.17.2 table 186."""

    REGISTER = 0x00
    RESERVE = 0x01
    RELEASE = 0x02
    CLEAR = 0x03
    PREEMPT = 0x04
    PREEMPT_AND_ABORT = 0x05
    REGISTER_AND_IGNORE_EXISTING_KEY = 0x06


class PrType(IntEnum):
    """Persistent reservation types, SPC-5 6.16.3.4 table 180."""

    WRITE_EXCLUSIVE = 0x1
    EXCLUSIVE_ACCESS = 0x3
    WRITE_EXCLUSIVE_REGISTRANTS_ONLY = 0x5
    EXCLUSIVE_ACCESS_REGISTRANTS_ONLY = 0x6
    WRITE_EXCLUSIVE_ALL_REGISTRANTS = 0x7
    EXCLUSIVE_ACCESS_ALL_REGISTRANTS = 0x8


_REGISTRANTS_TYPES = frozenset(
    {
        PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
        PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY,
        PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS,
        PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS,
    }
)
_ALL_REGISTRANTS_TYPES = frozenset(
    {PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS, PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS}
)
_WRITE_EXCLUSIVE_TYPES = frozenset(
    {
        PrType.WRITE_EXCLUSIVE,
        PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
        PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS,
    }
)

# --- CDBs and parameter data ------------------------------------------------------

#: SPC-5 6.16.1 table 172: PERSISTENT RESERVE IN CDB.
PrInCdb = Struct(
    "opcode" / Int8ub,
    "service_action" / Int8ub,
    "reserved" / Bytes(5),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: SPC-5 6.17.1 table 185: PERSISTENT RESERVE OUT CDB.
PrOutCdb = Struct(
    "opcode" / Int8ub,
    "service_action" / Int8ub,
    "scope_type" / BitStruct("scope" / BitsInteger(4), "type" / BitsInteger(4)),
    "reserved" / Bytes(2),
    "parameter_list_length" / Int32ub,
    "control" / Int8ub,
)

#: SPC-5 6.17.3 table 189: PERSISTENT RESERVE OUT parameter list (basic).
PrOutParameters = Struct(
    "reservation_key" / Int64ub,
    "service_action_reservation_key" / Int64ub,
    "obsolete" / Bytes(4),
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(4),
        "spec_i_pt" / Flag,
        "all_tg_pt" / Flag,
        "reserved2" / Flag,
        "aptpl" / Flag,
    ),
    "reserved" / Int8ub,
    "obsolete2" / Bytes(2),
)
PR_OUT_PARAMETER_LENGTH = 24

#: SPC-5 6.16.2 table 174: READ KEYS parameter data header (keys follow).
PrGenerationHeader = Struct("generation" / Int32ub, "additional_length" / Int32ub)

#: SPC-5 6.16.3.1 table 177: READ RESERVATION reservation descriptor.
ReservationDescriptor = Struct(
    "reservation_key" / Int64ub,
    "obsolete" / Bytes(4),
    "reserved" / Int8ub,
    "scope_type" / Int8ub,
    "obsolete2" / Bytes(2),
)

#: SPC-5 6.16.4 table 181: REPORT CAPABILITIES parameter data.
ReportCapabilities = Struct(
    "length" / Int16ub,
    "flags"
    / BitStruct(
        "rlr_c" / Flag,
        "reserved" / BitsInteger(2),
        "crh" / Flag,
        "sip_c" / Flag,
        "atp_c" / Flag,
        "reserved2" / Flag,
        "ptpl_c" / Flag,
    ),
    "flags2"
    / BitStruct(
        "tmv" / Flag,
        "allow_commands" / BitsInteger(3),
        "reserved" / BitsInteger(3),
        "ptpl_a" / Flag,
    ),
    "type_mask" / Int16ub,
    "reserved" / Bytes(2),
)

#: SPC-5 6.16.4 table 183: persistent reservation type mask bits.
TYPE_MASK = {
    PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS: 0x8000,
    PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 0x4000,
    PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 0x2000,
    PrType.EXCLUSIVE_ACCESS: 0x0800,
    PrType.WRITE_EXCLUSIVE: 0x0200,
    PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 0x0001,
}

#: SPC-5 6.16.5 table 184: READ FULL STATUS descriptor (TransportID follows).
FullStatusDescriptor = Struct(
    "reservation_key" / Int64ub,
    "reserved" / Bytes(4),
    "flags" / BitStruct("reserved" / BitsInteger(6), "all_tg_pt" / Flag, "r_holder" / Flag),
    "scope_type" / Int8ub,
    "reserved2" / Bytes(4),
    "relative_target_port_identifier" / Int16ub,
    "additional_descriptor_length" / Int32ub,
)

#: SPC-5 7.6.4.6 table 508: iSCSI TransportID, initiator device name format.
ISCSI_PROTOCOL_ID = 0x5


def transport_id(nexus: str) -> bytes:
    """The TransportID naming ``nexus``: an iSCSI name TransportID (SPC-5 7.6.4.6).

    The name is null-terminated and padded to a multiple of four bytes,
    20 bytes at least.
    """
    name = nexus.encode() + b"\x00"
    length = max(20, (len(name) + 3) // 4 * 4)
    return bytes([ISCSI_PROTOCOL_ID, 0]) + length.to_bytes(2, "big") + name.ljust(length, b"\x00")


class ReservationConflictError(Exception):
    """The command ends in RESERVATION CONFLICT status (SPC-5 5.13)."""


@dataclass(slots=True)
class Reservation:
    """The persistent reservation: who reserved it and its type."""

    holder: str
    type: PrType


class PersistentReservations:
    """Registrations and the persistent reservation of one logical unit."""

    def __init__(self, path: Path | None = None) -> None:
        self.generation = 0
        self.registrations: dict[str, int] = {}
        self.reservation: Reservation | None = None
        self.aptpl = False
        self.path: Path | None = None
        self.set_file(path)

    # --- persistence ----------------------------------------------------------------

    def set_file(self, path: Path | None) -> None:
        """Keep the state in ``path``: load it if it exists, else write it there."""
        self.path = path
        if path is None:
            return
        if path.exists():
            self._load(path)
        else:
            self._save()

    def _load(self, path: Path) -> None:
        try:
            state = json.loads(path.read_text())
            registrations = {str(r["nexus"]): int(r["key"]) for r in state["registrations"]}
            reservation = state["reservation"]
            self.generation = int(state["generation"]) & 0xFFFFFFFF
            self.aptpl = bool(state["aptpl"])
            self.reservation = (
                Reservation(str(reservation["holder"]), PrType(int(reservation["type"])))
                if reservation is not None
                else None
            )
            self.registrations = registrations
        except json.JSONDecodeError as err:
            raise ImageError(
                path, f"line {err.lineno}", f"not a reservation state file: {err.msg}"
            ) from err
        except (KeyError, TypeError, ValueError) as err:
            raise ImageError(path, None, f"bad reservation state: {err!r}") from err

    def _state(self) -> dict[str, Any]:
        res = self.reservation
        return {
            "generation": self.generation,
            "aptpl": self.aptpl,
            "registrations": [{"nexus": n, "key": k} for n, k in self.registrations.items()],
            "reservation": None if res is None else {"holder": res.holder, "type": int(res.type)},
        }

    def _save(self) -> None:
        path = self.path
        if path is None:
            return
        write_atomic(path, json.dumps(self._state(), indent=1).encode())

    # --- queries --------------------------------------------------------------------

    def is_holder(self, nexus: str) -> bool:
        """SPC-5 5.13.10: the reservation holder (every registrant for all-registrants types)."""
        res = self.reservation
        if res is None:
            return False
        if res.type in _ALL_REGISTRANTS_TYPES:
            return nexus in self.registrations
        return res.holder == nexus

    def conflict(self, nexus: str, spec: CommandSpec) -> bool:
        """SPC-5 5.13.1: does the reservation forbid the command ``spec`` from ``nexus``?

        The command's :class:`~devemu.scsi.table.Conflict` fact decides: a
        write exclusive type refuses only the commands that change
        something, an exclusive access type the reading ones as well.
        """
        res = self.reservation
        if res is None or spec.conflict is Conflict.RESERVE or self.is_holder(nexus):
            return False
        if res.type in _REGISTRANTS_TYPES and nexus in self.registrations:
            return False
        if res.type in _WRITE_EXCLUSIVE_TYPES:
            return spec.conflict is Conflict.ALWAYS
        return True

    def reservation_key(self) -> int:
        """The key READ RESERVATION reports: the holder's, 0 for all-registrants types."""
        res = self.reservation
        if res is None or res.type in _ALL_REGISTRANTS_TYPES:
            return 0
        return self.registrations.get(res.holder, 0)

    # --- PERSISTENT RESERVE OUT service actions -------------------------------------

    def register(self, nexus: str, key: int, new_key: int, aptpl: bool, *, ignore: bool) -> None:
        """REGISTER / REGISTER AND IGNORE EXISTING KEY, SPC-5 5.13.7."""
        current = self.registrations.get(nexus)
        if current is None:
            if key != 0 and not ignore:
                raise ReservationConflictError
            if new_key == 0:
                return
            self.registrations[nexus] = new_key
        else:
            if key != current and not ignore:
                raise ReservationConflictError
            if new_key == 0:
                self._unregister(nexus)
            else:
                self.registrations[nexus] = new_key
        self.aptpl = aptpl
        self._bump()

    def _unregister(self, nexus: str) -> None:
        del self.registrations[nexus]
        res = self.reservation
        if res is None:
            return
        if res.type in _ALL_REGISTRANTS_TYPES:
            if not self.registrations:
                self.reservation = None
        elif res.holder == nexus:
            self.reservation = None

    def _check_key(self, nexus: str, key: int) -> None:
        if self.registrations.get(nexus) != key:
            raise ReservationConflictError

    def reserve(self, nexus: str, key: int, pr_type: PrType) -> None:
        """RESERVE, SPC-5 5.13.9."""
        self._check_key(nexus, key)
        res = self.reservation
        if res is None:
            self.reservation = Reservation(nexus, pr_type)
            self._save()
            return
        if not self.is_holder(nexus) or res.type != pr_type:
            raise ReservationConflictError

    def release(self, nexus: str, key: int, pr_type: PrType) -> bool:
        """RELEASE, SPC-5 5.13.11.2; True when registrants must be told."""
        self._check_key(nexus, key)
        res = self.reservation
        if res is None or not self.is_holder(nexus):
            return False
        if res.type != pr_type:
            raise SenseError(INVALID_RELEASE_OF_PERSISTENT_RESERVATION)
        self.reservation = None
        self._save()
        return res.type in _REGISTRANTS_TYPES

    def clear(self, nexus: str, key: int) -> None:
        """CLEAR, SPC-5 5.13.11.3."""
        self._check_key(nexus, key)
        self.registrations.clear()
        self.reservation = None
        self._bump()

    def preempt(self, nexus: str, key: int, victim_key: int, pr_type: PrType) -> None:
        """PREEMPT (and PREEMPT AND ABORT), SPC-5 5.13.11.4."""
        self._check_key(nexus, key)
        res = self.reservation
        if res is not None and res.type in _ALL_REGISTRANTS_TYPES and victim_key == 0:
            for other in [n for n in self.registrations if n != nexus]:
                del self.registrations[other]
            self.reservation = Reservation(nexus, pr_type)
            self._bump()
            return
        if res is not None and res.type not in _ALL_REGISTRANTS_TYPES and victim_key == 0:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(8))
        victims = [n for n, k in self.registrations.items() if k == victim_key and n != nexus]
        takes_over = (
            res is not None
            and res.type not in _ALL_REGISTRANTS_TYPES
            and self.registrations.get(res.holder) == victim_key
        )
        if not victims and not takes_over:
            raise ReservationConflictError
        for other in victims:
            del self.registrations[other]
        if takes_over:
            self.reservation = Reservation(nexus, pr_type)
        elif res is not None and res.holder not in self.registrations:
            self.reservation = None
        self._bump()

    def _bump(self) -> None:
        self.generation = (self.generation + 1) & 0xFFFFFFFF
        self._save()

    # --- PERSISTENT RESERVE IN parameter data ---------------------------------------

    def read_keys(self) -> bytes:
        """READ KEYS parameter data, SPC-5 6.16.2."""
        keys = b"".join(k.to_bytes(8, "big") for k in self.registrations.values())
        head: bytes = PrGenerationHeader.build(
            {"generation": self.generation, "additional_length": len(keys)}
        )
        return head + keys

    def read_reservation(self) -> bytes:
        """READ RESERVATION parameter data, SPC-5 6.16.3."""
        res = self.reservation
        body = b""
        if res is not None:
            body = ReservationDescriptor.build(
                {
                    "reservation_key": self.reservation_key(),
                    "obsolete": b"\x00" * 4,
                    "reserved": 0,
                    "scope_type": int(res.type),
                    "obsolete2": b"\x00\x00",
                }
            )
        head: bytes = PrGenerationHeader.build(
            {"generation": self.generation, "additional_length": len(body)}
        )
        return head + body

    def report_capabilities(self) -> bytes:
        """REPORT CAPABILITIES parameter data, SPC-5 6.16.4 (APTPL capable only)."""
        mask = 0
        for bit in TYPE_MASK.values():
            mask |= bit
        out: bytes = ReportCapabilities.build(
            {
                "length": 8,
                "flags": {
                    "rlr_c": False,
                    "reserved": 0,
                    "crh": False,
                    "sip_c": False,
                    "atp_c": False,
                    "reserved2": False,
                    "ptpl_c": True,
                },
                "flags2": {
                    "tmv": True,
                    "allow_commands": 0,
                    "reserved": 0,
                    "ptpl_a": self.aptpl,
                },
                "type_mask": mask,
                "reserved": b"\x00\x00",
            }
        )
        return out

    def read_full_status(self) -> bytes:
        """READ FULL STATUS parameter data, SPC-5 6.16.5."""
        res = self.reservation
        body = b""
        for nexus, key in self.registrations.items():
            holder = self.is_holder(nexus)
            tid = transport_id(nexus)
            body += FullStatusDescriptor.build(
                {
                    "reservation_key": key,
                    "reserved": b"\x00" * 4,
                    "flags": {"reserved": 0, "all_tg_pt": False, "r_holder": holder},
                    "scope_type": int(res.type) if holder and res is not None else 0,
                    "reserved2": b"\x00" * 4,
                    "relative_target_port_identifier": 1,
                    "additional_descriptor_length": len(tid),
                }
            )
            body += tid
        head: bytes = PrGenerationHeader.build(
            {"generation": self.generation, "additional_length": len(body)}
        )
        return head + body


# --- handlers ---------------------------------------------------------------------


def persistent_reserve_in(
    device: ScsiDevice, cmd: Command, service_action: int, allocation_length: int
) -> int:
    """PERSISTENT RESERVE IN, SPC-5 6.16."""
    pr = device.reservations.persistent
    action = service_action & 0x1F
    if action == PrInAction.READ_KEYS:
        data = pr.read_keys()
    elif action == PrInAction.READ_RESERVATION:
        data = pr.read_reservation()
    elif action == PrInAction.REPORT_CAPABILITIES:
        data = pr.report_capabilities()
    else:
        data = pr.read_full_status()
    return cmd.data_in(data, allocation_length)


def persistent_reserve_out(
    device: ScsiDevice, cmd: Command, service_action: int, type: int, parameter_list_length: int
) -> Result | None:
    """PERSISTENT RESERVE OUT, SPC-5 6.17."""
    action = PrOutAction(service_action & 0x1F)
    if parameter_list_length != PR_OUT_PARAMETER_LENGTH:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    raw = cmd.data_out(PR_OUT_PARAMETER_LENGTH)
    if len(raw) < PR_OUT_PARAMETER_LENGTH:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    params = PrOutParameters.parse(raw)
    if params.flags.spec_i_pt:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(20, 3))
    if params.flags.all_tg_pt:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(20, 2))
    pr = device.reservations.persistent
    nexus = cmd.nexus
    key = params.reservation_key
    notify: SenseCode | None = None
    try:
        if action in (PrOutAction.REGISTER, PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY):
            pr.register(
                nexus,
                key,
                params.service_action_reservation_key,
                params.flags.aptpl,
                ignore=action == PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY,
            )
        elif action == PrOutAction.CLEAR:
            pr.clear(nexus, key)
            notify = RESERVATIONS_PREEMPTED
        else:
            pr_type = _pr_type(type)
            if action == PrOutAction.RESERVE:
                pr.reserve(nexus, key, pr_type)
            elif action == PrOutAction.RELEASE:
                if pr.release(nexus, key, pr_type):
                    notify = RESERVATIONS_RELEASED
            else:
                pr.preempt(nexus, key, params.service_action_reservation_key, pr_type)
                notify = RESERVATIONS_PREEMPTED
    except ReservationConflictError:
        return Result(Status.RESERVATION_CONFLICT)
    if notify is not None:
        device.post_unit_attention_to_others(notify, nexus)
    return None


def _pr_type(value: int) -> PrType:
    try:
        return PrType(value)
    except ValueError:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 3)) from None


def _out(action: PrOutAction, *, scope: bool) -> CommandSpec:
    """A PERSISTENT RESERVE OUT entry; ``scope``: any SCOPE value passes (it is ignored)."""
    return CommandSpec(
        f"PERSISTENT RESERVE OUT ({action.name.replace('_', ' ')})",
        Opcode.PERSISTENT_RESERVE_OUT,
        PrOutCdb,
        persistent_reserve_out,
        service_action=action,
        fields=("service_action", "scope_type.type", "parameter_list_length"),
        unsupported=frozenset() if scope else frozenset({"scope_type.scope"}),
        data=Data.OUT,
        access=Access.CONTROL,
        conflict=Conflict.RESERVE,
        idempotent=False,
    )


def _in(action: PrInAction) -> CommandSpec:
    return CommandSpec(
        f"PERSISTENT RESERVE IN ({action.name.replace('_', ' ')})",
        Opcode.PERSISTENT_RESERVE_IN,
        PrInCdb,
        persistent_reserve_in,
        service_action=action,
        fields=("service_action", "allocation_length"),
        data=Data.IN,
        conflict=Conflict.RESERVE,
    )


#: PERSISTENT RESERVE IN/OUT. The type is ignored by REGISTER and CLEAR
#: (SPC-5 6.17.1), so any value passes; the others take a type and only
#: the logical unit scope (0).
PERSISTENT_RESERVATION_COMMANDS: tuple[CommandSpec, ...] = (
    *(_in(a) for a in PrInAction),
    _out(PrOutAction.REGISTER, scope=True),
    _out(PrOutAction.RESERVE, scope=False),
    _out(PrOutAction.RELEASE, scope=False),
    _out(PrOutAction.CLEAR, scope=True),
    _out(PrOutAction.PREEMPT, scope=False),
    _out(PrOutAction.PREEMPT_AND_ABORT, scope=False),
    _out(PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY, scope=True),
)
