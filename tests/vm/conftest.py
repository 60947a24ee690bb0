"""The VM tier: every test here boots Debian's kernel under QEMU.

Fixtures for test modules in this folder:

- ``vm_session`` (session scope): a :class:`devemu.vm.session.VmSession`
  whose kernel and initramfs are prepared once. ``vm_session.run(script,
  config_toml=None, share=None, timeout=300.0, env=None)`` boots once and
  returns a :class:`devemu.vm.VmResult`; ``vm_session.run_steps({name:
  snippet, ...}, ...)`` runs many named checks in that one boot and
  returns ``(VmResult, {name: Step})``. With ``config_toml`` the text
  (``@SHARE@`` replaced by the share's path) is served by ``devemu serve``
  around the script.
- ``run_in_vm``: the same as ``vm_session.run``.

Each test module should boot once (a module-scoped fixture running one
long script) and assert on its parts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devemu import pytest_plugin
from devemu.cdrom.iso_writer import make_iso
from devemu.disk.image import create_image
from devemu.vm.runner import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE
from devemu.vm.session import VmSession

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.vm)


@pytest.fixture(scope="session")
def vm_session(tmp_path_factory: pytest.TempPathFactory) -> VmSession:
    return VmSession(make_share=lambda: tmp_path_factory.mktemp("vm-share"))


@pytest.fixture(scope="session")
def run_in_vm(vm_session: VmSession) -> Callable[..., VmResult]:
    return vm_session.run


# ------------------------------------------------------ the persistent guest
# The ``devemu_guest`` fixture of :mod:`devemu.pytest_plugin` (imported here
# too, so the tier works where the plugin's entry point is not installed):
# one guest for the whole session, serving :data:`TIER_CONFIG`.

devemu_guest = pytest_plugin.devemu_guest
devemu_share = pytest_plugin.devemu_share

TIER_DISK_MB = 64
TIER_CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[disk]]
name = "disk0"
image = "@SHARE@/disk0.img"
serial = "TIERDISK01"

[[cdrom]]
name = "cd0"
image = "@SHARE@/first.iso"
serial = "TIERCD0001"

[[library]]
name = "vtl0"
directory = "/run/tier-tapes"
slots = 4
import_export = 1
barcode_prefix = "T01"
count = 2
serial = "TIERLIB001"

[[library.drives]]
name = "vtl0-d0"
serial = "TIERDRV001"
"""


def make_disc(share: Path, name: str, label: str, text: str) -> Path:
    """An ISO in ``share`` holding ``hello.txt`` with ``text``."""
    tree = share / f"{name}-tree"
    tree.mkdir()
    (tree / "hello.txt").write_text(text)
    make_iso(tree, share / f"{name}.iso", label=label)
    return share / f"{name}.iso"


@pytest.fixture(scope="session")
def devemu_config(devemu_share: Path) -> str:
    """The tier's devices: a disk, an optical drive, a library with one drive."""
    create_image(devemu_share / "disk0.img", TIER_DISK_MB << 20)
    make_disc(devemu_share, "first", "FIRST", "first disc\n")
    make_disc(devemu_share, "second", "SECOND", "second disc\n")
    return TIER_CONFIG
