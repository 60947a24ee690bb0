"""The SPC conformance suite every device type must pass, against any target.

A target is anything with ``execute(cdb, data_out=None, data_in_length=0)
-> Answer(status, sense, data)`` (:class:`Target`). Two ship here: the
in-process ring simulator serving a device (:class:`RingTarget`) and a
Linux SG_IO node (:class:`SgIoTarget`). A :class:`Profile` says what the
device type must answer; :func:`run_all` runs :data:`CHECKS` and returns
one :class:`CheckResult` each::

    from devemu.testing.conformance import SgIoTarget, PROFILES, run_all, summary

    with SgIoTarget("/dev/sg3") as target:
        print(summary(run_all(target, PROFILES["disk"])))

or from a shell: ``python -m devemu.testing.conformance /dev/sg3 --type disk``.
"""

from devemu.testing.conformance.checks import CHECKS, Check, NotApplicable
from devemu.testing.conformance.device_profiles import PROFILES
from devemu.testing.conformance.profile import LIO_ANSWERS, SPC_VPD_PAGES, Profile
from devemu.testing.conformance.ring_target import RingTarget
from devemu.testing.conformance.run import CheckResult, run_all, run_one, settle, summary
from devemu.testing.conformance.sg_io import SgIoTarget, TransportError
from devemu.testing.conformance.target import Answer, Target

__all__ = [
    "CHECKS",
    "LIO_ANSWERS",
    "PROFILES",
    "SPC_VPD_PAGES",
    "Answer",
    "Check",
    "CheckResult",
    "NotApplicable",
    "Profile",
    "RingTarget",
    "SgIoTarget",
    "Target",
    "TransportError",
    "run_all",
    "run_one",
    "settle",
    "summary",
]
