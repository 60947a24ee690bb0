"""The parts of a guest's own daemons that need no guest: configuration, snapshots."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import PurePosixPath

import pytest

from devemu.vm.guest_daemon import DAEMON_ARGV, Snapshot, daemon_config

FOLDER = PurePosixPath("/run/devemu-daemons/a")
DISK = '[[disk]]\nname = "d0"\nimage = "@SHARE@/d0.img"\n'


def test_the_daemon_table_gives_the_daemon_its_own_socket_and_state() -> None:
    text = daemon_config(DISK, folder=FOLDER, share="/tmp/share", cmd_time_out=5)
    parsed = tomllib.loads(text)
    assert parsed["daemon"] == {
        "control_socket": "/run/devemu-daemons/a/control.sock",
        "state_dir": "/run/devemu-daemons/a/state",
        "fabric": "loopback",
        "cmd_time_out": 5,
    }
    assert parsed["disk"] == [{"name": "d0", "image": "/tmp/share/d0.img"}]


def test_a_daemon_table_of_the_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[daemon\] table"):
        daemon_config("[daemon]\nfabric = 'loopback'\n" + DISK, folder=FOLDER, share="/s")


def test_the_share_token_needs_a_share() -> None:
    with pytest.raises(ValueError, match="no share"):
        daemon_config(DISK, folder=FOLDER, share=None)


def test_daemon_keys_are_quoted_as_toml() -> None:
    text = daemon_config("", folder=FOLDER, share=None, wwn='naa."x', verbose=True)
    assert tomllib.loads(text)["daemon"]["wwn"] == 'naa."x'
    assert tomllib.loads(text)["daemon"]["verbose"] is True
    with pytest.raises(ValueError, match="a string, number or boolean"):
        daemon_config("", folder=FOLDER, share=None, bad=[1])


def test_a_snapshot_says_what_is_new() -> None:
    before = Snapshot(frozenset({"backstore user_0/tier", "daemon 10"}))
    after = Snapshot(frozenset({"backstore user_0/tier", "daemon 10", "mount /mnt", "daemon 7"}))
    assert after.since(before) == ["daemon 7", "mount /mnt"]
    assert before.since(after) == []


@pytest.mark.parametrize(
    ("argv", "daemon"),
    [
        (["/usr/bin/python3", "-m", "devemu", "serve", "/tmp/a.toml"], True),
        (["/usr/bin/python3", "-m", "devemu", "-v", "serve", "/tmp/a.toml"], True),
        (["/opt/venv/bin/devemu", "serve", "/tmp/a.toml"], True),
        (["/usr/bin/python3", "-m", "devemu", "trace", "d0"], False),
        (["/usr/bin/python3", "-m", "devemu.vm.agent", "serve"], False),
        # A shell whose script starts a daemon is not one (nor is its fork).
        (["/bin/sh", "-c", 'python3 -m devemu serve "$cfg" &'], False),
        ([], False),
    ],
)
def test_a_snapshot_counts_devemu_serve_processes_alone(argv: list[str], daemon: bool) -> None:
    # /proc/PID/cmdline as the snapshot reads it: one argument a line.
    cmdline = "".join(arg + "\n" for arg in argv)
    found = subprocess.run(["awk", DAEMON_ARGV], input=cmdline, text=True, check=False)
    assert (found.returncode == 0) is daemon
