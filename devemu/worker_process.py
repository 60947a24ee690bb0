"""Worker processes: the daemon's rings served on every core.

Theory of operation
-------------------
Python runs one thread at a time per process, so ring worker threads
(:mod:`devemu.ring_worker`) overlap the system calls of large transfers
but not the per-command work of small ones: four LUNs doing 4 KiB I/O
get one core between them. With ``[daemon] ring_processes = N`` the
daemon forks N worker processes; the configuration's device plans are
dealt out to them in turn (a plan's devices, a library's changer and
drives, stay together), and each process serves its devices' rings with
ring worker threads of its own, as the daemon would.

The main process keeps what is shared: configfs, netlink, the kernel
log, the control socket, D-Bus. It opens every ring (``/dev/uioN``) and
keeps it open; a process is forked after its rings are open and inherits
the descriptors and the shared mappings (the kernel allows one open of
a TCMU ring, and an inherited descriptor is that same open). The main
process never walks a ring it handed on; it only rings the doorbell to
ask the kernel whether a ring is broken (:mod:`devemu.tcmu.kmsg`).

A device's state lives in one process: the main process closes the
devices it built to check the configuration (nothing has run on them),
and each worker process builds its own from the same plans
(:func:`devemu.config.build_plans`): from the images and the state
files, as a restarted daemon does. Everything else reaches a device as a
named request over a ``SOCK_SEQPACKET`` socket pair, one pickled message
each way: ``status``, a control operation with its arguments, tracing
on or off, a ring to drop, stop. Requests are made by the main thread
alone, one at a time; the worker answers each in order and, between
answers, sends the records of traced commands and the rings it found
gone. Nothing on the per-command path crosses the socket. One thing
does not cross it at all: EXTENDED COPY (SPC-4 6.4) reaches the disks
of the same process only (a copy names its target by designator and
runs in the disk's own process).

A process that dies (a crash, an out-of-memory kill, ``kill -9``) takes
only its devices down: the main process sees the socket close, reaps
it, logs how it ended and forks a new one for the same plans. The new
process builds its devices again and serves the rings from ``cmd_tail``:
the commands the dead one had taken but not answered are replayed or
refused with ABORTED COMMAND by the device's replay policy (SPC-5
4.4.3), as after a restart of the whole daemon. A process that dies
again within :data:`STEADY_SECONDS` of its start counts towards
:data:`MAX_RESTARTS`, after which its devices stay down. Each worker
process asks the kernel to kill it when the main process dies
(``PR_SET_PDEATHSIG``), so a restarted daemon finds its rings free.

A ring added later to a running process's devices (a broken ring's new
backstore, a backstore made by targetcli) is handed over by stopping
that process and forking it again with every ring it serves.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import signal
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from devemu.config import Config, build_plans
from devemu.device_ring import RingChannel, ring_of
from devemu.disk.copy_offload import link_copy_peers
from devemu.errors import DevemuError
from devemu.parent_death import die_with_parent
from devemu.ring_worker import RingWorker, workers_for
from devemu.served import ServedDevice
from devemu.tcmu.loop import RingLoop
from devemu.trace import TraceHub, TraceRecord, tables_of

log = logging.getLogger(__name__)

#: The largest message either side sends (a status reply of a large library).
MESSAGE_MAX = 4 << 20
#: Seconds the main thread waits for a request's answer before it gives up.
REQUEST_SECONDS = 60.0
#: Seconds an ending process has to exit before it is killed.
REAP_SECONDS = 5.0
#: A process that lived this long before dying is restarted with a clean count.
STEADY_SECONDS = 10.0
#: Restarts of a process that keeps dying young before its devices stay down.
MAX_RESTARTS = 3


class Closable(Protocol):
    def close(self) -> None: ...


#: An event a worker sends between answers: ("trace", record) or ("gone", device name).
Event = tuple[str, Any]


class WorkerGoneError(DevemuError):
    """The worker process of a device is not running."""


class WorkerProcess:
    """The daemon's handle on one worker process; used by the main thread only."""

    def __init__(
        self,
        name: str,
        config: Config,
        plans: tuple[int, ...],
        devices: tuple[str, ...],
        on_event: Callable[[Event], None],
    ) -> None:
        self.name = name
        self.config = config
        self.plans = plans
        #: The names of the devices this process serves.
        self.devices = devices
        self.on_event = on_event
        self.pid = 0
        self.main_pid = 0
        self.restarts = 0
        self.started = 0.0
        self._conn: socket.socket | None = None
        self._traced: set[str] = set()

    # ------------------------------------------------------------- start

    def start(self, channels: Mapping[str, RingChannel], foreign: Iterable[Closable] = ()) -> None:
        """Fork the process; it serves ``channels`` (name -> open ring) of its devices.

        ``foreign`` is what the process must not keep (the other processes'
        rings and sockets): closed in the child at once. Call from the main
        thread only: the kernel's parent-death signal follows the thread
        that forked.
        """
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.main_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which ends in os._exit
            parent.close()
            code = 1
            try:
                for item in foreign:
                    with contextlib.suppress(Exception):
                        item.close()
                code = _serve_child(self, child, dict(channels))
            except DevemuError as err:
                log.error("%s: %s", self.name, err)
            except BaseException:
                log.exception("%s: worker process failed", self.name)
            finally:
                logging.shutdown()
                os._exit(code)
        child.close()
        self._conn = parent
        self.pid = pid
        self.started = time.monotonic()
        log.info("%s: worker process %d serves %s", self.name, pid, ", ".join(self.devices))

    @property
    def running(self) -> bool:
        return self._conn is not None

    def fileno(self) -> int:
        """The socket the main loop watches for events and for the process's end."""
        return -1 if self._conn is None else self._conn.fileno()

    def close(self) -> None:
        """Close this handle's socket only (in another worker process, after a fork)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ---------------------------------------------------------- requests

    def call(self, op: str, *args: Any) -> Any:
        """Run ``op`` in the process and return its result, or raise its error."""
        conn = self._conn
        if conn is None:
            raise WorkerGoneError(f"{self.name}: worker process not running")
        try:
            conn.sendall(pickle.dumps((op, args)))
        except OSError as err:
            raise WorkerGoneError(f"{self.name}: worker process not running ({err})") from err
        conn.settimeout(REQUEST_SECONDS)
        try:
            while True:
                message = self._receive(conn)
                if message is None:
                    raise WorkerGoneError(f"{self.name}: worker process ended during {op}")
                if message[0] == "answer":
                    ok, value = message[1]
                    if ok:
                        return value
                    raise value
                self.on_event(message)
        except TimeoutError as err:
            # A process that does not answer is hung: it is killed, and its end
            # (the socket closing) has the daemon fork it again.
            log.error("%s: no answer to %s; killing worker process %d", self.name, op, self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            raise WorkerGoneError(
                f"{self.name}: no answer to {op} in {REQUEST_SECONDS:g} s"
            ) from err
        finally:
            if self._conn is conn:
                conn.setblocking(False)

    def events(self) -> list[Event] | None:
        """The events waiting on the socket; None once the process has ended."""
        conn = self._conn
        if conn is None:
            return None
        conn.setblocking(False)
        events: list[Event] = []
        while True:
            try:
                message = self._receive(conn)
            except BlockingIOError:
                return events
            if message is None:
                return None
            events.append(message)

    @staticmethod
    def _receive(conn: socket.socket) -> tuple[str, Any] | None:
        try:
            data = conn.recv(MESSAGE_MAX)
        except ConnectionResetError:
            return None
        if not data:
            return None
        # Pickles from our own forked child only.
        message: tuple[str, Any] = pickle.loads(data)
        return message

    def trace(self, device: str, on: bool) -> None:
        """Have ``device``'s ring execute through a tracer (``on``) or not."""
        if (device in self._traced) == on:
            return
        self.call("trace", device, on)
        if on:
            self._traced.add(device)
        else:
            self._traced.discard(device)

    # -------------------------------------------------------------- end

    def stop(self) -> None:
        """Let the process drain, close its devices and exit; then reap it."""
        if self._conn is None:
            return
        with contextlib.suppress(WorkerGoneError):
            self.call("stop")
        self.reap()

    def reap(self) -> str:
        """Close the socket and collect the process's exit; how it ended, in words.

        The process is ending (it closed its socket, or answered ``stop``);
        one still there after :data:`REAP_SECONDS` is killed.
        """
        self.close()
        if not self.pid:
            return "not started"
        deadline = time.monotonic() + REAP_SECONDS
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                _pid, status = os.waitpid(self.pid, 0)
                break
            time.sleep(0.01)
        self.pid = 0
        self._traced.clear()
        if os.WIFSIGNALED(status):
            return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        return f"exit status {os.waitstatus_to_exitcode(status)}"

    def may_restart(self) -> bool:
        """Whether the process, just ended, should be forked again (see the theory)."""
        if time.monotonic() - self.started >= STEADY_SECONDS:
            self.restarts = 0
        self.restarts += 1
        return self.restarts <= MAX_RESTARTS


def deal(config: Config, devices: Iterable[ServedDevice], count: int) -> list[tuple[int, ...]]:
    """The plans of ``devices`` dealt out to ``count`` processes in turn (none left empty)."""
    plans = sorted({config.built_by[d.name] for d in devices})
    return [tuple(plans[i::count]) for i in range(min(count, len(plans)))]


# ------------------------------------------------------------- the child


class _ForwardingHub(TraceHub):
    """The worker's tracer: records go to the main process, which holds the subscribers."""

    def __init__(self, conn: socket.socket, devices: Mapping[str, ServedDevice]) -> None:
        super().__init__(tables_of((n, d.device) for n, d in devices.items()), lambda: None)
        self._conn = conn
        self.traced: set[str] = set()

    def wants(self, name: str) -> bool:
        return name in self.traced

    def publish(self, record: TraceRecord) -> None:
        _send(self._conn, ("trace", record))


def _send(conn: socket.socket, message: tuple[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(pickle.dumps(message))


def _portable(err: BaseException) -> BaseException:
    """``err`` itself when it survives pickling, else its message as a DevemuError."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return DevemuError(str(err)) if isinstance(err, DevemuError) else RuntimeError(repr(err))
    return err


def _serve_child(
    handle: WorkerProcess, conn: socket.socket, channels: dict[str, RingChannel]
) -> int:
    """The worker process: build its devices, serve their rings, answer requests."""
    die_with_parent(signal.SIGKILL)
    if os.getppid() != handle.main_pid:  # the main process died before the request
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):  # the main process orders the shutdown
        signal.signal(sig, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    built = build_plans(handle.config, handle.plans)
    served = {device.name: device for device in built}
    link_copy_peers(device.device for device in built)
    hub = _ForwardingHub(conn, served)
    chosen = workers_for(((d.name, d.group) for d in built), handle.config.ring_workers)
    rings: dict[str, tuple[RingChannel, RingLoop, RingWorker]] = {}
    for name, channel in channels.items():
        device = served[name]
        worker = chosen[name]
        ring = ring_of(device, channel, hub.device_for(name, device.device))
        rings[name] = (channel, ring, worker)
        worker.add(channel, ring, functools.partial(_send, conn, ("gone", name)))

    def on_worker(name: str, work: Callable[[], Any]) -> Any:
        entry = rings.get(name)
        return work() if entry is None else entry[2].call(work)

    def trace(name: str, on: bool) -> None:
        if on:
            hub.traced.add(name)
        else:
            hub.traced.discard(name)
        entry = rings.get(name)
        if entry is not None:
            ring = entry[1]
            executes = hub.device_for(name, served[name].device)
            entry[2].call(lambda: setattr(ring, "device", executes))

    def remove(name: str) -> None:
        entry = rings.pop(name, None)
        if entry is not None:
            entry[2].remove(entry[0])
            entry[0].close()

    def in_flight() -> int:
        return sum(
            worker.call(functools.partial(getattr, ring, "in_flight"))
            for _channel, ring, worker in rings.values()
        )

    ops: dict[str, Callable[..., Any]] = {
        "status": lambda name: on_worker(name, served[name].status),
        "control": lambda name, op, args: on_worker(name, lambda: served[name].control[op](args)),
        "trace": trace,
        "remove": remove,
        "in_flight": in_flight,
    }
    conn.setblocking(True)
    while True:
        try:
            data = conn.recv(MESSAGE_MAX)
        except OSError:
            data = b""
        if not data:  # the main process is gone
            return 1
        op, args = pickle.loads(data)  # from the main process only
        if op == "stop":
            break
        try:
            answer: tuple[bool, Any] = (True, ops[op](*args))
        except Exception as err:
            answer = (False, _portable(err))
        conn.sendall(pickle.dumps(("answer", answer)))
    for name in list(rings):
        remove(name)
    for worker in set(chosen.values()):
        worker.stop()
    for device in built:
        try:
            device.close()
        except Exception:
            log.exception("%s: close failed", device.name)
    conn.sendall(pickle.dumps(("answer", (True, None))))
    return 0
