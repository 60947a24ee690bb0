"""The wrapper that runs a script under ``devemu serve``, run here with a fake daemon."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devemu.vm.serving import (
    STATUS_SERVE_FAILED,
    STATUS_SERVE_NOT_READY,
    guest_functions,
    serve_command,
    serving_script,
)

# Stands in for "$DEVEMU_VM_PYTHON -m devemu serve CONFIG --ready-file PATH";
# what it does is read from CONFIG.
FAKE_PYTHON = """#!/bin/sh
[ "$1 $2 $3 $5" = "-m devemu serve --ready-file" ] || { echo "bad argv: $*"; exit 64; }
mode=$(cat "$4")
echo "serving $4"
case "$mode" in
ready) trap 'echo stopped; exit 0' TERM; touch "$6" ;;
bad-stop) trap 'exit 1' TERM; touch "$6" ;;
crash) echo "cannot open /dev/uio0"; exit 9 ;;
dies-later) touch "$6"; exit 0 ;;
never) ;;
esac
while :; do sleep 0.05; done
"""


def _sh(tmp_path: Path, mode: str, script: str, *options: str) -> tuple[int, str]:
    """Run ``script`` with ``sh OPTIONS -c`` in ``tmp_path``, the fake daemon reading ``mode``."""
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    (tmp_path / "devemu.toml").write_text(mode)
    done = subprocess.run(
        ["sh", *options, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "DEVEMU_VM_PYTHON": str(fake)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _wrapped(tmp_path: Path, mode: str, script: str, ready_timeout: float = 5.0) -> tuple[int, str]:
    wrapper = serving_script(
        script,
        tmp_path / "devemu.toml",
        ready_timeout=ready_timeout,
        ready_file=str(tmp_path / "ready"),
        log_file=str(tmp_path / "serve.log"),
        script_file=str(tmp_path / "script.sh"),
    )
    return _sh(tmp_path, mode, wrapper)


def test_script_runs_while_served_and_its_status_is_kept(tmp_path: Path) -> None:
    status, output = _wrapped(
        tmp_path, "ready", 'test -e "$DEVEMU_SERVE_READY"\ncat "$DEVEMU_SERVE_LOG"\nexit 6'
    )
    assert status == 6
    assert f"serving {tmp_path / 'devemu.toml'}" in output
    assert "devemu-vm:" not in output
    assert (tmp_path / "serve.log").read_text().endswith("stopped\n")


def test_daemon_failing_before_ready(tmp_path: Path) -> None:
    status, output = _wrapped(tmp_path, "crash", "echo should-not-run")
    assert status == STATUS_SERVE_FAILED
    assert "exited with status 9 before its devices were ready" in output
    assert "cannot open /dev/uio0" in output
    assert "should-not-run" not in output


def test_daemon_never_ready(tmp_path: Path) -> None:
    status, output = _wrapped(tmp_path, "never", "echo should-not-run", ready_timeout=0.3)
    assert status == STATUS_SERVE_NOT_READY
    assert "not ready after 0.3 s" in output


def test_daemon_failing_on_stop_is_reported(tmp_path: Path) -> None:
    status, output = _wrapped(tmp_path, "bad-stop", "true")
    assert status == 0
    assert "exited with status 1 on SIGTERM" in output


def test_daemon_gone_during_script_is_reported(tmp_path: Path) -> None:
    status, output = _wrapped(tmp_path, "dies-later", "sleep 0.3")
    assert status == 0
    assert "had already exited with status 0" in output


@pytest.mark.parametrize("config", [Path("/srv/a b.toml"), Path("/srv/it's.toml")])
def test_serve_command_quotes_paths(config: Path) -> None:
    argv = subprocess.run(
        [
            "sh",
            "-c",
            serve_command(config, "/run/r").replace('"$DEVEMU_VM_PYTHON"', "printf '%s\\n'"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert argv == ["-m", "devemu", "serve", str(config), "--ready-file", "/run/r"]


def _guest(tmp_path: Path, mode: str, body: str, *options: str) -> tuple[int, str]:
    """Run ``body`` after :func:`guest_functions`."""
    functions = guest_functions(ready_timeout=2, ready_file=str(tmp_path / "ready"))
    return _sh(tmp_path, mode, functions + body, *options)


def test_serve_start_starts_again_after_kill_9(tmp_path: Path) -> None:
    status, output = _guest(
        tmp_path,
        "ready",
        """
serve_start devemu.toml one.log
first=$serve_pid
kill -KILL "$first"; wait "$first"
serve_start devemu.toml two.log
[ "$first" != "$serve_pid" ] && echo "new daemon"
kill -TERM "$serve_pid"; wait "$serve_pid"; echo "term $?"
""",
    )
    assert status == 0, output
    assert "new daemon" in output and "term 0" in output
    assert (tmp_path / "one.log").read_text() == "serving devemu.toml\n"
    assert (tmp_path / "two.log").read_text() == "serving devemu.toml\nstopped\n"


def test_serve_start_ends_a_set_e_script_with_the_daemon_status(tmp_path: Path) -> None:
    status, output = _guest(
        tmp_path, "crash", "serve_start devemu.toml s.log\necho not-here", "-eu"
    )
    assert status == STATUS_SERVE_FAILED
    assert "exited with status 9 before its devices were ready" in output
    assert "cannot open /dev/uio0" in output and "not-here" not in output


def test_node_with_serial_reads_vpd_page_0x80(tmp_path: Path) -> None:
    for name, serial in (("nst0", b"VMDRIVE001"), ("nst1", b"VMDRIVE002")):
        device = tmp_path / "sys" / name / "device"
        device.mkdir(parents=True)
        page = bytes([1, 0x80, 0, len(serial) + 2]) + serial + b"\0 "
        (device / "vpd_pg80").write_bytes(page)
    status, output = _guest(
        tmp_path,
        "never",
        'echo "found [$(node_with_serial VMDRIVE002 sys/nst*)]"\n'
        'echo "none [$(node_with_serial VMDRIVE009 sys/nst*)]"\n',
        "-eu",
    )
    assert status == 0, output
    assert output.splitlines() == ["found [/dev/nst1]", "none []"]
