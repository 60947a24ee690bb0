"""The public SPC suite (:mod:`devemu.testing.conformance`) against every device type,
through the ring simulator.

Each check runs on a fresh device; a check that does not apply fails
here, since every profile of the tree names what the checks need. The
random-CDB check also runs under hypothesis, which shrinks a failure to
its smallest CDB.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devemu.testing.conformance import CHECKS, Check
from devemu.testing.conformance.checks import random_cdb_answer
from tests.conformance.conftest import Served


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_check(served: Served, check: Check) -> None:
    check(served.target, served.profile)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    opcode=st.integers(0, 255),
    body=st.binary(min_size=15, max_size=15),
    data_in_length=st.integers(0, 2048),
)
def test_random_cdbs_get_good_or_well_formed_check_condition(
    served: Served, opcode: int, body: bytes, data_in_length: int
) -> None:
    random_cdb_answer(served.target, opcode, body, data_in_length)
