"""``devemu trace`` under the real kernel: the CDBs ``sg_inq`` and ``mt status`` sent.

In the tier's guest, a daemon of its own serves a library with one LTO
drive (a cartridge loaded); the script starts ``devemu trace --json`` in
the background, runs ``sg_inq`` on the drive's sg node (INQUIRY, 12h)
and ``mt status`` on its tape node (the st driver's open: TEST UNIT
READY, READ BLOCK LIMITS, MODE SENSE), then ends the trace with SIGINT; a
second trace, in the human form and filtered to INQUIRY, sees a second
``sg_inq`` and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[library]]
name = "vtl0"
directory = "/run/vtl-tapes"
slots = 4
import_export = 1
barcode_prefix = "T01"
count = 2
serial = "TRLIB00001"

[[library.drives]]
name = "vtl0-d0"
serial = "TRDRIVE001"
"""

SCRIPT = (
    guest_functions(ready_timeout=60)
    + r"""
CFG="$DEVEMU_VM_SHARE/trace.toml"
serve_start "$CFG" /tmp/serve.log
T0=""
for _ in $(seq 200); do
    T0=$(node_with_serial TRDRIVE001 /sys/class/scsi_tape/nst[0-9]*)
    [ -n "$T0" ] && break
    sleep 0.05
done
SG0=/dev/$(ls "/sys/class/scsi_tape/${T0##*/}/device/scsi_generic")
CH=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {print $(NF-1)}' | head -n1)
echo "NODES $T0 $SG0 $CH"
mtx -f "$CH" load 1 0; echo "LOADED $?"
for _ in $(seq 100); do mt -f "$T0" status > /dev/null 2>&1 && break; sleep 0.1; done
trace_start() {
    rm -f /tmp/trace.err
    # Python itself in the background (not the devemu shell function): $! is its pid.
    "$DEVEMU_VM_PYTHON" -m devemu trace "$@" > /tmp/trace.out 2> /tmp/trace.err &
    trace_pid=$!
    for _ in $(seq 400); do
        grep -q '^tracing' /tmp/trace.err 2>/dev/null && return 0
        sleep 0.05
    done
    echo "TRACE_NOT_STARTED"; cat /tmp/trace.err; return 1
}
trace_stop() {
    sleep 0.5
    kill -INT "$trace_pid"
    # Bounded without a watchdog in the background (it would outlive the script).
    for _ in $(seq 400); do kill -0 "$trace_pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$trace_pid" 2>/dev/null
    status=0; wait "$trace_pid" || status=$?
    echo "$1 $status"
}
trace_start --json
sg_inq "$SG0" > /dev/null; echo "SG_INQ $?"
mt -f "$T0" status > /dev/null; echo "MT_STATUS $?"
trace_stop TRACE_EXIT
sed 's/^/TRACE /' /tmp/trace.out
sed 's/^/TRACE_ERR /' /tmp/trace.err

trace_start vtl0-d0 --opcode inquiry
sg_inq "$SG0" > /dev/null
mt -f "$T0" status > /dev/null
trace_stop HUMAN_EXIT
sed 's/^/HUMAN /' /tmp/trace.out
kill -TERM "$serve_pid"; wait "$serve_pid"; echo "SERVE_EXIT $?"
grep -E "INFO devemu.daemon: ready|trace stream" /tmp/serve.log | sed 's/^/SERVE_LOG /'
"""
)


@pytest.fixture(scope="module")
def traced(guest_scripts: GuestScripts) -> tuple[VmResult, str]:
    share = guest_scripts.new_share()
    (share / "trace.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=300)
    print(result.output)
    return result, result.output


def _records(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(output, "TRACE")]


def test_script_completed(traced: tuple[VmResult, str]) -> None:
    result, output = traced
    assert result.exit_code == 0, output
    assert value(output, "SG_INQ") == "0"
    assert value(output, "MT_STATUS") == "0"
    assert value(output, "TRACE_EXIT") == "0"
    assert value(output, "HUMAN_EXIT") == "0"


def test_the_trace_shows_the_inquiry_sg_inq_sent(traced: tuple[VmResult, str]) -> None:
    _, output = traced
    inquiries = [
        r for r in _records(output) if r["device"] == "vtl0-d0" and r["cdb"].startswith("12")
    ]
    assert inquiries, output
    # sg_inq also asks for the unit serial number VPD page: take the standard INQUIRY.
    standard = [r for r in inquiries if not bytes.fromhex(r["cdb"])[1] & 0x01]
    assert standard, inquiries
    inquiry = standard[-1]
    assert inquiry["name"] == "INQUIRY" and inquiry["opcode"] == 0x12
    assert inquiry["status"] == "GOOD" and inquiry["sense"] is None
    # sg_inq asks for standard INQUIRY data: EVPD 0, page 0, its allocation length.
    cdb = bytes.fromhex(inquiry["cdb"])
    assert len(cdb) == 6 and cdb[1] == 0 and cdb[2] == 0
    assert inquiry["length"] == int.from_bytes(cdb[3:5], "big")
    assert 0 < inquiry["data_in"] <= inquiry["length"]
    assert inquiry["latency_us"] > 0


def test_the_trace_shows_what_mt_status_sent(traced: tuple[VmResult, str]) -> None:
    _, output = traced
    records = _records(output)
    after = records[max(i for i, r in enumerate(records) if r["cdb"].startswith("12")) + 1 :]
    names = {r["name"] for r in after if r["device"] == "vtl0-d0"}
    # The st driver's open (st_open -> check_tape): TEST UNIT READY, READ BLOCK LIMITS, MODE SENSE.
    assert {"TEST UNIT READY", "READ BLOCK LIMITS"} <= names, after
    assert any(name.startswith("MODE SENSE") for name in names), after


def test_the_human_form_filtered_to_inquiry(traced: tuple[VmResult, str]) -> None:
    _, output = traced
    human = lines(output, "HUMAN")
    assert human[0].split()[:4] == ["TIME", "DEVICE", "OP", "COMMAND"]
    assert human[1:], output
    for line in human[1:]:
        assert " vtl0-d0 " in line and " 12h INQUIRY " in line and line.endswith("GOOD")


def test_serve_logs_at_info_by_default(traced: tuple[VmResult, str]) -> None:
    _, output = traced
    log = lines(output, "SERVE_LOG")
    assert any(" INFO devemu.daemon: ready: " in line for line in log), output
    assert any(" INFO devemu.control: trace stream opened (vtl0-d0)" in line for line in log), log
