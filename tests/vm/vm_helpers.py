"""Reading what a guest script printed: ``KEY value`` lines and tagged blocks."""

from __future__ import annotations

import re


def value(output: str, key: str) -> str:
    """The rest of the line ``KEY value`` (stripped); the test fails if there is none."""
    match = re.search(rf"^{re.escape(key)}[ \t](.*)$", output, re.MULTILINE)
    assert match, f"{key} missing from the guest output:\n{output}"
    return match[1].strip()


def lines(output: str, tag: str) -> list[str]:
    """Every line the script tagged ``TAG ...`` (``sed 's/^/TAG /'``), tag removed."""
    return [
        line[len(tag) + 1 :]
        for line in output.splitlines()
        if line == tag or line.startswith(tag + " ")
    ]
