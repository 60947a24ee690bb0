"""Where the VM tier keeps what it downloads and builds between runs.

The unpacked kernel package and the initramfs live under
``$DEVEMU_VM_CACHE`` (default ``~/.cache/devemu/vm``). Nothing in it is
precious: deleting the folder makes the next boot fetch and build again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CACHE_ENV = "DEVEMU_VM_CACHE"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the cache folder, honouring ``DEVEMU_VM_CACHE``."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    configured = env.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "devemu" / "vm"
