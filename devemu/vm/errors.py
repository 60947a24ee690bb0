"""Errors of the VM tier: each says which step failed and what the guest printed."""

from __future__ import annotations


class VmError(Exception):
    """Base class: the VM could not run the script to completion."""


class VmSetupError(VmError):
    """The host side could not prepare the kernel, initramfs or QEMU."""


class VmBootError(VmError):
    """The guest stopped before the script reported its exit status."""

    def __init__(self, message: str, *, output: str = "", console: str = "") -> None:
        super().__init__(message)
        self.output = output
        self.console = console

    def __str__(self) -> str:
        text = super().__str__()
        if self.console:
            text += "\n--- guest console (last lines) ---\n" + _tail(self.console)
        if self.output:
            text += "\n--- script output (last lines) ---\n" + _tail(self.output)
        return text


class VmTimeoutError(VmBootError):
    """The guest ran past its time limit; QEMU was killed."""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
