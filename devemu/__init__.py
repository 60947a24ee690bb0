"""devemu: SCSI devices served to Linux through TCMU."""

from importlib import metadata

try:
    __version__ = metadata.version("devemu")
except metadata.PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
