"""A guest that stays up: boot once, run many commands, power off on request.

:func:`start` boots the guest of :mod:`devemu.vm.runner` with one more
device, a virtio-serial port QEMU connects to a Unix socket on the host,
and a script that (with a configuration) starts ``devemu serve``, waits
for its devices and then runs the agent (:mod:`devemu.vm.agent`) in the
foreground. It returns a :class:`Guest` once the agent has opened its
port; the QEMU process outlives the caller (its own session).

What a running guest is lives in its run folder (:func:`run_base` /
NAME): ``qemu.pid``, ``agent.sock``, the control share, the kernel
console (``console.log``), the script's output (``output.log``), QEMU's
own messages (``qemu.log``) and ``guest.json`` (configuration, share,
boot times). A guest whose QEMU is gone while its folder remains has
crashed (or was killed): :func:`find_guest` says so and
:meth:`Guest.stop` cleans up after it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devemu.vm.agent_client import AgentClient, CommandResult
from devemu.vm.cache import cache_dir
from devemu.vm.errors import VmBootError, VmError, VmSetupError, VmTimeoutError
from devemu.vm.guest_daemon import GuestDaemon
from devemu.vm.initramfs import CONTROL_DIR
from devemu.vm.qemu import MachineSpec, qemu_command
from devemu.vm.runner import (
    GUEST_MODULES,
    Prepared,
    boot_seconds,
    check_share,
    exported_paths,
    host_paths,
    prepare,
    visible_in_guest,
    write_control,
)
from devemu.vm.serving import SERVE_LOG, guest_functions

RUN_ENV = "DEVEMU_VM_RUN"
DEFAULT_NAME = "default"
#: Modules a guest that stays up loads besides :data:`GUEST_MODULES`.
AGENT_MODULES = ("virtio_console",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: ``sun_path`` holds 108 bytes, its terminating NUL included.
_MAX_SOCKET_PATH = 107

Progress = Callable[[str], None]


def run_base(environ: Mapping[str, str] | None = None) -> Path:
    """Where run folders live: ``$DEVEMU_VM_RUN``, ``$XDG_RUNTIME_DIR/devemu/vm``, or the cache."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if env.get(RUN_ENV):
        return Path(env[RUN_ENV]).expanduser()
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "devemu" / "vm"
    return cache_dir(env) / "run"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise VmSetupError(f"guest name {name!r}: use letters, digits, '.', '_', '-' (64 at most)")
    return name


@dataclass(frozen=True)
class RunFolder:
    """The files of one named guest."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def agent_socket(self) -> Path:
        return self.path / "agent.sock"

    @property
    def control(self) -> Path:
        return self.path / "control"

    @property
    def console_log(self) -> Path:
        return self.path / "console.log"

    @property
    def output_log(self) -> Path:
        return self.path / "output.log"

    @property
    def qemu_log(self) -> Path:
        return self.path / "qemu.log"

    @property
    def pid_file(self) -> Path:
        return self.path / "qemu.pid"

    @property
    def info_file(self) -> Path:
        return self.path / "guest.json"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        """True while this folder's QEMU runs (a zombie or a reused pid is not it)."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return str(self.agent_socket).encode() in cmdline

    def info(self) -> dict[str, Any]:
        try:
            value = json.loads(self.info_file.read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def tail(self, lines: int = 30) -> str:
        """The last lines of the console and the script's output, for an error message."""
        parts = []
        for label, log in (("guest console", self.console_log), ("guest output", self.output_log)):
            with contextlib.suppress(OSError):
                text = log.read_text(errors="replace").strip()
                if text:
                    parts.append(f"--- {label} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)


def guest_script(
    config: Path | None, *, ready_timeout: float, control_socket: Path | None = None
) -> str:
    """The script the guest runs: serve ``config`` (if any), then the agent until SHUTDOWN.

    The agent passes control requests to ``control_socket`` (the
    configuration's, default :data:`devemu.config.DEFAULT_CONTROL_SOCKET`).
    """
    agent_options = (
        f" --control-socket {shlex.quote(str(control_socket))}" if control_socket else ""
    )
    serve = ""
    if config is not None:
        serve = (
            guest_functions(ready_timeout=ready_timeout)
            + f"export DEVEMU_SERVE_LOG={SERVE_LOG}\n"
            + 'echo "devemu-vm: serving the devices"\n'
            + f"serve_start {shlex.quote(str(config))} {SERVE_LOG}\n"
            + 'echo "devemu-vm: devices ready"\n'
        )
    return f"""serve_pid=
echo "devemu-vm: guest up after $(cut -d' ' -f1 /proc/uptime) s"
{serve}"$DEVEMU_VM_PYTHON" -m devemu.vm.agent --ready-file {CONTROL_DIR}/ready{agent_options}
status=$?
if [ -n "$serve_pid" ]; then
    kill -TERM "$serve_pid" 2>/dev/null
    wait "$serve_pid"
fi
exit "$status"
"""


class Guest:
    """A running guest: run commands in it, reach its daemon, stop it."""

    def __init__(self, folder: RunFolder, process: subprocess.Popen[bytes] | None = None) -> None:
        self.folder = folder
        self._process = process
        #: How :func:`start` booted it (None for a guest found by name).
        self.boot: Callable[[], Guest] | None = None

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def info(self) -> dict[str, Any]:
        return self.folder.info()

    @property
    def share(self) -> Path | None:
        share = self.info.get("share")
        return Path(share) if isinstance(share, str) else None

    def alive(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            return False
        return self.folder.alive()

    def client(self, timeout: float = 30.0) -> AgentClient:
        """A new connection to the agent (close it after use)."""
        if not self.alive():
            raise VmError(
                f"guest {self.name} is not running (QEMU has exited)\n{self.folder.tail()}"
            )
        return AgentClient(self.folder.agent_socket, timeout=timeout)

    def run(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = 120.0,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
        check: bool = False,
        on_stdout: Callable[[bytes], None] | None = None,
        on_stderr: Callable[[bytes], None] | None = None,
    ) -> CommandResult:
        """Run ``command`` (a string: with ``/bin/sh -c``) and wait for it."""
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        with self.client() as client:
            result = client.run(
                argv,
                env=env,
                cwd=cwd,
                stdin=stdin,
                timeout=timeout,
                on_stdout=on_stdout,
                on_stderr=on_stderr,
            )
        return result.check() if check else result

    def control(self, device: str | None, op: str, **args: Any) -> dict[str, Any]:
        """One request to the guest's ``devemu serve`` (as :func:`devemu.control.call`)."""
        with self.client() as client:
            return client.control(device, op, **args)

    def control_line(self, line: str) -> str:
        """One raw request line to the guest's daemon; its raw answer line."""
        with self.client() as client:
            return client.control_line(line)

    def status(self, device: str | None = None) -> dict[str, Any]:
        return self.control(device, "status")

    def insert(self, device: str, image: str | Path, *, force: bool = False) -> dict[str, Any]:
        """Load ``image`` (a path the guest sees) into optical drive ``device``."""
        return self.control(device, "insert", image=str(image), force=force)

    def eject(self, device: str, *, force: bool = False) -> dict[str, Any]:
        return self.control(device, "eject", force=force)

    def library_import(self, changer: str, barcode: str) -> dict[str, Any]:
        """Put cartridge ``barcode`` into a free mail slot of library ``changer``."""
        return self.control(changer, "import", barcode=barcode)

    def library_export(self, changer: str, slot: int | str) -> dict[str, Any]:
        return self.control(changer, "export", slot=slot)

    def serve(
        self,
        config: str,
        *,
        name: str | None = None,
        ready_timeout: float = 60.0,
        options: Sequence[str] = (),
        **daemon: Any,
    ) -> GuestDaemon:
        """Another ``devemu serve`` in this guest, for ``with``: started on entry, stopped on exit.

        ``config`` is TOML text without a ``[daemon]`` table (``daemon``
        gives its keys); ``options`` go to ``devemu serve`` (``--log-level
        debug``). See :mod:`devemu.vm.guest_daemon`.
        """
        return GuestDaemon(
            self, config, name=name, ready_timeout=ready_timeout, options=tuple(options), **daemon
        )

    def restart(self) -> None:
        """Power off (or clean up after) this guest and boot it again as :func:`start` did.

        The object stays the same; a new guest runs behind it. Only for a
        guest :func:`start` returned.
        """
        if self.boot is None:
            raise VmError(f"guest {self.name} was not started here: cannot restart it")
        self.stop(timeout=10)
        again = self.boot()
        self.folder, self._process = again.folder, again._process

    def stop(self, timeout: float = 60.0) -> bool:
        """Power the guest off (killing QEMU if it will not); True when it went cleanly."""
        clean = False
        if self.alive():
            with contextlib.suppress(VmError, OSError):
                with AgentClient(self.folder.agent_socket, timeout=10.0) as client:
                    client.shutdown(timeout=timeout)
                clean = self._wait_gone(timeout)
        if not clean:
            self._kill()
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
        shutil.rmtree(self.folder.path, ignore_errors=True)
        return clean

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _kill(self) -> None:
        pid = self.folder.pid()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.alive() or pid is None:
                return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
            if self._wait_gone(5.0):
                return


def find_guest(name: str = DEFAULT_NAME) -> Guest:
    """The running guest called ``name``; :class:`VmError` when there is none or it crashed."""
    folder = RunFolder(run_base() / check_name(name))
    if not folder.path.is_dir():
        raise VmError(f"no guest called {name} (devemu vm start --name {name})")
    if not folder.alive():
        raise VmError(
            f"guest {name} has stopped unexpectedly (QEMU is gone); "
            f"`devemu vm stop --name {name}` cleans up\n{folder.tail()}"
        )
    return Guest(folder)


@dataclass(frozen=True)
class GuestState:
    name: str
    running: bool
    pid: int | None
    config: str | None
    uptime: float | None


def list_guests() -> list[GuestState]:
    base = run_base()
    states = []
    for path in sorted(base.glob("*")) if base.is_dir() else []:
        if not path.is_dir():
            continue
        folder = RunFolder(path)
        info = folder.info()
        running = folder.alive()
        started = info.get("started")
        states.append(
            GuestState(
                folder.name,
                running,
                folder.pid(),
                info.get("config"),
                time.time() - started if running and isinstance(started, float) else None,
            )
        )
    return states


def _follow(log: Path, offset: int, progress: Progress | None) -> int:
    """Pass the complete new lines of ``log`` after ``offset`` on; return the new offset."""
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return offset
    end = data.rfind(b"\n") + 1
    if progress is not None:
        for line in data[:end].decode(errors="replace").splitlines():
            progress(line)
    return offset + end


def start(
    config: Path | None = None,
    *,
    name: str = DEFAULT_NAME,
    share: Path | None = None,
    memory_mb: int = 1024,
    cpus: int = 2,
    timeout: float = 300.0,
    ready_timeout: float = 120.0,
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    prepared: Prepared | None = None,
    die_with_parent: bool = False,
) -> Guest:
    """Boot a guest called ``name`` that serves ``config``; return once its agent is up.

    ``share`` (default: the folder of ``config``) is mounted read-write at
    its own path. Raises :class:`VmSetupError` (bad name, guest already
    running, nothing to boot), :class:`VmBootError` (the guest stopped or
    its daemon failed: the logs are in the message) or
    :class:`VmTimeoutError` (QEMU killed after ``timeout`` seconds). With
    ``die_with_parent`` QEMU gets SIGKILL when the calling process dies,
    however it dies (a test run killed leaves no guest behind).
    """
    folder = RunFolder(run_base() / check_name(name))
    if folder.alive():
        raise VmSetupError(f"guest {name} is already running (devemu vm stop --name {name})")
    if len(str(folder.agent_socket)) > _MAX_SOCKET_PATH:
        raise VmSetupError(f"{folder.agent_socket}: path too long for a socket; set {RUN_ENV}")
    control_socket: Path | None = None
    if config is not None:
        from devemu.config import check_file  # noqa: PLC0415 - the daemon's loader

        config = config.resolve()
        control_socket = check_file(config).control_socket
        share = share or config.parent
    shared = check_share(share) if share is not None else None
    if config is not None and not visible_in_guest(config, shared):
        raise VmSetupError(f"the guest cannot see {config}: pass a share holding it")
    say = progress or (lambda _line: None)
    say("devemu vm: preparing the kernel and initramfs")
    prepared = prepared or prepare()
    exports = exported_paths(host_paths(prepared.kernel), shared)
    shutil.rmtree(folder.path, ignore_errors=True)
    folder.path.mkdir(parents=True, mode=0o700)
    write_control(
        folder.control,
        guest_script(config, ready_timeout=ready_timeout, control_socket=control_socket),
        kernel=prepared.kernel,
        modules=GUEST_MODULES + AGENT_MODULES,
        share=shared,
        exports=exports,
        env=env,
    )
    spec = MachineSpec(
        vmlinuz=prepared.kernel.vmlinuz,
        initramfs=prepared.initramfs,
        control_dir=folder.control,
        console_log=folder.console_log,
        share=shared,
        bytecode=prepared.bytecode,
        memory_mb=memory_mb,
        cpus=cpus,
        exports=exports,
        output_log=folder.output_log,
        agent_socket=folder.agent_socket,
    )
    started = time.monotonic()
    say(f"devemu vm: booting guest {name}")
    with folder.qemu_log.open("wb") as qemu_log:
        process = subprocess.Popen(
            qemu_command(spec, prepared.qemu),
            stdin=subprocess.DEVNULL,
            stdout=qemu_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_kill_when_parent_dies if die_with_parent else None,  # noqa: PLW1509
        )
    folder.pid_file.write_text(f"{process.pid}\n")
    guest = Guest(folder, process)
    try:
        _wait_ready(folder, process, started, timeout, progress)
    except BaseException:
        guest.stop(timeout=5)
        raise
    ready = time.monotonic() - started
    info = {
        "name": name,
        "config": str(config) if config else None,
        "share": str(shared) if shared else None,
        "started": time.time(),
        "boot_seconds": boot_seconds(folder.control),
        "ready_seconds": ready,
    }
    folder.info_file.write_text(json.dumps(info, indent=1) + "\n")
    say(f"devemu vm: guest {name} ready after {ready:.1f} s")
    guest.boot = functools.partial(
        start,
        config,
        name=name,
        share=share,
        memory_mb=memory_mb,
        cpus=cpus,
        timeout=timeout,
        ready_timeout=ready_timeout,
        env=env,
        progress=progress,
        prepared=prepared,
        die_with_parent=die_with_parent,
    )
    return guest


#: ``prctl`` option: the signal a process gets when its parent dies (prctl(2)).
_PR_SET_PDEATHSIG = 1


def _kill_when_parent_dies() -> None:
    """In the child, before QEMU runs: SIGKILL when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait_ready(
    folder: RunFolder,
    process: subprocess.Popen[bytes],
    started: float,
    timeout: float,
    progress: Progress | None,
) -> None:
    offset = 0
    control = folder.control
    while not (control / "ready").exists():
        offset = _follow(folder.output_log, offset, progress)
        failed = None
        if (control / "setup-error").exists():
            failed = f"guest setup failed: {(control / 'setup-error').read_text().strip()}"
        elif (control / "exit-code").exists():
            status = (control / "exit-code").read_text().strip()
            failed = f"the guest's script ended (status {status}) before its agent started"
        elif process.poll() is not None:
            qemu = folder.qemu_log.read_text(errors="replace").strip()
            failed = f"QEMU exited with status {process.returncode} while booting" + (
                f": {qemu}" if qemu else ""
            )
        if failed is not None:
            raise VmBootError(
                failed, output=_read(folder.output_log), console=_read(folder.console_log)
            )
        if time.monotonic() - started > timeout:
            raise VmTimeoutError(
                f"guest not ready after {timeout:.0f} s: QEMU killed",
                output=_read(folder.output_log),
                console=_read(folder.console_log),
            )
        time.sleep(0.05)
    _follow(folder.output_log, offset, progress)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
