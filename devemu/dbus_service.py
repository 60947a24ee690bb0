"""devemu's TCMU handler on the system D-Bus, in a thread of its own.

:class:`BusService` connects to the system bus, takes the name
``org.kernel.TCMUService1`` (as tcmu-runner does, so that targetcli
lists ``/backstores/user:devemu`` and has devemu check every ``create``)
and answers each method call with :class:`devemu.tcmu_service.TcmuService`.

The connection is jeepney's blocking one, in a daemon thread: jeepney is
pure Python, maintained and needs no event loop (dbus-fast is built
around asyncio, which the daemon's ``selectors`` loop does not run). The
ring path never waits for the bus: the thread only reads which devices
are served (:meth:`devemu.daemon.Daemon.attached`).

No bus (no socket, refused, another process owns the name): one line in
the log and the daemon serves on without it. ``stop`` shuts the socket
down, which ends the thread's wait at once; a bus that goes away ends
the thread with one line too.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from pathlib import Path

from jeepney import DBusNameFlags
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

from devemu.tcmu_service import BUS_NAME, TcmuService

log = logging.getLogger(__name__)

#: ``RequestName`` answers (D-Bus specification, "org.freedesktop.DBus.RequestName").
PRIMARY_OWNER = 1
#: Seconds to connect, authenticate and take the name before giving up.
CONNECT_SECONDS = 10.0
MACHINE_ID = Path("/etc/machine-id")


def machine_id() -> str:
    """This host's D-Bus machine id (``org.freedesktop.DBus.Peer.GetMachineId``)."""
    for path in (MACHINE_ID, Path("/var/lib/dbus/machine-id")):
        with contextlib.suppress(OSError):
            return path.read_text().strip()
    return ""


class BusService:
    """Serves ``service`` under :data:`~devemu.tcmu_service.BUS_NAME` on ``bus``."""

    def __init__(self, service: TcmuService, bus: str = "SYSTEM") -> None:
        self.service = service
        self.bus = bus
        self.where = f"{bus.lower()} D-Bus" if bus in ("SYSTEM", "SESSION") else f"D-Bus at {bus}"
        self.connection: DBusConnection | None = None
        self.owned = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="devemu-dbus", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        with self._lock:
            if self.connection is not None:
                with contextlib.suppress(OSError):
                    self.connection.sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout)

    def _connect(self) -> DBusConnection | None:
        try:
            connection = open_dbus_connection(bus=self.bus, auth_timeout=CONNECT_SECONDS)
        except Exception as err:  # no bus is a normal host: say so and serve on
            log.info("no %s (%s); targetcli will not list user:devemu", self.where, err)
            return None
        try:
            reply = connection.send_and_get_reply(
                message_bus.RequestName(BUS_NAME, DBusNameFlags.do_not_queue),
                timeout=CONNECT_SECONDS,
            )
            answer = reply.body[0] if reply.body else None
        except Exception as err:
            log.warning("cannot take %s on the %s: %s", BUS_NAME, self.where, err)
            connection.close()
            return None
        if answer != PRIMARY_OWNER:
            log.warning(
                "%s is owned by another process on the %s (tcmu-runner?) or refused "
                "(RequestName answered %s); targetcli will not list user:devemu",
                BUS_NAME,
                self.where,
                answer,
            )
            connection.close()
            return None
        return connection

    def _run(self) -> None:
        connection = self._connect()
        if connection is None:
            return
        with self._lock:
            if self._stopping.is_set():
                connection.close()
                return
            self.connection = connection
        log.info("on the %s as %s: targetcli lists user:devemu", self.where, BUS_NAME)
        self.owned.set()
        try:
            while not self._stopping.is_set():
                msg = connection.receive()
                try:
                    reply = self.service.handle(msg)
                except Exception:
                    log.exception("D-Bus call %s failed", msg.header.fields)
                    reply = self.service.failed(msg)
                if reply is not None:
                    connection.send(reply)
        except Exception as err:
            if not self._stopping.is_set():
                log.warning("left the %s: %s", self.where, err)
        finally:
            with self._lock:
                self.connection = None
            connection.close()
