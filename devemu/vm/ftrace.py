"""The guest kernel's own trace around a benchmark: where a command's time goes.

A benchmark in the VM (``bench/vm_fio.py``, ``bench/vm_stream.py``) can
turn on a few of Linux's trace events (tracefs, Documentation/trace/
events.rst) for a short window of a timed run and save the trace as text:

- ``sched:sched_switch`` and ``sched:sched_wakeup``
  (``include/trace/events/sched.h``): which task ran on which vCPU and
  for how long, and how long a woken task waited for a vCPU;
- ``scsi:scsi_dispatch_cmd_start`` and ``scsi:scsi_dispatch_cmd_done``
  (``include/trace/events/scsi.h``): each SCSI command from the moment
  the midlayer hands it to the host (tcm_loop) to its completion, which
  is the backstore's whole share of a command plus the target core's
  hops around it.

:func:`summarize` reads the saved text back on the host: the share of a
vCPU each kind of task took over the window (``idle`` is the vCPUs'
halted time; 1.0 = one vCPU), the median time from a task's wake-up to
its running, and each SCSI operation's count and completion times. The
same window on every target of a run says, in one boot, where one
backstore spends what another does not.

Turning an event on patches kernel text (its tracepoint's static key and
static call, ``text_poke_bp``), and under QEMU's TCG that can hang the
guest: turning ``sched_wakeup`` on while the other vCPU ran the
scheduler left one vCPU looping on the breakpoint in ``__schedule`` and
the other waiting for it forever in the patch's cross-CPU call (a soft
lockup, twice in a row in one order of a bench). So nothing is patched while a
benchmark runs: the scheduler's events are on from boot
(:data:`KERNEL_ARGS`, the ``trace_event=`` parameter, before the second
vCPU starts), the SCSI midlayer's (a module) are turned on once by
``ftrace_setup`` before the first run, and a window only switches the
recording (``tracing_on``) and clears the buffer.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

#: The events turned on, as tracefs names them.
EVENTS = (
    "sched/sched_switch",
    "sched/sched_wakeup",
    "scsi/scsi_dispatch_cmd_start",
    "scsi/scsi_dispatch_cmd_done",
)

#: Per-vCPU ring buffer, KiB: a second of 4 KiB commands at QD16 under TCG fits.
BUFFER_KB = 16384

#: The events the kernel turns on at boot: the scheduler's, always built in.
BOOT_EVENTS = tuple(e for e in EVENTS if e.startswith("sched/"))

#: Guest kernel parameters for a traced boot (Documentation/admin-guide/kernel-parameters.txt).
KERNEL_ARGS = (
    "trace_event=" + ",".join(e.replace("/", ":") for e in BOOT_EVENTS),
    f"trace_buf_size={BUFFER_KB}K",
)

#: Shell functions for a guest script: ``ftrace_setup`` once before the first
#: run, then ``ftrace_start``, ``ftrace_stop`` and ``ftrace_save FILE`` per window.
GUEST_FUNCTIONS = f"""FTRACE_DIR=/sys/kernel/tracing
ftrace_setup() {{
    [ -e "$FTRACE_DIR/trace" ] || mount -t tracefs tracefs "$FTRACE_DIR" 2>/dev/null || return 0
    echo 0 > "$FTRACE_DIR/tracing_on"
    echo {BUFFER_KB} > "$FTRACE_DIR/buffer_size_kb"
    for e in {" ".join(EVENTS)}; do
        echo 1 > "$FTRACE_DIR/events/$e/enable" 2>/dev/null || true
    done
}}
ftrace_start() {{
    [ -e "$FTRACE_DIR/trace" ] || return 0
    echo > "$FTRACE_DIR/trace"
    echo 1 > "$FTRACE_DIR/tracing_on"
}}
ftrace_stop() {{
    [ -e "$FTRACE_DIR/trace" ] || return 0
    echo 0 > "$FTRACE_DIR/tracing_on"
}}
ftrace_save() {{
    if [ -e "$FTRACE_DIR/trace" ]; then cat "$FTRACE_DIR/trace" > "$1"; else : > "$1"; fi
}}
"""

# "  fio-212  [001] d..2.  123.456789: sched_switch: prev_comm=..."; the
# irq-info column (d..2.) is there by default and optional here.
_LINE = re.compile(
    r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:\S{4,5}\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s+(?P<body>.*)$"
)
_SWITCH = re.compile(
    r"prev_comm=(?P<prev>.*?) prev_pid=(?P<prev_pid>-?\d+) .*==> "
    r"next_comm=(?P<next>.*?) next_pid=(?P<next_pid>-?\d+)"
)
_WAKEUP = re.compile(r"comm=(?P<comm>.*?) pid=(?P<pid>-?\d+) ")
_COMMAND = re.compile(
    r"host_no=(?P<host>\d+) channel=(?P<channel>\d+) id=(?P<id>\d+) lun=(?P<lun>\d+) "
    r".*?driver_tag=(?P<tag>-?\d+) .*?cmnd=\((?P<op>[\w()]+)"
)


def task_kind(comm: str) -> str:
    """The kind a task is counted under: its name without the per-CPU suffix.

    ``swapper/1`` and ``<idle>`` are ``idle``; ``kworker/0:1H`` is
    ``kworker``, ``ksoftirqd/1`` ``ksoftirqd``.
    """
    if comm == "<idle>" or comm.startswith("swapper"):
        return "idle"
    return comm.split("/", 1)[0]


@dataclass(frozen=True)
class Latencies:
    """Count, median and 90th percentile of a set of durations, in microseconds."""

    count: int
    median_us: float
    p90_us: float
    max_us: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latencies:
        """The figures of ``seconds`` (not empty)."""
        us = sorted(s * 1e6 for s in seconds)
        return cls(len(us), statistics.median(us), us[min(len(us) - 1, len(us) * 9 // 10)], us[-1])


@dataclass(frozen=True)
class TraceSummary:
    """One trace window, summed up."""

    #: From the first event to the last, seconds.
    seconds: float
    #: The vCPUs seen.
    cpus: int
    #: Share of one vCPU each kind of task ran (``idle``: halted), biggest first.
    cpu_share: dict[str, float] = field(default_factory=dict)
    #: Wake-up to running, per kind of task woken.
    wakeup: dict[str, Latencies] = field(default_factory=dict)
    #: Dispatch to completion, per SCSI operation name (``READ_10``...).
    commands: dict[str, Latencies] = field(default_factory=dict)
    #: Lines that were not events of this module (headers, lost-event notes).
    other_lines: int = 0


def summarize(lines: Iterable[str]) -> TraceSummary:
    """Sum up the text of ``/sys/kernel/tracing/trace`` with :data:`EVENTS` on."""
    ran: dict[str, float] = defaultdict(float)
    since: dict[int, float] = {}
    running: dict[int, str] = {}
    woken: dict[int, tuple[float, str]] = {}
    wakeups: dict[str, list[float]] = defaultdict(list)
    started: dict[tuple[str, ...], float] = {}
    commands: dict[str, list[float]] = defaultdict(list)
    first = last = None
    other = 0
    for line in lines:
        m = _LINE.match(line)
        if m is None:
            other += 1
            continue
        ts, cpu, event, body = float(m["ts"]), int(m["cpu"]), m["event"], m["body"]
        first = ts if first is None else first
        last = ts
        if event == "sched_switch" and (s := _SWITCH.search(body)):
            if cpu in since:
                ran[task_kind(s["prev"])] += ts - since[cpu]
            since[cpu], running[cpu] = ts, s["next"]
            pid = int(s["next_pid"])
            if pid in woken:
                at, comm = woken.pop(pid)
                wakeups[task_kind(comm)].append(ts - at)
        elif event == "sched_wakeup" and (w := _WAKEUP.search(body)):
            woken.setdefault(int(w["pid"]), (ts, w["comm"]))
        elif event.startswith("scsi_dispatch_cmd_") and (c := _COMMAND.search(body)):
            key = (c["host"], c["channel"], c["id"], c["lun"], c["tag"])
            if event == "scsi_dispatch_cmd_start":
                started[key] = ts
            elif event == "scsi_dispatch_cmd_done" and key in started:
                commands[c["op"]].append(ts - started.pop(key))
        else:
            other += 1
    if first is None or last is None:
        return TraceSummary(0.0, 0, other_lines=other)
    for cpu, at in since.items():
        ran[task_kind(running[cpu])] += last - at
    window = last - first
    share = {k: v / window for k, v in ran.items()} if window > 0 else {}
    return TraceSummary(
        seconds=window,
        cpus=len(since),
        cpu_share=dict(sorted(share.items(), key=lambda kv: -kv[1])),
        wakeup={k: Latencies.of(v) for k, v in sorted(wakeups.items())},
        commands={k: Latencies.of(v) for k, v in sorted(commands.items())},
        other_lines=other,
    )


def describe(summary: TraceSummary, *, kinds: int = 8) -> list[str]:
    """A few lines of text: vCPU shares, wake-up medians, command times."""
    if not summary.seconds:
        return ["no trace events (tracefs missing in the guest?)"]
    shares = ", ".join(
        f"{kind} {share * 100:.0f}%" for kind, share in list(summary.cpu_share.items())[:kinds]
    )
    lines = [f"{summary.seconds:.2f} s on {summary.cpus} vCPUs: {shares}"]
    top = sorted(summary.wakeup.items(), key=lambda kv: -kv[1].count)[:kinds]
    if top:
        lines.append(
            "wake-up to run, median us: "
            + ", ".join(f"{k} {v.median_us:.0f} (n={v.count})" for k, v in top)
        )
    lines.extend(
        f"{op}: {v.count} commands, dispatch to done median {v.median_us:,.0f} us, "
        f"p90 {v.p90_us:,.0f}, max {v.max_us:,.0f}"
        for op, v in summary.commands.items()
    )
    return lines
