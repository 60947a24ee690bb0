"""One object a test tier shares: boots guests with the kernel prepared once.

``VmSession.run`` adds two things to :func:`devemu.vm.run`: a read-write
share made on demand, and ``config_toml``, written into the share (every
``@SHARE@`` in it replaced by the share's path) and served by
``devemu serve`` around the script. ``run_steps`` runs many named checks
in one boot.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from devemu.vm.cache import cache_dir
from devemu.vm.initramfs import ensure_initramfs
from devemu.vm.kernel import Kernel, ensure_kernel
from devemu.vm.qemu import find_qemu
from devemu.vm.runner import VmResult, run
from devemu.vm.serving import serving_script
from devemu.vm.steps import Step, parse_steps, steps_script

SHARE_TOKEN = "@SHARE@"
CONFIG_NAME = "devemu.toml"


class VmSession:
    """Boots guests that all use one prepared kernel and initramfs."""

    def __init__(self, make_share: Callable[[], Path] | None = None) -> None:
        cache = cache_dir()
        self.kernel: Kernel = ensure_kernel(cache)
        self.initramfs: Path = ensure_initramfs(self.kernel, cache)
        self.qemu: str = find_qemu()
        self._make_share = make_share or (lambda: Path(tempfile.mkdtemp(prefix="devemu-share-")))

    def new_share(self) -> Path:
        """A fresh empty folder the guest can write to."""
        return self._make_share()

    def run(
        self,
        script: str,
        *,
        config_toml: str | None = None,
        share: Path | None = None,
        timeout: float = 300.0,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
        memory_mb: int = 1024,
    ) -> VmResult:
        """Boot, run ``script`` (under ``devemu serve`` when ``config_toml`` is given)."""
        if config_toml is not None:
            share = share or self.new_share()
            config = share / CONFIG_NAME
            config.write_text(config_toml.replace(SHARE_TOKEN, str(share.resolve())))
            script = serving_script(script, config.resolve(), ready_timeout=ready_timeout)
        return run(
            script,
            timeout=timeout,
            share=share,
            env=env,
            memory_mb=memory_mb,
            kernel=self.kernel,
        )

    def run_steps(
        self,
        steps: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        config_toml: str | None = None,
        share: Path | None = None,
        timeout: float = 300.0,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
        memory_mb: int = 1024,
    ) -> tuple[VmResult, dict[str, Step]]:
        """Run named snippets in one boot; return the run and each step's result."""
        result = self.run(
            steps_script(steps),
            config_toml=config_toml,
            share=share,
            timeout=timeout,
            env=env,
            ready_timeout=ready_timeout,
            memory_mb=memory_mb,
        )
        return result, parse_steps(result.output)
