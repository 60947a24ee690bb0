"""Daemons of their own in a running guest: ``with guest.serve(config) as daemon:``.

A guest (:mod:`devemu.vm.guest`) serves the devices of its boot
configuration, if it has one. A test (or a whole test module) that wants
devices of its own starts another ``devemu serve`` in the same running
guest instead of booting a new one::

    with devemu_guest.serve(CONFIG_TOML) as daemon:
        sg = daemon.node("MYDISK0001", "sg")          # found by unit serial
        devemu_guest.run(["sg_inq", sg], check=True)
        daemon.control("cd0", "eject")                 # its own control socket
        daemon.kill()                                  # kill -9 ...
        daemon.restart()                               # ... and adopt its LIO objects

Each daemon has a folder in the guest, :data:`DAEMONS_DIR`/NAME, holding
its configuration (``devemu.toml``: the text given, ``@SHARE@`` replaced
by the guest's share, and a ``[daemon]`` table this module writes), its
control socket, its state directory (the LIO journal), its ready file, its
log and its pid. The daemon runs in a session of its own, so neither a
command's time limit nor the end of a test kills it by accident; leaving
the ``with`` block stops it with SIGTERM (SIGKILL, then a restart that
removes what it left, when it hangs) and fails when it did not end
cleanly.

Two daemons never touch each other's LIO objects: each removes only what
its own journal records; the loopback target's WWN derives from the state
directory, unique per daemon; a backstore is named after its device, so
device names (and, to tell the nodes apart, unit serials) must differ
between the daemons of one guest. A daemon whose device has the name of
one another daemon serves is refused (the UIO lock of
:mod:`devemu.tcmu.uio`) and :meth:`GuestDaemon.start` fails with its log.

:func:`snapshot` lists what the guest holds (LIO backstores and targets,
``devemu serve`` processes, mounts of SCSI and loop devices) so that a
suite can check that each part left the guest as it found it, and
:func:`sweep` removes what a killed script left behind.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any

from devemu.vm.errors import VmError

if TYPE_CHECKING:
    from devemu.vm.guest import Guest

#: Where the daemons of a guest keep their folders (the guest's tmpfs).
DAEMONS_DIR = PurePosixPath("/run/devemu-daemons")
SHARE_TOKEN = "@SHARE@"
CONFIG_NAME = "devemu.toml"
#: Kinds of node :meth:`GuestDaemon.nodes` reports, by the sysfs class they come from.
NODE_KINDS = ("block", "sg", "tape", "changer")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
_DAEMON_TABLE = re.compile(r"^\s*\[\s*daemon\s*\]", re.MULTILINE)

# Every SCSI device of the guest as "SERIAL KIND NODE" lines (VPD page 0x80,
# SPC-5 7.7.18, is the unit serial number the configuration gives).
_NODES_SCRIPT = r"""
for dev in /sys/bus/scsi/devices/*:*:*:*; do
    [ -e "$dev/vpd_pg80" ] || continue
    serial=$(tail -c +5 "$dev/vpd_pg80" 2>/dev/null | tr -d '\000 ')
    [ -n "$serial" ] || continue
    for n in "$dev"/block/*; do [ -e "$n" ] && echo "$serial block /dev/${n##*/}"; done
    for n in "$dev"/scsi_generic/*; do [ -e "$n" ] && echo "$serial sg /dev/${n##*/}"; done
    for n in "$dev"/scsi_tape/nst[0-9]*; do
        case $n in *[0-9]) [ -e "$n" ] && echo "$serial tape /dev/${n##*/}";; esac
    done
    for n in "$dev"/scsi_changer/*; do [ -e "$n" ] && echo "$serial changer /dev/${n##*/}"; done
done
true
"""


class DaemonError(VmError):
    """A daemon in the guest did not start, stop or answer as it should."""


def daemon_config(text: str, *, folder: PurePosixPath, share: str | None, **daemon: Any) -> str:
    """``text`` with ``@SHARE@`` replaced and the ``[daemon]`` table of ``folder`` added.

    ``daemon`` adds keys to that table (``fabric``, ``cmd_time_out``, ...);
    a ``[daemon]`` table of the text's own is refused, since the socket
    and state directory must be the daemon's own.
    """
    if _DAEMON_TABLE.search(text):
        raise ValueError("the configuration has a [daemon] table: give its keys to serve()")
    if SHARE_TOKEN in text:
        if share is None:
            raise ValueError(f"the configuration uses {SHARE_TOKEN} but the guest has no share")
        text = text.replace(SHARE_TOKEN, share)
    table = {
        "control_socket": str(folder / "control.sock"),
        "state_dir": str(folder / "state"),
        "fabric": "loopback",
        **daemon,
    }
    lines = ["[daemon]"] + [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n\n" + text


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise ValueError(f"[daemon] value {value!r}: a string, number or boolean")


class GuestDaemon:
    """One ``devemu serve`` of its own in a running guest (see the module's docstring)."""

    def __init__(
        self,
        guest: Guest,
        config: str,
        *,
        name: str | None = None,
        ready_timeout: float = 60.0,
        options: tuple[str, ...] = (),
        **daemon: Any,
    ) -> None:
        self.guest = guest
        self.name = name or f"d{secrets.token_hex(4)}"
        if not _NAME.match(self.name):
            raise ValueError(f"daemon name {self.name!r}: letters, digits, '.', '_', '-'")
        self.folder = DAEMONS_DIR / self.name
        share = guest.share
        self.config_text = daemon_config(
            config, folder=self.folder, share=str(share) if share else None, **daemon
        )
        self.ready_timeout = ready_timeout
        self.options = options
        self.pid: int | None = None

    # ------------------------------------------------------------ its files
    @property
    def socket(self) -> PurePosixPath:
        return self.folder / "control.sock"

    @property
    def state_dir(self) -> PurePosixPath:
        return self.folder / "state"

    @property
    def config_path(self) -> PurePosixPath:
        return self.folder / CONFIG_NAME

    @property
    def log_path(self) -> PurePosixPath:
        return self.folder / "serve.log"

    @property
    def ready_file(self) -> PurePosixPath:
        return self.folder / "ready"

    def log(self) -> str:
        """What the daemon wrote (all its runs, restarts included)."""
        result = self.guest.run(["cat", str(self.log_path)], timeout=30)
        return result.stdout.decode(errors="replace")

    # ------------------------------------------------------------ its life
    def start(self) -> GuestDaemon:
        """Start the daemon and return once its devices are ready (again after :meth:`kill`)."""
        if self.pid is not None and self.running():
            raise DaemonError(f"daemon {self.name} is running already (pid {self.pid})")
        q = {
            name: shlex.quote(str(path))
            for name, path in (
                ("folder", self.folder),
                ("config", self.config_path),
                ("ready", self.ready_file),
                ("log", self.log_path),
            )
        }
        options = " ".join(shlex.quote(o) for o in self.options)
        ticks = max(1, int(self.ready_timeout * 20))
        script = f"""set -e
mkdir -p {q["folder"]}
cat > {q["config"]}
rm -f {q["ready"]}
setsid "$DEVEMU_VM_PYTHON" -m devemu serve {q["config"]} --ready-file {q["ready"]} {options} \\
    >> {q["log"]} 2>&1 < /dev/null &
pid=$!
echo "$pid" > {q["folder"]}/pid
echo "PID $pid"
n=0
while [ ! -e {q["ready"]} ]; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "EXITED"; exit 3; fi
    if [ "$n" -ge {ticks} ]; then kill -KILL "$pid"; echo "NOT READY"; exit 4; fi
    sleep 0.05
    n=$((n + 1))
done
"""
        result = self.guest.run(
            ["/bin/sh", "-c", script],
            stdin=self.config_text.encode(),
            timeout=self.ready_timeout + 30,
        )
        match = re.search(rb"^PID (\d+)$", result.stdout, re.MULTILINE)
        self.pid = int(match[1]) if match else None
        if result.returncode != 0:
            why = {3: "exited before its devices were ready", 4: "was not ready in time"}.get(
                result.returncode, f"could not start (status {result.returncode})"
            )
            raise DaemonError(
                f"devemu serve {self.name} {why}\n"
                f"{result.stderr.decode(errors='replace')}{self.log()}"
            )
        return self

    def running(self) -> bool:
        if self.pid is None:
            return False
        return self.guest.run(["kill", "-0", str(self.pid)], timeout=30).returncode == 0

    def _signal_and_wait(self, signal: str, timeout: float) -> int | None:
        """Send ``signal``; the daemon's exit status once gone (None: still running)."""
        if self.pid is None:
            return 0
        ticks = max(1, int(timeout * 20))
        # Not the daemon's parent, the guest cannot wait for it: /proc tells
        # when it is gone, its log's last line why.
        script = f"""kill -{signal} {self.pid} 2>/dev/null || exit 0
n=0
while [ -e /proc/{self.pid} ] && ! grep -q '^State:.*Z' /proc/{self.pid}/status 2>/dev/null; do
    [ "$n" -ge {ticks} ] && exit 9
    sleep 0.05
    n=$((n + 1))
done
"""
        result = self.guest.run(["/bin/sh", "-c", script], timeout=timeout + 30)
        if result.returncode == 9:
            return None
        self.pid = None
        return 0

    def kill(self) -> None:
        """``kill -9`` the daemon (its LIO objects stay, for :meth:`restart` to adopt)."""
        if self._signal_and_wait("KILL", 30.0) is None:
            raise DaemonError(f"devemu serve {self.name} survives SIGKILL")

    def restart(self) -> GuestDaemon:
        """Start the daemon again with its state directory: it adopts what it left."""
        return self.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the daemon with SIGTERM; one that hangs is killed and its objects removed.

        Raises :class:`DaemonError` when the daemon had to be killed or left
        its journal behind (LIO objects it could not remove).
        """
        problems = []
        if self._signal_and_wait("TERM", timeout) is None:
            problems.append(f"did not stop within {timeout:g} s of SIGTERM: killed")
            self.kill()
            # A new run adopts the journal and removes everything on SIGTERM.
            try:
                self.start()
                self._signal_and_wait("TERM", timeout)
            except DaemonError as err:
                problems.append(str(err))
        from devemu.tcmu.backend import JOURNAL_NAME  # noqa: PLC0415 - the daemon's side

        journal = self.state_dir / JOURNAL_NAME
        if self.guest.run(["test", "-e", str(journal)], timeout=30).returncode == 0:
            problems.append(f"left LIO objects behind (its journal {journal} remains)")
        if problems:
            summary = "; ".join(problems)
            raise DaemonError(f"devemu serve {self.name}: {summary}\n{self.log()}")

    def __enter__(self) -> GuestDaemon:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        except (DaemonError, VmError):
            if kind is None:
                raise

    # ------------------------------------------------------------ reaching it
    def control(self, device: str | None, op: str, **args: Any) -> dict[str, Any]:
        """One request to this daemon's control socket (as :func:`devemu.control.call`)."""
        with self.guest.client() as client:
            return client.control(device, op, socket_path=str(self.socket), **args)

    def status(self, device: str | None = None) -> dict[str, Any]:
        return self.control(device, "status")

    def nodes(self) -> dict[str, dict[str, list[str]]]:
        """Every SCSI device of the guest with a unit serial: ``{serial: {kind: [node]}}``."""
        result = self.guest.run(["/bin/sh", "-c", _NODES_SCRIPT], timeout=30, check=True)
        found: dict[str, dict[str, list[str]]] = {}
        for line in result.text.splitlines():
            serial, kind, node = line.split(" ", 2)
            found.setdefault(serial, {}).setdefault(kind, []).append(node)
        return found

    def node(self, serial: str, kind: str = "sg", *, timeout: float = 10.0) -> str:
        """The ``/dev`` node of ``kind`` (:data:`NODE_KINDS`) of the unit ``serial``."""
        if kind not in NODE_KINDS:
            raise ValueError(f"node kind {kind!r}: one of {', '.join(NODE_KINDS)}")
        deadline = time.monotonic() + timeout
        while True:
            nodes = self.nodes().get(serial, {}).get(kind)
            if nodes:
                return nodes[0]
            if time.monotonic() > deadline:
                raise DaemonError(f"no {kind} node with unit serial {serial} after {timeout:g} s")
            time.sleep(0.1)


# -------------------------------------------------------------- the guest's state
_CONFIGFS = "/sys/kernel/config/target"
#: awk over a process's arguments, one a line: true for ``devemu serve``
#: (``python -m devemu [OPTION...] serve ...`` or a ``devemu`` executable),
#: not for a shell whose script merely holds those words.
DAEMON_ARGV = (
    'NR == 1 { cli = $0 ~ /(^|\\/)devemu$/ } NR == 2 && $0 == "-m" { m = 1 } '
    'NR == 3 && m && $0 == "devemu" { cli = 1 } NR > 1 && cli && $0 == "serve" { found = 1 } '
    "END { exit !found }"
)
_SNAPSHOT_SCRIPT = rf"""
for b in {_CONFIGFS}/core/user_*/*; do
    [ -d "$b" ] && echo "backstore ${{b#{_CONFIGFS}/core/}}"
done
for t in {_CONFIGFS}/loopback/naa.*; do [ -d "$t" ] && echo "target ${{t##*/}}"; done
# One grep over every process (a fork per process is slow under TCG), then
# the exact test on the few with an argument "serve".
for c in $(grep -lzx serve /proc/[0-9]*/cmdline 2>/dev/null); do
    p=${{c%/cmdline}}
    if {{ tr '\000' '\n' < "$c"; }} 2>/dev/null | awk '{DAEMON_ARGV}'; then
        echo "daemon ${{p##*/}}"
    fi
done
awk '$1 ~ /^\/dev\/(sd|sr|st|nst|loop)/ {{print "mount " $2}}' /proc/mounts
true
"""


@dataclass(frozen=True)
class Snapshot:
    """What a guest holds: LIO backstores and targets, daemons, mounts of SCSI/loop devices."""

    items: frozenset[str] = field(default_factory=frozenset)

    def since(self, baseline: Snapshot) -> list[str]:
        """What is here and was not in ``baseline``, sorted (``kind name`` strings)."""
        return sorted(self.items - baseline.items)


def snapshot(guest: Guest) -> Snapshot:
    result = guest.run(["/bin/sh", "-c", _SNAPSHOT_SCRIPT], timeout=60, check=True)
    return Snapshot(frozenset(result.text.splitlines()))


def sweep(guest: Guest, baseline: Snapshot, *, grace: float = 10.0) -> list[str]:
    """Remove what the guest holds beyond ``baseline``; return what was found.

    Mounts are lazily unmounted, daemons get SIGTERM (SIGKILL after
    ``grace`` seconds), then LIO objects left by killed daemons are
    removed in the order LIO needs (LUN links, LUNs, TPGs, targets,
    backstores).
    """
    extra = snapshot(guest).since(baseline)
    if not extra:
        return []
    mounts = [i.split(" ", 1)[1] for i in extra if i.startswith("mount ")]
    pids = [i.split(" ", 1)[1] for i in extra if i.startswith("daemon ")]
    targets = [i.split(" ", 1)[1] for i in extra if i.startswith("target ")]
    backstores = [i.split(" ", 1)[1] for i in extra if i.startswith("backstore ")]
    ticks = max(1, int(grace * 20))
    q = shlex.quote
    script = [f"umount -l {q(m)} 2>/dev/null" for m in mounts]
    if pids:
        script += [
            f"kill -TERM {' '.join(pids)} 2>/dev/null",
            f"alive() {{ for p in {' '.join(pids)}; do [ -e /proc/$p ] && "
            "! grep -q '^State:.*Z' /proc/$p/status 2>/dev/null && return 0; done; return 1; }",
            "n=0",
            f"while alive && [ $n -lt {ticks} ]; do sleep 0.05; n=$((n + 1)); done",
            f"kill -KILL {' '.join(pids)} 2>/dev/null",
            "sleep 0.5",
        ]
    for target in targets:
        tpg = f"{_CONFIGFS}/loopback/{target}/tpgt_1"
        script += [
            f'for l in {tpg}/lun/lun_*/*; do [ -L "$l" ] && rm -f "$l"; done',
            f'for l in {tpg}/lun/lun_*; do rmdir "$l"; done',
            f"rmdir {tpg} {_CONFIGFS}/loopback/{target}",
        ]
    script += [f"rmdir {_CONFIGFS}/core/{q(b)}" for b in backstores]
    guest.run(["/bin/sh", "-c", "\n".join([*script, "true"])], timeout=grace + 60)
    return extra
