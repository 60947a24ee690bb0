"""``devemu serve``: a ring worker per device group, every configured device.

Theory of operation
-------------------
The rings are served in parallel by :class:`~devemu.ring_worker.RingWorker`
threads, one per device group (a device alone, or a library's changer
with its drives): each waits on its rings' ``/dev/uioN`` (readable when
the kernel has queued entries; the 4-byte read acknowledges the
doorbell, then :meth:`RingLoop.poll` walks the ring) and owns its
devices' state. The main thread owns a :mod:`selectors` loop over

- the control socket and its connections (:mod:`devemu.control`); an
  operation on a device (``insert``, ``eject``, ``status``...) is posted
  to the device's worker and runs there between two walks,
- the TCMU netlink socket (device added / removed / reconfigured),
- the kernel log, for rings the kernel marks broken,
- a wake-up socket for signals, for the LIO thread and for the ring
  workers (a ring that went away, trace records).

With ``[daemon] ring_processes`` the ring workers run in worker processes
instead (:mod:`devemu.worker_process`): this process opens the rings,
forks the processes, which build their devices and serve them, and
reaches each device with a named request to its process; a process that
dies is forked again. The rest below holds either way.

Most LIO operations are quick configfs writes done in the loop's thread.
Two are not: linking a backstore to a tcm_loop LUN makes the kernel scan
the LUN and wait for the INQUIRY answer inside the ``symlink`` call, and
unlinking it lets the SCSI disk driver flush its cache first. Both need
the ring served while they run, so they go to a single LIO thread and
the workers keep serving; that thread only ever touches configfs.

Start-up: check the host (root, configfs, target_core_user), build every
device from the configuration (refusing a bad file before anything is
created), then for each device either attach to an enabled backstore of
subtype ``devemu`` whose path is the device name (one made by targetcli,
or left by a previous run) or create one, open its ring from ``cmd_tail``,
and finally export the LUNs. ``--ready-file`` is created when every
device is linked; the worker then opens the netlink socket (one round
trip to the generic netlink controller) while the loop already serves
the new LUNs.

A restarted daemon finds its rings with entries between ``cmd_tail`` and
``cmd_head``: those commands may have been started by the process that
died. ``ServedDevice.may_replay`` decides per command whether it runs
again; the others complete with ABORTED COMMAND (SPC-5 4.4.3) so the
initiator knows their outcome is unknown.

A ring the kernel marks broken (a handler bug: an answer it cannot
match to a command) is dead for good: the kernel fails every command of
that LUN itself and never queues another one. The backend's ring watch
(:mod:`devemu.tcmu.kmsg`: the kernel's log, and a doorbell to tell which
ring) makes the loop say so in one log line and in ``devemu status``
(``ring``: state and count), unlink the LUN, recreate the backstore,
serve its new ring and link the LUN again, while every other device
serves on; after :data:`MAX_RECOVERIES` it stays broken.

Shutdown (SIGTERM, SIGINT): stop taking control requests, unlink the LUNs
while still serving, drain the commands still in the devices' hands,
close the rings, remove exactly the LIO objects this daemon (or its
previous incarnation, per the journal in ``state_dir``) created, and
exit 0.

``devemu trace`` (:mod:`devemu.trace`): the control socket's trace
streams subscribe to :attr:`Daemon.tracing`; when one comes or goes the
loop has each ring's worker give it either its device or, while someone
traces that device, a wrapper that also records each command (the
records reach the streams through the main thread). The per-command
path of an untraced ring is the device's own ``execute``, as if tracing
did not exist.

Beside the loop: the service manager hears ``READY=1`` once every LUN is
linked, ``STOPPING=1`` when shutdown begins, and the watchdog's
keep-alive from :meth:`Daemon.step` (:mod:`devemu.sd_notify`); targetcli
finds devemu's handler on the system D-Bus, served by a thread of its
own (:mod:`devemu.dbus_service`), which only reads :meth:`Daemon.attached`.
Devices of ``external_backstores`` get no backstore from the daemon: each
is served once targetcli (or LIO's restored configuration) makes one.

The transport is pluggable (:class:`Backend`):
:class:`~devemu.tcmu.backend.KernelBackend` drives LIO and UIO (all of it
lives in :mod:`devemu.tcmu`); tests use the ring simulator behind the
same interface. This module knows the protocol and the loop only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import functools
import logging
import selectors
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from devemu.config import Config
from devemu.control import ControlServer
from devemu.dbus_service import BusService, machine_id
from devemu.device_ring import ring_of
from devemu.disk.copy_offload import link_copy_peers
from devemu.errors import DevemuError
from devemu.ring_worker import RingWorker, workers_for
from devemu.sd_notify import Notifier
from devemu.served import ControlOp, ServedDevice
from devemu.tcmu.backend import KernelBackend, NoBackstoreYetError
from devemu.tcmu.configfs import SUBTYPE
from devemu.tcmu.host import ServeError
from devemu.tcmu.loop import RingLoop
from devemu.tcmu.netlink import DeviceEvent, TcmuCommand
from devemu.tcmu.uio import UioName
from devemu.tcmu_service import TcmuService, devemu_handler
from devemu.trace import TraceHub, TraceRecord, tables_of
from devemu.worker_process import WorkerGoneError, WorkerProcess, deal

log = logging.getLogger(__name__)

#: How long shutdown waits for LUN removal and in-flight commands.
DRAIN_SECONDS = 30.0


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


class RingWatchSource(Protocol):
    """Tells the loop that the kernel gave up on a ring, and which one.

    Readable when the kernel said something; :meth:`alarmed` reads it and
    says whether a ring is broken; :meth:`is_broken` asks about one ring
    (see :mod:`devemu.tcmu.kmsg`).
    """

    def fileno(self) -> int: ...

    def alarmed(self) -> bool: ...

    def is_broken(self, bell: Channel) -> bool: ...

    def close(self) -> None: ...


class Service(Protocol):
    """Something that runs beside the loop, in its own thread (the D-Bus service)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


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

    def recreate(self, device: ServedDevice) -> Channel:
        """A new backstore for ``device`` (its ring was marked broken); its ring."""
        ...

    def ring_watch(self) -> RingWatchSource | None: ...

    def events(self) -> EventSource | None: ...

    def reply_expected(self, event: DeviceEvent) -> bool: ...

    def close(self) -> None: ...


class RingState(enum.Enum):
    """Where a device's ring is, as ``devemu status`` shows it once it has ever broken."""

    SERVING = "serving"
    BROKEN = "broken"
    RECOVERING = "recovering"


#: Times one device's backstore is recreated before it is left broken.
MAX_RECOVERIES = 3


@dataclass(eq=False)
class _Served:
    device: ServedDevice
    lun: int
    #: The thread that serves the ring and owns the device's state.
    worker: RingWorker | None = None
    #: Or the worker process that does (``[daemon] ring_processes``).
    process: WorkerProcess | None = None
    channel: Channel | None = None
    ring: RingLoop | None = None
    exported: bool = False
    ring_state: RingState = RingState.SERVING
    ring_breaks: int = 0
    # REMOVED_DEVICE events of backstores this daemon removed to recreate them.
    own_removals: int = 0

    def on_worker(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` where the device's state lives: on its worker's thread."""
        return work() if self.worker is None else self.worker.call(work)

    def status(self) -> dict[str, Any]:
        """The device's own status, plus the ring's once it has ever broken, plus the
        worker process that serves it, if one does."""
        process = self.process
        status: dict[str, Any]
        if process is None:
            status = self.on_worker(self.device.status)
        else:
            status = {
                **process.call("status", self.name),
                "worker": {"process": process.name, "pid": process.pid},
            }
        if self.ring_breaks:
            status = {
                **status,
                "ring": {"state": self.ring_state.value, "breaks": self.ring_breaks},
            }
        return status

    @property
    def name(self) -> str:
        return self.device.name

    def posted(self, name: str, op: ControlOp) -> ControlOp:
        """The control operation ``name`` (``op``) of the device, run where its state lives."""
        process = self.process
        if process is not None:
            return lambda args: process.call("control", self.name, name, args)
        return lambda args: self.on_worker(lambda: op(args))


class _PostedTraceHub(TraceHub):
    """Trace records made on the ring workers reach the subscribers on the main thread."""

    def __init__(
        self, on_change: Callable[[], None], post: Callable[[Callable[[], None]], None]
    ) -> None:
        super().__init__({}, on_change)
        self._post = post

    def publish(self, record: TraceRecord) -> None:
        self._post(lambda: TraceHub.publish(self, record))


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
    #: The service manager's notifications (``Type=notify``); silent outside systemd.
    notify: Notifier = field(default_factory=Notifier)
    #: Started once the devices are known, stopped first on shutdown.
    services: list[Service] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.stop_reason = ""
        self.control: ControlServer | None = None
        self.events: EventSource | None = None
        self.ring_watch: RingWatchSource | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devemu-lio")
        self._jobs: list[_Job] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        self.pending_exports = 0
        self.failed: str | None = None
        #: One ring worker per device group (see :mod:`devemu.ring_worker`).
        self.workers: dict[str, RingWorker] = {}
        #: Or the worker processes (``[daemon] ring_processes``; :mod:`devemu.worker_process`).
        self.processes: list[WorkerProcess] = []
        # Work the ring workers hand to the main thread (appended from any thread).
        self._later: deque[Callable[[], None]] = deque()
        #: ``devemu trace`` subscribers; a ring executes through the hub only while traced.
        self.tracing: TraceHub = _PostedTraceHub(self._retrace, self.later)

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Attach every device, open the control socket, schedule the exports."""
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        self.notify.status(f"attaching {len(self.config.devices)} device(s)")
        if self.config.ring_processes:
            self._plan_processes()
        else:
            chosen = workers_for(
                ((d.name, d.group) for d in self.config.devices), self.config.ring_workers
            )
            for lun, device in enumerate(self.config.devices):
                self.served[device.name] = _Served(device, lun, chosen[device.name])
                self.workers.setdefault(chosen[device.name].name, chosen[device.name])
        # EXTENDED COPY reaches every disk served here, by its designator
        # (in a worker process: every disk of that process).
        if not self.processes:
            link_copy_peers(item.device.device for item in self.served.values())
        socket_path = self.socket_path or self.config.control_socket
        # The control socket's view of each device: its status includes the
        # ring's, and every operation runs on the device's worker.
        devices = {
            name: dataclasses.replace(
                item.device, status=item.status, control=_posted_ops(item, item.device.control)
            )
            for name, item in self.served.items()
        }
        self.tracing.tables = tables_of((n, i.device.device) for n, i in self.served.items())
        self.control = ControlServer(
            socket_path,
            devices,
            self.selector,
            tracing=self.tracing,
            fabric_status=getattr(self.backend, "fabric_status", None),
        )
        self.ring_watch = self.backend.ring_watch()
        if self.ring_watch is not None:
            self.selector.register(self.ring_watch, selectors.EVENT_READ, self._on_ring_watch)
        for item in self.served.values():
            try:
                self._attach(item)
            except NoBackstoreYetError as err:
                log.info("%s", err)
        # Forked before any thread of this process starts.
        for process in self.processes:
            self._start_process(process)
        for service in self.services:
            service.start()
        targets = [
            item for item in self.served.values() if self.export and item.channel is not None
        ]
        if targets:
            self.pending_exports = 1
            self._submit(lambda: self._export_all(targets), self._exports_done)
        else:
            self._ready()

    def _plan_processes(self) -> None:
        """Deal the devices' plans to the worker processes; close this process's copies."""
        config = self.config
        shares = deal(config, config.devices, config.ring_processes)
        for index, plans in enumerate(shares):
            names = tuple(d.name for d in config.devices if config.built_by[d.name] in plans)
            self.processes.append(
                WorkerProcess(f"worker{index}", config, plans, names, self._on_process_event)
            )
        by_name = {name: p for p in self.processes for name in p.devices}
        for lun, device in enumerate(config.devices):
            self.served[device.name] = _Served(device, lun, process=by_name[device.name])
            # The process builds the device again from its plan: nothing ran on this copy.
            device.close()

    def _start_process(self, process: WorkerProcess) -> None:
        channels = {
            name: channel
            for name in process.devices
            if (channel := self.served[name].channel) is not None
        }
        mine = set(process.devices)
        foreign: list[Any] = [
            item.channel
            for name, item in self.served.items()
            if name not in mine and item.channel is not None
        ]
        foreign += [other for other in self.processes if other is not process]
        process.start(channels, foreign)
        self.selector.register(
            process, selectors.EVENT_READ, lambda _e: self._on_process_socket(process)
        )
        for name in process.devices:
            if self.tracing.wants(name):
                process.trace(name, True)

    def _stop_process(self, process: WorkerProcess) -> None:
        if process.running:
            self.selector.unregister(process)
            process.stop()

    def _restart_process(self, process: WorkerProcess) -> None:
        """Hand a process its rings again (one was added): stop it, fork it anew."""
        self._stop_process(process)
        self._start_process(process)

    def _on_process_socket(self, process: WorkerProcess) -> None:
        events = process.events()
        if events is not None:
            for event in events:
                self._on_process_event(event)
            return
        self.selector.unregister(process)
        how = process.reap()
        if self.stopping:
            log.warning("%s: worker process ended (%s)", process.name, how)
        elif process.may_restart():
            log.error(
                "%s: worker process ended (%s); forking it again for %s",
                process.name,
                how,
                ", ".join(process.devices),
            )
            self._start_process(process)
        else:
            log.error(
                "%s: worker process ended (%s), again; %s stay down until devemu serve restarts",
                process.name,
                how,
                ", ".join(process.devices),
            )

    def _on_process_event(self, event: tuple[str, Any]) -> None:
        kind, value = event
        if kind == "trace":
            TraceHub.publish(self.tracing, value)
        elif kind == "gone":
            item = self.served.get(value)
            if item is not None and item.channel is not None:
                self._gone(item, item.channel)

    def attached(self) -> dict[str, bool]:
        """Which devices have their ring served now (any thread may ask)."""
        return {name: item.channel is not None for name, item in list(self.served.items())}

    def _attach(self, item: _Served) -> None:
        self._serve(item, self.backend.attach(item.device))

    def _serve(self, item: _Served, channel: Channel) -> None:
        if item.process is not None:
            # The process serves the ring; a running one is forked again to take it.
            item.channel = channel
            log.info("%s: ring open (%s, LUN %d)", item.name, item.device.kind, item.lun)
            if item.process.running:
                self._restart_process(item.process)
            return
        try:
            ring = ring_of(
                item.device, channel, self.tracing.device_for(item.name, item.device.device)
            )
        except Exception:
            channel.close()
            raise
        item.channel = channel
        item.ring = ring
        assert item.worker is not None
        item.worker.add(channel, ring, lambda: self.later(lambda: self._gone(item, channel)))
        log.info("%s: serving (%s, LUN %d)", item.name, item.device.kind, item.lun)

    def _retrace(self) -> None:
        """A tracer came or went: each ring executes its device, through the hub if traced.

        Swapping the ring's device here, not testing for tracers on every
        command, keeps an untraced ring's per-command path as it is.
        """
        for item in self.served.values():
            ring = item.ring
            if item.process is not None and item.process.running:
                item.process.trace(item.name, self.tracing.wants(item.name))
            elif ring is not None:
                device = self.tracing.device_for(item.name, item.device.device)
                item.on_worker(functools.partial(setattr, ring, "device", device))

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
            self.notify.status(self.failed)
            self.request_stop("export failed")
            return
        self._ready()

    def _ready(self) -> None:
        if self.ready_file is not None:
            self.ready_file.parent.mkdir(parents=True, exist_ok=True)
            self.ready_file.touch()
        log.info("ready: %d device(s)", len(self.served))
        self.notify.ready(f"serving {len(self.served)} device(s)")
        # Device events are followed from here on: the worker opens the
        # netlink socket (asks the controller for the family) while the loop
        # serves the new LUNs.
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
        # A backstore made elsewhere while no event could be heard is served now.
        for item in self.served.values():
            if item.channel is None and item.name in self.config.external_backstores:
                try:
                    self._attach(item)
                except DevemuError as err:
                    log.debug("%s", err)

    # ------------------------------------------------------------------- loop

    def step(self, timeout: float | None = None) -> None:
        """Wait for one batch of events and handle them."""
        for key, events in self.selector.select(timeout):
            callback: Callable[[int], None] = key.data
            callback(events)
        if self.control is not None:
            self.control.expire()
        self.notify.keepalive()

    def _gone(self, item: _Served, channel: Channel) -> None:
        """The worker found the ring of ``item`` gone (the kernel removed the device)."""
        if item.channel is channel:
            self._detach(item)

    def _detach(self, item: _Served) -> None:
        if item.channel is not None:
            if item.worker is not None:
                item.worker.remove(item.channel)
            if item.process is not None and item.process.running:
                with contextlib.suppress(WorkerGoneError):
                    item.process.call("remove", item.name)
            item.ring = None
            item.channel.close()
            item.channel = None

    # ------------------------------------------------------------ broken rings

    def _on_ring_watch(self, _events: int) -> None:
        watch = self.ring_watch
        if watch is None or not watch.alarmed():
            return
        for item in self.served.values():
            if (
                item.channel is not None
                and item.ring_state is RingState.SERVING
                and watch.is_broken(item.channel)
            ):
                self.ring_broken(item.name)

    def ring_broken(self, name: str) -> None:
        """The kernel marked the ring of ``name`` broken: say so once, then recover."""
        item = self.served[name]
        item.ring_state = RingState.BROKEN
        item.ring_breaks += 1
        if item.ring_breaks > MAX_RECOVERIES:
            log.error(
                "%s: the kernel marked the ring of LUN %d broken again (%d times); "
                "it stays broken until devemu serve restarts",
                name,
                item.lun,
                item.ring_breaks,
            )
            return
        log.error(
            "%s: the kernel marked the ring of LUN %d broken and fails its commands itself; "
            "recreating the backstore",
            name,
            item.lun,
        )
        self.recover(name)

    def recover(self, name: str) -> None:
        """Recreate the backstore of ``name`` and relink its LUN; the others serve on.

        Unlinking and linking run in the worker, as at start-up and
        shutdown; the backstore is removed and made again in the loop,
        which then serves the new ring before the LUN is linked to it.
        """
        item = self.served[name]
        item.ring_state = RingState.RECOVERING
        relink = item.exported

        def unlink() -> None:
            if relink:
                self.backend.unexport(item.device, item.lun)
                item.exported = False

        self._submit(unlink, lambda future: self._recreate(item, future, relink))

    def _recreate(self, item: _Served, unlinked: Future[None], relink: bool) -> None:
        error = unlinked.exception()
        if error is None:
            self._detach(item)
            if self.events is not None:
                item.own_removals += 1
            try:
                self._serve(item, self.backend.recreate(item.device))
            except DevemuError as err:
                error = err
        if error is not None:
            item.ring_state = RingState.BROKEN
            log.error("%s: cannot recreate the backstore: %s", item.name, error)
            return
        if not relink:
            self._recovered(item)
            return

        def link() -> None:
            self.backend.export(item.device, item.lun)
            item.exported = True

        self._submit(link, lambda future: self._relinked(item, future))

    def _relinked(self, item: _Served, linked: Future[None]) -> None:
        error = linked.exception()
        if error is not None:
            item.ring_state = RingState.BROKEN
            log.error("%s: cannot link LUN %d again: %s", item.name, item.lun, error)
            return
        self._recovered(item)

    def _recovered(self, item: _Served) -> None:
        item.ring_state = RingState.SERVING
        log.info("%s: serving again on a new backstore (LUN %d)", item.name, item.lun)

    # ----------------------------------------------------------------- events

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
                if item.own_removals:  # the old backstore of a recreated one
                    item.own_removals -= 1
                else:
                    self._detach(item)
            elif event.command is TcmuCommand.RECONFIG_DEVICE and event.dev_config is not None:
                status = -errno.EOPNOTSUPP
        elif name is not None and name.subtype == SUBTYPE:
            log.warning("%s: no device %r in the configuration", event.uio_name, name.path)
            status = -errno.ENOENT
        if reply and self.events is not None:
            self.events.reply(event, status)

    def later(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the main thread soon; callable from any thread."""
        later = self._later
        later.append(work)
        if len(later) == 1:  # else a wake-up is already on its way
            self._wake()

    def _on_wake(self, _events: int) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass
        later = self._later
        while later:
            work = later.popleft()
            try:
                work()
            except Exception:
                log.exception("work handed to the main thread failed")
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
            self.notify.stopping(f"stopping: {reason}")
        self.stopping = True
        self.stop_reason = reason
        self._wake()

    # ----------------------------------------------------------------- finish

    def shutdown(self) -> None:
        """Unlink while serving, drain, close rings, remove what we created."""
        for service in self.services:
            service.stop()
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
        while time.monotonic() < deadline and self._in_flight():
            self.step(0.1)
        for item in self.served.values():
            if item.ring is not None and item.ring.in_flight:
                log.warning("%s: %d command(s) still in flight", item.name, item.ring.in_flight)
        for process in self.processes:  # each closes its rings and devices
            self._stop_process(process)
        for item in self.served.values():
            self._detach(item)
            try:
                self.backend.release(item.device)
            except DevemuError as err:
                log.error("%s", err)
            if item.process is not None:
                continue
            try:
                item.on_worker(item.device.close)
            except Exception:
                log.exception("%s: close failed", item.name)
        for worker in self.workers.values():
            worker.stop()
        if self.events is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.events)
            self.events.close()
            self.events = None
        if self.ring_watch is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.ring_watch)
            self.ring_watch.close()
            self.ring_watch = None
        self.backend.close()
        self._worker.shutdown(wait=False)
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)

    def _in_flight(self) -> int:
        """Commands taken from the rings and not yet answered, in every worker."""
        count = sum(item.ring.in_flight for item in self.served.values() if item.ring is not None)
        for process in self.processes:
            if process.running:
                with contextlib.suppress(WorkerGoneError):
                    count += process.call("in_flight")
        return count

    def _unexport_all(self, items: list[_Served]) -> None:
        for item in reversed(items):
            try:
                self.backend.unexport(item.device, item.lun)
            finally:
                item.exported = False

    def close(self) -> None:
        self.notify.close()
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


def _posted_ops(item: _Served, ops: Mapping[str, ControlOp]) -> dict[str, ControlOp]:
    """The control operations of ``item``, each run on its worker."""
    return {name: item.posted(name, op) for name, op in ops.items()}


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
    daemon = Daemon(
        config,
        chosen,
        ready_file=ready_file,
        socket_path=socket_path,
        notify=Notifier.from_environ(),
    )
    names = [device.name for device in config.devices]
    handler = devemu_handler(config.path, names, daemon.attached)
    daemon.services.append(BusService(TcmuService([handler], machine_id())))
    daemon.export = config.fabric != "none"
    return daemon.run()
