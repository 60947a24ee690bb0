"""Running the checks against one target and reporting each outcome.

:func:`run_all` clears pending unit attentions before every check (as an
initiator does after a reset: TEST UNIT READY until none is reported,
SAM-5 5.14), runs it, and records one :class:`CheckResult`: ``passed``,
``failed`` (the assertion's message) or ``not-applicable`` (the reason).
An exception other than an assertion (a transport that fails, a device
that answers something unreadable) is ``failed`` too, with its type named.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from devemu.testing.conformance.checks import CHECKS, Check, NotApplicable
from devemu.testing.conformance.profile import Profile
from devemu.testing.conformance.queries import TEST_UNIT_READY, is_unit_attention
from devemu.testing.conformance.target import Target

PASSED = "passed"
FAILED = "failed"
NOT_APPLICABLE = "not-applicable"

#: More unit attentions in a row than this is a device that never settles.
MAX_UNIT_ATTENTIONS = 8


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    outcome: str
    #: The failure's message, the reason it does not apply, or the check's note.
    detail: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.outcome == PASSED

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def settle(t: Target) -> None:
    """Clear pending unit attentions with TEST UNIT READY."""
    for _ in range(MAX_UNIT_ATTENTIONS):
        if not is_unit_attention(t.execute(TEST_UNIT_READY)):
            return
    raise AssertionError(f"unit attentions never end ({MAX_UNIT_ATTENTIONS} in a row)")


def check_name(check: Check) -> str:
    return check.__name__


def run_one(t: Target, profile: Profile, check: Check) -> CheckResult:
    """Settle ``t`` and run ``check`` on it."""
    start = time.monotonic()
    try:
        settle(t)
        note = check(t, profile)
    except NotApplicable as reason:
        outcome, detail = NOT_APPLICABLE, str(reason)
    except AssertionError as error:
        outcome, detail = FAILED, f"{error} [{_where(error)}]".lstrip()
    except Exception as error:  # reported as the check's failure
        outcome, detail = FAILED, f"{type(error).__name__}: {error} [{_where(error)}]"
    else:
        outcome, detail = PASSED, note or ""
    return CheckResult(check_name(check), outcome, detail, time.monotonic() - start)


def run_all(t: Target, profile: Profile, checks: Iterable[Check] = CHECKS) -> list[CheckResult]:
    """Every check in order against ``t``; one result each."""
    return [run_one(t, profile, check) for check in checks]


def summary(results: Sequence[CheckResult]) -> str:
    """One line per check, then the counts."""
    lines = [f"{r.outcome:<15} {r.name} ({r.seconds:.2f} s) {r.detail}".rstrip() for r in results]
    counts = {o: sum(r.outcome == o for r in results) for o in (PASSED, FAILED, NOT_APPLICABLE)}
    lines.append(", ".join(f"{n} {o}" for o, n in counts.items()))
    return "\n".join(lines)


def _where(error: BaseException) -> str:
    """The innermost line of the suite that raised ``error``."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "no traceback"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}: {last.line}"
