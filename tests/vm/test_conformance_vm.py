"""The public SPC suite against the real kernel ring: SG_IO from inside the guest.

In the tier's guest. A daemon of the module's own serves a disk, an
optical drive and a tape library (its changer and one drive); the script
finds each logical unit's ``/dev/sgN`` by its unit serial and runs ``python -m
devemu.testing.conformance NODE --type TYPE --through-lio --json`` on
it (its ``main``, every profile in one Python): the same checks
``tests/conformance`` runs through the ring simulator, here through the
sg driver, tcm_loop, the target core and ``target_core_user``. The
drives are judged in both states: the optical drive empty, then with a
disc inserted (``devemu cdrom insert``); the tape drive empty, then with
a cartridge the changer loaded (``mtx load``). ``--through-lio`` is the
one difference the profiles declare: the target core answers REPORT LUNS
itself, so the checks judge only that its answer is well formed, and say
so in their results.
"""

from __future__ import annotations

import json
import re

import pytest

from devemu.cdrom.iso_writer import make_iso
from devemu.disk.image import create_image
from devemu.testing.conformance import CHECKS
from devemu.testing.conformance.run import PASSED
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

#: Seconds one profile's run may take in the guest (QEMU TCG) before it is stopped.
PROFILE_TIMEOUT = 240
#: Seconds the whole boot may take.
BOOT_TIMEOUT = 900

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[disk]]
name = "disk0"
image = "disk0.img"
serial = "CONFDISK0001"

[[cdrom]]
name = "cd0"
serial = "CONFCD000001"

[[library]]
name = "vtl0"
directory = "/run/vtl-tapes"
slots = 4
import_export = 1
barcode_prefix = "E01"
count = 2
serial = "CONFLIB00001"

[[library.drives]]
name = "vtl0-d0"
serial = "CONFDRIVE001"
"""

PROFILES = ("disk", "cdrom", "cdrom-disc", "tape", "tape-loaded", "changer")

#: Runs ``python -m devemu.testing.conformance NODE --type PROFILE --through-lio --json``
#: (its ``main``) for each ``suite PROFILE NODE`` of its arguments, in order, and each ``sh
#: COMMAND`` between them (the shell functions of ``/tmp/helpers.sh`` defined): one Python
#: for every suite, whose imports take seconds under emulation. Each suite's JSON and
#: stderr go to /tmp/PROFILE.json and .err; it is stopped after ``PROFILE_TIMEOUT``
#: seconds (status 124, as timeout(1) says).
SUITES = f"""
import contextlib, signal, subprocess, sys, time, traceback
from devemu.testing.conformance.__main__ import main


class TimedOut(Exception):
    pass


def alarm(signum, frame):
    raise TimedOut


signal.signal(signal.SIGALRM, alarm)
args = iter(sys.argv[1:])
for kind in args:
    if kind == "sh":
        sys.stdout.flush()
        subprocess.run(["/bin/sh", "-c", ". /tmp/helpers.sh\\n" + next(args)], check=False)
        continue
    profile, node = next(args), next(args)
    t0 = time.monotonic()
    with open(f"/tmp/{{profile}}.json", "w") as out, open(f"/tmp/{{profile}}.err", "w") as err:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            signal.alarm({PROFILE_TIMEOUT})
            try:
                status = main([node, "--type", profile, "--through-lio", "--json"])
            except TimedOut:
                status = 124
            except SystemExit as stop:
                status = stop.code if isinstance(stop.code, int) else 1
            except Exception:
                traceback.print_exc()
                status = 1
            finally:
                signal.alarm(0)
    print(f"SECONDS {{profile}} {{time.monotonic() - t0:.2f}}")
    print(f"EXIT {{profile}} {{status}}")
    for tag, path in (("RESULT", out.name), ("STDERR", err.name)):
        with open(path) as lines:
            for line in lines:
                print(f"{{tag}} {{profile}} {{line}}", end="" if line.endswith("\\n") else "\\n")
    sys.stdout.flush()
"""

HELPERS = (
    guest_functions(ready_timeout=60)
    + """
wait_ready() {
    for _ in $(seq 100); do sg_turs "$1" > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
"""
)

SCRIPT = rf"""
cat > /tmp/helpers.sh <<'HELPERS_END'
{HELPERS}HELPERS_END
cat > /tmp/suites.py <<'SUITES_END'
{SUITES}SUITES_END
. /tmp/helpers.sh
export S="$DEVEMU_VM_SHARE"
serve_start "$S/conformance.toml" /tmp/serve.log -v
# Each unit's sg node, found by its unit serial (the guest may hold other units).
sg_of() {{ node_with_serial "$1" /sys/class/scsi_generic/sg*; }}
for _ in $(seq 100); do
    units=$(lsscsi -g)
    DISK=$(sg_of CONFDISK0001); CD=$(sg_of CONFCD000001)
    TAPE=$(sg_of CONFDRIVE001); CH=$(sg_of CONFLIB00001)
    [ -c "$DISK" ] && [ -c "$CD" ] && [ -c "$TAPE" ] && [ -c "$CH" ] && break
    sleep 0.1
done
echo "$units" | sed 's/^/LSSCSI /'
echo "NODES $DISK $CD $TAPE $CH"
export CD CH TAPE
"$DEVEMU_VM_PYTHON" /tmp/suites.py \
    suite disk "$DISK" \
    suite cdrom "$CD" \
    sh 'devemu cdrom insert cd0 "$S/disc.iso" | sed "s/^/INSERT /"' \
    sh 'wait_ready "$CD" && echo "DISC_READY ok"' \
    suite cdrom-disc "$CD" \
    suite tape "$TAPE" \
    sh 'mtx -f "$CH" load 1 0 && echo "LOAD ok"' \
    sh 'wait_ready "$TAPE" && echo "TAPE_READY ok"' \
    suite tape-loaded "$TAPE" \
    suite changer "$CH"
echo "SUITES_EXIT $?"
kill -TERM "$serve_pid"
for _ in $(seq 200); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.05; done
kill -KILL "$serve_pid" 2>/dev/null
serve_status=0; wait "$serve_pid" || serve_status=$?
echo "SERVE_EXIT $serve_status"
echo "--- serve log"
cat /tmp/serve.log
"""


@pytest.fixture(scope="module")
def boot(guest_scripts: GuestScripts) -> VmResult:
    share = guest_scripts.new_share()
    create_image(share / "disk0.img", 16 << 20)
    (share / "tree").mkdir()
    (share / "tree" / "README.TXT").write_text("conformance\n")
    make_iso(share / "tree", share / "disc.iso", label="CONFORMANCE")
    (share / "conformance.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=BOOT_TIMEOUT)
    print(result.output)
    return result


def test_script_completed_and_found_every_unit(boot: VmResult) -> None:
    assert boot.exit_code == 0, boot.output
    nodes = value(boot.output, "NODES").split()
    assert len(nodes) == 4 and all(re.fullmatch(r"/dev/sg\d+", n) for n in nodes), nodes
    assert value(boot.output, "DISC_READY") == "ok"
    assert value(boot.output, "LOAD") == "ok" and value(boot.output, "TAPE_READY") == "ok"
    assert value(boot.output, "SUITES_EXIT") == "0"
    # The script stops its daemon itself: the guest stays as the boot left it.
    assert value(boot.output, "SERVE_EXIT") == "0"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_check_passes_on_the_kernel_ring(boot: VmResult, profile: str) -> None:
    assert value(boot.output, f"EXIT {profile}") == "0", "\n".join(
        lines(boot.output, f"RESULT {profile}") + lines(boot.output, f"STDERR {profile}")
    )
    (line,) = lines(boot.output, f"RESULT {profile}")
    report = json.loads(line)
    assert report["profile"] == profile
    results = {r["name"]: r for r in report["results"]}
    assert list(results) == [c.__name__ for c in CHECKS]
    failed = {n: r["detail"] for n, r in results.items() if r["outcome"] != PASSED}
    assert not failed, failed
    # The one declared difference: the target core answers REPORT LUNS.
    assert report["answered_by_transport"] == {
        "0xa0": "REPORT LUNS is answered by the Linux target core (passthrough_parse_cdb)"
    }
    reserved = results["every_reserved_bit_is_refused_with_the_field_pointer"]["detail"]
    assert reserved.startswith("0xa0 not held to the device: REPORT LUNS"), reserved
