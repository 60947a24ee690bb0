"""targetcli (Debian's targetcli-fb) makes a devemu backstore, devemu checks and serves it.

One boot. The guest starts a system D-Bus whose only policy holes are
the system bus's own and devemu's ``dbus/devemu.conf``, then serves a
configuration with ``fabric = "loopback"``: ``disk0`` devemu makes and
links itself, ``tc0`` is an ``external_backstores`` device that waits for
targetcli. Then, step by step:

- ``targetcli ls /backstores`` lists ``user:devemu`` (found through the
  ``org.kernel.TCMUService1`` ObjectManager devemu registered);
- ``create`` with a cfgstring naming no device, or a device devemu
  already serves, is refused with devemu's CheckConfig message and
  leaves nothing in configfs;
- ``create ... cfgstring=tc0`` is accepted, devemu attaches to the new
  backstore, a targetcli loopback LUN makes it a SCSI disk, and sg_inq
  reads devemu's own INQUIRY and unit serial number from it; data
  written reaches devemu's image;
- ``delete`` through targetcli: devemu lets the ring go, and a SIGTERM
  ends the daemon cleanly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devemu.vm.runner import VmResult
from devemu.vm.serving import guest_functions
from devemu.vm.session import VmSession
from devemu.vm.steps import Step
from tests.unit.test_dbus_service import BUS_CONFIG, POLICY

pytestmark = pytest.mark.vm

SOCKET = "/run/dbus/system_bus_socket"
LOOP_WWN = "naa.5001405cafe00001"
PRODUCT = "TARGETCLI DISK"
SERIAL = "TCLIDISK02"

CONFIG = f"""\
[daemon]
control_socket = "/run/devemu/control.sock"
state_dir = "/run/devemu-state"
fabric = "loopback"
external_backstores = ["tc0"]

[[disk]]
name = "disk0"
image = "/tmp/disk0.img"
size = "16M"
serial = "TCLIDISK01"

[[disk]]
name = "tc0"
image = "/tmp/tc0.img"
size = "32M"
product = "{PRODUCT}"
serial = "{SERIAL}"
"""

#: targetcli one-shot commands: its preferences and lock in the guest's tmpfs.
TARGETCLI = "TARGETCLI_HOME=/tmp/targetcli targetcli"

STEPS: dict[str, str] = {
    "bus": f"""
mkdir -p /run/dbus
cat > /tmp/bus.conf <<'EOF'
{BUS_CONFIG.format(socket=SOCKET, extra=f"<include>{POLICY}</include>")}
EOF
dbus-daemon --config-file=/tmp/bus.conf --fork --print-pid > /tmp/bus.pid
test -S {SOCKET}
echo "BUS up"
""",
    "serve": guest_functions(ready_timeout=60)
    + f"""
cat > /tmp/tc.toml <<'EOF'
{CONFIG}EOF
serve_start /tmp/tc.toml /tmp/serve.log -v
echo "$serve_pid" > /tmp/serve.pid
for _ in $(seq 200); do
    grep -q "org.kernel.TCMUService1" /tmp/serve.log && break
    sleep 0.05
done
grep "D-Bus" /tmp/serve.log
""",
    "ls": f"{TARGETCLI} ls /backstores\n",
    "help": f"{TARGETCLI} /backstores/user:devemu help create | sed -n '/CFGSTRING/,$p'\n",
    "refused_unknown": f"""
status=0
{TARGETCLI} /backstores/user:devemu create name=bad size=16M cfgstring=nope || status=$?
echo "STATUS $status"
echo "LEFT $(ls -d /sys/kernel/config/target/core/user_*/bad 2>/dev/null | wc -l)"
""",
    "refused_served": f"""
status=0
{TARGETCLI} /backstores/user:devemu create name=again size=16M cfgstring=disk0 || status=$?
echo "STATUS $status"
echo "LEFT $(ls -d /sys/kernel/config/target/core/user_*/again 2>/dev/null | wc -l)"
""",
    "create": f"""
{TARGETCLI} /backstores/user:devemu create name=tcback size=32M cfgstring=tc0
{TARGETCLI} /loopback create {LOOP_WWN}
{TARGETCLI} /loopback/{LOOP_WWN}/luns create /backstores/user:devemu/tcback
for _ in $(seq 200); do
    grep -q "tc0: serving" /tmp/serve.log && break
    sleep 0.05
done
grep "tc0" /tmp/serve.log
""",
    "served": r"""
sd=""
for _ in $(seq 200); do
    for dev in /sys/block/sd*; do
        [ -e "$dev/device/model" ] || continue
        case "$(cat "$dev/device/model")" in "TARGETCLI DISK"*) sd=/dev/${dev##*/};; esac
    done
    [ -n "$sd" ] && [ -b "$sd" ] && break
    sleep 0.05
done
echo "DISK $sd"
lsscsi | sed 's/^/LSSCSI /'
sg_inq "$sd" | sed 's/^/INQ /'
sg_inq -p 0x80 "$sd" | sed 's/^/SN /'
dd if=/dev/urandom of=/tmp/pattern bs=64k count=4 2>/dev/null
dd if=/tmp/pattern of="$sd" bs=64k oflag=direct 2>/dev/null
cmp -n 262144 /tmp/pattern /tmp/tc0.img && echo "IMAGE ok"
echo "PGR $(cat /sys/kernel/config/target/core/user_*/tcback/attrib/pgr_support)"
""",
    "status": r"""
"$DEVEMU_VM_PYTHON" -m devemu status
""",
    "delete": f"""
{TARGETCLI} /loopback delete {LOOP_WWN}
{TARGETCLI} /backstores/user:devemu delete tcback
for _ in $(seq 200); do
    grep -q "REMOVED_DEVICE" /tmp/serve.log && break
    sleep 0.05
done
grep "REMOVED_DEVICE" /tmp/serve.log
""",
    "stop": """
pid=$(cat /tmp/serve.pid)
kill -TERM "$pid"
( sleep 60; kill -KILL "$pid" 2>/dev/null ) &
while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
grep -c . /tmp/serve.log > /dev/null
C=/sys/kernel/config/target
echo "OBJECTS $(find $C/core -mindepth 2 -maxdepth 2 -type d -path '*/user_*' | xargs)"
echo "LOOPBACK $(ls $C/loopback 2>/dev/null | grep -c naa)"
kill "$(cat /tmp/bus.pid)"
echo "--- serve log"
cat /tmp/serve.log
""",
}


@pytest.fixture(scope="module")
def run(vm_session: VmSession) -> tuple[VmResult, dict[str, Step]]:
    assert Path(POLICY).is_file()
    result, steps = vm_session.run_steps(STEPS, timeout=420)
    print(result.output)
    return result, steps


#: targetcli's colours (ANSI SGR sequences).
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def _ok(steps: dict[str, Step], name: str) -> str:
    """What step ``name`` printed, without colours; the test fails if the step did."""
    step = steps.get(name)
    assert step is not None, f"step {name} did not run"
    assert step.ok, f"{name} failed ({step.status}):\n{step.output}"
    return _COLOUR.sub("", step.output)


def test_devemu_takes_the_bus_name(run: tuple[VmResult, dict[str, Step]]) -> None:
    _, steps = run
    _ok(steps, "bus")
    assert "on the system D-Bus as org.kernel.TCMUService1" in _ok(steps, "serve")


def test_targetcli_lists_user_devemu(run: tuple[VmResult, dict[str, Step]]) -> None:
    _, steps = run
    listed = _ok(steps, "ls")
    # The backstore devemu made for disk0 is listed under its handler too.
    assert re.search(r"o- user:devemu[ .]+\[Storage Objects: 1\]", listed), listed
    assert re.search(r"o- disk0[ .]+\[disk0 \(16\.0MiB\) activated\]", listed), listed
    assert "The name of a device of /tmp/tc.toml (disk0, tc0)" in _ok(steps, "help")


def test_a_cfgstring_naming_no_device_is_refused_with_devemus_message(
    run: tuple[VmResult, dict[str, Step]],
) -> None:
    _, steps = run
    output = _ok(steps, "refused_unknown")
    assert (
        "cfgstring invalid: 'nope' is not a device of /tmp/tc.toml (devices: disk0, tc0)" in output
    )
    assert "LEFT 0" in output


def test_a_device_already_served_is_refused(run: tuple[VmResult, dict[str, Step]]) -> None:
    _, steps = run
    output = _ok(steps, "refused_served")
    assert "cfgstring invalid: disk0 is already served by devemu" in output
    assert "LEFT 0" in output


def test_a_good_create_is_served_by_devemu(run: tuple[VmResult, dict[str, Step]]) -> None:
    _, steps = run
    created = _ok(steps, "create")
    assert "Created user-backed storage object tcback size 33554432." in created
    assert "tc0: serving (disk" in created
    served = _ok(steps, "served")
    assert re.search(r"^DISK /dev/sd[a-z]+$", served, re.M), served
    assert re.search(rf"^INQ\s+Product identification: {PRODUCT}\s*$", served, re.M), served
    assert re.search(rf"^SN\s+Unit serial number: {SERIAL}\s*$", served, re.M), served
    assert "IMAGE ok" in served
    # A backstore targetcli makes keeps LIO's default: LIO answers reservations.
    assert "PGR 1" in served
    assert re.search(r"^tc0\s+disk", _ok(steps, "status"), re.M)


def test_targetcli_delete_lets_the_ring_go_and_the_daemon_stops_cleanly(
    run: tuple[VmResult, dict[str, Step]],
) -> None:
    result, steps = run
    assert "netlink REMOVED_DEVICE tcm-user/" in _ok(steps, "delete")
    stopped = _ok(steps, "stop")
    assert "stopping: SIGTERM" in stopped
    # Neither devemu's backstore nor targetcli's is left, nor either loopback target.
    assert re.search(r"^OBJECTS $", stopped, re.M), stopped
    assert re.search(r"^LOOPBACK 0$", stopped, re.M), stopped
    assert result.exit_code == 0, result.output
