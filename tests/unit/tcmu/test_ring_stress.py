"""Four rings under mixed load, with a process reading the mailbox as the kernel does.

The kernel reads ``cmd_tail`` on another CPU while the loop stores it
(the early-notify doorbell hands its ``write()`` to a thread, so
``tcmu_handle_completions`` runs while the loop serves the next
command). A tail stored in more than one step is seen by the watcher
moving backwards; the simulator checks every completion the loop
publishes. Bounded to a few seconds.
"""

from __future__ import annotations

import time

from devemu.tcmu import abi
from devemu.tcmu.loop import RingLoop
from devemu.testing import RingBrokenError
from devemu.testing.ring_stress import SIZES, run_stress

#: Seconds of load per run; long enough for thousands of tail stores.
STRESS_SECONDS = 3.0


def test_four_rings_mixed_sizes_early_notify_and_out_of_order_never_break() -> None:
    report = run_stress(rings=4, seconds=STRESS_SECONDS, queue_depth=4, seed=9)
    assert report.errors == []
    assert report.commands > 500
    assert report.early_notifies > 100  # the second thread really rang
    assert report.deferred > 50  # answers really went out of order
    assert report.tail_samples > 10_000  # the watcher really read the mailbox meanwhile


def test_small_commands_at_depth_sixteen_never_break() -> None:
    report = run_stress(rings=4, seconds=1.0, queue_depth=16, seed=3, sizes=SIZES[:1])
    assert report.errors == []
    assert report.commands > 500


class TwoStepTail(RingLoop):
    """Publishes cmd_tail as the loop once did: zeroed first, then written."""

    def _publish(self, *, soon: bool = False) -> None:
        words = abi.mailbox_words(self._m)
        real = words[abi.CMD_TAIL_WORD]
        super()._publish(soon=soon)
        new = words[abi.CMD_TAIL_WORD]
        if new != real:
            words[abi.CMD_TAIL_WORD] = 0
            time.sleep(20e-6)  # the instant struct.pack_into leaves, made long enough to see
            words[abi.CMD_TAIL_WORD] = new
        words.release()


def test_a_tail_stored_in_two_steps_is_caught() -> None:
    """The watcher process sees the zero; so may the ringer thread's simulator (GIL released)."""
    try:
        report = run_stress(rings=2, seconds=1.0, queue_depth=4, seed=5, loop_class=TwoStepTail)
    except RingBrokenError as err:
        assert str(err).startswith("cmd_tail 0x0 is outside the entries")
    else:
        assert any("a torn store" in e for e in report.errors), report.errors
