"""The three kinds of failure devemu tells apart.

- :class:`~devemu.scsi.sense.SenseError`: the initiator's fault; it goes on
  the wire as CHECK CONDITION (defined with the sense codes).
- :class:`ImageError`, :class:`ConfigError`: a bad file given by the user;
  raised when the file is loaded, naming the file and the place in it.
- Anything else is our bug: the dispatcher answers HARDWARE ERROR, logs
  it, and the device keeps serving.
"""

from __future__ import annotations

from pathlib import Path


class DevemuError(Exception):
    """Base of the errors a user can act on; the message says what to do.

    ``exit_status`` is what the ``devemu`` command exits with: 1, a
    runtime failure (a file, a daemon, the host), unless the error is a
    :class:`UsageError`.
    """

    exit_status = 1


class UsageError(DevemuError):
    """A command-line argument the command cannot take (exit status 2, as argparse's)."""

    exit_status = 2


class ImageError(DevemuError):
    """A disc, disk or cartridge image (or its sheet) that cannot be used.

    ``where`` names the place: ``"line 12"``, ``"offset 0x8000"``,
    ``"record 41"``. A runtime error: the command was right, the file is not.
    """

    def __init__(self, path: str | Path, where: str | None, reason: str) -> None:
        self.path = Path(path)
        self.where = where
        self.reason = reason
        place = f"{self.path}: {where}" if where else str(self.path)
        super().__init__(f"{place}: {reason}")


class ConfigError(DevemuError):
    """A configuration file that cannot be served; ``key`` is a dotted path."""

    def __init__(self, path: str | Path, key: str | None, reason: str) -> None:
        self.path = Path(path)
        self.key = key
        self.reason = reason
        place = f"{self.path}: {key}" if key else str(self.path)
        super().__init__(f"{place}: {reason}")
