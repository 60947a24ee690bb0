"""Many named checks in one boot.

A guest boot costs seconds, so a test module runs all its checks in one
script and asserts on each afterwards. :func:`steps_script` turns named
shell snippets into one script that runs each snippet with ``sh -e`` (its
own stdin closed), framing its output and exit status with marker lines;
:func:`parse_steps` reads the frames back from the guest's output.
Snippets run in order; a failing one does not stop the next.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

BEGIN = "@@devemu-step-begin"
END = "@@devemu-step-end"
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
_FRAME = re.compile(
    rf"^{BEGIN} (?P<name>\S+)\n(?P<body>.*?)\n{END} (?P=name) (?P<status>\d+)$",
    re.DOTALL | re.MULTILINE,
)


@dataclass(frozen=True)
class Step:
    """One snippet's result: its exit status and combined stdout/stderr."""

    name: str
    status: int
    output: str

    @property
    def ok(self) -> bool:
        return self.status == 0


def steps_script(
    steps: Mapping[str, str] | Iterable[tuple[str, str]], *, folder: str = "/tmp/devemu-steps"
) -> str:
    """One shell script running every ``(name, snippet)`` in order."""
    items = list(steps.items()) if isinstance(steps, Mapping) else list(steps)
    lines = [f"mkdir -p {folder}"]
    seen: set[str] = set()
    for name, snippet in items:
        if not _NAME.match(name) or name in seen:
            raise ValueError(f"step name {name!r} must be unique and made of [A-Za-z0-9_.:-]")
        seen.add(name)
        delimiter = f"DEVEMU_STEP_{secrets.token_hex(8)}"
        path = f"{folder}/{name}.sh"
        lines += [
            f"cat > {path} <<'{delimiter}'",
            snippet,
            delimiter,
            f"echo '{BEGIN} {name}'",
            f"/bin/sh -e {path} < /dev/null 2>&1",
            "status=$?",
            f"printf '\\n{END} {name} %d\\n' \"$status\"",
        ]
    return "\n".join(lines) + "\n"


def parse_steps(output: str) -> dict[str, Step]:
    """The steps found in ``output``, by name (a step cut short is absent)."""
    found: dict[str, Step] = {}
    for match in _FRAME.finditer(output):
        name = match.group("name")
        found[name] = Step(name, int(match.group("status")), match.group("body"))
    return found
