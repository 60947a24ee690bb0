"""Daemons of their own in the running guest: ``devemu_guest.serve(config)``.

Two daemons serve a disk each beside the tier's daemon. Each reaches only
its own devices through its own control socket; killing one with SIGKILL
and restarting it leaves the other's disk answering and its own data
intact; a third daemon whose device has the name of one another daemon
serves is refused and leaves nothing; a daemon that hangs is killed, and
what it left is removed; stopping a daemon removes its LIO objects and no
one else's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.disk.image import create_image
from devemu.vm.guest import Guest
from devemu.vm.guest_daemon import DaemonError, GuestDaemon, Snapshot, snapshot

pytestmark = pytest.mark.vm

DISK_MB = 8


def disk_config(name: str, serial: str, image: str) -> str:
    return f"""[[disk]]
name = "{name}"
image = "@SHARE@/daemons/{image}"
serial = "{serial}"
"""


@pytest.fixture(scope="module")
def images(devemu_share: Path) -> Path:
    folder = devemu_share / "daemons"
    folder.mkdir()
    for name in ("a.img", "b.img", "c.img"):
        create_image(folder / name, DISK_MB << 20)
    return folder


@pytest.fixture(scope="module")
def two(tier_guest: Guest, images: Path) -> Iterator[tuple[GuestDaemon, GuestDaemon]]:
    with (
        tier_guest.serve(disk_config("ga-disk", "GADISK0001", "a.img"), name="a") as a,
        tier_guest.serve(disk_config("gb-disk", "GBDISK0001", "b.img"), name="b") as b,
    ):
        yield a, b


def names(daemon: GuestDaemon) -> set[str]:
    """The names of the devices ``daemon`` says it serves."""
    return {device["name"] for device in daemon.status()["devices"]}


def dd_write(guest: Guest, node: str, text: str) -> None:
    script = f"printf '%-512s' {text} | dd of={node} bs=512 count=1 oflag=direct conv=fsync"
    guest.run(script, timeout=60, check=True)


def dd_read(guest: Guest, node: str) -> str:
    result = guest.run(f"dd if={node} bs=512 count=1 iflag=direct", timeout=60, check=True)
    return result.stdout.decode().strip()


def test_each_daemon_reaches_only_its_own_devices(
    tier_guest: Guest, two: tuple[GuestDaemon, GuestDaemon]
) -> None:
    a, b = two
    assert a.socket != b.socket and a.state_dir != b.state_dir
    assert names(a) == {"ga-disk"}
    assert names(b) == {"gb-disk"}
    assert a.node("GADISK0001", "block") != b.node("GBDISK0001", "block")
    objects = snapshot(tier_guest).items
    assert {"backstore user_0/ga-disk", "backstore user_0/gb-disk"} <= objects


def test_kill_and_restart_touch_only_the_daemons_own_devices(
    tier_guest: Guest, two: tuple[GuestDaemon, GuestDaemon]
) -> None:
    a, b = two
    a_disk, b_disk = a.node("GADISK0001", "block"), b.node("GBDISK0001", "block")
    dd_write(tier_guest, a_disk, "written-to-a")
    dd_write(tier_guest, b_disk, "written-to-b")
    before = snapshot(tier_guest)
    a.kill()
    assert not a.running()
    # b serves on: its disk reads and writes, its socket answers.
    assert dd_read(tier_guest, b_disk) == "written-to-b"
    dd_write(tier_guest, b_disk, "b-while-a-is-dead")
    assert names(b) == {"gb-disk"}
    a.restart()
    assert dd_read(tier_guest, a.node("GADISK0001", "block")) == "written-to-a"
    assert dd_read(tier_guest, b_disk) == "b-while-a-is-dead"
    # The restarted daemon adopted its objects: nothing new, nothing lost.
    after = snapshot(tier_guest)
    assert {i for i in after.items if not i.startswith("daemon ")} == {
        i for i in before.items if not i.startswith("daemon ")
    }


def test_a_device_name_another_daemon_serves_is_refused(
    tier_guest: Guest, two: tuple[GuestDaemon, GuestDaemon]
) -> None:
    _, b = two
    before = snapshot(tier_guest)
    with (
        # The kernel's UIO driver admits one opener (EBUSY); the daemon's lock says the same.
        pytest.raises(DaemonError, match=r"Device or resource busy|another process serves it"),
        tier_guest.serve(disk_config("gb-disk", "GCDISK0001", "c.img"), name="c"),
    ):
        pass
    assert snapshot(tier_guest).since(before) == []
    assert dd_read(tier_guest, b.node("GBDISK0001", "block")).startswith("b-")


def test_a_hanging_daemon_is_killed_and_its_objects_removed(
    tier_guest: Guest, tier_baseline: Snapshot, images: Path
) -> None:
    before = snapshot(tier_guest)
    daemon = tier_guest.serve(disk_config("gh-disk", "GHDISK0001", "c.img"), name="h")
    daemon.start()
    assert daemon.pid is not None
    tier_guest.run(["kill", "-STOP", str(daemon.pid)], timeout=30, check=True)
    with pytest.raises(DaemonError, match="did not stop within 2 s of SIGTERM: killed"):
        daemon.stop(timeout=2)
    assert snapshot(tier_guest).since(before) == []


def test_stopping_a_daemon_removes_its_objects_and_no_others(
    tier_guest: Guest, tier_baseline: Snapshot, images: Path
) -> None:
    before = snapshot(tier_guest)
    with tier_guest.serve(disk_config("gs-disk", "GSDISK0001", "c.img"), name="s") as daemon:
        node = daemon.node("GSDISK0001", "block")
        assert "backstore user_0/gs-disk" in snapshot(tier_guest).items
    after = snapshot(tier_guest)
    assert after.since(before) == [] and before.since(after) == []
    assert tier_baseline.since(after) == []
    assert tier_guest.run(["test", "-e", node], timeout=30).returncode != 0
