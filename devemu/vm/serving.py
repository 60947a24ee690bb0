"""Run a script while ``devemu serve`` serves a configuration in the guest.

Contract with the daemon: ``devemu serve CONFIG --ready-file PATH`` creates
PATH once every configured device is linked to its LUN, and removes what it
created and exits with status 0 on SIGTERM. The wrapper starts the daemon
in the background, waits for the ready file (failing early if the daemon
exits first), runs the script, stops the daemon with SIGTERM and exits
with the script's status. The daemon's log is ``$DEVEMU_SERVE_LOG``; it is
printed when the daemon fails.
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
    ticks = max(1, int(ready_timeout * 10))
    ready, log, user = (shlex.quote(p) for p in (ready_file, log_file, script_file))
    return f"""export DEVEMU_SERVE_LOG={log}
export DEVEMU_SERVE_READY={ready}
cat > {user} <<'{delimiter}'
{script}
{delimiter}
{serve_command(config, ready_file)} > {log} 2>&1 &
serve_pid=$!
ticks=0
while [ ! -e {ready} ]; do
    if ! kill -0 "$serve_pid" 2>/dev/null; then
        wait "$serve_pid"
        echo "devemu-vm: devemu serve exited with status $? before its devices were ready"
        cat {log}
        exit {STATUS_SERVE_FAILED}
    fi
    if [ "$ticks" -ge {ticks} ]; then
        echo "devemu-vm: devemu serve not ready after {ready_timeout:g} s"
        cat {log}
        kill -KILL "$serve_pid"
        exit {STATUS_SERVE_NOT_READY}
    fi
    sleep 0.1
    ticks=$((ticks + 1))
done
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
