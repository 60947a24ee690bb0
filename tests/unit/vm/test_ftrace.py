"""devemu.vm.ftrace: a guest trace's text summed up."""

from __future__ import annotations

import pytest

from devemu.vm.ftrace import (
    BUFFER_KB,
    EVENTS,
    GUEST_FUNCTIONS,
    KERNEL_ARGS,
    describe,
    summarize,
    task_kind,
)


def _event(task: str, cpu: int, us: int, event: str, body: str) -> str:
    """One line as Linux 6.1 prints it (irq-info column on), at 100 s + ``us``."""
    return f"{task:>16}  [{cpu:03d}] d..2.   {100 + us / 1e6:.6f}: {event}: {body}"


def _switch(cpu: int, us: int, prev: str, prev_pid: int, nxt: str, next_pid: int) -> str:
    task = "<idle>" if prev.startswith("swapper") else prev
    return _event(
        f"{task}-{prev_pid}",
        cpu,
        us,
        "sched_switch",
        f"prev_comm={prev} prev_pid={prev_pid} prev_prio=120 prev_state=S ==> "
        f"next_comm={nxt} next_pid={next_pid} next_prio=120",
    )


def _wakeup(task: str, cpu: int, us: int, comm: str, pid: int, target: int) -> str:
    body = f"comm={comm} pid={pid} prio=120 target_cpu={target:03d}"
    return _event(task, cpu, us, "sched_wakeup", body)


_READ = (
    "host_no=2 channel=0 id=1 lun=0 data_sgl=1 prot_sgl=0 prot_op=SCSI_PROT_NORMAL "
    "driver_tag=7 scheduler_tag=-1 cmnd=(READ_10 lba=8 txlen=8 protect=0 "
    "raw=28 00 00 00 00 08 00 00 08 00)"
)

# Two vCPUs for 1 ms: fio issues a READ_10 on CPU 0 and sleeps; devemu's
# thread, woken on CPU 1, runs 300 us; the command completes; fio is woken
# and runs again.
TRACE = [
    "# tracer: nop",
    "#",
    "# entries-in-buffer/entries-written: 9/9   #P:2",
    "#",
    _switch(1, 0, "swapper/1", 0, "swapper/1", 0),
    _event("fio-212", 0, 0, "scsi_dispatch_cmd_start", _READ),
    _wakeup("fio-212", 0, 10, "python3", 300, 1),
    _switch(0, 100, "fio", 212, "swapper/0", 0),
    _switch(1, 110, "swapper/1", 0, "python3", 300),
    _wakeup("python3-300", 1, 400, "fio", 212, 0),
    _event(
        "python3-300",
        1,
        405,
        "scsi_dispatch_cmd_done",
        _READ + " result=(host=DID_OK status=SAM_STAT_GOOD)",
    ),
    _switch(1, 410, "python3", 300, "swapper/1", 0),
    _switch(0, 460, "swapper/0", 0, "fio", 212),
    _switch(1, 1000, "swapper/1", 0, "kworker/1:1H", 40),
]


def test_vcpu_shares_wakeups_and_command_times() -> None:
    s = summarize(TRACE)
    assert s.seconds == pytest.approx(0.001)
    assert s.cpus == 2
    # CPU 1: idle 0-110 and 410-1000 us, python3 110-410 us. CPU 0 is seen
    # from its first switch (100 us): idle to 460, fio to the end.
    assert s.cpu_share["python3"] == pytest.approx(0.300)
    assert s.cpu_share["idle"] == pytest.approx(0.110 + 0.590 + 0.360)
    assert s.cpu_share["fio"] == pytest.approx(0.540)
    assert next(iter(s.cpu_share)) == "idle"
    assert s.wakeup["python3"].count == 1
    assert s.wakeup["python3"].median_us == pytest.approx(100)
    assert s.wakeup["fio"].median_us == pytest.approx(60)
    read = s.commands["READ_10"]
    assert read.count == 1
    assert read.median_us == pytest.approx(405)
    assert s.other_lines == 4


def test_commands_are_matched_by_device_and_tag() -> None:
    start = (
        "  fio-1  [000] d..1.  1.{t}: scsi_dispatch_cmd_start: host_no=0 channel=0 id=0 "
        "lun={lun} data_sgl=1 prot_sgl=0 prot_op=SCSI_PROT_NORMAL driver_tag={tag} "
        "scheduler_tag=-1 cmnd=(WRITE_6 raw=0a 00 04 00 00 00)"
    )
    done = start.replace("start", "done") + " result=(host=DID_OK status=SAM_STAT_GOOD)"
    lines = [
        start.format(t="000000", lun=0, tag=1),
        start.format(t="000100", lun=1, tag=1),
        done.format(t="001000", lun=1, tag=1),
        done.format(t="003000", lun=0, tag=1),
        done.format(t="004000", lun=0, tag=9),  # never started: not counted
    ]
    write = summarize(lines).commands["WRITE_6"]
    assert write.count == 2
    # LUN 1's took 900 us, LUN 0's 3,000: the median of two is their mean.
    assert write.median_us == pytest.approx(1950)
    assert write.max_us == pytest.approx(3000)


def test_task_kinds() -> None:
    assert task_kind("swapper/1") == "idle"
    assert task_kind("<idle>") == "idle"
    assert task_kind("kworker/0:1H") == "kworker"
    assert task_kind("ksoftirqd/1") == "ksoftirqd"
    assert task_kind("tcmu-runner") == "tcmu-runner"


def test_an_empty_trace_says_so() -> None:
    s = summarize(["# tracer: nop", ""])
    assert s.seconds == 0
    assert describe(s) == ["no trace events (tracefs missing in the guest?)"]


def test_description_names_shares_and_commands() -> None:
    text = "\n".join(describe(summarize(TRACE)))
    assert "on 2 vCPUs: idle 106%, fio 54%, python3 30%" in text
    assert "python3 100 (n=1)" in text
    assert "READ_10: 1 commands, dispatch to done median 405 us" in text


def _function(name: str) -> str:
    """The body of one shell function of GUEST_FUNCTIONS."""
    start = GUEST_FUNCTIONS.index(f"{name}() {{")
    return GUEST_FUNCTIONS[start : GUEST_FUNCTIONS.index("\n}", start)]


def test_setup_turns_every_event_on_and_the_recording_off() -> None:
    setup = _function("ftrace_setup")
    for event in EVENTS:
        assert event in setup
    assert 'echo 0 > "$FTRACE_DIR/tracing_on"' in setup
    assert setup.index("tracing_on") < setup.index("/enable")


def test_a_window_only_switches_the_recording() -> None:
    # Turning an event on or off patches kernel text, which hung a TCG guest mid-run.
    for name in ("ftrace_start", "ftrace_stop", "ftrace_save"):
        assert "enable" not in _function(name)
    assert 'echo 1 > "$FTRACE_DIR/tracing_on"' in _function("ftrace_start")
    assert 'echo 0 > "$FTRACE_DIR/tracing_on"' in _function("ftrace_stop")


def test_kernel_args_turn_the_scheduler_events_on_at_boot() -> None:
    prefix = "trace_event="
    (events,) = (a.removeprefix(prefix) for a in KERNEL_ARGS if a.startswith(prefix))
    assert events.split(",") == ["sched:sched_switch", "sched:sched_wakeup"]
    assert f"trace_buf_size={BUFFER_KB}K" in KERNEL_ARGS
