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

- ``devemu_guest`` (session scope, :mod:`devemu.pytest_plugin`): the
  tier's one guest, booted once, serving :data:`TIER_CONFIG`. Tests run
  commands in it (``devemu_guest.run``) and start daemons of their own
  (``with devemu_guest.serve(config) as daemon``).
- ``guest_scripts`` (module scope): a
  :class:`tests.vm.guest_scripts.GuestScripts`, ``run`` and ``run_steps``
  as ``vm_session``'s but in the running guest; each module's share is a
  folder of the guest's.

Every module that uses the guest must leave it as the boot left it (no
daemon, LIO object or mount of its own): checked after each module, whose
teardown fails naming what was left (and removed). A guest that died
during a module is booted again for the next one. ``vm_session`` still
boots a guest per call, for modules that need a boot of their own: those
whose services the clean check does not see and would outlive a failing
module, or whose assertions count every LIO object of the guest
(``test_targetcli_vm``: a system D-Bus daemon, targetcli listing the
tier's backstores too; ``test_iscsi_vm``: iscsid, the kernel's iSCSI
sessions and an iSCSI target on the loopback portals), and
``test_vm_boot``'s checks of ``devemu vm`` itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devemu import pytest_plugin
from devemu.cdrom.iso_writer import make_iso
from devemu.disk.image import create_image
from devemu.vm.guest import Guest
from devemu.vm.guest_daemon import Snapshot, snapshot, sweep
from devemu.vm.runner import VmResult
from devemu.vm.session import VmSession

from .guest_scripts import GuestScripts

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
#: The tier's daemon keeps out of the way of the daemons modules start: its
#: own control socket and state directory (theirs are the defaults), device
#: names of its own, and a vendor of its own (modules find their devices by
#: vendor ``DEVEMU`` or by serial).
TIER_SOCKET = "/run/devemu-tier/control.sock"
TIER_VENDOR = "DEVTIER"
TIER_CONFIG = f"""\
[daemon]
control_socket = "{TIER_SOCKET}"
state_dir = "/run/devemu-tier-state"
fabric = "loopback"

[[disk]]
name = "tier-disk0"
image = "@SHARE@/disk0.img"
vendor = "{TIER_VENDOR}"
serial = "TIERDISK01"

[[cdrom]]
name = "tier-cd0"
image = "@SHARE@/first.iso"
vendor = "{TIER_VENDOR}"
serial = "TIERCD0001"

[[library]]
name = "tier-vtl0"
directory = "/run/tier-tapes"
slots = 4
import_export = 1
barcode_prefix = "T01"
count = 2
vendor = "{TIER_VENDOR}"
serial = "TIERLIB001"

[[library.drives]]
name = "tier-vtl0-d0"
vendor = "{TIER_VENDOR}"
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


# ------------------------------------------------- the guest left clean
_LEFT: dict[str, Snapshot] = {}
#: The guest whose baseline ``_LEFT`` holds (a module that did not ask for it
#: is checked too, without asking for a fixture in its teardown).
_GUEST: dict[str, Guest] = {}


@pytest.fixture(scope="session")
def tier_baseline(devemu_guest: Guest) -> Iterator[Snapshot]:
    """What the guest holds once booted: the tier daemon, its LIO objects.

    At the end of the session the guest must hold exactly that again.
    """
    _LEFT["baseline"] = baseline = snapshot(devemu_guest)
    _GUEST["tier"] = devemu_guest
    yield baseline
    if devemu_guest.alive():
        end = snapshot(devemu_guest)
        baseline = _LEFT["baseline"]
        assert (end.since(baseline), baseline.since(end)) == ([], []), "guest not clean at the end"


@pytest.fixture(scope="session")
def tier_guest(devemu_guest: Guest, tier_baseline: Snapshot) -> Guest:
    """The session's guest, its baseline taken (for the check after each module)."""
    return devemu_guest


@pytest.fixture(scope="module")
def guest_scripts(
    tier_guest: Guest, tier_baseline: Snapshot, devemu_share: Path
) -> Iterator[GuestScripts]:
    scripts = GuestScripts(tier_guest, _LEFT.get("baseline", tier_baseline), devemu_share)
    yield scripts
    assert not scripts.left, "the module's scripts left in the guest:\n" + "\n".join(scripts.left)


#: Each module's wall time (its fixtures' setup and teardown included), for
#: the summary at the end of the run: what the tier's time budget goes to.
_MODULE_SECONDS: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _MODULE_SECONDS:
        return
    terminalreporter.section("VM tier: seconds per module")
    for name, seconds in sorted(_MODULE_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:7.1f}  {name}")
    terminalreporter.write_line(f"{sum(_MODULE_SECONDS.values()):7.1f}  in all")


@pytest.fixture(scope="module", autouse=True)
def guest_left_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a module that used the guest: nothing of its own remains in it."""
    started = time.monotonic()
    yield
    _MODULE_SECONDS[request.module.__name__] = time.monotonic() - started
    baseline = _LEFT.get("baseline")
    guest = _GUEST.get("tier")
    if baseline is None or guest is None:
        return
    if not guest.alive():
        # Booted again (a minute) so that one module's crash costs no other.
        tail = guest.folder.tail()
        guest.restart()
        _LEFT["baseline"] = snapshot(guest)
        pytest.fail(f"the guest died during {request.module.__name__}; booted again\n{tail}")
    left = sweep(guest, baseline)
    assert not left, f"{request.module.__name__} left in the guest: {left}"
