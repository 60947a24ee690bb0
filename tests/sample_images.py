"""``images/make_samples.py`` (a script, not a package module), loaded for tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def load_make_samples() -> Any:
    """The module; ``load_make_samples().build(folder)`` writes every sample image."""
    spec = importlib.util.spec_from_file_location(
        "make_samples", ROOT / "images" / "make_samples.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
