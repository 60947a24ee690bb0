"""devemu: SCSI devices served to Linux through TCMU."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``__version__``, looked up on first use (importlib.metadata is slow to import)."""
    if name != "__version__":
        raise AttributeError(f"module 'devemu' has no attribute {name!r}")
    from importlib import metadata  # noqa: PLC0415

    try:
        version = metadata.version("devemu")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        version = "0+unknown"
    globals()["__version__"] = version
    return version
