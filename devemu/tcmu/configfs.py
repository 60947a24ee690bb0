"""LIO objects through configfs: TCMU backstores and the fabrics that export them.

Theory of operation
-------------------
The kernel's SCSI target (LIO) is configured entirely through the configfs
tree under ``/sys/kernel/config/target``: ``mkdir`` creates an object,
writing an attribute file configures it, a symlink exports a backstore on
a fabric's LUN. Everything here goes through one :class:`Configfs` helper
whose ``root`` is a parameter, so tests run against a pyfakefs tree.

A TCMU backstore is ``core/user_<hba>/<name>``. Before it is enabled its
``control`` file takes ``key=value`` options one per write (``dev_config``,
``dev_size``, ``hw_block_size``, ``hw_max_sectors``, ``max_data_area_mb``,
``nl_reply_supported``); its ``attrib`` folder holds ``pgr_support`` and
``alua_support`` (``alua_support`` 0 so that REPORT TARGET PORT GROUPS
reaches the device emulation; ``pgr_support`` 0 so that PERSISTENT
RESERVE and RESERVE/RELEASE do too, on a fabric with one I_T nexus, or 1
on a fabric where several initiators log in: LIO then answers them itself
and refuses a conflicting command before it reaches the ring, since only
LIO knows which nexus sent a command); ``tmr_notification`` 1, where the
kernel has it, for a device that keeps state a reset clears (a tape
drive's encryption keys), so that a LUN reset reaches the ring as a TMR
entry; writing 1 to ``enable`` registers the UIO device whose
ring the daemon serves.

``nl_reply_supported=-1`` tells the kernel not to wait for a netlink
ADDED_DEVICE_DONE reply when the backstore is enabled: the process that
writes ``enable`` is the same single-threaded daemon that would answer, so
waiting would deadlock it.

Every object this process creates is recorded in a :class:`Journal` as it
is created (``mkdir`` and ``symlink`` steps, each tagged with the device it
belongs to). Teardown replays the journal backwards, which is exactly the
order LIO needs (link, LUN, TPG, WWN, backstore, HBA) and never touches
objects someone else made. A create that fails undoes its own steps before
the error propagates. The journal serialises to JSON so a restarted daemon
can adopt what its previous incarnation created.

Fabrics are pluggable (:class:`Fabric`): :class:`LoopbackFabric` exports
LUNs through ``tcm_loop`` so they appear as local SCSI devices; other
fabrics (iSCSI, vhost) can implement the same two methods.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from devemu.errors import DevemuError

log = logging.getLogger(__name__)

#: Where configfs is mounted on every distribution.
DEFAULT_ROOT = Path("/sys/kernel/config")

#: The TCMU subtype (first element of ``dev_config``) devemu serves.
SUBTYPE = "devemu"

#: Queue depth TCMU gives every backstore (``hw_queue_depth`` after enable).
TCMU_QUEUE_DEPTH = 128
#: Largest single transfer devemu asks for: 1 MiB (the default is 64 KiB).
MAX_TRANSFER_BYTES = 1 << 20
#: Bounds of ``max_data_area_mb``: at least one full transfer, at most the
#: kernel's default per-device ceiling.
MIN_DATA_AREA_MB = 8
MAX_DATA_AREA_MB = 1024

StepKind = Literal["mkdir", "symlink"]

#: Journal owner of the ``core/user_N`` folders, shared by every backstore.
HBA_OWNER = "hba"


class LioError(DevemuError):
    """A configfs operation the kernel refused; names the path and the reason."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _reason(err: OSError) -> str:
    return err.strerror or errno.errorcode.get(err.errno or 0, str(err))


class Configfs:
    """Every read, write, mkdir and link in the configfs tree goes through here."""

    def __init__(self, root: Path | str = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    @property
    def target(self) -> Path:
        return self.root / "target"

    def read(self, path: Path) -> str:
        try:
            return path.read_text().strip()
        except OSError as err:
            raise LioError(path, f"cannot read: {_reason(err)}") from err

    def write(self, path: Path, value: str) -> None:
        """Write ``value`` in a single write(2): configfs parses each write whole."""
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError as err:
            raise LioError(path, f"cannot open for writing: {_reason(err)}") from err
        try:
            os.write(fd, value.encode())
        except OSError as err:
            raise LioError(path, f"kernel refused {value!r}: {_reason(err)}") from err
        finally:
            os.close(fd)

    def mkdir(self, path: Path) -> None:
        try:
            path.mkdir()
        except OSError as err:
            raise LioError(path, f"cannot create: {_reason(err)}") from err

    def rmdir(self, path: Path) -> None:
        path.rmdir()

    def symlink(self, link: Path, target: Path) -> None:
        try:
            link.symlink_to(target)
        except OSError as err:
            raise LioError(link, f"cannot link to {target}: {_reason(err)}") from err

    def unlink(self, link: Path) -> None:
        link.unlink()


@dataclass(frozen=True, slots=True)
class Step:
    """One object created: ``owner`` is the device name (or a fabric's key)."""

    owner: str
    kind: StepKind
    path: str

    def to_json(self) -> list[str]:
        return [self.owner, self.kind, self.path]


@dataclass
class Journal:
    """The objects this process created, in creation order."""

    steps: list[Step] = field(default_factory=list)

    def record(self, owner: str, kind: StepKind, path: Path) -> None:
        self.steps.append(Step(owner, kind, str(path)))

    def owned(self, path: Path) -> bool:
        return any(step.path == str(path) for step in self.steps)

    def owners(self) -> list[str]:
        seen: dict[str, None] = {}
        for step in self.steps:
            seen.setdefault(step.owner)
        return list(seen)

    def dumps(self) -> str:
        return json.dumps({"steps": [s.to_json() for s in self.steps]}, indent=1)

    @classmethod
    def loads(cls, text: str) -> Journal:
        data = json.loads(text)
        steps = []
        for owner, kind, path in data["steps"]:
            if kind not in ("mkdir", "symlink"):
                raise ValueError(f"unknown step kind {kind!r}")
            steps.append(Step(str(owner), kind, str(path)))
        return cls(steps)


@dataclass(frozen=True, slots=True)
class BackstoreSpec:
    """What one TCMU backstore is created with.

    ``hw_max_sectors`` is in ``hw_block_size`` units; by default it allows
    :data:`MAX_TRANSFER_BYTES` per command, and the data area is sized so
    that a full queue of such commands fits (the kernel allocates its pages
    lazily, so a large area costs address space, not memory).
    """

    name: str
    dev_size: int
    hw_block_size: int = 512
    hba: int = 0
    serial: str | None = None
    hw_max_sectors: int | None = None
    max_data_area_mb: int | None = None
    cmd_time_out: int | None = None
    subtype: str = SUBTYPE
    #: LIO answers PERSISTENT RESERVE and RESERVE/RELEASE (several initiators).
    pgr_support: bool = False
    #: The kernel hands task management (aborts, LUN resets) to the ring as TMR
    #: entries (``attrib/tmr_notification``, where the kernel has it).
    tmr_notification: bool = False

    @property
    def dev_config(self) -> str:
        return f"{self.subtype}/{self.name}"

    @property
    def max_sectors(self) -> int:
        if self.hw_max_sectors is not None:
            return self.hw_max_sectors
        return max(1, MAX_TRANSFER_BYTES // self.hw_block_size)

    @property
    def data_area_mb(self) -> int:
        if self.max_data_area_mb is not None:
            return self.max_data_area_mb
        need = TCMU_QUEUE_DEPTH * self.max_sectors * self.hw_block_size
        return min(MAX_DATA_AREA_MB, max(MIN_DATA_AREA_MB, math.ceil(need / (1 << 20))))

    def control_options(self) -> list[str]:
        """The ``control`` writes, in order, one option per write."""
        return [
            f"dev_config={self.dev_config}",
            f"dev_size={self.dev_size}",
            f"hw_block_size={self.hw_block_size}",
            f"hw_max_sectors={self.max_sectors}",
            f"max_data_area_mb={self.data_area_mb}",
            "nl_reply_supported=-1",
        ]


@dataclass(frozen=True, slots=True)
class Backstore:
    """A TCMU backstore that exists in configfs (ours or someone else's)."""

    path: Path
    name: str
    hba: int
    dev_config: str
    created: bool


class Fabric(Protocol):
    """A way to export backstores as LUNs (tcm_loop, iSCSI, vhost, ...)."""

    def export(self, backstore: Backstore, lun: int, owner: str) -> None:
        """Export ``backstore`` as LUN ``lun``; record what is created under ``owner``."""
        ...

    def describe(self) -> dict[str, str]: ...


def linked_backstore(lun_dir: Path) -> Path | None:
    """The backstore a fabric's ``lun_N`` directory links (any fabric), or None."""
    if not lun_dir.is_dir():
        return None
    for entry in lun_dir.iterdir():
        if entry.is_symlink():
            return Path(os.path.realpath(entry))
    return None


def naa_wwn(seed: str) -> str:
    """A stable NAA-5 WWN in LIO's locally administered range (IEEE id 0x001405)."""
    digest = hashlib.sha256(seed.encode()).hexdigest()[:9]
    return f"naa.5001405{digest}"


class Lio:
    """Creates, finds and removes LIO objects under one configfs root."""

    def __init__(self, fs: Configfs | None = None, journal: Journal | None = None) -> None:
        self.fs = fs or Configfs()
        self.journal = journal if journal is not None else Journal()

    # --- primitives that record what they create ---------------------------------

    def _mkdir(self, owner: str, path: Path, done: list[Step]) -> None:
        self.fs.mkdir(path)
        step = Step(owner, "mkdir", str(path))
        done.append(step)
        self.journal.steps.append(step)

    def _mkdirs(self, owner: str, path: Path, done: list[Step]) -> None:
        missing = []
        probe = path
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for item in reversed(missing):
            self._mkdir(owner, item, done)

    def _symlink(self, owner: str, link: Path, target: Path, done: list[Step]) -> None:
        self.fs.symlink(link, target)
        step = Step(owner, "symlink", str(link))
        done.append(step)
        self.journal.steps.append(step)

    @contextmanager
    def _undo_on_error(self) -> Iterator[list[Step]]:
        done: list[Step] = []
        try:
            yield done
        except BaseException:
            self._undo(done)
            raise

    def _undo(self, steps: list[Step]) -> list[str]:
        """Remove ``steps`` newest first; return the problems (never raises)."""
        problems = []
        for step in reversed(steps):
            path = Path(step.path)
            try:
                if step.kind == "symlink":
                    self.fs.unlink(path)
                else:
                    self.fs.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as err:
                problems.append(f"{path}: {_reason(err)}")
                log.warning("cannot remove %s: %s", path, _reason(err))
            if step in self.journal.steps:
                self.journal.steps.remove(step)
        return problems

    # --- backstores ----------------------------------------------------------------

    def core(self) -> Path:
        return self.fs.target / "core"

    def backstore_path(self, name: str, hba: int = 0) -> Path:
        return self.core() / f"user_{hba}" / name

    def find_backstore(self, name: str) -> Backstore | None:
        """The TCMU backstore called ``name`` in any ``user_N`` HBA, if any."""
        core = self.core()
        if not core.is_dir():
            return None
        for hba_dir in sorted(core.glob("user_*")):
            path = hba_dir / name
            if path.is_dir():
                hba = int(hba_dir.name.removeprefix("user_") or 0)
                dev_config = self.read_dev_config(path)
                return Backstore(path, name, hba, dev_config, self.journal.owned(path))
        return None

    def read_dev_config(self, path: Path) -> str:
        attr = path / "attrib" / "dev_config"
        if attr.exists():
            return self.fs.read(attr)
        return ""

    def create_backstore(self, spec: BackstoreSpec) -> Backstore:
        """Create and enable one TCMU backstore; undo everything on failure."""
        path = self.backstore_path(spec.name, spec.hba)
        if path.exists():
            raise LioError(path, "already exists")
        with self._undo_on_error() as done:
            self._mkdirs(HBA_OWNER, path.parent, done)
            self._mkdir(spec.name, path, done)
            for option in spec.control_options():
                self.fs.write(path / "control", option)
            self.fs.write(path / "attrib" / "pgr_support", "1" if spec.pgr_support else "0")
            self.fs.write(path / "attrib" / "alua_support", "0")
            if spec.cmd_time_out is not None:
                self.fs.write(path / "attrib" / "cmd_time_out", str(spec.cmd_time_out))
            if spec.tmr_notification and (path / "attrib" / "tmr_notification").exists():
                self.fs.write(path / "attrib" / "tmr_notification", "1")
            if spec.serial:
                self.fs.write(path / "wwn" / "vpd_unit_serial", spec.serial)
            self.fs.write(path / "enable", "1")
        log.info("created backstore %s (%s)", path, spec.dev_config)
        return Backstore(path, spec.name, spec.hba, spec.dev_config, True)

    # --- teardown --------------------------------------------------------------------

    def remove_owner(self, owner: str) -> list[str]:
        """Remove what was created for ``owner``, newest first."""
        return self._undo([s for s in self.journal.steps if s.owner == owner])

    def remove_all(self) -> list[str]:
        """Remove everything this process created, newest first."""
        return self._undo(list(self.journal.steps))

    def forget_missing(self) -> None:
        """Drop journal steps whose object no longer exists (removed by someone)."""
        self.journal.steps = [s for s in self.journal.steps if os.path.lexists(s.path)]


class LoopbackFabric:
    """Exports LUNs through tcm_loop: one target, one nexus, ``lun_N`` per device.

    Each ``loopback/<wwn>`` is a Linux SCSI host; linking a backstore into
    ``tpgt_1/lun/lun_N`` makes the kernel scan that LUN, which sends
    INQUIRY to the device at once, so the ring must be served by then.
    """

    OWNER = "fabric:loopback"

    def __init__(self, lio: Lio, seed: str, wwn: str | None = None) -> None:
        self.lio = lio
        self.wwn = wwn or naa_wwn(f"{seed}:target")
        self.initiator = naa_wwn(f"{seed}:initiator")

    @property
    def tpg(self) -> Path:
        return self.lio.fs.target / "loopback" / self.wwn / "tpgt_1"

    def lun_dir(self, lun: int) -> Path:
        return self.tpg / "lun" / f"lun_{lun}"

    def ensure_target(self) -> None:
        """Create the target and its nexus unless they exist already."""
        with self.lio._undo_on_error() as done:
            self.lio._mkdirs(self.OWNER, self.tpg, done)
            nexus = self.tpg / "nexus"
            try:
                current = self.lio.fs.read(nexus)
            except LioError:
                current = ""  # tcm_loop answers ENODEV while there is no nexus
            if not current:
                self.lio.fs.write(nexus, self.initiator)

    def linked(self, lun: int) -> Path | None:
        """What ``lun_N`` is linked to, if it exists."""
        return linked_backstore(self.lun_dir(lun))

    def export(self, backstore: Backstore, lun: int, owner: str) -> None:
        self.ensure_target()
        existing = self.linked(lun)
        if existing is not None:
            if existing == Path(os.path.realpath(backstore.path)):
                return
            raise LioError(self.lun_dir(lun), f"already links {existing}")
        with self.lio._undo_on_error() as done:
            self.lio._mkdirs(owner, self.lun_dir(lun), done)
            self.lio._symlink(owner, self.lun_dir(lun) / SUBTYPE, backstore.path, done)
        log.info("linked %s as %s", backstore.path, self.lun_dir(lun))

    def describe(self) -> dict[str, str]:
        return {"fabric": "loopback", "wwn": self.wwn, "initiator": self.initiator}
