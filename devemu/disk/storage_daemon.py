"""qcow2, vmdk, vhdx images: a qemu-storage-daemon of devemu's own serving them over NBD.

Theory of operation
-------------------
devemu does not read image formats itself: for an image in one of
:data:`FORMATS` it starts ``qemu-storage-daemon`` (shipped with QEMU),
which opens the image with QEMU's block layer and exports it over NBD on
a Unix socket in a folder only devemu's user can enter; the disk then
reaches it as any NBD export (:mod:`devemu.disk.nbd`).

devemu owns that process's whole life:

- it starts with the disk (the daemon's start, a configuration reload)
  and stops with it (SIGTERM, which makes QEMU flush and close the image
  cleanly, then SIGKILL if it has not gone within :data:`STOP_TIMEOUT`);
- it never outlives devemu: it is started with ``PR_SET_PDEATHSIG``, so
  even a ``kill -9`` of the daemon sends it SIGTERM, and its socket folder
  has a fixed name per disk that the next start empties first;
- a storage daemon that dies under a running disk is started again the
  next time the disk tries to reconnect (:meth:`StorageDaemon.revive`).

The image is opened with QEMU's own locking, so a second server (a second
devemu, a QEMU guest) cannot open it for writing at the same time. Discard
requests reach the image (``discard=unmap``): an UNMAP frees qcow2
clusters.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from devemu.errors import ImageError
from devemu.parent_death import die_with_parent

log = logging.getLogger(__name__)

#: Image formats served through qemu-storage-daemon, by ``format`` key value.
FORMATS = ("qcow2", "vmdk", "vhdx", "raw")
#: Formats ``devemu disk create --format`` makes with qemu-img.
CREATE_FORMATS = ("qcow2", "vmdk", "vhdx")
#: The export's name on the private socket.
EXPORT_NAME = "disk"
#: Seconds to wait for the storage daemon to listen, and to stop.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
#: A Unix socket path must fit sockaddr_un.sun_path (108 bytes with its NUL).
_SUN_PATH_MAX = 107


def format_for(path: Path, configured: str | None) -> str | None:
    """The format an image is served in: the configured one, else by its suffix.

    None: a plain image file served directly (:class:`~devemu.disk.image.DiskImage`).
    """
    if configured is not None:
        return configured
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in CREATE_FORMATS else None


class StorageDaemon:
    """A qemu-storage-daemon exporting one image over NBD on a private socket."""

    def __init__(self, image: Path, fmt: str, run_dir: Path, *, read_only: bool = False) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r} is not one of {FORMATS}")
        self.image = image
        self.format = fmt
        self.read_only = read_only
        self.run_dir = run_dir
        self.socket = run_dir / "nbd.sock"
        if len(os.fsencode(self.socket)) > _SUN_PATH_MAX:
            raise ImageError(image, None, f"socket path {self.socket} is too long")
        self.uri = f"nbd+unix:///{EXPORT_NAME}?socket={self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """qemu-storage-daemon's command line: file, format, NBD server, export."""
        ro = self.read_only
        file_node = {
            "driver": "file",
            "node-name": "file",
            "filename": str(self.image),
            "read-only": ro,
            "discard": "unmap",
        }
        format_node = {
            "driver": self.format,
            "node-name": "fmt",
            "file": "file",
            "read-only": ro,
            "discard": "unmap",
        }
        server = {"addr": {"type": "unix", "path": str(self.socket)}}
        export = {
            "type": "nbd",
            "id": "export",
            "node-name": "fmt",
            "name": EXPORT_NAME,
            "writable": not ro,
        }
        return [
            "qemu-storage-daemon",
            "--blockdev",
            json.dumps(file_node),
            "--blockdev",
            json.dumps(format_node),
            "--nbd-server",
            json.dumps(server),
            "--export",
            json.dumps(export),
        ]

    def start(self) -> None:
        """Start the storage daemon and wait until its socket accepts connections."""
        if shutil.which("qemu-storage-daemon") is None:
            raise ImageError(
                self.image, None, "qemu-storage-daemon is not installed (Debian: qemu-system-*)"
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self._start_once()
                return
            except _LockedError as locked:
                # The storage daemon of a devemu killed with -9 may still be closing
                # the image (PR_SET_PDEATHSIG gave it SIGTERM): wait for its lock.
                if time.monotonic() >= deadline:
                    raise ImageError(self.image, None, str(locked)) from None
                time.sleep(0.2)

    def _start_once(self) -> None:
        # A socket folder left by a daemon killed with -9: its server is gone with it.
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir.mkdir(mode=0o700, parents=True)
        proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # prctl must run in the child: SIGTERM when the thread that started it ends.
            preexec_fn=functools.partial(die_with_parent, signal.SIGTERM),  # noqa: PLW1509
            start_new_session=True,
        )
        self.process = proc
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                if proc.stderr is not None:
                    proc.stderr.close()
                self.process = None
                reason = _reason(err) or f"exit status {proc.returncode}"
                if "lock" in reason:
                    raise _LockedError(f"qemu-storage-daemon: {reason}")
                raise ImageError(self.image, None, f"qemu-storage-daemon: {reason}")
            if _listening(self.socket):
                log.info("%s: qemu-storage-daemon %d on %s", self.image, proc.pid, self.socket)
                return
            time.sleep(0.02)
        self.stop()
        raise ImageError(self.image, None, "qemu-storage-daemon did not start listening")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def revive(self) -> None:
        """Start the storage daemon again if it died (called before a reconnect)."""
        if not self.running:
            log.warning("%s: qemu-storage-daemon is gone; starting it again", self.image)
            self.stop()
            self.start()

    def stop(self) -> None:
        """SIGTERM (QEMU flushes and closes the image), SIGKILL after STOP_TIMEOUT."""
        proc, self.process = self.process, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    log.error("%s: qemu-storage-daemon ignored SIGTERM; killing it", self.image)
                    proc.kill()
                    proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)


class _LockedError(Exception):
    """Another process holds the image's lock."""


def _reason(stderr: str) -> str:
    """QEMU's error message without the program name and the option it was about."""
    for raw in stderr.splitlines():
        line = raw.strip()
        if line:
            return line.rsplit(": ", 1)[-1] if line.startswith("qemu-storage-daemon:") else line
    return ""


def _listening(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def create(path: Path, fmt: str, size: int) -> None:
    """``qemu-img create -f FMT PATH SIZE``; refuse to overwrite a file."""
    if fmt not in CREATE_FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {CREATE_FORMATS}")
    if path.exists():
        raise ImageError(path, None, "already exists; not overwriting it")
    if shutil.which("qemu-img") is None:
        raise ImageError(path, None, "qemu-img is not installed (Debian: qemu-utils)")
    proc = subprocess.run(
        ["qemu-img", "create", "-q", "-f", fmt, "--", str(path), str(size)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        with contextlib.suppress(OSError):
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ImageError(path, None, f"qemu-img create: {lines[-1] if lines else 'failed'}")


def info(path: Path) -> dict[str, int | str]:
    """``qemu-img info``: the format, virtual size and the bytes the file occupies."""
    if shutil.which("qemu-img") is None:
        raise ImageError(path, None, "qemu-img is not installed (Debian: qemu-utils)")
    proc = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", "--", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ImageError(path, None, f"qemu-img info: {lines[-1] if lines else 'failed'}")
    data = json.loads(proc.stdout)
    return {
        "format": str(data["format"]),
        "size": int(data["virtual-size"]),
        "allocated": int(data.get("actual-size", 0)),
    }
