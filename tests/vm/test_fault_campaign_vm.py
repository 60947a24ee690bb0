"""A fault campaign against ``devemu serve`` under the real kernel.

The guest serves a disk and a tape library (a changer and two drives) and
runs three loads at once:

- (a) a tape append stream on drive 0: each attempt spaces to end of data
  (``mt eod``) and appends one tape file, alternately with ``dd`` (32 KiB
  records) and ``tar`` (10 KiB records); st writes the filemark when the
  file is closed (WRITE FILEMARKS with IMMED=0, a synchronising command,
  SSC-5 7.12), so an attempt whose tool exited 0 is acknowledged data;
- (b) a loop of changer moves (``mtx load``, ``unload``, ``transfer``)
  over the other drive and slots 2-8, each chosen from the current
  inventory;
- (c) fio runs writing a disk with crc32c verify headers and reading every
  block back (``do_verify=1``), one after the other.

While they run the daemon gets SIGKILL :data:`KILLS` times, each after a
seeded random delay (:data:`SEED`, printed), and is started again with the
same configuration (it adopts the rings; ``[daemon] cmd_time_out`` is
120 s so the kernel waits for it). After each restart the changer's
inventory must hold every cartridge exactly once. Then, still under load,
the initiator resets the disk and the tape drive with ``sg_reset`` (device,
target, host), each bounded in time.

After the loads stop, the tape is read back through st file by file and
checked on the host: every acknowledged attempt is there whole, equal and
ending at a filemark, nothing was written twice and nothing appears that
no attempt wrote. Every fio run must have passed its verify. The
cartridge files must pass ``devemu tape info --verify``.

Last, a second daemon start with a small ``cmd_time_out``
(:data:`STOP_TIME_OUT`) is stopped with SIGSTOP for longer than that
under a disk load, so that the kernel fails the commands in the ring
itself, then continued: the daemon must live on, the kernel must not call
the ring broken, and the next commands must be served.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devemu.disk.image import create_image
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import fields, lines, records, value

pytestmark = pytest.mark.vm

#: The campaign's seed: kill instants and changer moves derive from it.
SEED = 9_052_026
#: Kills of the daemon while the three loads run (each a restart: seconds of an emulated guest).
KILLS = 6
#: Seconds between a restart and the next kill: uniform in this range.
KILL_DELAY = (0.5, 2.5)
#: The kill loop stops early past this many seconds (the campaign is bounded).
CAMPAIGN_BUDGET = 300
#: Hard bound of the whole boot.
VM_TIMEOUT = 600
#: cmd_time_out of the SIGSTOP part, and how long the daemon stays stopped.
STOP_TIME_OUT = 6
STOPPED_SECONDS = STOP_TIME_OUT + 6

DISK_MB = 64
#: Bytes of one dd attempt (records of DD_RECORD) and of one tar member.
DD_RECORD = 32768
DD_BYTES = 4 * DD_RECORD
TAR_RECORD = 10240
TAR_DATA = 55000  # the archive's last record still holds data: every record is unique
TAR_OPTIONS = "--format=gnu --owner=0 --group=0 --numeric-owner --mtime=@0 -b 20"
BARCODES = [f"E0100{n}L8" for n in range(1, 7)]
#: Choices of the changer loop (seeded); one per move.
CHANGER_CHOICES = 5000

_DAEMON = GUEST_DAEMON_TABLE.rstrip()
_DEVICES = """
[[disk]]
name = "fault0"
image = "fault.img"
serial = "VMFAULTD01"

[[library]]
name = "fvtl"
directory = "tapes"
slots = 8
import_export = 1
barcode_prefix = "E01"
count = 6
serial = "VMFLIB0001"

[[library.drives]]
name = "fvtl-d0"
serial = "VMFDRIVE01"

[[library.drives]]
name = "fvtl-d1"
serial = "VMFDRIVE02"
"""
CONFIG = f"{_DAEMON}\ncmd_time_out = 120\n{_DEVICES}"
STOP_CONFIG = f"{_DAEMON}\ncmd_time_out = {STOP_TIME_OUT}\n{_DEVICES}"

#: One fio run of the disk load: 4 KiB random and 64 KiB sequential writes, then a read-verify.
FIO_RUN = (
    "--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --do_verify=1 "
    "--output-format=json "
    "--name=rand4k --rw=randwrite --bs=4k --iodepth=16 --offset=0 --size=6m "
    "--name=seq64k --rw=write --bs=64k --iodepth=4 --offset=32m --size=12m"
)

SCRIPT = (
    guest_functions(ready_timeout=90)
    + rf"""
set -u
SHARE="$DEVEMU_VM_SHARE"
mkdir -p "$SHARE/src" "$SHARE/readback" "$SHARE/fio" /tmp/tar
fail() {{
    echo "FAIL $*"
    for f in /tmp/serve*.log /tmp/*.loop; do
        [ -e "$f" ] && {{ echo "--- $f"; tail -n 40 "$f"; }}
    done
    dmesg | tail -n 40
    exit 1
}}
now() {{ cut -d' ' -f1 /proc/uptime; }}
since() {{ awk "BEGIN {{ printf \"%.2f\", $(now) - $1 }}"; }}
BOOT=$(now)
# The guest's kernel log before the campaign (other modules ran in this guest).
campaign_dmesg=$(dmesg | wc -l)
start() {{
    serve_start "$1" "/tmp/serve$2.log" -v
    pid=$serve_pid
}}
tape_for() {{ node_with_serial "$1" /sys/class/scsi_tape/nst[0-9]*; }}
sg_of_tape() {{ echo "/dev/$(ls "/sys/class/scsi_tape/${{1##*/}}/device/scsi_generic")"; }}
find_devices() {{
    for _ in $(seq 200); do
        CH=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {{print $(NF-1)}}' | head -n1)
        T0=$(tape_for VMFDRIVE01); T1=$(tape_for VMFDRIVE02)
        [ -c "$CH" ] && [ -n "$T0" ] && [ -n "$T1" ] && break
        sleep 0.05
    done
    CHSG=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {{print $NF}}' | head -n1)
    SG0=$(sg_of_tape "$T0"); SG1=$(sg_of_tape "$T1")
    SD=$(find_disk DEVEMU) || fail "no devemu disk"
    SDNAME=${{SD##*/}}
    SDSG=/dev/$(ls "/sys/block/$SDNAME/device/scsi_generic")
    echo "DEVICES $CH $CHSG $T0 $SG0 $T1 $SG1 $SD $SDSG"
}}
wait_ready() {{
    for _ in $(seq 100); do mt -f "$1" status > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}}
busy() {{ cat "/sys/class/scsi_generic/${{1##*/}}/device/device_busy"; }}
disk_writes() {{ awk '{{print $5}}' "/sys/block/$SDNAME/stat"; }}
disk_ios() {{ awk '{{print $1 + $5}}' "/sys/block/$SDNAME/stat"; }}
tape_writes() {{ cat "/sys/class/scsi_tape/${{T0##*/}}/stats/write_cnt" 2>/dev/null || echo -1; }}
inventory() {{
    for _ in 1 2 3 4 5; do
        # One READ ELEMENT STATUS per element type: a move between two of
        # them would show a cartridge twice or not at all, so the moves and
        # this count take turns.
        if flock /tmp/changer.lock timeout 60 mtx -f "$CH" status > /tmp/inv 2>&1; then
            sed -n 's/.*VolumeTag *= *\([A-Za-z0-9]*\).*/\1/p' /tmp/inv | sort | tr '\n' ' '
            return 0
        fi
        sleep 0.2
    done
    echo "unreadable"
}}
tell() {{ timeout 200 mt -f "$1" tell 2>&1 | sed -n 's/^At block \([0-9]*\)\..*/\1/p'; }}
alive() {{ kill -0 "$1" 2>/dev/null && echo yes || echo no; }}
pick() {{ n=$1; shift; [ $# -gt 0 ] || return 1; shift $((n % $#)); echo "$1"; }}

# --- (a) the tape append stream on drive 0
stream_loop() {{
    a=0
    while [ ! -e /tmp/stop-loads ]; do
        if ! timeout 200 mt -f "$T0" eod > /dev/null 2>&1; then
            echo "EOD_FAILED"; sleep 0.1; continue
        fi
        a=$((a + 1))
        at=$(tell "$T0")
        if [ $((a % 2)) -eq 0 ]; then
            head -c {DD_BYTES} /dev/urandom > "$SHARE/src/$a.dd"
            timeout 200 dd if="$SHARE/src/$a.dd" of="$T0" bs={DD_RECORD} 2> /tmp/dd.err
            rc=$?
            kind=dd
        else
            mkdir -p "/tmp/tar/$a"
            head -c {TAR_DATA} /dev/urandom > "/tmp/tar/$a/data.bin"
            tar -cf "$SHARE/src/$a.tar" {TAR_OPTIONS} -C "/tmp/tar/$a" .
            timeout 200 tar -cf "$T0" {TAR_OPTIONS} -C "/tmp/tar/$a" . 2> /tmp/tar.err
            rc=$?
            kind=tar
        fi
        echo "ATTEMPT $a $kind $rc $at"
    done
}}

# --- (b) changer moves over drive 1 and slots 2-8
changer_loop() {{
    n=0
    while [ ! -e /tmp/stop-loads ]; do
        n=$((n + 1))
        choice=$(sed -n "${{n}}p" "$SHARE/changer.txt")
        if ! timeout 200 mtx -f "$CH" status > /tmp/ch.status 2>&1; then
            echo "MOVE $n status 1"; sleep 0.1; continue
        fi
        full=$(sed -n 's/^ *Storage Element \([2-8]\):Full.*/\1/p' /tmp/ch.status)
        empty=$(sed -n 's/^ *Storage Element \([2-8]\):Empty.*/\1/p' /tmp/ch.status)
        if grep -q "Data Transfer Element 1:Full" /tmp/ch.status; then
            slot=$(pick "$choice" $empty)
            timeout 200 mt -f "$T1" offline > /dev/null 2>&1
            flock /tmp/changer.lock timeout 200 mtx -f "$CH" unload "$slot" 1 > /dev/null 2>&1
            echo "MOVE $n unload $? $slot"
        elif [ $((choice % 3)) -eq 0 ]; then
            slot=$(pick "$choice" $full)
            flock /tmp/changer.lock timeout 200 mtx -f "$CH" load "$slot" 1 > /dev/null 2>&1
            echo "MOVE $n load $? $slot"
        else
            src=$(pick "$choice" $full); dst=$(pick $((choice / 7)) $empty)
            flock /tmp/changer.lock timeout 200 mtx -f "$CH" transfer "$src" "$dst" \
                > /dev/null 2>&1
            echo "MOVE $n transfer $? $src $dst"
        fi
    done
}}

# --- (c) fio write-and-verify runs on the disk
fio_loop() {{
    r=0
    while [ ! -e /tmp/stop-loads ]; do
        r=$((r + 1))
        timeout 300 fio --filename="$SD" --randseed=$r {FIO_RUN} \
            --output="$SHARE/fio/run-$r.json" > "/tmp/fio-$r.log" 2>&1
        echo "FIORUN $r $?"
    done
}}

start "$DEVEMU_VM_SHARE/campaign.toml" 0
find_devices
echo "CMD_TIME_OUT $(cat /sys/kernel/config/target/core/user_*/fault0/attrib/cmd_time_out)"
timeout 60 mtx -f "$CH" load 1 0 > /dev/null && wait_ready "$T0" || fail "cannot load drive 0"
mt -f "$T0" rewind || fail "cannot rewind drive 0"
echo "INVENTORY 0 $(inventory)"

# --- kill -9 between two commands of an append (drive 1, the cartridge of slot 2)
for n in 1 2 3; do head -c {2 * DD_RECORD} /dev/urandom > "/tmp/tg$n.bin"; done
timeout 60 mtx -f "$CH" load 2 1 > /dev/null && wait_ready "$T1" || fail "cannot load drive 1"
mt -f "$T1" rewind
dd if=/tmp/tg1.bin of="$T1" bs={DD_RECORD} 2> /dev/null \
    && dd if=/tmp/tg2.bin of="$T1" bs={DD_RECORD} 2> /dev/null && echo "TARGET_WRITTEN ok"
mt -f "$T1" eod && echo "TARGET_EOD $(tell "$T1")"
kill -KILL "$pid"; wait "$pid" 2> /dev/null
start "$DEVEMU_VM_SHARE/campaign.toml" target
dd if=/tmp/tg3.bin of="$T1" bs={DD_RECORD} 2> /dev/null; echo "TARGET_APPEND status=$?"
echo "TARGET_AFTER $(tell "$T1")"
mt -f "$T1" rewind
for n in 1 2 3; do
    dd if="$T1" of="/tmp/rt$n.bin" bs=262144 2> /dev/null
    cmp -s "/tmp/tg$n.bin" "/tmp/rt$n.bin" && r=equal || r=different
    echo "TARGET_FILE $n $r $(stat -c %s "/tmp/rt$n.bin")"
done
mt -f "$T1" offline
timeout 60 mtx -f "$CH" unload 2 1 > /dev/null || fail "cannot unload drive 1"
echo "INVENTORY target $(inventory)"

rm -f /tmp/stop-loads
stream_loop > /tmp/stream.loop 2>&1 &
stream_pid=$!
changer_loop > /tmp/changer.loop 2>&1 &
changer_pid=$!
fio_loop > /tmp/fio.loop 2>&1 &
fio_pid=$!
CAMPAIGN=$(now)

k=0
while [ "$k" -lt {KILLS} ]; do
    k=$((k + 1))
    delay=$(sed -n "${{k}}p" "$SHARE/kills.txt")
    sleep "$delay"
    at=$(since "$CAMPAIGN")
    if awk "BEGIN {{ exit !($at > {CAMPAIGN_BUDGET}) }}"; then
        echo "BUDGET_EXCEEDED $at"; k=$((k - 1)); break
    fi
    s=$(alive $stream_pid); c=$(alive $changer_pid); f=$(alive $fio_pid)
    sa=$(grep -c '^ATTEMPT' /tmp/stream.loop); sm=$(grep -c '^MOVE' /tmp/changer.loop)
    sw=$(tape_writes); dw=$(disk_writes)
    kill -KILL "$pid"
    killed=$(now)
    wait "$pid" 2>/dev/null
    sleep 0.5
    bd=$(busy "$SDSG"); b0=$(busy "$SG0"); b1=$(busy "$SG1"); bc=$(busy "$CHSG")
    inflight=$(awk '{{print $1 + $2}}' "/sys/block/$SDNAME/inflight")
    stuck_w=$(disk_writes)
    start "$DEVEMU_VM_SHARE/campaign.toml" "$k"
    dead=$(since "$killed")
    echo "KILL $k delay=$delay at=$at stream=$s changer=$c fio=$f attempts=$sa moves=$sm" \
        "tape_writes=$sw disk_writes=$dw disk_writes_dead=$stuck_w busy_disk=$bd" \
        "busy_tape0=$b0 busy_tape1=$b1 busy_changer=$bc disk_inflight=$inflight dead=$dead"
    echo "INVENTORY $k $(inventory)"
done
echo "CAMPAIGN kills=$k seconds=$(since "$CAMPAIGN")"

# --- task management from the initiator while the loads still run
for target in disk tape0; do
    if [ "$target" = disk ]; then sg=$SDSG; else sg=$SG0; fi
    for kind in -d -t -H; do
        sleep 1
        b=$(busy "$sg"); t=$(now); n=$(dmesg | wc -l)
        timeout 90 sg_reset "$kind" "$sg" > /tmp/reset.out 2>&1
        rc=$?
        echo "RESET $target$kind status=$rc seconds=$(since "$t") busy_before=$b"
        sed "s/^/RESETOUT $target$kind /" /tmp/reset.out
        dmesg | tail -n +"$((n + 1))" | grep -e reset -e WARNING -e RIP -e '+0x' | head -n 30 \
            | sed "s/^/RESETDMESG $target$kind /"
    done
done
sa=$(grep -c '^ATTEMPT' /tmp/stream.loop); sm=$(grep -c '^MOVE' /tmp/changer.loop)
dw=$(disk_ios); sw=$(tape_writes)
sleep 4
echo "AFTER_RESETS attempts=$(( $(grep -c '^ATTEMPT' /tmp/stream.loop) - sa ))" \
    "moves=$(( $(grep -c '^MOVE' /tmp/changer.loop) - sm ))" \
    "disk_ios=$(( $(disk_ios) - dw )) tape_writes=$(( $(tape_writes) - sw ))"

touch /tmp/stop-loads
t=$(now)
wait $stream_pid $changer_pid $fio_pid
echo "LOADS_STOPPED seconds=$(since "$t")"
sed 's/^/STREAM /' /tmp/stream.loop
sed 's/^/CHANGER /' /tmp/changer.loop
sed 's/^/FIOLOOP /' /tmp/fio.loop
echo "INVENTORY final $(inventory)"

# --- read the tape back through st, one tape file at a time
timeout 120 mt -f "$T0" rewind > /dev/null 2>&1 || timeout 120 mt -f "$T0" rewind || fail "rewind"
i=0
while [ "$i" -lt 2000 ]; do
    i=$((i + 1))
    timeout 120 dd if="$T0" of="$SHARE/readback/$i.bin" bs=262144 2> /tmp/rb.err
    rc=$?
    size=$(stat -c %s "$SHARE/readback/$i.bin")
    if [ "$size" -eq 0 ]; then rm -f "$SHARE/readback/$i.bin"; break; fi
    [ "$rc" -eq 0 ] || echo "READBACK_ERROR $i $rc $(cat /tmp/rb.err)"
done
echo "READBACK files=$((i - 1))"
kill -TERM "$pid"; wait "$pid"; echo "TERM status=$?"

k2=0
while [ "$k2" -le "$k" ]; do
    log=/tmp/serve$k2.log
    echo "RING $k2 replayed=$(grep -c 'replaying CDB' $log)" \
        "not_replayed=$(grep -c 'not replayed' $log)" \
        "interrupted=$(grep -c 'was being answered' $log)" \
        "tracebacks=$(grep -c Traceback $log) errors=$(grep -c ERROR $log)"
    grep -h -e 'replaying CDB' -e 'not replayed' -e 'being answered' "$log" | grep -v 'fault0:' \
        | sed "s/^/REPLAY $k2 /"
    k2=$((k2 + 1))
done

# --- SIGSTOP past cmd_time_out, then SIGCONT
start "$DEVEMU_VM_SHARE/stop.toml" stop
find_devices
echo "STOP_CMD_TIME_OUT $(cat /sys/kernel/config/target/core/user_*/fault0/attrib/cmd_time_out)"
dmesg_before=$(dmesg | wc -l)
fio --filename="$SD" --ioengine=libaio --direct=1 --name=stopped --rw=randrw --bs=4k \
    --iodepth=8 --size=32m --time_based --runtime={STOPPED_SECONDS + 10} \
    --continue_on_error=all --output-format=json --output="$SHARE/stop-fio.json" \
    > /tmp/fio-stop.log 2>&1 &
sfio=$!
sleep 3
kill -STOP "$pid"
stopped=$(now)
sleep 1
b_start=$(busy "$SDSG")
sleep {STOPPED_SECONDS}
b_end=$(busy "$SDSG")
kill -CONT "$pid"
echo "STOPPED seconds=$(since "$stopped") busy_at_stop=$b_start busy_before_cont=$b_end"
sleep 2
echo "ALIVE_AFTER_CONT $(alive "$pid")"
wait "$sfio"
echo "STOP_FIO status=$?"
timeout 120 fio --filename="$SD" --randseed=7 {FIO_RUN} --output="$SHARE/after-stop.json" \
    > /tmp/fio-after.log 2>&1
echo "AFTER_STOP_FIO status=$?"
timeout 60 mt -f "$T0" status > /dev/null 2>&1 || timeout 60 mt -f "$T0" status > /dev/null 2>&1
echo "AFTER_STOP_TAPE status=$?"
echo "INVENTORY stop $(inventory)"
devemu status > /tmp/status.out 2>&1; echo "AFTER_STOP_STATUS status=$?"
dmesg | tail -n +"$((dmesg_before + 1))" | sed 's/^/STOPDMESG /'
kill -TERM "$pid"; wait "$pid"; echo "TERM_STOP status=$?"
echo "STOPLOG tracebacks=$(grep -c Traceback /tmp/servestop.log)"
echo "RING_BROKEN $(dmesg | tail -n +"$((campaign_dmesg + 1))" \
    | grep -c -e 'ring is broken' -e 'not found, ring' -e 'ring broken')"
echo "WALL $(since "$BOOT")"
echo "--- kernel messages"
dmesg | tail -n 50
echo "--- last daemon logs"
tail -n 30 /tmp/serve$k.log
tail -n 30 /tmp/servestop.log
"""
)


@dataclass(frozen=True)
class Campaign:
    result: VmResult
    share: Path
    seconds: float

    @property
    def output(self) -> str:
        return self.result.output


@pytest.fixture(scope="module")
def campaign(guest_scripts: GuestScripts) -> Campaign:
    share = guest_scripts.new_share()
    create_image(share / "fault.img", DISK_MB << 20)
    (share / "tapes").mkdir()
    (share / "campaign.toml").write_text(CONFIG)
    (share / "stop.toml").write_text(STOP_CONFIG)
    rng = random.Random(SEED)
    delays = [f"{rng.uniform(*KILL_DELAY):.2f}" for _ in range(KILLS)]
    (share / "kills.txt").write_text("\n".join(delays) + "\n")
    choices = [str(rng.randrange(1 << 30)) for _ in range(CHANGER_CHOICES)]
    (share / "changer.txt").write_text("\n".join(choices) + "\n")
    print(f"fault campaign: seed {SEED}, kill delays {' '.join(delays)}")
    started = time.monotonic()
    result = guest_scripts.run(SCRIPT, share=share, timeout=VM_TIMEOUT)
    seconds = time.monotonic() - started
    print(result.output)
    print(f"fault campaign: seed {SEED}, boot took {seconds:.1f} s")
    return Campaign(result, share, seconds)


# ----------------------------------------------------------------- the tape


@dataclass(frozen=True)
class Attempt:
    number: int
    kind: str
    status: int
    data: bytes

    @property
    def record(self) -> int:
        return DD_RECORD if self.kind == "dd" else TAR_RECORD


@dataclass(frozen=True)
class Segment:
    """Consecutive whole records of one attempt found in one tape file."""

    tape_file: int
    attempt: int
    length: int
    complete: bool
    ends_file: bool


def _attempts(c: Campaign) -> dict[int, Attempt]:
    found: dict[int, Attempt] = {}
    for line in lines(c.output, "STREAM ATTEMPT"):
        number, kind, status = line.split()[:3]
        data = (c.share / "src" / f"{number}.{kind}").read_bytes()
        found[int(number)] = Attempt(int(number), kind, int(status), data)
    return found


def _common_records(a: bytes, b: bytes, record: int) -> int:
    """Length of the longest common prefix of a and b, in whole records."""
    n = min(len(a), len(b))
    whole = 0
    while whole + record <= n and a[whole : whole + record] == b[whole : whole + record]:
        whole += record
    tail = n - whole
    if tail and tail < record and n == len(b) and a[whole:n] == b[whole:n]:
        whole = n  # b's short last record
    return whole


def _parse_tape(c: Campaign, attempts: dict[int, Attempt]) -> list[Segment]:
    """Cut every tape file read back into attempts' records, or fail."""
    folder = c.share / "readback"
    files = sorted(folder.glob("*.bin"), key=lambda p: int(p.stem))
    by_first = {a.data[: a.record]: a for a in attempts.values()}
    segments: list[Segment] = []
    for path in files:
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            attempt = next(
                (a for first, a in by_first.items() if data[pos : pos + len(first)] == first),
                None,
            )
            assert attempt is not None, (
                f"tape file {path.stem} holds {len(data) - pos} bytes at offset {pos} "
                "that no attempt wrote"
            )
            length = _common_records(data[pos:], attempt.data, attempt.record)
            pos += length
            segments.append(
                Segment(
                    int(path.stem),
                    attempt.number,
                    length,
                    length == len(attempt.data),
                    pos == len(data),
                )
            )
    return segments


def test_script_completed(campaign: Campaign) -> None:
    assert campaign.result.exit_code == 0, campaign.output
    assert value(campaign.output, "TERM") == "status=0"


def test_every_kill_hit_all_three_loads(campaign: Campaign) -> None:
    kills = records(campaign.output, "KILL")
    assert "BUDGET_EXCEEDED" not in campaign.output
    assert len(kills) == KILLS
    for scenario in ("stream", "changer", "fio"):
        during = sum(1 for k in kills if k[scenario] == "yes")
        assert during == len(kills), (scenario, kills)
    # Each load made progress over the campaign.
    last = kills[-1]
    assert int(last["attempts"]) >= KILLS, last
    assert int(last["moves"]) >= KILLS, last


def test_inventory_keeps_every_cartridge_exactly_once(campaign: Campaign) -> None:
    inventories = [line.split() for line in lines(campaign.output, "INVENTORY")]
    labels = [row[0] for row in inventories]
    assert [n for n in labels if n.isdigit()] == [str(n) for n in range(KILLS + 1)]
    assert {"target", "final", "stop"} <= set(labels)
    for row in inventories:
        assert sorted(row[1:]) == BARCODES, row


def test_kill_between_two_commands_of_an_append_keeps_the_tape(campaign: Campaign) -> None:
    """The daemon dies while st holds the tape at end of data with nothing in flight.

    ``mt eod`` succeeded before the kill, so the next ``dd`` must append
    after the two files already there; the restarted drive must not have
    moved the tape under the host.
    """
    out = campaign.output
    assert value(out, "TARGET_WRITTEN") == "ok"
    assert int(value(out, "TARGET_EOD")) == 6  # two files of two records and a filemark
    assert fields(out, "TARGET_APPEND")["status"] == "0"
    files = [line.split() for line in lines(out, "TARGET_FILE")]
    assert files == [[str(n), "equal", str(2 * DD_RECORD)] for n in (1, 2, 3)], (
        f"the files written before the kill are gone: {files}, "
        f"position after the append {value(out, 'TARGET_AFTER')}"
    )


def test_changer_moves_succeeded_between_kills(campaign: Campaign) -> None:
    moves = [line.split() for line in lines(campaign.output, "CHANGER MOVE")]
    done = [m for m in moves if len(m) > 2 and m[2] == "0"]
    kinds = {m[1] for m in done}
    assert {"load", "unload", "transfer"} <= kinds, moves
    assert len(done) >= KILLS


def test_every_acknowledged_tape_file_reads_back_equal(campaign: Campaign) -> None:
    attempts = _attempts(campaign)
    acknowledged = sorted(n for n, a in attempts.items() if a.status == 0)
    assert len(acknowledged) >= KILLS, attempts.keys()
    assert not lines(campaign.output, "READBACK_ERROR")
    segments = _parse_tape(campaign, attempts)
    order = [s.attempt for s in segments]
    assert order == sorted(set(order)), f"an attempt is on the tape twice or out of order: {order}"
    for segment in segments[:-1]:
        if not segment.ends_file:
            assert attempts[segment.attempt].status != 0, (
                f"acknowledged attempt {segment.attempt} is not followed by its filemark"
            )
    whole = {s.attempt for s in segments if s.complete and s.ends_file}
    missing = [n for n in acknowledged if n not in whole]
    assert not missing, f"acknowledged attempts missing or damaged on the tape: {missing}"
    verified = sum(len(attempts[n].data) for n in acknowledged)
    print(
        f"tape: {len(attempts)} attempts, {len(acknowledged)} acknowledged, "
        f"{verified} bytes verified, {len(segments) - len(whole)} partial segments"
    )


def test_every_fio_run_verified(campaign: Campaign) -> None:
    runs = [line.split() for line in lines(campaign.output, "FIOLOOP FIORUN")]
    assert len(runs) >= 2
    failed = [r for r in runs if r[1] != "0"]
    assert not failed, failed
    verified = 0
    for number, _ in runs:
        report = json.loads((campaign.share / "fio" / f"run-{number}.json").read_text())
        for job in report["jobs"]:
            assert job["error"] == 0, (number, job["jobname"])
            assert job["read"]["io_bytes"] == job["write"]["io_bytes"] > 0, (number, job)
            verified += job["read"]["io_bytes"]
    print(f"disk: {len(runs)} fio runs, {verified} bytes verified")


def test_restarts_were_clean(campaign: Campaign) -> None:
    rings = records(campaign.output, "RING")
    assert len(rings) == KILLS + 1
    for ring in rings:
        assert ring["tracebacks"] == "0", ring
    assert value(campaign.output, "RING_BROKEN") == "0"


def test_cartridge_files_verify(campaign: Campaign) -> None:
    files = sorted((campaign.share / "tapes").iterdir())
    assert len(files) == len(BARCODES)
    for path in files:
        completed = subprocess.run(
            [sys.executable, "-m", "devemu", "tape", "info", "--verify", str(path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, (path, completed.stdout, completed.stderr)


def test_resets_are_bounded_and_io_resumes(campaign: Campaign) -> None:
    resets = records(campaign.output, "RESET")
    assert len(resets) == 6
    for reset in resets:
        assert float(reset["seconds"]) < 60, reset
        if not reset["#0"].endswith("-H"):  # tcm_loop has no host reset handler
            assert reset["status"] == "0", reset
    after = fields(campaign.output, "AFTER_RESETS")
    assert int(after["disk_ios"]) > 0, after
    assert int(after["tape_writes"]) > 0 or int(after["attempts"]) > 0, after


def test_sigstop_past_cmd_time_out(campaign: Campaign) -> None:
    out = campaign.output
    assert value(out, "STOP_CMD_TIME_OUT") == str(STOP_TIME_OUT)
    stopped = fields(out, "STOPPED")
    assert float(stopped["seconds"]) > STOP_TIME_OUT
    assert value(out, "ALIVE_AFTER_CONT") == "yes"
    assert fields(out, "AFTER_STOP_FIO")["status"] == "0"
    report = json.loads((campaign.share / "after-stop.json").read_text())
    for job in report["jobs"]:
        assert job["error"] == 0 and job["read"]["io_bytes"] > 0, job
    assert fields(out, "AFTER_STOP_TAPE")["status"] == "0"
    assert fields(out, "AFTER_STOP_STATUS")["status"] == "0"
    assert fields(out, "TERM_STOP")["status"] == "0"
    assert fields(out, "STOPLOG")["tracebacks"] == "0"


def test_kernel_failed_the_commands_of_the_stopped_daemon(campaign: Campaign) -> None:
    report = json.loads((campaign.share / "stop-fio.json").read_text())
    errors = sum(job.get("total_err", 0) + (job["error"] != 0) for job in report["jobs"])
    assert errors > 0, "the daemon was stopped past cmd_time_out but no command failed"


def test_figures(campaign: Campaign) -> None:
    """Print the campaign's counts (they are also asserted above)."""
    kills = records(campaign.output, "KILL")
    busy = [
        (
            int(k["busy_disk"]),
            int(k["busy_tape0"]),
            int(k["busy_tape1"]),
            int(k["busy_changer"]),
        )
        for k in kills
    ]
    rings = records(campaign.output, "RING")[1:]
    found = [int(r["replayed"]) + int(r["not_replayed"]) + int(r["interrupted"]) for r in rings]
    print(f"seed {SEED}; kills {len(kills)} (each during all three loads)")
    print(f"in flight at each kill (device_busy disk,tape0,tape1,changer): {busy}")
    print(f"ring entries found by each restart (replayed+not replayed+interrupted): {found}")
    print(f"boot wall time {campaign.seconds:.1f} s; guest {value(campaign.output, 'WALL')} s")
    assert len(found) == len(kills)
    assert any(n > 0 for n in found), "no kill caught a command in a ring"
    assert re.search(r"\d", value(campaign.output, "WALL"))
