"""Run a script while ``devemu serve`` serves a configuration in the guest.

Contract with the daemon: ``devemu serve CONFIG --ready-file PATH`` creates
PATH once every configured device is linked to its LUN, and removes what it
created and exits with status 0 on SIGTERM. The wrapper starts the daemon
in the background, waits for the ready file (failing early if the daemon
exits first), runs the script, stops the daemon with SIGTERM and exits
with the script's status. The daemon's log is ``$DEVEMU_SERVE_LOG``; it is
printed when the daemon fails.

A script that stops and restarts the daemon itself (to test what survives
a ``kill -9``) defines :func:`guest_functions` at its top instead: the same
start-and-wait as a shell function, ``devemu`` for the command line and
lookups of the nodes the kernel made for the served devices.
"""

from __future__ import annotations

import secrets
import shlex
from pathlib import Path

READY_FILE = "/run/devemu-serve.ready"
SERVE_LOG = "/tmp/devemu-serve.log"
USER_SCRIPT = "/tmp/devemu-vm-script.sh"

#: Exit statuses of the wrapper itself (the script's own status otherwise).
STATUS_SERVE_FAILED = 125
STATUS_SERVE_NOT_READY = 124


def serve_command(config: Path, ready_file: str = READY_FILE) -> str:
    """The shell command that starts the daemon for ``config``."""
    return " ".join(
        [
            '"$DEVEMU_VM_PYTHON"',
            "-m",
            "devemu",
            "serve",
            shlex.quote(str(config)),
            "--ready-file",
            shlex.quote(ready_file),
        ]
    )


#: The ``[daemon]`` table of a configuration served in the guest: the
#: default control socket (where the ``devemu`` commands look) and state on
#: the guest's tmpfs (its root file system is the host's, read-only).
GUEST_DAEMON_TABLE = """\
[daemon]
control_socket = "/run/devemu/control.sock"
state_dir = "/run/devemu-state"
fabric = "loopback"
"""

#: ``python -c`` program running devemu's command line as ``devemu``.
_MAIN = 'import sys; from devemu.cli import main; sys.argv[0] = "devemu"; sys.exit(main())'


def guest_functions(*, ready_timeout: float = 60.0, ready_file: str = READY_FILE) -> str:
    """Shell functions (POSIX sh, ``set -eu`` safe) for a guest script.

    - ``devemu ARG...``: devemu's command line.
    - ``serve_start CONFIG LOG [OPTION...]``: start ``devemu [OPTION...]
      serve CONFIG`` in the background, its output in LOG, set
      ``serve_pid`` and return once its devices are ready. A daemon that
      exits first, or is not ready after ``ready_timeout`` seconds, ends
      the script (status :data:`STATUS_SERVE_FAILED` or
      :data:`STATUS_SERVE_NOT_READY`) after printing LOG.
    - ``find_disk VENDOR``: print the ``/dev/sd*`` node of the first disk
      whose INQUIRY vendor is VENDOR, waiting up to 10 s for it.
    - ``node_with_serial SERIAL SYSFS_DIR...``: print ``/dev/<name>`` of
      the first SYSFS_DIR whose unit serial number (VPD page 0x80, SPC-5
      7.7.18) is SERIAL; print nothing if none is.
    """
    ticks = max(1, int(ready_timeout * 20))
    ready = shlex.quote(ready_file)
    return f"""DEVEMU_MAIN='{_MAIN}'
devemu() {{ "$DEVEMU_VM_PYTHON" -c "$DEVEMU_MAIN" "$@"; }}
serve_start() {{
    serve_config=$1
    serve_log=$2
    shift 2
    rm -f {ready}
    "$DEVEMU_VM_PYTHON" -m devemu "$@" serve "$serve_config" --ready-file {ready} \\
        > "$serve_log" 2>&1 &
    serve_pid=$!
    serve_ticks=0
    while [ ! -e {ready} ]; do
        if ! kill -0 "$serve_pid" 2>/dev/null; then
            serve_status=0
            wait "$serve_pid" || serve_status=$?
            echo "devemu-vm: devemu serve exited with status $serve_status" \\
                "before its devices were ready"
            cat "$serve_log"
            exit {STATUS_SERVE_FAILED}
        fi
        if [ "$serve_ticks" -ge {ticks} ]; then
            echo "devemu-vm: devemu serve not ready after {ready_timeout:g} s"
            cat "$serve_log"
            kill -KILL "$serve_pid"
            exit {STATUS_SERVE_NOT_READY}
        fi
        sleep 0.05
        serve_ticks=$((serve_ticks + 1))
    done
}}
find_disk() {{
    for _ in $(seq 200); do
        for dev in /sys/block/sd*; do
            [ -e "$dev/device/vendor" ] || continue
            if [ "$(tr -d ' ' < "$dev/device/vendor")" = "$1" ] && [ -b "/dev/${{dev##*/}}" ]; then
                echo "/dev/${{dev##*/}}"
                return 0
            fi
        done
        sleep 0.05
    done
    return 1
}}
node_with_serial() {{
    serial=$1
    shift
    for dev in "$@"; do
        s=$(tail -c +5 "$dev/device/vpd_pg80" 2>/dev/null | tr -d '\\000 ')
        if [ "$s" = "$serial" ]; then
            echo "/dev/${{dev##*/}}"
            return 0
        fi
    done
}}
"""


def serving_script(
    script: str,
    config: Path,
    *,
    ready_timeout: float = 60.0,
    ready_file: str = READY_FILE,
    log_file: str = SERVE_LOG,
    script_file: str = USER_SCRIPT,
) -> str:
    """Wrap ``script`` so that it runs while ``devemu serve config`` is up."""
    delimiter = f"DEVEMU_SCRIPT_{secrets.token_hex(8)}"
    ready, log, user = (shlex.quote(p) for p in (ready_file, log_file, script_file))
    functions = guest_functions(ready_timeout=ready_timeout, ready_file=ready_file)
    return f"""export DEVEMU_SERVE_LOG={log}
export DEVEMU_SERVE_READY={ready}
cat > {user} <<'{delimiter}'
{script}
{delimiter}
{functions}serve_start {shlex.quote(str(config))} {log}
/bin/sh {user}
status=$?
if kill -TERM "$serve_pid" 2>/dev/null; then
    wait "$serve_pid"
    serve_status=$?
    if [ "$serve_status" -ne 0 ]; then
        echo "devemu-vm: devemu serve exited with status $serve_status on SIGTERM"
        cat {log}
    fi
else
    wait "$serve_pid"
    echo "devemu-vm: devemu serve had already exited with status $?"
    cat {log}
fi
exit "$status"
"""
