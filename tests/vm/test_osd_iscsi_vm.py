"""The OSD-2 device over LIO's iSCSI target, driven by devemu's own OSD-2 initiator.

No Linux initiator of this kernel can send a 236-byte CDB (the SCSI
midlayer keeps 32 bytes since 5.19), and libiscsi 1.19 keeps 16: the
client is :mod:`devemu.testing.iscsi_initiator` with the CDB in an
extended CDB AHS, and :mod:`devemu.testing.osd` for the OSD-2 bytes,
neither importing the target. One guest, one daemon serving an
``[[osd]]`` on an iSCSI target at 127.0.0.1:3260:

- INQUIRY through the session: peripheral type 11h;
- format, a partition, objects, write and append read back equal, LIST,
  attributes set (list format) and read back (page format), PUNCH (zeros
  and less space), collections (membership, a full collection refused,
  forced removal), REMOVE, an absent object's sense, CAPKEY refused;
- a partition capacity quota, REMOVE PARTITION of a partition in use,
  SET KEY, a WRITE with a scatter/gather list in its CDB continuation
  segment, a get list refused (bidirectional);
- ``devemu osd-client`` lists and reads, ``devemu osd info`` shows the store;
- ``kill -9`` of the daemon during a stream of WRITEs, a restart: every
  acknowledged write reads back equal.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from devemu.vm.serving import guest_functions
from devemu.vm.session import VmSession
from devemu.vm.steps import Step

pytestmark = pytest.mark.vm

TARGET = "iqn.2026-12.org.devemu.test:osd"
INITIATOR = "iqn.2026-12.org.devemu.test:osd-client"
KERNEL_INITIATOR = "iqn.2026-12.org.devemu.test:osd-kernel"

CONFIG = f"""\
[daemon]
control_socket = "/run/devemu/control.sock"
state_dir = "/run/devemu-state"
fabric = "iscsi"
cmd_time_out = 60

[iscsi]
target = "{TARGET}"
portals = ["127.0.0.1:3260"]

[[iscsi.initiator]]
name = "{INITIATOR}"

[[iscsi.initiator]]
name = "{KERNEL_INITIATOR}"

[[osd]]
name = "osd0"
root = "/run/osd-objects"
serial = "OSDVM0001"
"""

C = "/sys/kernel/config/target"
PRELUDE = (
    guest_functions(ready_timeout=120)
    + f"""
S="$DEVEMU_VM_SHARE"
C={C}
T={TARGET}
guest() {{ "$DEVEMU_VM_PYTHON" "$S/osd_guest.py" "$@"; }}
client() {{
    devemu osd-client --portal 127.0.0.1:3260 --target {TARGET} --initiator {INITIATOR} "$@"
}}
"""
)

STEPS: list[tuple[str, str]] = [
    (
        "setup",
        r"""
modprobe -d "$KROOT" -a iscsi_target_mod crc32c_generic
ip link set lo up
mkdir -p /run/lio-db/pr /run/lio-db/alua
mkdir -p /proc/1/root/run/lio-db/pr /proc/1/root/run/lio-db/alua 2>/dev/null || true
echo /run/lio-db > $C/dbroot || true
echo "SETUP ok"
""",
    ),
    (
        "serve",
        r"""
serve_start "$S/osd.toml" /tmp/serve1.log -v
echo "$serve_pid" > /tmp/serve.pid
echo "LUNS $(ls $C/iscsi/$T/tpgt_1/lun | xargs)"
""",
    ),
    ("sequence", r"""timeout 240 "$DEVEMU_VM_PYTHON" "$S/osd_guest.py" sequence"""),
    (
        "cli",
        r"""
client list | sed 's/^/CLI_PARTITION /'
client list 0x10000 | sed 's/^/CLI_OBJECT /'
printf 'written by osd-client' > /tmp/in
client write 0x10000 0x10001 /tmp/in
echo "CLI_READ $(client read 0x10000 0x10001 21)"
status=0; client read 0x10000 0x99999 4 > /tmp/err 2>&1 || status=$?
echo "CLI_MISSING $status $(cat /tmp/err)"
devemu osd info /run/osd-objects | sed 's/^/INFO /'
""",
    ),
    (
        "sg3_utils",
        rf"""
# The kernel's initiator: no upper driver takes type 11h, sg does; the
# 6-byte and 12-byte SPC commands reach the OSD, the 236-byte ones cannot.
modprobe -d "$KROOT" -a iscsi_tcp
mkdir -p /run/lock/iscsi
echo "InitiatorName={KERNEL_INITIATOR}" > /etc/iscsi/initiatorname.iscsi
setsid iscsid -f > /tmp/iscsid.log 2>&1 < /dev/null &
for _ in $(seq 100); do
    rc=0; iscsiadm -m session > /dev/null 2>&1 || rc=$?
    [ "$rc" -ne 20 ] && break
    sleep 0.1
done
timeout 30 iscsiadm -m discovery -t sendtargets -p 127.0.0.1:3260 > /dev/null
timeout 60 iscsiadm -m node -T {TARGET} -p 127.0.0.1:3260 --login > /dev/null
SG=""
for _ in $(seq 100); do
    SG=$(lsscsi -g | awk '$2 == "osd" {{ print $NF; exit }}')
    [ -n "$SG" ] && break
    sleep 0.1
done
lsscsi -g | sed 's/^/LSSCSI /'
sg_turs "$SG" > /dev/null 2>&1 || true  # the unit attention of the login
sg_inq "$SG" | sed 's/^/INQ /'
sg_vpd -p 0xb0 -H "$SG" | sed 's/^/VPD_B0 /'
sg_opcodes -n "$SG" | sed 's/^/OPCODES /'
timeout 30 iscsiadm -m node --logoutall=all > /dev/null || true
""",
    ),
    (
        "kill9",
        r"""
rm -f /tmp/acked
timeout 200 "$DEVEMU_VM_PYTHON" "$S/osd_guest.py" stream 25 > /tmp/stream.log 2>&1 &
stream_pid=$!
sleep 6
echo "ACKED_BEFORE_KILL $(wc -l < /tmp/acked)"
kill -9 "$(cat /tmp/serve.pid)"
while kill -0 "$(cat /tmp/serve.pid)" 2>/dev/null; do sleep 0.05; done
echo "KILLED ok"
serve_start "$S/osd.toml" /tmp/serve2.log -v
echo "$serve_pid" > /tmp/serve.pid
status=0; wait "$stream_pid" || status=$?
echo "STREAM_STATUS $status"
sed 's/^/STREAM /' /tmp/stream.log
timeout 120 "$DEVEMU_VM_PYTHON" "$S/osd_guest.py" verify
""",
    ),
    (
        "logs",
        r"""
tail -n 40 /tmp/serve1.log /tmp/serve2.log 2>/dev/null
dmesg | grep -i 'iscsi\|tcmu\|target' | tail -n 30
""",
    ),
]


@pytest.fixture(scope="module")
def steps(vm_session: VmSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Step]:
    share = tmp_path_factory.mktemp("osd-share")
    (share / "osd.toml").write_text(CONFIG)
    shutil.copy(Path(__file__).with_name("osd_guest.py"), share / "osd_guest.py")
    env = {"KROOT": str(vm_session.kernel.root)}
    result, found = vm_session.run_steps(
        [(name, PRELUDE + body) for name, body in STEPS], share=share, timeout=600, env=env
    )
    print(result.output)
    return found


def _out(steps: dict[str, Step], name: str) -> str:
    assert name in steps, f"step {name} did not run"
    return steps[name].output


def _value(steps: dict[str, Step], name: str, key: str) -> str:
    match = re.search(rf"^{re.escape(key)}(?:[ \t]+(.*))?$", _out(steps, name), re.M)
    assert match, f"{key} missing from step {name}:\n{_out(steps, name)}"
    return (match[1] or "").strip()


def test_the_osd_is_served_on_the_iscsi_target(steps: dict[str, Step]) -> None:
    assert steps["setup"].ok, _out(steps, "setup")
    assert steps["serve"].ok, _out(steps, "serve")
    assert _value(steps, "serve", "LUNS") == "lun_0"


def test_objects_written_appended_and_read_back(steps: dict[str, Step]) -> None:
    assert steps["sequence"].ok, _out(steps, "sequence")
    assert _value(steps, "sequence", "PARTITION") == "0x10000"
    assert _value(steps, "sequence", "OBJECTS") == "0x10000 0x10003"
    assert _value(steps, "sequence", "READ_BACK") == "equal"
    assert _value(steps, "sequence", "LIST") == "0x10000 0x10001 0x10002 0x10003"
    assert _value(steps, "sequence", "PARTITIONS") == "0x10000"
    assert _value(steps, "sequence", "SEQUENCE") == "done"


def test_attributes_set_and_read_back(steps: dict[str, Step]) -> None:
    assert _value(steps, "sequence", "APP_ATTR") == "from the guest"
    assert _value(steps, "sequence", "LOGICAL_LENGTH") == "300000"
    assert _value(steps, "sequence", "USERNAME") == "blob.bin"


def test_punch_reads_zeros_and_frees_space(steps: dict[str, Step]) -> None:
    zeros, freed = _value(steps, "sequence", "PUNCH").split()
    assert zeros == "zeros"
    assert int(freed) >= 65536


def test_collections_and_remove(steps: dict[str, Step]) -> None:
    assert _value(steps, "sequence", "COLLECTION") == "0x10000 0x10003"
    assert _value(steps, "sequence", "REMOVE_FULL_COLLECTION") == "5/2c/0a"
    assert _value(steps, "sequence", "COLLECTIONS_LEFT") == "0"
    assert _value(steps, "sequence", "AFTER_REMOVE") == "0x10000 0x10001 0x10002"
    assert _value(steps, "sequence", "READ_REMOVED") == "5/24/00 24 0x10003"
    assert _value(steps, "sequence", "CAPKEY") == "5/24/00 82"


def test_quota_keys_continuation_over_iscsi(steps: dict[str, Step]) -> None:
    """OSD-2 4.9 capacity quota, 6.20 REMOVE PARTITION, 6.26 SET KEY, 5.4.2 WRITE's list."""
    assert _value(steps, "sequence", "CAPACITY_QUOTA") == "7/55/07 None"
    assert _value(steps, "sequence", "REMOVE_FULL_PARTITION") == "5/2c/0a None"
    assert _value(steps, "sequence", "ROOT_KEY") == "vm-root"
    assert _value(steps, "sequence", "SCATTERED") == "equal"
    # a get list needs data-in too: LIO hands TCMU one direction, byte 52 is named
    assert _value(steps, "sequence", "GET_LIST_ONE_WAY") == "5/24/00 52"


def test_osd_client_and_info(steps: dict[str, Step]) -> None:
    assert steps["cli"].ok, _out(steps, "cli")
    assert "CLI_PARTITION 0x10000" in _out(steps, "cli")
    assert _value(steps, "cli", "CLI_READ") == "written by osd-client"
    assert _value(steps, "cli", "CLI_MISSING").startswith("1 devemu: OSD command failed: 5/24/00")
    info = _out(steps, "cli")
    assert "INFO partition 0x10000: 3 objects" in info, info


def test_sg3_utils_sees_an_osd(steps: dict[str, Step]) -> None:
    out = _out(steps, "sg3_utils")
    assert steps["sg3_utils"].ok, out
    assert re.search(r"LSSCSI .*osd", out), out
    assert re.search(r"INQ .*(object based storage|Device_type=17|PDT=17)", out, re.I), out
    assert "OPCODES" in out and "7f" in out.lower(), out


def test_every_acknowledged_write_survives_kill_9(steps: dict[str, Step]) -> None:
    out = _out(steps, "kill9")
    assert steps["kill9"].ok, out
    assert int(_value(steps, "kill9", "ACKED_BEFORE_KILL")) > 0, out
    assert _value(steps, "kill9", "KILLED") == "ok"
    assert int(_value(steps, "kill9", "ACKED")) > int(_value(steps, "kill9", "ACKED_BEFORE_KILL"))
    assert _value(steps, "kill9", "MISSING") == "0", out
