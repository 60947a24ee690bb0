"""Every command a device executes, as a record streamed to whoever listens.

Theory of operation
-------------------
``devemu trace`` asks the daemon, over the control socket, for a stream
of the commands its devices execute (the ``trace`` op of
:mod:`devemu.control_protocol`). The daemon's side is a
:class:`TraceHub`: the subscribers with their filters.

Nobody listening costs the per-command path nothing: the ring loop calls
the device's own ``execute`` and no code of this module runs. While a
subscriber wants a device, the daemon hands that device's ring a
:class:`TracedDevice` instead, which times the device's ``execute`` and
hands one :class:`TraceRecord` to the hub; when the last subscriber that
wants it leaves, the ring gets the device's own ``execute`` back (the
hub's ``on_change`` tells the daemon when to swap).

A subscriber never slows the loop nor makes it grow: each holds a
bounded queue of records. A record that finds the queue full is dropped
and counted, and the stream says how many were dropped, in order, before
the next record that fits (or once the queue is drained). Records become
JSON lines only when the subscriber's connection can take them, a
bounded chunk at a time (:meth:`Subscriber.take`).

A record holds what SAM-5 5.1 says a command is and returns: the CDB,
the data buffer's length, the status (SAM-5 5.3.1), the sense data
(decoded here: sense key, ASC and ASCQ, SPC-5 4.4 and annex D) and the
data-in length, plus the device's name for the command (its table
entry's ``name``), the wall-clock time it started and its latency.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from construct import ConstructError

from devemu.scsi import sense as sense_module
from devemu.scsi.answers import INTERNAL_TARGET_FAILURE_SENSE
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.table import CommandTable, Data
from devemu.tcmu.loop import CompleteAll, Deferred, Device, IoSource

log = logging.getLogger(__name__)

#: Most bytes of a command's data-out a trace shows.
MAX_DATA_OUT = 1 << 20
#: The control op that turns a connection into a trace stream.
TRACE_OP = "trace"
#: The filter arguments of a trace request.
FILTERS = ("devices", "opcodes", "statuses", "data_out")

# ------------------------------------------------------------------ decoding


def _sense_names() -> dict[tuple[int, int], str]:
    """ASC/ASCQ -> name, from the codes :mod:`devemu.scsi.sense` names (SPC-5 annex D).

    A name there may end in its sense key to tell two constants apart
    (``..._ILLEGAL_REQUEST``); annex D names an ASC/ASCQ pair whatever the
    key, so that ending is dropped. The first name of a pair wins.
    """
    endings = (*(f"_{key.name}" for key in sense_module.SenseKey), "_ILLEGAL")
    names: dict[tuple[int, int], str] = {}
    for constant, value in vars(sense_module).items():
        if not isinstance(value, sense_module.SenseCode) or constant.startswith("_"):
            continue
        name = constant
        for ending in endings:
            if name.endswith(ending) and len(name) > len(ending):
                name = name[: -len(ending)]
                break
        names.setdefault((value.asc, value.ascq), name.replace("_", " "))
    return names


#: ASC/ASCQ -> its name (SPC-5 annex D table D.1), for the codes devemu answers.
SENSE_NAMES = _sense_names()


def sense_name(asc: int, ascq: int) -> str | None:
    """The name of an additional sense code and qualifier, None if devemu names none."""
    return SENSE_NAMES.get((asc, ascq))


def decode_sense(data: bytes) -> dict[str, Any] | None:
    """Sense data as the trace shows it (SPC-5 4.4); None for none.

    ``key`` (the sense key's name) with ``key_code``, ``asc``, ``ascq``,
    ``name`` (of the ASC/ASCQ, None when devemu has none), the stream
    bits and INFORMATION when set, and the bytes in hex.
    """
    if not data:
        return None
    decoded: dict[str, Any] = {"bytes": data.hex()}
    try:
        code, fields = sense_module.parse_sense(data)
    except (ValueError, ConstructError):
        decoded["key"] = None
        return decoded
    decoded.update(
        key=code.key.name,
        key_code=int(code.key),
        asc=code.asc,
        ascq=code.ascq,
        name=sense_name(code.asc, code.ascq),
    )
    for flag in ("filemark", "eom", "ili"):
        if fields.get(flag):
            decoded[flag] = True
    if "information" in fields:
        decoded["information"] = fields["information"]
    return decoded


def status_name(status: int) -> str:
    """``GOOD``, ``CHECK_CONDITION``, ... (SAM-5 5.3.1), or the code in hex."""
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:02x}"


def status_code(text: str) -> int:
    """The status a filter names: ``check-condition``, ``CHECK_CONDITION``, ``0x02``, ``2``."""
    key = text.strip().upper().replace("-", "_").replace(" ", "_")
    if key in Status.__members__:
        return int(Status[key])
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if 0 <= value <= 0xFF:
        return value
    known = ", ".join(s.name.lower().replace("_", "-") for s in Status)
    raise TraceFilterError(f"unknown status {text!r} (statuses: {known})")


@functools.cache
def name_key(name: str) -> str:
    """A command name as a filter compares it: letters and digits only, upper case."""
    return re.sub(r"[^0-9A-Z]", "", name.upper())


@functools.cache
def _family_key(name: str) -> str:
    """The key of a command name without its trailing ``(...)``: READ(10) -> READ."""
    return name_key(re.sub(r"\s*\([^()]*\)\s*$", "", name))


def opcode_name(table: CommandTable | None, cdb: bytes) -> str | None:
    """The command a CDB names in ``table`` (its entry's ``name``), None if none does."""
    if table is None:
        return None
    spec = table.spec_for(cdb)
    return spec.name if spec is not None else None


# ------------------------------------------------------------------- records


class TraceRecord(NamedTuple):
    """One executed command, as the daemon keeps it until a subscriber takes it."""

    #: Wall-clock time the command started, in nanoseconds since the epoch.
    time_ns: int
    device: str
    cdb: bytes
    #: The device's name for the command, None for an opcode its table lacks.
    name: str | None
    #: Bytes of the data buffers (the transfer length the initiator set up).
    length: int
    #: SAM-5 status; None while the device completes it later (deferred).
    status: int | None
    sense: bytes
    #: Bytes of data-in the device placed (TCMU READ_LEN), None for none.
    data_in: int | None
    latency_ns: int
    #: The first bytes of a data-out command's parameter data, when a subscriber asked.
    data_out: bytes | None = None


def record_json(record: TraceRecord, data_out: int = 0) -> dict[str, Any]:
    """The stream's object for one command (``"event": "command"``).

    ``data_out``: how many bytes of the data-out the subscriber asked for
    (``"data_out"``, in hex, only then and only for data-out commands).
    """
    status = record.status
    extra = {}
    if data_out and record.data_out is not None:
        extra["data_out"] = record.data_out[:data_out].hex()
    return {
        "event": "command",
        "time": round(record.time_ns / 1e9, 6),
        "device": record.device,
        "opcode": record.cdb[0] if record.cdb else None,
        "name": record.name,
        "cdb": record.cdb.hex(),
        "length": record.length,
        "data_in": record.data_in,
        "status": status_name(status) if status is not None else "DEFERRED",
        "status_code": status,
        "sense": decode_sense(record.sense),
        "latency_us": round(record.latency_ns / 1e3, 1),
        **extra,
    }


def dropped_json(count: int, total: int) -> dict[str, Any]:
    """The stream's object for records dropped because the subscriber read too slowly."""
    return {"event": "dropped", "count": count, "total": total}


def _line(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(", ", ": ")).encode() + b"\n"


# ------------------------------------------------------------------- filters


class TraceFilterError(ValueError):
    """A trace request's filter that names nothing or is of the wrong type."""


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """Which records a subscriber gets: every set that is not empty must match."""

    devices: frozenset[str] = frozenset()
    opcodes: frozenset[int] = frozenset()
    #: Command names as :func:`name_key` makes them (whole names and families).
    names: frozenset[str] = frozenset()
    statuses: frozenset[int] = frozenset()
    #: Bytes of each data-out command's parameter data to show (0: none).
    data_out: int = 0

    def wants(self, device: str) -> bool:
        return not self.devices or device in self.devices

    def matches(self, record: TraceRecord) -> bool:
        if self.devices and record.device not in self.devices:
            return False
        if self.opcodes or self.names:
            opcode = record.cdb[0] if record.cdb else -1
            named = record.name is not None and (
                name_key(record.name) in self.names or _family_key(record.name) in self.names
            )
            if opcode not in self.opcodes and not named:
                return False
        return not self.statuses or (record.status in self.statuses)


def _strings_or_ints(args: Mapping[str, Any], key: str) -> list[str | int]:
    value = args.get(key, [])
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value
    ):
        raise TraceFilterError(f"{key!r} must be a list of strings or integers")
    return value


def parse_filter(args: Mapping[str, Any], tables: Mapping[str, CommandTable | None]) -> TraceFilter:
    """The filter of a trace request's ``args``; :class:`TraceFilterError` says what is wrong.

    ``devices``: names of served devices (``tables`` has them all);
    ``opcodes``: operation codes (0-255) or command names as the devices'
    tables spell them, compared without case, spaces or punctuation
    (``read(10)``, ``READ_10``), a name without its ``(...)`` naming the
    whole family (``read``: every READ); ``statuses``: SAM-5 status names
    (``check-condition``) or codes; ``data_out``: how many bytes of each
    data-out command's parameter data to show (0, the default: none).
    """
    unknown = [key for key in args if key not in FILTERS]
    if unknown:
        raise TraceFilterError(f"unknown argument {unknown[0]!r} (arguments: {', '.join(FILTERS)})")
    devices: set[str] = set()
    for device in _strings_or_ints(args, "devices"):
        if not isinstance(device, str) or device not in tables:
            known = ", ".join(tables) or "none"
            raise TraceFilterError(f"{device}: no such device (served: {known})")
        devices.add(device)
    searched = [tables[d] for d in devices] if devices else list(tables.values())
    known_keys: set[str] = set()
    for table in searched:
        for spec in table or ():
            known_keys.update((name_key(spec.name), _family_key(spec.name)))
    opcodes: set[int] = set()
    names: set[str] = set()
    for opcode in _strings_or_ints(args, "opcodes"):
        number = _opcode_number(opcode)
        if number is not None:
            opcodes.add(number)
        elif name_key(str(opcode)) in known_keys:
            names.add(name_key(str(opcode)))
        else:
            raise TraceFilterError(f"opcode {opcode!r}: no command of the traced devices")
    statuses = {status_code(str(s)) for s in _strings_or_ints(args, "statuses")}
    data_out = args.get("data_out", 0)
    if not isinstance(data_out, int) or isinstance(data_out, bool) or data_out < 0:
        raise TraceFilterError("'data_out' must be a number of bytes (0 or more)")
    return TraceFilter(
        frozenset(devices),
        frozenset(opcodes),
        frozenset(names),
        frozenset(statuses),
        min(data_out, MAX_DATA_OUT),
    )


def _opcode_number(opcode: str | int) -> int | None:
    """The operation code a filter names by number (``0x28``, ``28h``, a JSON integer).

    None for a name; :class:`TraceFilterError` for a number out of range
    or bare digits, which could be read either way (``28``).
    """
    if isinstance(opcode, int):
        number = opcode
    else:
        text = opcode.strip().lower()
        if re.fullmatch(r"0x[0-9a-f]+", text):
            number = int(text, 16)
        elif re.fullmatch(r"[0-9a-f]+h", text) and text[0].isdigit():
            number = int(text[:-1], 16)
        elif text.isdigit():
            raise TraceFilterError(f"opcode {opcode!r}: write it in hex (0x{text} or {text}h)")
        else:
            return None
    if not 0 <= number <= 0xFF:
        raise TraceFilterError(f"opcode {opcode!r} is not 0-255")
    return number


# --------------------------------------------------------------- subscribers


@dataclass(eq=False)
class Subscriber:
    """One listener: its filter and its bounded queue of records.

    ``wake`` is called when the queue stops being empty (the connection
    then asks to write); ``limit`` is how many records may wait.
    """

    filter: TraceFilter
    wake: Callable[[], None]
    limit: int
    queue: deque[TraceRecord | int] = field(default_factory=deque)
    #: Records dropped since the stream last said so; and ever.
    dropped: int = 0
    dropped_total: int = 0

    def push(self, record: TraceRecord) -> None:
        queue = self.queue
        if len(queue) >= self.limit:
            self.dropped += 1
            self.dropped_total += 1
            return
        was_empty = not queue
        if self.dropped:  # said where they were lost: before this record
            queue.append(self.dropped)
            self.dropped = 0
        queue.append(record)
        if was_empty:
            self.wake()

    @property
    def pending(self) -> bool:
        """Whether anything waits to be said (records, or a count of dropped ones)."""
        return bool(self.queue) or bool(self.dropped)

    def take(self, budget: int) -> bytes:
        """JSON lines of the oldest records, about ``budget`` bytes (at least one line)."""
        out = bytearray()
        queue = self.queue
        while queue and len(out) < budget:
            item = queue.popleft()
            if isinstance(item, int):
                out += _line(dropped_json(item, self.dropped_total))
            else:
                out += _line(record_json(item, self.filter.data_out))
        if not queue and self.dropped and len(out) < budget:
            out += _line(dropped_json(self.dropped, self.dropped_total))
            self.dropped = 0
        return bytes(out)


class TraceHub:
    """The daemon's subscribers; tells the daemon when a device's tracing starts or ends.

    ``tables`` maps every served device to its command table (None for a
    device without one): names and filters read it. ``on_change`` is
    called after a subscriber came or went; the daemon then gives each
    ring :meth:`device_for` of its device.
    """

    def __init__(
        self,
        tables: Mapping[str, CommandTable | None],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.tables = dict(tables)
        self.on_change = on_change
        self.subscribers: list[Subscriber] = []
        # Per device: the subscribers that want it (what a record is offered to).
        self._by_device: dict[str, tuple[Subscriber, ...]] = {}
        # Per device: the most data-out bytes a subscriber that wants it asked for.
        self._data_out: dict[str, int] = {}

    def subscribe(
        self, args: Mapping[str, Any], wake: Callable[[], None], limit: int
    ) -> Subscriber:
        """A new subscriber (:class:`TraceFilterError` for a bad filter)."""
        subscriber = Subscriber(parse_filter(args, self.tables), wake, max(limit, 1))
        self.subscribers.append(subscriber)
        self._changed()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)
            self._changed()

    def _changed(self) -> None:
        self._by_device = {
            name: wanting
            for name in self.tables
            if (wanting := tuple(s for s in self.subscribers if s.filter.wants(name)))
        }
        self._data_out = {
            name: max(s.filter.data_out for s in wanting)
            for name, wanting in self._by_device.items()
        }
        self.on_change()

    def data_out_wanted(self, device: str) -> int:
        """Bytes of data-out the subscribers of ``device`` want to see (0: none)."""
        return self._data_out.get(device, 0)

    def wants(self, device: str) -> bool:
        """Whether any subscriber wants the commands of ``device``."""
        return device in self._by_device

    def device_for(self, name: str, device: Device) -> Device:
        """What the ring of ``name`` should execute: ``device`` itself unless it is traced."""
        if not self.wants(name):
            return device
        return TracedDevice(name, device, self.tables.get(name), self)

    def publish(self, record: TraceRecord) -> None:
        """Offer ``record`` to every subscriber that wants it."""
        for subscriber in self._by_device.get(record.device, ()):
            if subscriber.filter.matches(record):
                subscriber.push(record)


class TracedDevice:
    """A device whose every command also becomes a :class:`TraceRecord`.

    Only a ring that somebody traces executes through this; ``inner`` is
    the device itself (:attr:`inner` is what the ring gets back). Its
    ``execute`` is looked up for each command: a device may swap it while
    traced (an injected fault, :mod:`devemu.tape.faults`).
    """

    __slots__ = ("hub", "inner", "name", "table")

    def __init__(self, name: str, inner: Device, table: CommandTable | None, hub: TraceHub) -> None:
        self.name = name
        self.inner = inner
        self.table = table
        self.hub = hub

    def attach_ring(self, complete_all: CompleteAll) -> IoSource | None:
        """The traced device's own completions (a disk on an NBD export), as untraced."""
        attach = getattr(self.inner, "attach_ring", None)
        return attach(complete_all) if callable(attach) else None

    def execute(self, cmd: Command) -> Result | Deferred:
        started = time.time_ns()
        data_out = self._data_out(cmd)
        clock = time.perf_counter_ns()
        try:
            outcome = self.inner.execute(cmd)
        except BaseException:
            self._record(cmd, started, clock, None, data_out)
            raise
        self._record(cmd, started, clock, outcome, data_out)
        return outcome

    def _data_out(self, cmd: Command) -> bytes | None:
        """The start of a data-out command's parameter data, if a subscriber wants it."""
        wanted = self.hub.data_out_wanted(self.name)
        if not wanted or self.table is None or not cmd.cdb:
            return None
        spec = self.table.spec_for(cmd.cdb)
        if spec is None or spec.data is not Data.OUT:
            return None
        return bytes(cmd.data_out(min(wanted, cmd.data_length)))

    def _record(
        self,
        cmd: Command,
        started: int,
        clock: int,
        outcome: Result | Deferred | None,
        data_out: bytes | None = None,
    ) -> None:
        latency = time.perf_counter_ns() - clock
        try:
            status: int | None
            if isinstance(outcome, Result):
                status = int(outcome.status)
                sense, data_in = bytes(outcome.sense), outcome.data_in_length
            elif isinstance(outcome, Deferred):
                status, sense, data_in = None, b"", None
            else:  # an exception or no Result: the loop answers HARDWARE ERROR
                status, sense, data_in = _CHECK, bytes(INTERNAL_TARGET_FAILURE_SENSE), None
            cdb = cmd.cdb
            self.hub.publish(
                TraceRecord(
                    started,
                    self.name,
                    cdb,
                    opcode_name(self.table, cdb),
                    cmd.data_length,
                    status,
                    sense,
                    data_in,
                    latency,
                    data_out,
                )
            )
        except Exception:
            log.exception("%s: tracing a command failed", self.name)


_CHECK = int(Status.CHECK_CONDITION)


def tables_of(devices: Iterable[tuple[str, object]]) -> dict[str, CommandTable | None]:
    """Each device's command table (its class's ``commands``), None where it has none."""
    return {
        name: table
        if isinstance(table := getattr(device, "commands", None), CommandTable)
        else None
        for name, device in devices
    }
