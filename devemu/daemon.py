"""``devemu serve``: one process, one event loop, every configured device.

Theory of operation
-------------------
The daemon owns a single :mod:`selectors` loop over

- one file descriptor per device ring (``/dev/uioN``: readable when the
  kernel has queued entries; the 4-byte read acknowledges the doorbell,
  then :meth:`RingLoop.poll` walks the ring),
- the control socket and its connections (:mod:`devemu.control`),
- the TCMU netlink socket (device added / removed / reconfigured),
- a wake-up socket for signals and for the one worker thread.

Most LIO operations are quick configfs writes done in the loop's thread.
Two are not: linking a backstore to a tcm_loop LUN makes the kernel scan
the LUN and wait for the INQUIRY answer inside the ``symlink`` call, and
unlinking it lets the SCSI disk driver flush its cache first. Both need
the ring served while they run, so they go to a single worker thread and
the loop keeps serving; the worker only ever touches configfs.

Start-up: check the host (root, configfs, target_core_user), build every
device from the configuration (refusing a bad file before anything is
created), then for each device either attach to an enabled backstore of
subtype ``devemu`` whose path is the device name (one made by targetcli,
or left by a previous run) or create one, open its ring from ``cmd_tail``,
and finally export the LUNs. ``--ready-file`` is created when every
device is linked; the worker then opens the netlink socket (slow on an
emulated machine) while the loop already serves the new LUNs.

A restarted daemon finds its rings with entries between ``cmd_tail`` and
``cmd_head``: those commands may have been started by the process that
died. ``ServedDevice.may_replay`` decides per command whether it runs
again; the others complete with ABORTED COMMAND (SPC-5 4.4.3) so the
initiator knows their outcome is unknown.

Shutdown (SIGTERM, SIGINT): stop taking control requests, unlink the LUNs
while still serving, drain the commands still in the devices' hands,
close the rings, remove exactly the LIO objects this daemon (or its
previous incarnation, per the journal in ``state_dir``) created, and
exit 0.

The transport is pluggable (:class:`Backend`): :class:`KernelBackend`
drives LIO and UIO; tests use the ring simulator behind the same
interface.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol

from devemu.config import Config
from devemu.control import ControlServer
from devemu.errors import DevemuError
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.sense import COMMAND_ABORTED, SenseError
from devemu.served import ServedDevice
from devemu.tcmu.configfs import (
    DEFAULT_ROOT,
    SUBTYPE,
    Backstore,
    BackstoreSpec,
    Configfs,
    Journal,
    Lio,
    LioError,
    LoopbackFabric,
)
from devemu.tcmu.loop import RingLoop
from devemu.tcmu.netlink import DeviceEvent, TcmuCommand, TcmuNetlink
from devemu.tcmu.uio import DEFAULT_DEV, DEFAULT_SYSFS, UioDevice, UioMapping, UioName, find_devices

log = logging.getLogger(__name__)

#: How long shutdown waits for LUN removal and in-flight commands.
DRAIN_SECONDS = 30.0
JOURNAL_NAME = "lio.json"
_NOT_REPLAYED = Result(Status.CHECK_CONDITION, SenseError(COMMAND_ABORTED).sense_bytes())


class ServeError(DevemuError):
    """The host cannot serve devices; the message says what to run."""


class Channel(Protocol):
    """One device's ring as the loop sees it; also the ring's doorbell."""

    mapping: memoryview

    def fileno(self) -> int: ...

    def acknowledge(self) -> bool:
        """Consume the doorbell that made ``fileno`` readable; False if the ring is gone."""
        ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def notify(self) -> None: ...

    def close(self) -> None: ...


class EventSource(Protocol):
    """Device events from the kernel (the TCM-USER netlink group)."""

    def fileno(self) -> int: ...

    def read_events(self) -> list[DeviceEvent]: ...

    def reply(self, event: DeviceEvent, status: int = 0) -> None: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """Where rings come from and how LUNs are exported."""

    def preflight(self) -> None: ...

    def attach(self, device: ServedDevice) -> Channel:
        """Open the ring of ``device``, creating its backstore if it does not exist."""
        ...

    def export(self, device: ServedDevice, lun: int) -> None:
        """Make ``device`` visible to initiators (may block: runs in the worker)."""
        ...

    def unexport(self, device: ServedDevice, lun: int) -> None:
        """Undo :meth:`export` if this daemon did it (may block: runs in the worker)."""
        ...

    def release(self, device: ServedDevice) -> None:
        """Remove the backstore of ``device`` if this daemon created it."""
        ...

    def events(self) -> EventSource | None: ...

    def reply_expected(self, event: DeviceEvent) -> bool: ...

    def close(self) -> None: ...


def replay_policy(device: ServedDevice) -> Callable[[Command], Result | None]:
    """The ring loop's replay hook from ``ServedDevice.may_replay``."""

    def decide(cmd: Command) -> Result | None:
        if device.may_replay(cmd):
            log.info("%s: replaying CDB %s found in the ring", device.name, cmd.cdb.hex())
            return None
        log.warning(
            "%s: CDB %s was in progress when the previous handler stopped; not replayed",
            device.name,
            cmd.cdb.hex(),
        )
        return _NOT_REPLAYED

    return decide


@dataclass(eq=False)
class _Served:
    device: ServedDevice
    lun: int
    channel: Channel | None = None
    ring: RingLoop | None = None
    exported: bool = False

    @property
    def name(self) -> str:
        return self.device.name


@dataclass(eq=False)
class _Job:
    future: Future[None]
    done: Callable[[Future[None]], None]


@dataclass
class Daemon:
    """The serving loop of one configuration."""

    config: Config
    backend: Backend
    ready_file: Path | None = None
    socket_path: Path | None = None
    export: bool = True
    served: dict[str, _Served] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.stop_reason = ""
        self.control: ControlServer | None = None
        self.events: EventSource | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devemu-lio")
        self._jobs: list[_Job] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        self.pending_exports = 0
        self.failed: str | None = None

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Attach every device, open the control socket, schedule the exports."""
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        for lun, device in enumerate(self.config.devices):
            self.served[device.name] = _Served(device, lun)
        socket_path = self.socket_path or self.config.control_socket
        devices = {name: item.device for name, item in self.served.items()}
        self.control = ControlServer(socket_path, devices, self.selector)
        for item in self.served.values():
            self._attach(item)
        targets = [item for item in self.served.values() if self.export]
        if targets:
            self.pending_exports = 1
            self._submit(lambda: self._export_all(targets), self._exports_done)
        else:
            self._ready()

    def _attach(self, item: _Served) -> None:
        channel = self.backend.attach(item.device)
        try:
            ring = RingLoop(
                channel.mapping,
                item.device.device,
                doorbell=channel,
                on_replay=replay_policy(item.device),
                name=item.name,
            )
        except Exception:
            channel.close()
            raise
        item.channel = channel
        item.ring = ring
        self.selector.register(
            channel.fileno(), selectors.EVENT_READ, lambda _ev: self._on_ring(item)
        )
        # Entries left by a previous handler are there before any doorbell.
        ring.poll()
        log.info("%s: serving (%s, LUN %d)", item.name, item.device.kind, item.lun)

    def _export_all(self, targets: list[_Served]) -> None:
        for item in targets:
            self.backend.export(item.device, item.lun)
            item.exported = True
            log.info("%s: linked to LUN %d", item.name, item.lun)

    def _exports_done(self, future: Future[None]) -> None:
        self.pending_exports = 0
        error = future.exception()
        if error is not None:
            self.failed = f"cannot export the devices: {error}"
            log.error("%s", self.failed)
            self.request_stop("export failed")
            return
        self._ready()

    def _ready(self) -> None:
        if self.ready_file is not None:
            self.ready_file.parent.mkdir(parents=True, exist_ok=True)
            self.ready_file.touch()
        log.info("ready: %d device(s)", len(self.served))
        # Device events are followed from here on. Opening the netlink socket
        # (resolving the generic netlink family) takes seconds on an emulated
        # machine: the worker does it while the loop serves the new LUNs.
        opened: list[EventSource | None] = []
        self._submit(
            lambda: opened.append(self.backend.events()),
            lambda future: self._events_opened(future, opened),
        )

    def _events_opened(self, future: Future[None], opened: list[EventSource | None]) -> None:
        error = future.exception()
        if error is not None:
            log.warning("no netlink device events: %s", error)
            return
        if opened and opened[0] is not None:
            self.events = opened[0]
            self.selector.register(self.events, selectors.EVENT_READ, self._on_netlink)

    # ------------------------------------------------------------------- loop

    def step(self, timeout: float | None = None) -> None:
        """Wait for one batch of events and handle them."""
        for key, events in self.selector.select(timeout):
            callback: Callable[[int], None] = key.data
            callback(events)
        if self.control is not None:
            self.control.expire()

    def _on_ring(self, item: _Served) -> None:
        channel, ring = item.channel, item.ring
        if channel is None or ring is None:
            return
        if not channel.acknowledge():
            log.warning("%s: the ring went away", item.name)
            self._detach(item)
            return
        ring.poll()

    def _detach(self, item: _Served) -> None:
        if item.channel is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(item.channel.fileno())
            item.ring = None
            item.channel.close()
            item.channel = None

    def _on_netlink(self, _events: int) -> None:
        source = self.events
        if source is None:
            return
        for event in source.read_events():
            self.handle_event(event)

    def handle_event(self, event: DeviceEvent) -> None:
        """Follow one netlink device event; reply when the kernel waits for it."""
        name = UioName.parse(event.uio_name)
        status = 0
        item = self.served.get(name.path) if name and name.subtype == SUBTYPE else None
        reply = self.backend.reply_expected(event)
        log.info("netlink %s %s", event.command.name, event.uio_name)
        if item is not None:
            if event.command is TcmuCommand.ADDED_DEVICE and item.channel is None:
                try:
                    self._attach(item)
                except DevemuError as err:
                    log.error("%s: cannot attach: %s", item.name, err)
                    status = -errno.ENODEV
            elif event.command is TcmuCommand.REMOVED_DEVICE:
                self._detach(item)
            elif event.command is TcmuCommand.RECONFIG_DEVICE and event.dev_config is not None:
                status = -errno.EOPNOTSUPP
        elif name is not None and name.subtype == SUBTYPE:
            log.warning("%s: no device %r in the configuration", event.uio_name, name.path)
            status = -errno.ENOENT
        if reply and self.events is not None:
            self.events.reply(event, status)

    def _on_wake(self, _events: int) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass
        for job in [j for j in self._jobs if j.future.done()]:
            self._jobs.remove(job)
            job.done(job.future)

    def _submit(self, work: Callable[[], None], done: Callable[[Future[None]], None]) -> None:
        future = self._worker.submit(work)
        # Listed before the wake-up can arrive, so the loop always finds it.
        self._jobs.append(_Job(future, done))
        future.add_done_callback(lambda _f: self._wake())

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def request_stop(self, reason: str) -> None:
        if not self.stopping:
            log.info("stopping: %s", reason)
        self.stopping = True
        self.stop_reason = reason
        self._wake()

    # ----------------------------------------------------------------- finish

    def shutdown(self) -> None:
        """Unlink while serving, drain, close rings, remove what we created."""
        if self.control is not None:
            self.control.close()
            self.control = None
        deadline = time.monotonic() + DRAIN_SECONDS
        # An export still running finishes first; then every LUN is unlinked.
        while self._jobs and time.monotonic() < deadline:
            self.step(0.1)
        exported = [item for item in self.served.values() if item.exported]
        if exported:
            unexported: list[bool] = []
            self._submit(
                lambda: self._unexport_all(exported),
                lambda f: unexported.append(f.exception() is None),
            )
            while not unexported and time.monotonic() < deadline:
                self.step(0.1)
        while time.monotonic() < deadline and any(
            item.ring is not None and item.ring.in_flight for item in self.served.values()
        ):
            self.step(0.1)
        for item in self.served.values():
            if item.ring is not None and item.ring.in_flight:
                log.warning("%s: %d command(s) still in flight", item.name, item.ring.in_flight)
            self._detach(item)
            try:
                self.backend.release(item.device)
            except DevemuError as err:
                log.error("%s", err)
            try:
                item.device.close()
            except Exception:
                log.exception("%s: close failed", item.name)
        if self.events is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.events)
            self.events.close()
            self.events = None
        self.backend.close()
        self._worker.shutdown(wait=False)
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)

    def _unexport_all(self, items: list[_Served]) -> None:
        for item in reversed(items):
            try:
                self.backend.unexport(item.device, item.lun)
            finally:
                item.exported = False

    def close(self) -> None:
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; return the exit status."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        try:
            try:
                self.start()
                while not self.stopping:
                    self.step(1.0)
            finally:
                self.shutdown()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.close()
        if self.failed:
            raise ServeError(self.failed)
        return 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.request_stop(signal.Signals(signum).name)


# --------------------------------------------------------------------- kernel


class UioChannel:
    """A ring on ``/dev/uioN``.

    Its doorbell ``write()`` is where the kernel reaps completions and
    copies data-in out of the data area (``tcmu_irqcontrol``), a copy as
    long as the handler's own for a large READ. :meth:`notify` writes at
    once; :meth:`notify_soon`, which the ring loop uses after a large
    READ, wakes a thread of the channel's own to make that ``write()``,
    so the copy runs while the loop serves the next commands. Writes
    coalesce (one ``write()`` reaps everything behind ``cmd_tail``), and
    the thread touches nothing but the file descriptor. For small
    batches the hand-over to a thread costs more than it saves.
    """

    def __init__(self, uio: UioDevice) -> None:
        self.uio = uio
        self._map = UioMapping(uio)
        os.set_blocking(self._map.fd, False)
        self.mapping = memoryview(self._map.mem)
        # Locked while no write is wanted; released (once) to want one.
        self._bell = threading.Lock()
        self._bell.acquire()
        self._rung = False
        self._closing = False
        self._ringer: threading.Thread | None = None

    def _ring(self) -> None:
        fd = self._map.fd
        bell = self._bell
        while True:
            bell.acquire()
            self._rung = False
            try:
                os.write(fd, b"\0\0\0\0")
            except OSError as err:
                log.debug("%s: write: %s", self.uio.dev, err)
            if self._closing:
                return

    def fileno(self) -> int:
        return self._map.fd

    def acknowledge(self) -> bool:
        try:
            os.read(self._map.fd, 4)
        except BlockingIOError:
            return True
        except OSError as err:
            log.debug("%s: read: %s", self.uio.dev, err)
            return False
        return True

    def wait(self, timeout: float | None = None) -> bool:
        return False

    def notify(self) -> None:
        self._map.notify()

    def notify_soon(self) -> None:
        if self._rung:
            return
        if self._ringer is None:
            self._ringer = threading.Thread(
                target=self._ring, name=f"devemu-{self.uio.dev.name}", daemon=True
            )
            self._ringer.start()
        self._rung = True
        self._bell.release()

    def close(self) -> None:
        self._closing = True
        if self._ringer is not None:
            if not self._rung:
                self._rung = True
                self._bell.release()
            self._ringer.join()
            self._ringer = None
        with contextlib.suppress(BufferError):
            self.mapping.release()
        self._map.close()


def check_host(
    configfs_root: Path = DEFAULT_ROOT,
    sysfs: Path = DEFAULT_SYSFS,
    *,
    fabric: str = "loopback",
    euid: int | None = None,
) -> None:
    """Refuse, in one line that says what to run, a host that cannot serve."""
    if (os.geteuid() if euid is None else euid) != 0:
        raise ServeError(
            "devemu serve must run as root (it writes configfs and opens /dev/uio*): "
            "run `sudo devemu serve CONFIG`"
        )
    if not (sysfs / "module" / "target_core_user").is_dir():
        raise ServeError(
            "the target_core_user module is not loaded: run `modprobe target_core_user`"
        )
    if not (configfs_root / "target").is_dir():
        if not configfs_root.is_dir() or not any(configfs_root.iterdir()):
            raise ServeError(
                f"configfs is not mounted on {configfs_root}: "
                f"run `mount -t configfs none {configfs_root}`"
            )
        raise ServeError(
            f"{configfs_root}/target is missing: run `modprobe target_core_mod target_core_user`"
        )
    if not (configfs_root / "target" / "core").is_dir():
        raise ServeError("LIO is not initialised: run `modprobe target_core_user`")
    if fabric == "loopback" and not (sysfs / "module" / "tcm_loop").is_dir():
        raise ServeError("the tcm_loop module is not loaded: run `modprobe tcm_loop`")


class KernelBackend:
    """LIO through configfs, rings through UIO, events through netlink."""

    def __init__(
        self,
        config: Config,
        *,
        configfs_root: Path = DEFAULT_ROOT,
        sysfs: Path = DEFAULT_SYSFS,
        dev: Path = DEFAULT_DEV,
        use_netlink: bool = True,
    ) -> None:
        self.config = config
        self.configfs_root = configfs_root
        self.sysfs = sysfs
        self.dev = dev
        self.use_netlink = use_netlink
        self.journal_path = config.state_dir / JOURNAL_NAME
        self.lio = Lio(Configfs(configfs_root), self._load_journal())
        self.fabric = (
            LoopbackFabric(self.lio, str(config.state_dir), config.wwn)
            if config.fabric == "loopback"
            else None
        )
        self.backstores: dict[str, Backstore] = {}
        self._replies: dict[str, bool] = {}

    def _load_journal(self) -> Journal:
        try:
            text = self.journal_path.read_text()
        except FileNotFoundError:
            return Journal()
        try:
            journal = Journal.loads(text)
        except (ValueError, KeyError, TypeError) as err:
            raise ServeError(f"{self.journal_path}: unreadable journal ({err}); remove it") from err
        log.info("adopting %d LIO object(s) from %s", len(journal.steps), self.journal_path)
        return journal

    def _save_journal(self) -> None:
        if not self.lio.journal.steps:
            self.journal_path.unlink(missing_ok=True)
            return
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.journal_path.with_suffix(".tmp")
        with tmp.open("w") as out:
            out.write(self.lio.journal.dumps())
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.journal_path)

    def preflight(self) -> None:
        check_host(self.configfs_root, self.sysfs, fabric=self.config.fabric)
        self.lio.forget_missing()
        # Objects a previous run made for devices no longer configured go now.
        configured = {d.name for d in self.config.devices}
        for owner in reversed(self.lio.journal.owners()):
            name = owner.removeprefix("lun:")
            if ":" not in name and name != "hba" and name not in configured:
                log.info("removing %s, left by a previous run and no longer configured", owner)
                self.lio.remove_owner(owner)
        self._save_journal()

    def _find_uio(self, device: ServedDevice) -> UioDevice | None:
        for uio in find_devices(SUBTYPE, sysfs=self.sysfs, dev=self.dev):
            if uio.name.path == device.name:
                return uio
        return None

    def attach(self, device: ServedDevice) -> Channel:
        uio = self._find_uio(device)
        if uio is None:
            existing = self.lio.find_backstore(device.name)
            if existing is not None:
                raise LioError(
                    existing.path,
                    "exists but is not an enabled devemu backstore "
                    f"(dev_config {existing.dev_config or 'unset'!r}); "
                    "remove it or rename the device",
                )
            spec = BackstoreSpec(
                name=device.name,
                dev_size=device.size,
                hw_block_size=device.block_size,
                serial=device.device.identity.serial,
                cmd_time_out=self.config.cmd_time_out,
            )
            try:
                backstore = self.lio.create_backstore(spec)
            finally:
                self._save_journal()
            self.backstores[device.name] = backstore
            uio = self._find_uio(device)
            if uio is None:
                raise LioError(backstore.path, "enabled, but no UIO device appeared")
        else:
            hba_path = self.lio.backstore_path(uio.name.backstore, uio.name.hba)
            self.backstores[device.name] = Backstore(
                hba_path,
                uio.name.backstore,
                uio.name.hba,
                f"{uio.name.subtype}/{uio.name.path}",
                self.lio.journal.owned(hba_path),
            )
            log.info("%s: attaching to existing %s", device.name, uio.name)
        self._replies[str(uio.name)] = self._nl_reply(self.backstores[device.name].path)
        return UioChannel(uio)

    def _nl_reply(self, backstore: Path) -> bool:
        attr = backstore / "attrib" / "nl_reply_supported"
        try:
            return int(self.lio.fs.read(attr)) > 0
        except (LioError, ValueError):
            return False

    def export(self, device: ServedDevice, lun: int) -> None:
        if self.fabric is None:
            return
        backstore = self.backstores[device.name]
        if not self.lio.journal.owned(backstore.path):
            log.info(
                "%s: %s was made elsewhere; its exports are left as they are",
                device.name,
                backstore.path,
            )
            return
        try:
            self.fabric.export(backstore, lun, f"lun:{device.name}")
        finally:
            self._save_journal()

    def unexport(self, device: ServedDevice, lun: int) -> None:
        self.lio.remove_owner(f"lun:{device.name}")
        self._save_journal()

    def release(self, device: ServedDevice) -> None:
        self.lio.remove_owner(device.name)
        self._save_journal()

    def events(self) -> EventSource | None:
        if not self.use_netlink:
            return None
        try:
            return TcmuNetlink()
        except Exception as err:  # the daemon serves without events rather than not at all
            log.warning("no netlink device events: %s", err)
            return None

    def reply_expected(self, event: DeviceEvent) -> bool:
        if event.uio_name in self._replies:
            return self._replies[event.uio_name]
        name = UioName.parse(event.uio_name)
        if name is None or event.command is TcmuCommand.REMOVED_DEVICE:
            return False
        return self._nl_reply(self.lio.backstore_path(name.backstore, name.hba))

    def close(self) -> None:
        problems = self.lio.remove_all()
        for problem in problems:
            log.error("left behind: %s", problem)
        self._save_journal()


def serve(
    config: Config,
    *,
    ready_file: Path | None = None,
    socket_path: Path | None = None,
    backend: Backend | None = None,
) -> int:
    """Serve ``config`` until a signal; the devices must already be built."""
    chosen = backend or KernelBackend(config)
    chosen.preflight()
    daemon = Daemon(config, chosen, ready_file=ready_file, socket_path=socket_path)
    daemon.export = config.fabric != "none"
    return daemon.run()
