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

from devemu.vm.runner import VmResult
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
