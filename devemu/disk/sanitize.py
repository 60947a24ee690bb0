"""SANITIZE, SBC-4 5.30 and 4.11: the user data made unrecoverable.

Theory of operation
-------------------
A sanitize is a job over the whole image, done in steps
(:meth:`SanitizeJob.step`: one chunk of blocks each). The disk's
:class:`Sanitizer` holds the one job and its state, which is one of:

=========  ==========================================  ==============================
state      every other command                         leaves by
=========  ==========================================  ==============================
idle       served as usual                             a SANITIZE command
running    NOT READY, LOGICAL UNIT NOT READY,          the last step (-> idle),
           SANITIZE IN PROGRESS (04/1Bh) with the      an I/O error (-> failed)
           progress indication, except INQUIRY,
           REPORT LUNS and REQUEST SENSE (SBC-4 4.11.2)
failed     the medium access commands: MEDIUM ERROR,   EXIT FAILURE MODE (only when
           SANITIZE COMMAND FAILED (31/03h)            the failed one had AUSE set),
                                                       a SANITIZE that succeeds
=========  ==========================================  ==============================

REQUEST SENSE reports the state (the readiness check of the disk raises
it), so ``sg_requests --progress`` follows a sanitize started with IMMED.

The actions (SBC-4 5.30.2 table 82) on an image file:

- OVERWRITE writes the initialization pattern (repeated to fill each
  block) to every block, OVERWRITE COUNT passes, inverting the pattern
  between passes when INVERT is set (SBC-4 5.30.3 table 84). SBC-4
  leaves the meaning of the TEST field to the vendor: here 00b is the
  normal overwrite and any other value makes the overwrite fail after its
  first step, so failure mode can be driven from an initiator.
- BLOCK ERASE and CRYPTOGRAPHIC ERASE punch the whole image out
  (``FALLOC_FL_PUNCH_HOLE``; zeros written where the file system cannot
  punch): the old data is gone from the file, not hidden, and every block
  reads as zeros afterwards (LBPRZ).

Each finished action is made durable (``fdatasync``) before the state
goes back to idle.

The state lives in a small JSON file written atomically
(:func:`devemu.atomic_file.write_atomic`): ``running`` with the plan and
how far it got, written before the first block is touched and again
every second of work, or ``failed`` with AUSE. A daemon killed during a
sanitize finds ``running`` at start and resumes the job from the last
recorded point (SBC-4 4.11.1: a sanitize interrupted by a power on
continues after it; writing a block twice is writing it once), and a
failed one is still failed. With no file the state is not kept.

Where the work runs: with IMMED clear, in the command (the answer is the
outcome, and the ring worker that carried the command waits for it: the
devices sharing that worker (:mod:`devemu.ring_worker`) wait too, so a
large sanitize is best started with IMMED, as ``sg_sanitize`` does by
default); with
IMMED set the command answers GOOD once the parameters are checked and
the state is recorded, and :attr:`Sanitizer.background` runs the
steps: by default a thread of its own, so the ring and the other devices
are served meanwhile (every command of this disk is refused by the table
the sanitizer installs, so the thread alone touches
the image).

Support is advertised as SBC-4 puts it: each service action is an entry of
REPORT SUPPORTED OPERATION CODES (derived from the command table); no
VPD page carries sanitize bits.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from construct import BitsInteger, BitStruct, Flag, Int8ub, Int16ub, Padding, Struct

from devemu.atomic_file import write_atomic
from devemu.errors import ImageError
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    COMMAND_SEQUENCE_ERROR,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    SenseCode,
    SenseError,
    SenseKey,
    cdb_field,
    param_field,
)
from devemu.scsi.table import Access, CommandSpec, CommandTable, Conflict, Data

if TYPE_CHECKING:
    from devemu.disk.device import BlockImage, Disk

log = logging.getLogger(__name__)

#: NOT READY, LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS (SPC-5 table F.1).
SANITIZE_IN_PROGRESS = SenseCode(SenseKey.NOT_READY, 0x04, 0x1B)
#: MEDIUM ERROR, SANITIZE COMMAND FAILED (SBC-4 4.11.4).
SANITIZE_COMMAND_FAILED = SenseCode(SenseKey.MEDIUM_ERROR, 0x31, 0x03)

#: The operation code of SANITIZE, SBC-4 5.30.1.
SANITIZE = 0x48


class ServiceAction(IntEnum):
    """SANITIZE service actions, SBC-4 5.30.1 table 81."""

    OVERWRITE = 0x01
    BLOCK_ERASE = 0x02
    CRYPTOGRAPHIC_ERASE = 0x03
    EXIT_FAILURE_MODE = 0x1F


#: SANITIZE CDB, SBC-4 5.30.1 table 80.
SanitizeCdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(
        "immed" / Flag,
        "znr" / Flag,
        "ause" / Flag,
        "service_action" / BitsInteger(5),
    ),
    Padding(5),
    "parameter_list_length" / Int16ub,
    "control" / Int8ub,
)

#: The header of the OVERWRITE parameter list, SBC-4 5.30.3 table 84; the
#: INITIALIZATION PATTERN follows it.
OverwriteHeader = Struct(
    "flags"
    / BitStruct(
        "invert" / Flag,
        "test" / BitsInteger(2),
        "overwrite_count" / BitsInteger(5),
    ),
    Padding(1),
    "initialization_pattern_length" / Int16ub,
)
_HEADER = OverwriteHeader.sizeof()

#: Blocks' worth of bytes one step covers.
STEP_BYTES = 8 << 20
#: Blocks' worth of bytes one step of an erase punches.
ERASE_STEP_BYTES = 256 << 20
#: Seconds of work between two records of the progress.
RECORD_INTERVAL = 1.0
#: The PROGRESS INDICATION denominator, SPC-5 4.4.2.4.4.
PROGRESS_FULL = 0x10000


class Phase(IntEnum):
    IDLE = 0
    RUNNING = 1
    FAILED = 2


@dataclass(frozen=True, slots=True)
class Plan:
    """What a sanitize does: the action and, for OVERWRITE, its parameters."""

    action: ServiceAction
    ause: bool = False
    pattern: bytes = b""
    passes: int = 1
    invert: bool = False
    test: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.name.lower(),
            "ause": self.ause,
            "pattern": self.pattern.hex(),
            "passes": self.passes,
            "invert": self.invert,
            "test": self.test,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            ServiceAction[str(data["action"]).upper()],
            bool(data["ause"]),
            bytes.fromhex(str(data["pattern"])),
            int(data["passes"]),
            bool(data["invert"]),
            int(data["test"]),
        )


class SanitizeFailedError(Exception):
    """A step of the job could not be done (an I/O error, or the TEST field)."""


class SanitizeJob:
    """The work of one sanitize over ``image``, ``step`` by ``step``.

    ``done`` counts the units of work finished (blocks times passes for
    OVERWRITE, blocks for the erases) out of ``total``.
    """

    def __init__(self, image: BlockImage, plan: Plan, done: int = 0) -> None:
        self.image = image
        self.plan = plan
        capacity = image.capacity
        self.capacity = capacity
        self.total = capacity * (plan.passes if plan.action is ServiceAction.OVERWRITE else 1)
        self.done = min(max(done, 0), self.total)
        size = STEP_BYTES if plan.action is ServiceAction.OVERWRITE else ERASE_STEP_BYTES
        self.per_step = max(1, size >> image.shift)
        self._blocks: dict[bool, bytes] = {}

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    @property
    def progress(self) -> int:
        """PROGRESS INDICATION: the fraction done, in 65536ths (SPC-5 4.4.2.4.4)."""
        if not self.total:
            return 0
        return min(0xFFFF, self.done * PROGRESS_FULL // self.total)

    def _block(self, inverted: bool) -> bytes:
        block = self._blocks.get(inverted)
        if block is None:
            size = self.image.block_size
            pattern = self.plan.pattern
            block = (pattern * (size // len(pattern) + 1))[:size]
            if inverted:
                block = bytes(b ^ 0xFF for b in block)
            self._blocks[inverted] = block
        return block

    def step(self) -> bool:
        """Do one chunk of the work; True once all of it is done (and durable)."""
        if self.finished:
            return True
        plan = self.plan
        pass_index, lba = divmod(self.done, self.capacity)
        count = min(self.per_step, self.capacity - lba)
        try:
            if plan.action is ServiceAction.OVERWRITE:
                if plan.test:
                    raise SanitizeFailedError("the TEST field asks for a failed overwrite")
                inverted = plan.invert and pass_index % 2 == 1
                self.image.write_pattern(lba, count, self._block(inverted))
            else:
                self.image.unmap(lba, count)
            self.done += count
            if self.finished:
                self.image.flush()
        except OSError as err:
            raise SanitizeFailedError(f"{self.image.path}: {err.strerror}") from err
        return self.finished


def parse_overwrite(data: bytes, block_size: int) -> tuple[bytes, int, bool, int]:
    """The OVERWRITE parameter list -> (pattern, passes, invert, test), SBC-4 5.30.3.

    INVALID FIELD IN PARAMETER LIST (with the field pointer) for an
    OVERWRITE COUNT of zero, or an INITIALIZATION PATTERN LENGTH of zero,
    past the logical block length or other than the list holds.
    """
    head = OverwriteHeader.parse(data[:_HEADER])
    flags = head.flags
    if flags.overwrite_count == 0:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(0, 4))
    length = head.initialization_pattern_length
    if length == 0 or length > block_size or length != len(data) - _HEADER:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(2))
    return bytes(data[_HEADER:]), flags.overwrite_count, bool(flags.invert), flags.test


# --- the sanitizer of one disk ----------------------------------------------------------

#: Commands a running sanitize lets through (SBC-4 4.11.2).
ALLOWED_WHILE_RUNNING = frozenset({0x12, 0x03, 0xA0})


def _refuse_running(dev: Disk, cmd: Command) -> None:
    raise SenseError(SANITIZE_IN_PROGRESS, progress=dev.sanitizer.progress)


def _refuse_failed(dev: Disk, cmd: Command) -> None:
    raise SenseError(SANITIZE_COMMAND_FAILED)


def _gated(spec: CommandSpec, handler: Callable[[Disk, Command], None]) -> CommandSpec:
    """``spec`` answering through ``handler`` before any other check of its own."""
    return dataclasses.replace(
        spec,
        handler=handler,
        fields=(),
        needs_medium=False,
        access=Access.NONE,
        conflict=Conflict.NEVER,
    )


def running_table(table: CommandTable) -> CommandTable:
    """``table`` with every command but INQUIRY, REPORT LUNS, REQUEST SENSE refused."""
    return CommandTable(
        spec if spec.opcode in ALLOWED_WHILE_RUNNING else _gated(spec, _refuse_running)
        for spec in table
    )


def failed_table(table: CommandTable) -> CommandTable:
    """``table`` with every medium access command refused (SANITIZE itself is not)."""
    return CommandTable(
        _gated(spec, _refuse_failed) if spec.needs_medium else spec for spec in table
    )


@functools.cache
def _gated_tables(table: CommandTable) -> tuple[CommandTable, CommandTable]:
    """The running and failed tables of a device type, built once."""
    return running_table(table), failed_table(table)


class Sanitizer:
    """The sanitize state of one disk: idle, running (with its job) or failed."""

    def __init__(self, dev: Disk) -> None:
        self.dev = dev
        self.phase = Phase.IDLE
        self.job: SanitizeJob | None = None
        #: AUSE of the sanitize that failed: EXIT FAILURE MODE is allowed.
        self.failed_ause = False
        self.path: Path | None = None
        #: ``background(work)`` runs ``work`` (every remaining step) without
        #: holding up the command that started it.
        self.background: Callable[[Callable[[], None]], None] = _in_thread
        self._stop = threading.Event()
        #: Held by the background work while it runs.
        self._working = threading.Lock()
        self._recorded = 0.0
        self._running_table, self._failed_table = _gated_tables(type(dev).commands)

    # --- state ----------------------------------------------------------------------

    @property
    def progress(self) -> int:
        return self.job.progress if self.job is not None else 0

    def condition(self) -> SenseError | None:
        """What REQUEST SENSE and the readiness check report, or None when idle."""
        if self.phase is Phase.RUNNING:
            return SenseError(SANITIZE_IN_PROGRESS, progress=self.progress)
        if self.phase is Phase.FAILED:
            return SenseError(SANITIZE_COMMAND_FAILED)
        return None

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        if phase is Phase.RUNNING:
            self.dev.use_table(self._running_table)
        elif phase is Phase.FAILED:
            self.dev.use_table(self._failed_table)
        else:
            self.dev.use_table(None)

    def set_file(self, path: Path | None) -> None:
        """Keep the state in ``path``; a running sanitize found there resumes.

        A file that cannot be read is an :class:`ImageError` naming it.
        """
        self.path = path
        if path is None or not path.is_file():
            return
        try:
            data = json.loads(path.read_bytes())
            phase = Phase[str(data["phase"]).upper()]
            if phase is Phase.RUNNING:
                plan = Plan.from_json(data["plan"])
                done = int(data["done"])
            ause = bool(data.get("ause", False))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ImageError(path, None, f"not a sanitize state file: {err}") from err
        if phase is Phase.RUNNING:
            log.warning("%s: resuming the sanitize interrupted at %d", path, done)
            self.job = SanitizeJob(self.dev.image, plan, done)
            self._enter(Phase.RUNNING)
            self._start_background()
        elif phase is Phase.FAILED:
            self.failed_ause = ause
            self._enter(Phase.FAILED)

    def _record(self) -> None:
        if self.path is None:
            return
        state: dict[str, Any] = {"phase": self.phase.name.lower()}
        if self.phase is Phase.RUNNING and self.job is not None:
            state["plan"] = self.job.plan.to_json()
            state["done"] = self.job.done
        if self.phase is Phase.FAILED:
            state["ause"] = self.failed_ause
        write_atomic(self.path, json.dumps(state).encode() + b"\n")
        self._recorded = time.monotonic()

    # --- commands ---------------------------------------------------------------------

    def start(self, plan: Plan, immed: bool) -> None:
        """Begin a sanitize: recorded, then run here (IMMED clear) or in the background
        (once every request in flight has its reply: the thread alone touches the image)."""
        self.dev.quiesce()
        self.job = SanitizeJob(self.dev.image, plan)
        self._enter(Phase.RUNNING)
        self.failed_ause = False
        try:
            self._record()
        except OSError as err:
            self.job = None
            self._enter(Phase.IDLE)
            raise SenseError(SANITIZE_COMMAND_FAILED) from err
        if immed:
            self._start_background()
            return
        self.run_steps()
        if self.phase is Phase.FAILED:
            raise SenseError(SANITIZE_COMMAND_FAILED)

    def exit_failure_mode(self) -> None:
        """EXIT FAILURE MODE, SBC-4 5.30.4: only out of a failed sanitize that had AUSE."""
        if self.phase is not Phase.FAILED:
            raise SenseError(COMMAND_SEQUENCE_ERROR)
        if not self.failed_ause:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 4))
        self.failed_ause = False
        self._enter(Phase.IDLE)
        self._record()

    # --- the work ---------------------------------------------------------------------

    def step(self) -> bool:
        """One step of the running job; True once the sanitize has ended (either way)."""
        job = self.job
        if job is None or self.phase is not Phase.RUNNING:
            return True
        try:
            finished = job.step()
        except SanitizeFailedError as err:
            log.error("sanitize failed: %s", err)
            self.failed_ause = job.plan.ause
            self._enter(Phase.FAILED)
            self._record_quietly()
            return True
        if finished:
            self._enter(Phase.IDLE)
            self._record_quietly()
            return True
        if time.monotonic() - self._recorded >= RECORD_INTERVAL:
            self._record_quietly()
        return False

    def _record_quietly(self) -> None:
        try:
            self._record()
        except OSError as err:
            if err.errno != errno.ENOENT:
                log.error("cannot record the sanitize state in %s: %s", self.path, err)

    def run_steps(self) -> None:
        """Every remaining step, unless :meth:`stop` asks to stop."""
        while not self._stop.is_set() and not self.step():
            pass

    def _start_background(self) -> None:
        self._stop.clear()

        def work() -> None:
            with self._working:
                self.run_steps()

        self.background(work)

    def stop(self) -> None:
        """Stop the background work at its next step, the progress recorded (shutdown)."""
        self._stop.set()
        if self._working.acquire(timeout=60):
            self._working.release()
        if self.phase is Phase.RUNNING:
            self._record_quietly()


def _in_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="devemu-sanitize", daemon=True).start()


# --- the handlers ----------------------------------------------------------------------


def _erase(action: ServiceAction) -> Callable[..., None]:
    def handler(dev: Disk, cmd: Command, immed: int, ause: int) -> None:
        dev.check_medium()
        dev.sanitizer.start(Plan(action, bool(ause)), bool(immed))

    handler.__name__ = f"sanitize_{action.name.lower()}"
    handler.__doc__ = f"SANITIZE {action.name.replace('_', ' ')}, SBC-4 5.30."
    return handler


sanitize_block_erase = _erase(ServiceAction.BLOCK_ERASE)
sanitize_cryptographic_erase = _erase(ServiceAction.CRYPTOGRAPHIC_ERASE)


def sanitize_overwrite(
    dev: Disk, cmd: Command, immed: int, ause: int, parameter_list_length: int
) -> None:
    """SANITIZE OVERWRITE, SBC-4 5.30.3: the parameter list checked, then the job."""
    dev.check_medium()
    if parameter_list_length <= _HEADER or parameter_list_length > dev.block_size + _HEADER:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    dev.check_data_out(cmd, parameter_list_length)
    pattern, passes, invert, test = parse_overwrite(
        cmd.data_out(parameter_list_length), dev.block_size
    )
    dev.sanitizer.start(
        Plan(ServiceAction.OVERWRITE, bool(ause), pattern, passes, invert, test), bool(immed)
    )


def exit_failure_mode(dev: Disk, cmd: Command) -> None:
    """SANITIZE EXIT FAILURE MODE, SBC-4 5.30.4 (IMMED and AUSE do not matter here)."""
    dev.check_medium()
    dev.sanitizer.exit_failure_mode()


def _sanitize(
    name: str,
    action: ServiceAction,
    handler: Callable[..., None],
    fields: tuple[str, ...],
    unsupported: frozenset[str],
    *,
    data: Data = Data.NONE,
    access: Access = Access.WRITE,
) -> CommandSpec:
    return CommandSpec(
        name,
        SANITIZE,
        SanitizeCdb,
        handler,
        service_action=action,
        fields=fields,
        unsupported=unsupported | {"flags.znr"},
        data=data,
        access=access,
        idempotent=False,
        timeout=3600,
    )


_NO_LIST = frozenset({"parameter_list_length"})

#: The SANITIZE entries of the disk's command table (SBC-4 5.30): ZNR is
#: refused (no zones), and only OVERWRITE takes a parameter list. The
#: handlers run the readiness check of a stopped or empty unit themselves,
#: so that a sanitize in failure mode can be followed by another.
SANITIZE_COMMANDS: tuple[CommandSpec, ...] = (
    _sanitize(
        "SANITIZE OVERWRITE",
        ServiceAction.OVERWRITE,
        sanitize_overwrite,
        ("flags.immed", "flags.ause", "parameter_list_length"),
        frozenset(),
        data=Data.OUT,
    ),
    _sanitize(
        "SANITIZE BLOCK ERASE",
        ServiceAction.BLOCK_ERASE,
        sanitize_block_erase,
        ("flags.immed", "flags.ause"),
        _NO_LIST,
    ),
    _sanitize(
        "SANITIZE CRYPTOGRAPHIC ERASE",
        ServiceAction.CRYPTOGRAPHIC_ERASE,
        sanitize_cryptographic_erase,
        ("flags.immed", "flags.ause"),
        _NO_LIST,
    ),
    _sanitize(
        "SANITIZE EXIT FAILURE MODE",
        ServiceAction.EXIT_FAILURE_MODE,
        exit_failure_mode,
        (),
        _NO_LIST,
        access=Access.CONTROL,
    ),
)
