"""The guest that stays up, through the pytest plugin's ``devemu_guest`` fixture.

One boot for the session (the tier's configuration in ``conftest.py``: a
disk, an optical drive, a library with one tape drive). Each test runs
commands in the running guest over the agent: lsscsi, sg_inq on the
disk, mt status on a loaded tape, dd from the optical drive, a medium
change and a library export/import sent from the host to the daemon in
the guest, and the cost of one command round trip.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devemu.vm.agent_client import CommandTimeoutError
from devemu.vm.guest import Guest
from devemu.vm.serving import guest_functions

from .conftest import TIER_VENDOR

pytestmark = pytest.mark.vm

#: Average seconds one ``true`` may take, request to exit status, under TCG.
MAX_EXEC_OVERHEAD = 1.0
FUNCTIONS = guest_functions()


def node(guest: Guest, serial: str, sysfs_glob: str) -> str:
    """The ``/dev`` node whose unit serial number is ``serial``."""
    script = f"""{FUNCTIONS}
for _ in $(seq 100); do
    n=$(node_with_serial {serial} {sysfs_glob})
    [ -n "$n" ] && [ -e "$n" ] && echo "$n" && exit 0
    sleep 0.1
done
exit 1
"""
    result = guest.run(script, timeout=60)
    assert result.returncode == 0, result
    return result.text.strip()


def test_commands_keep_status_stdout_and_stderr_apart(devemu_guest: Guest) -> None:
    result = devemu_guest.run("echo out; echo err >&2; exit 3", timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    fed = devemu_guest.run(["tr", "a-z", "A-Z"], stdin=b"hello", timeout=30)
    assert fed.stdout == b"HELLO"
    missing = devemu_guest.run(["/nonexistent/tool"], timeout=30)
    assert missing.returncode == 127 and b"nonexistent" in missing.stderr


def test_a_command_past_its_timeout_is_killed(devemu_guest: Guest) -> None:
    with pytest.raises(CommandTimeoutError):
        devemu_guest.run(["sleep", "60"], timeout=1)
    assert devemu_guest.run(["true"], timeout=30).returncode == 0


def test_lsscsi_lists_every_device(devemu_guest: Guest) -> None:
    listing = devemu_guest.run(["lsscsi"], timeout=30, check=True).text
    print(listing)
    for kind in ("disk", "cd/dvd", "mediumx", "tape"):
        assert re.search(rf"^\[\S+\]\s+{re.escape(kind)}\s", listing, re.M), listing


def test_sg_inq_on_the_disk(devemu_guest: Guest) -> None:
    disk = node(devemu_guest, "TIERDISK01", "/sys/block/sd*")
    inquiry = devemu_guest.run(["sg_inq", disk], timeout=30, check=True).text
    assert re.search(rf"Vendor identification:\s+{TIER_VENDOR}", inquiry), inquiry
    assert "TIERDISK01" in inquiry


def test_mt_status_on_a_loaded_tape(devemu_guest: Guest) -> None:
    changer = node(devemu_guest, "TIERLIB001", "/sys/class/scsi_changer/sch*")
    tape = node(devemu_guest, "TIERDRV001", "/sys/class/scsi_tape/nst[0-9]*")
    loaded = devemu_guest.run(f"mtx -f {changer} load 1 0", timeout=60)
    assert loaded.returncode == 0, loaded
    try:
        status = devemu_guest.run(
            f"for _ in $(seq 50); do mt -f {tape} status && exit 0; sleep 0.1; done; exit 1",
            timeout=60,
        )
        assert status.returncode == 0, status
        assert "BOT" in status.text or "ONLINE" in status.text, status.text
    finally:
        devemu_guest.run(f"mt -f {tape} offline; mtx -f {changer} unload 1 0", timeout=60)


def _read_hello(guest: Guest, sr: str) -> str:
    """``hello.txt`` of the disc in ``sr``, once the drive is ready."""
    script = f"""for _ in $(seq 100); do sg_turs {sr} >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p /tmp/disc && mount -t iso9660 -o ro {sr} /tmp/disc && cat /tmp/disc/hello.txt
status=$?
umount /tmp/disc
exit $status
"""
    result = guest.run(script, timeout=60)
    assert result.returncode == 0, result
    return result.text


def test_dd_from_the_optical_drive(devemu_guest: Guest) -> None:
    sr = node(devemu_guest, "TIERCD0001", "/sys/block/sr*")
    share = devemu_guest.share
    assert share is not None
    result = devemu_guest.run(
        f"dd if={sr} bs=2048 skip=16 count=1 2>/dev/null", timeout=60, check=True
    )
    iso = (share / "first.iso").read_bytes()
    assert result.stdout == iso[16 * 2048 : 17 * 2048]
    assert result.stdout[1:6] == b"CD001"


def test_eject_and_insert_from_the_host(devemu_guest: Guest) -> None:
    sr = node(devemu_guest, "TIERCD0001", "/sys/block/sr*")
    share = devemu_guest.share
    assert share is not None
    assert _read_hello(devemu_guest, sr) == "first disc\n"
    devemu_guest.eject("tier-cd0")
    assert devemu_guest.status("tier-cd0")["medium"] is None
    turs = devemu_guest.run(["sg_turs", "-v", sr], timeout=30)
    assert turs.returncode != 0
    assert "not present" in (turs.text + turs.error_text).lower(), turs
    devemu_guest.insert("tier-cd0", share / "second.iso")
    assert _read_hello(devemu_guest, sr) == "second disc\n"
    devemu_guest.insert("tier-cd0", share / "first.iso")


def test_library_export_and_import_from_the_host(devemu_guest: Guest) -> None:
    exported = devemu_guest.library_export("tier-vtl0", 2)
    assert exported["barcode"] == "T01002L8"
    imported = devemu_guest.library_import("tier-vtl0", "T01002L8")
    assert imported["barcode"] == "T01002L8"
    changer = node(devemu_guest, "TIERLIB001", "/sys/class/scsi_changer/sch*")
    status = devemu_guest.run(["mtx", "-f", changer, "status"], timeout=60, check=True).text
    assert "T01002L8" in status, status


def test_control_request_line_from_the_host(devemu_guest: Guest) -> None:
    answer = devemu_guest.control_line('{"op": "status", "device": "nosuch"}')
    assert '"ok": false' in answer and "nosuch" in answer


def test_exec_overhead(devemu_guest: Guest) -> None:
    devemu_guest.run(["true"], timeout=30)
    durations = []
    for _ in range(20):
        started = time.monotonic()
        assert devemu_guest.run(["true"], timeout=30).returncode == 0
        durations.append(time.monotonic() - started)
    mean = statistics.mean(durations)
    print(
        f"EXEC_OVERHEAD mean={mean * 1000:.0f} ms median={statistics.median(durations) * 1000:.0f}"
        f" ms max={max(durations) * 1000:.0f} ms (20 x `true`, connect + run + exit)"
    )
    # The command line's round trip: a new Python process, imports, connect, run.
    cli = []
    for _ in range(5):
        started = time.monotonic()
        command = [sys.executable, "-m", "devemu", "vm", "exec", "--name", devemu_guest.name]
        done = subprocess.run([*command, "--", "true"], check=False, timeout=60)
        cli.append(time.monotonic() - started)
        assert done.returncode == 0
    print(
        f"CLI_EXEC_OVERHEAD mean={statistics.mean(cli) * 1000:.0f} ms"
        f" median={statistics.median(cli) * 1000:.0f} ms (5 x `devemu vm exec -- true`)"
    )
    info = devemu_guest.info
    print(f"BOOT guest userspace {info['boot_seconds']:.1f} s, ready {info['ready_seconds']:.1f} s")
    assert mean < MAX_EXEC_OVERHEAD


def test_share_is_read_write_at_its_path(devemu_guest: Guest) -> None:
    share = devemu_guest.share
    assert isinstance(share, Path)
    devemu_guest.run(f"echo from-guest > {share}/note.txt", timeout=30, check=True)
    assert (share / "note.txt").read_text() == "from-guest\n"
