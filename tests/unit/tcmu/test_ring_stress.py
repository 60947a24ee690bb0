"""Four rings under mixed load, with a process reading the mailbox as the kernel does.

The kernel reads ``cmd_tail`` on another CPU while the loop stores it
(the early-notify doorbell hands its ``write()`` to a thread, so
``tcmu_handle_completions`` runs while the loop serves the next
command). A tail stored in more than one step is seen by the watcher
moving backwards; the simulator checks every completion the loop
publishes. Bounded to a few seconds.
"""

from __future__ import annotations

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
