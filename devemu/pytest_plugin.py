"""pytest plugin: real SCSI devices in a QEMU guest that stays up for the whole session.

Installed with devemu (entry point ``pytest11``). The ``devemu_guest``
fixture boots one guest per test session (Debian's kernel under QEMU,
:mod:`devemu.vm.guest`), serves the configured devices in it with
``devemu serve``, and powers it off when the session ends. Tests run
commands in it and change media from the host::

    def test_inquiry(devemu_guest):
        result = devemu_guest.run("sg_inq /dev/sg0", timeout=30)
        assert result.returncode == 0
        assert b"DEVEMU" in result.stdout

    def test_media(devemu_guest):
        devemu_guest.eject("cd0")
        devemu_guest.insert("cd0", devemu_guest.share / "other.iso")

A test that wants devices of its own starts another daemon in the same
guest (:mod:`devemu.vm.guest_daemon`): its own configuration, control
socket and state directory, stopped when the block ends::

    def test_crash(devemu_guest):
        with devemu_guest.serve(DISK_TOML) as daemon:
            disk = daemon.node("MYDISK0001", "block")
            devemu_guest.run(f"mkfs.ext4 -q {disk}", check=True)
            daemon.kill()          # kill -9: its LIO objects stay
            daemon.restart()       # adopts them; the disk answers again

Configuration, first found wins:

- the ``devemu_config`` fixture, overridden in a ``conftest.py`` (a path
  to a TOML file, or the TOML text itself);
- ``--devemu-config PATH`` on the command line;
- ``devemu_config = PATH`` in the ini file (relative to the root folder).

TOML text is written to ``devemu.toml`` in the session's share (a fresh
folder, mounted read-write in the guest at its own path), with every
``@SHARE@`` replaced by that folder's path; a file is served from where
it is, its folder being the share. No configuration: a guest without
devices. Every test that uses the guest gets the ``devemu_vm`` marker
(``-m "not devemu_vm"`` leaves them out).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.vm.guest import Guest, start

MARKER = "devemu_vm"
FIXTURE = "devemu_guest"
SHARE_TOKEN = "@SHARE@"
CONFIG_NAME = "devemu.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("devemu", "devemu guest (QEMU + TCMU SCSI devices)")
    group.addoption("--devemu-config", help="devemu TOML configuration served in the guest")
    parser.addini("devemu_config", "devemu TOML configuration served in the guest", default="")
    parser.addini("devemu_memory", "guest memory in MiB", default="1024")
    parser.addini("devemu_boot_timeout", "seconds the guest may take to be ready", default="300")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: uses the devemu guest (QEMU, real kernel, served SCSI devices)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(MARKER)


def _ini(config: pytest.Config, name: str, default: str) -> str:
    """An ini value; ``default`` when the plugin's options are not registered."""
    try:
        return str(config.getini(name) or default)
    except ValueError:
        return default


@pytest.fixture(scope="session")
def devemu_config(pytestconfig: pytest.Config) -> str | Path | None:
    """The configuration: a path or TOML text (override this fixture to give one)."""
    option = pytestconfig.getoption("devemu_config", None)
    if option:
        return Path(option).resolve()
    ini = _ini(pytestconfig, "devemu_config", "")
    if ini:
        return (pytestconfig.rootpath / ini).resolve()
    return None


@pytest.fixture(scope="session")
def devemu_share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder the guest sees read-write at the same path."""
    return tmp_path_factory.mktemp("devemu-share")


def config_file(config: str | Path | None, share: Path) -> tuple[Path | None, Path]:
    """The file to serve and the folder to share for ``config`` (path or TOML text)."""
    if config is None:
        return None, share
    if isinstance(config, Path):
        return config, config.parent
    path = share / CONFIG_NAME
    path.write_text(config.replace(SHARE_TOKEN, str(share.resolve())))
    return path, share


@pytest.fixture(scope="session")
def devemu_guest(
    pytestconfig: pytest.Config, devemu_config: str | Path | None, devemu_share: Path
) -> Iterator[Guest]:
    """One guest for the session, its devices served; powered off at the end.

    QEMU dies with the test run, even one killed without a chance to clean up.
    """
    config, share = config_file(devemu_config, devemu_share)
    guest = start(
        config,
        name=f"pytest-{os.getpid()}",
        share=share,
        memory_mb=int(_ini(pytestconfig, "devemu_memory", "1024")),
        timeout=float(_ini(pytestconfig, "devemu_boot_timeout", "300")),
        die_with_parent=True,
    )
    try:
        yield guest
    finally:
        guest.stop()
