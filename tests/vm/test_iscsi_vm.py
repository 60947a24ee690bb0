"""devemu's devices over LIO's iSCSI target, logged into by open-iscsi in the same guest.

One boot. The guest loads ``iscsi_target_mod`` and the initiator's modules,
starts ``iscsid`` (its ``/etc/iscsi`` on a tmpfs copy, the host's root being
read-only) and serves a lab (disk, CD drive, library with two drives) with
``fabric = "iscsi"`` on 127.0.0.1 and ``[::1]``. Then, through real clients:

- refusals: an initiator name not listed, a wrong CHAP secret, and a wrong
  mutual CHAP secret (the initiator refuses the target) cannot log in;
- the listed initiator (one-way and mutual CHAP) logs in and gets ``sd``,
  ``sr``, ``sch`` and ``st`` nodes; ext4 on the disk (mkfs, mount, fsck),
  the ISO mounted, ``mtx load``, two tar archives across a filemark,
  ``mtx unload``; ``devemu status`` lists the session;
- a second initiator (another iface record, another name, no CHAP) logs in
  too: a PERSISTENT RESERVE registration and reservation made by the first
  is seen by the second, whose WRITE gets RESERVATION CONFLICT from LIO
  until the first releases;
- what the second initiator sees after the first took a unit attention
  (a disc changed, a cartridge exported): no unit attention and no media
  event, but the new disc and the inventory as it is (the README's limit);
- ``kill -9`` of the daemon while fio writes with verify through the first
  session, a restart: the same session (no new login) carries on and fio's
  verify passes;
- SIGTERM removes exactly what the daemon made: a foreign target stays.
"""

from __future__ import annotations

import os
import re

import pytest

from devemu.cdrom.iso_writer import make_iso
from devemu.disk.image import create_image
from devemu.vm.serving import guest_functions
from devemu.vm.session import VmSession
from devemu.vm.steps import Step

pytestmark = pytest.mark.vm

TARGET = "iqn.2026-12.org.devemu.test:lab"
INITIATOR_A = "iqn.2026-12.org.devemu.test:backup1"
INITIATOR_B = "iqn.2026-12.org.devemu.test:build2"
INTRUDER = "iqn.2026-12.org.devemu.test:intruder"
CHAP_SECRET = "backup1-secret-0123"
MUTUAL_SECRET = "lab-target-secret-456"

CONFIG = f"""\
[daemon]
control_socket = "/run/devemu/control.sock"
state_dir = "/run/devemu-state"
fabric = "iscsi"

[iscsi]
target = "{TARGET}"
portals = ["127.0.0.1:3260", "[::1]:3260"]

[[iscsi.initiator]]
name = "{INITIATOR_A}"
chap_user = "backup1"
chap_secret_file = "secrets/backup1"
mutual_user = "lab"
mutual_secret_file = "secrets/lab"

[[iscsi.initiator]]
name = "{INITIATOR_B}"

[[disk]]
name = "disk0"
image = "disk0.img"
serial = "ISCSIDISK0"

[[cdrom]]
name = "cd0"
image = "one.iso"
serial = "ISCSICD0"

[[library]]
name = "vtl0"
directory = "/run/vtl-tapes"
slots = 6
import_export = 1
barcode_prefix = "ISC"
count = 3
serial = "ISCSILIB0"

[[library.drives]]
name = "vtl0-d0"
serial = "ISCSIDRV0"

[[library.drives]]
name = "vtl0-d1"
serial = "ISCSIDRV1"
"""

C = "/sys/kernel/config/target"
PORTAL = "127.0.0.1:3260"

#: Shell helpers every step starts with.
PRELUDE = (
    guest_functions(ready_timeout=120)
    + rf"""
S="$DEVEMU_VM_SHARE"
C={C}
T={TARGET}
P={PORTAL}
node() {{ iscsiadm -m node -T "$T" -p "$P" "$@"; }}
auth() {{ node -o update -n "$1" -v "$2" > /dev/null; }}
# Every iscsiadm that talks to the target is bounded in time.
discover() {{ timeout 30 iscsiadm -m discovery -t sendtargets "$@"; }}
login() {{ timeout 60 iscsiadm -m node -T "$T" -p "$P" -I "$1" --login; }}
# The [H:C:T:L] host of an initiator's session, from iscsiadm's own report.
host_of() {{
    iscsiadm -m session -P 3 2>/dev/null | awk -v who="$1" '
        /Iface Initiatorname:/ {{ mine = ($3 == who) }}
        mine && /Host Number:/ {{ print $3; exit }}'
}}
# The node ($2: column from the end, 1 = /dev/sgN, 2 = the upper node) of the
# first LUN of type $3 on host $1.
dev_of() {{ lsscsi -g "$1" | awk -v t="$3" -v c="$2" '$2 == t {{ print $(NF - c + 1); exit }}'; }}
wait_for() {{
    for _ in $(seq 300); do [ -n "$(dev_of "$1" 2 "$2")" ] && return 0; sleep 0.1; done
    return 1
}}
"""
)

STEPS: list[tuple[str, str]] = [
    (
        "setup",
        rf"""
modprobe -d "$KROOT" -a iscsi_target_mod iscsi_tcp crc32c_generic
ip link set lo up
mkdir -p $C/iscsi/iqn.2026-12.org.example:foreign/tpgt_1
# The guest's root is a throw-away overlay: /etc/iscsi may be written.
mkdir -p /run/lock/iscsi
echo "InitiatorName={INITIATOR_A}" > /etc/iscsi/initiatorname.iscsi
# One login attempt, 10 s at most: a refused login must not be retried for minutes.
sed -i -e 's/^node.session.initial_login_retry_max.*/node.session.initial_login_retry_max = 1/' \
    -e 's/^node.conn\[0\].timeo.login_timeout.*/node.conn[0].timeo.login_timeout = 10/' \
    /etc/iscsi/iscsid.conf
setsid iscsid -f > /tmp/iscsid.log 2>&1 < /dev/null &
for _ in $(seq 100); do
    rc=0; iscsiadm -m session > /dev/null 2>&1 || rc=$?
    [ "$rc" -ne 20 ] && break
    sleep 0.1
done
# LIO rewrites its PR file under dbroot from a kernel thread that resolves
# paths from the initial root: the folder must exist there and in this chroot.
mkdir -p /run/lio-db/pr /run/lio-db/alua
mkdir -p /proc/1/root/run/lio-db/pr /proc/1/root/run/lio-db/alua 2>/dev/null || true
echo /run/lio-db > $C/dbroot || true
echo "DBROOT $(cat $C/dbroot)"
echo "SETUP ok"
""",
    ),
    (
        "serve",
        r"""
"$DEVEMU_VM_PYTHON" -m devemu serve --check "$S/lab.toml"
serve_start "$S/lab.toml" /tmp/serve1.log -v
echo "$serve_pid" > /tmp/serve.pid
echo "PGR $(cat $C/core/user_0/disk0/attrib/pgr_support)"
ls $C/iscsi/$T/tpgt_1/np | sed 's/^/PORTAL /'
ls $C/iscsi/$T/tpgt_1/acls | sed 's/^/ACL /'
echo "LUNS $(ls $C/iscsi/$T/tpgt_1/lun | xargs)"
echo "ACL_FILES $(cd $C/iscsi/$T/tpgt_1/acls/*backup1 && ls auth attrib | xargs)"
""",
    ),
    (
        "discovery",
        r"""
discover -p "$P" | sed 's/^/FOUND /'
discover -p "[::1]:3260" -o nonpersistent | sed 's/^/FOUND6 /'
""",
    ),
    (
        "refuse_unlisted",
        rf"""
iscsiadm -m iface -I intruder -o new > /dev/null
iscsiadm -m iface -I intruder -o update -n iface.initiatorname -v {INTRUDER} > /dev/null
discover -p "$P" -I intruder > /dev/null
status=0; login intruder > /tmp/out 2>&1 || status=$?
sed 's/^/OUT /' /tmp/out
echo "LOGIN_INTRUDER $status"
iscsiadm -m node -T "$T" -p "$P" -I intruder -o delete
""",
    ),
    (
        "refuse_wrong_chap",
        r"""
# Discovering through another iface may have dropped the default one's records.
discover -p "$P" -I default > /dev/null
auth node.session.auth.authmethod CHAP
auth node.session.auth.username backup1
auth node.session.auth.password wrong-secret-000
status=0; login default > /tmp/out 2>&1 || status=$?
sed 's/^/OUT /' /tmp/out
echo "LOGIN_WRONG_CHAP $status"
""",
    ),
    (
        "refuse_wrong_mutual",
        rf"""
auth node.session.auth.password {CHAP_SECRET}
auth node.session.auth.username_in lab
auth node.session.auth.password_in wrong-target-secret
status=0; login default > /tmp/out 2>&1 || status=$?
sed 's/^/OUT /' /tmp/out
echo "LOGIN_WRONG_MUTUAL $status"
""",
    ),
    (
        "login_a",
        rf"""
auth node.session.auth.password_in {MUTUAL_SECRET}
login default
HA=$(host_of {INITIATOR_A}); echo "$HA" > /tmp/ha
for t in disk cd/dvd mediumx tape; do wait_for "$HA" $t; done
sleep 1
lsscsi -g "$HA" | sed 's/^/LSSCSI /'
echo "NODES $(for t in disk cd/dvd mediumx tape; do dev_of $HA 2 $t; done | xargs)"
iscsiadm -m session | sed 's/^/SESSION /'
""",
    ),
    (
        "status",
        r"""
devemu status | sed 's/^/STATUS /'
""",
    ),
    (
        "disk",
        r"""
SD=$(dev_of $(cat /tmp/ha) 2 disk)
mkfs.ext4 -q -F "$SD"
mkdir -p /tmp/mnt
mount "$SD" /tmp/mnt
head -c 1000000 /dev/urandom > /tmp/blob
cp /tmp/blob /tmp/mnt/blob
umount /tmp/mnt
mount "$SD" /tmp/mnt
cmp /tmp/blob /tmp/mnt/blob && echo "DISK_FILE ok"
umount /tmp/mnt
fsck.ext4 -n -f "$SD" > /tmp/fsck 2>&1 && echo "FSCK ok"
""",
    ),
    (
        "iso",
        r"""
SR=$(dev_of $(cat /tmp/ha) 2 cd/dvd)
for _ in $(seq 50); do sg_turs "$SR" > /dev/null 2>&1 && break; sleep 0.1; done
mkdir -p /tmp/cd
mount -t iso9660 -o ro "$SR" /tmp/cd
echo "ISO $(cat /tmp/cd/hello.txt)"
umount /tmp/cd
""",
    ),
    (
        "tape",
        r"""
HA=$(cat /tmp/ha)
CH=$(dev_of $HA 2 mediumx)
ST=$(dev_of $HA 2 tape); NST=/dev/n${ST##*/}
mtx -f "$CH" load 1 0
for _ in $(seq 100); do mt -f "$NST" status > /dev/null 2>&1 && break; sleep 0.1; done
mkdir -p /tmp/a /tmp/b /tmp/xa /tmp/xb
head -c 200000 /dev/urandom > /tmp/a/one; head -c 70000 /dev/urandom > /tmp/b/two
mt -f "$NST" rewind
tar -cf "$NST" -C /tmp/a .
tar -cf "$NST" -C /tmp/b .
mt -f "$NST" rewind
mt -f "$NST" fsf 1
tar -xf "$NST" -C /tmp/xb && cmp /tmp/b/two /tmp/xb/two && echo "TAPE_SECOND ok"
mt -f "$NST" rewind
tar -xf "$NST" -C /tmp/xa && cmp /tmp/a/one /tmp/xa/one && echo "TAPE_FIRST ok"
mt -f "$NST" offline
mtx -f "$CH" unload 1 0 && echo "UNLOAD ok"
""",
    ),
    (
        "login_b",
        rf"""
iscsiadm -m iface -I second -o new > /dev/null
iscsiadm -m iface -I second -o update -n iface.initiatorname -v {INITIATOR_B} > /dev/null
discover -p "$P" -I second > /dev/null
login second
HB=$(host_of {INITIATOR_B}); echo "$HB" > /tmp/hb
for t in disk cd/dvd mediumx; do wait_for "$HB" $t; done
echo "HOSTS $(cat /tmp/ha) $HB"
devemu status | sed 's/^/STATUS2 /'
""",
    ),
    (
        "reservations",
        r"""
A=$(dev_of $(cat /tmp/ha) 1 disk); B=$(dev_of $(cat /tmp/hb) 1 disk)
echo "PR_NODES $A $B"
sg_persist -n --out --register --param-sark=0xa1 "$A"
sg_persist -n --out --register --param-sark=0xb2 "$B"
sg_persist -n --out --reserve --param-rk=0xa1 --prout-type=1 "$A"
sg_persist -n --in --read-keys "$B" | sed 's/^/KEYS_B /'
sg_persist -n --in --read-reservation "$B" | sed 's/^/RES_B /'
head -c 512 /dev/zero > /tmp/blk
# WRITE(10) of LBA 100 from B while A holds a Write Exclusive reservation.
sg_raw -s 512 -i /tmp/blk "$B" 2a 00 00 00 00 64 00 00 01 00 > /tmp/w 2>&1 || true
sed 's/^/WRITE_B /' /tmp/w
sg_raw -s 512 -i /tmp/blk "$A" 2a 00 00 00 00 64 00 00 01 00 > /tmp/wa 2>&1 || true
sed 's/^/WRITE_A /' /tmp/wa
sg_persist -n --out --release --param-rk=0xa1 --prout-type=1 "$A"
sg_persist -n --in --read-reservation "$B" | sed 's/^/RES_AFTER /'
sg_raw -s 512 -i /tmp/blk "$B" 2a 00 00 00 00 64 00 00 01 00 > /tmp/w2 2>&1 || true
sed 's/^/WRITE_B2 /' /tmp/w2
sg_persist -n --out --register --param-rk=0xa1 --param-sark=0 "$A"
sg_persist -n --out --register --param-rk=0xb2 --param-sark=0 "$B"
sg_persist -n --in --read-keys "$A" | sed 's/^/KEYS_END /'
""",
    ),
    (
        "unit_attentions",
        r"""
HA=$(cat /tmp/ha); HB=$(cat /tmp/hb)
CDA=$(dev_of $HA 1 cd/dvd); CDB=$(dev_of $HB 1 cd/dvd)
CHA=$(dev_of $HA 1 mediumx); CHB=$(dev_of $HB 1 mediumx)
# Clear what is pending from the logins, then change the disc.
for d in $CDA $CDB $CHA $CHB $CDA $CDB $CHA $CHB; do sg_turs "$d" > /dev/null 2>&1 || true; done
gesn() { sg_raw -r 8 "$1" 4a 01 00 00 10 00 00 00 08 00 2>&1 | sed -n '/^ 00 /p'; }
devemu cdrom insert cd0 "$S/two.iso" > /dev/null
sg_turs -v "$CDA" 2>&1 | sed 's/^/CD_TUR_A /'
sg_turs -v "$CDB" 2>&1 | sed 's/^/CD_TUR_B /'
echo "CD_GESN_A $(gesn $CDA)"
echo "CD_GESN_B $(gesn $CDB)"
echo "CD_GESN_B2 $(gesn $CDB)"
# The volume identifier of the disc's primary volume descriptor (ECMA-119 8.4.6), read by B.
sg_raw -r 2048 -o /tmp/pvd "$CDB" 28 00 00 00 00 10 00 00 01 00 > /dev/null 2>&1
echo "CD_LABEL_B $(dd if=/tmp/pvd bs=1 skip=40 count=32 2>/dev/null)"
devemu library export 2 > /dev/null
sg_turs -v "$CHA" 2>&1 | sed 's/^/CH_TUR_A /'
sg_turs -v "$CHB" 2>&1 | sed 's/^/CH_TUR_B /'
mtx -f "$CHB" status | sed 's/^/MTX_B /'
""",
    ),
    (
        "kill9",
        r"""
SD=$(dev_of $(cat /tmp/ha) 2 disk)
iscsiadm -m session | sed 's/^/BEFORE /'
logins=$(grep -c "operational now" /tmp/iscsid.log)
seen=$(dmesg | wc -l)
timeout -s KILL 180 fio --name=kill9 --filename="$SD" --ioengine=libaio --direct=1 \
    --rw=randwrite --bs=4k --size=24m --iodepth=8 --verify=crc32c --do_verify=1 --verify_fatal=1 \
    > /tmp/fio.log 2>&1 &
fio_pid=$!
sleep 3
kill -0 "$fio_pid" && echo "FIO_RUNNING yes"
kill -9 "$(cat /tmp/serve.pid)"
while kill -0 "$(cat /tmp/serve.pid)" 2>/dev/null; do sleep 0.05; done
echo "KILLED ok"
serve_start "$S/lab.toml" /tmp/serve2.log -v
echo "$serve_pid" > /tmp/serve.pid
status=0; wait "$fio_pid" || status=$?
echo "FIO_STATUS $status"
grep -E 'err=|verify' /tmp/fio.log | sed 's/^/FIO /'
iscsiadm -m session | sed 's/^/AFTER /'
grep -c "adopting" /tmp/serve2.log | sed 's/^/ADOPTED /'
echo "NEW_LOGINS $(($(grep -c "operational now" /tmp/iscsid.log) - logins))"
dmesg | tail -n +$((seen + 1)) | sed 's/^/DMESG /'
""",
    ),
    (
        "sigterm",
        r"""
timeout 30 iscsiadm -m node --logoutall=all > /dev/null || true
pid=$(cat /tmp/serve.pid)
kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
echo "ISCSI_LEFT $(ls $C/iscsi | grep '^iqn' | xargs)"
echo "CORE_LEFT $(ls $C/core | grep -v '^alua$' | xargs)"
echo "JOURNAL $(test -e /run/devemu-state/lio.json && echo yes || echo no)"
""",
    ),
    (
        "logs",
        r"""
cat /tmp/serve1.log /tmp/serve2.log 2>/dev/null | tail -n 60
tail -n 20 /tmp/iscsid.log
dmesg | grep -i 'iscsi\|chap\|login' | tail -n 30
""",
    ),
]


def _write_secret(path: os.PathLike[str], text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")


@pytest.fixture(scope="module")
def steps(vm_session: VmSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Step]:
    share = tmp_path_factory.mktemp("iscsi-share")
    create_image(share / "disk0.img", 64 << 20)
    for name, text in (("one", "first disc"), ("two", "second disc")):
        tree = tmp_path_factory.mktemp(f"iso-{name}")
        (tree / "hello.txt").write_text(text + "\n")
        make_iso(tree, share / f"{name}.iso", label=name.upper())
    (share / "secrets").mkdir(mode=0o700)
    _write_secret(share / "secrets" / "backup1", CHAP_SECRET)
    _write_secret(share / "secrets" / "lab", MUTUAL_SECRET)
    (share / "lab.toml").write_text(CONFIG)
    env = {"KROOT": str(vm_session.kernel.root)}
    result, found = vm_session.run_steps(
        [(name, PRELUDE + body) for name, body in STEPS], share=share, timeout=480, env=env
    )
    print(result.output)
    return found


def _out(steps: dict[str, Step], name: str) -> str:
    assert name in steps, f"step {name} did not run"
    return steps[name].output


def _value(steps: dict[str, Step], name: str, key: str) -> str:
    match = re.search(rf"^{re.escape(key)}[ \t]?(.*)$", _out(steps, name), re.M)
    assert match, f"{key} missing from step {name}:\n{_out(steps, name)}"
    return match[1].strip()


def test_the_lab_is_served_on_an_iscsi_target(steps: dict[str, Step]) -> None:
    assert steps["setup"].ok, _out(steps, "setup")
    assert steps["serve"].ok, _out(steps, "serve")
    assert _value(steps, "serve", "PGR") == "1"
    serve = _out(steps, "serve")
    assert "PORTAL 127.0.0.1:3260" in serve
    assert "PORTAL [::1]:3260" in serve
    assert f"ACL {INITIATOR_A}" in serve and f"ACL {INITIATOR_B}" in serve
    assert _value(steps, "serve", "LUNS") == "lun_0 lun_1 lun_2 lun_3 lun_4"


def test_discovery_finds_the_target_on_both_portals(steps: dict[str, Step]) -> None:
    assert f"127.0.0.1:3260,1 {TARGET}" in _out(steps, "discovery")
    assert f"[::1]:3260,1 {TARGET}" in _out(steps, "discovery")


@pytest.mark.parametrize(
    ("step", "key"),
    [
        ("refuse_unlisted", "LOGIN_INTRUDER"),
        ("refuse_wrong_chap", "LOGIN_WRONG_CHAP"),
        ("refuse_wrong_mutual", "LOGIN_WRONG_MUTUAL"),
    ],
)
def test_refused_logins(steps: dict[str, Step], step: str, key: str) -> None:
    assert steps[step].ok, _out(steps, step)
    assert _value(steps, step, key) != "0", _out(steps, step)


def test_the_listed_initiator_gets_every_kind_of_node(steps: dict[str, Step]) -> None:
    assert steps["login_a"].ok, _out(steps, "login_a")
    nodes = _value(steps, "login_a", "NODES").split()
    patterns = [r"/dev/sd[a-z]+", r"/dev/sr\d+", r"/dev/sch\d+", r"/dev/st\d+"]
    assert len(nodes) == len(patterns), nodes
    for node, pattern in zip(nodes, patterns, strict=True):
        assert re.fullmatch(pattern, node), nodes


def test_status_lists_the_session(steps: dict[str, Step]) -> None:
    status = _out(steps, "status")
    assert f"iscsi target {TARGET}" in status
    assert re.search(rf"{re.escape(INITIATOR_A)}\s+127\.0\.0\.1", status), status
    assert f"{INITIATOR_B}" in _out(steps, "login_b")


def test_ext4_on_the_disk(steps: dict[str, Step]) -> None:
    assert steps["disk"].ok, _out(steps, "disk")
    assert _value(steps, "disk", "DISK_FILE") == "ok"
    assert _value(steps, "disk", "FSCK") == "ok"


def test_the_iso_mounts(steps: dict[str, Step]) -> None:
    assert _value(steps, "iso", "ISO") == "first disc"


def test_library_load_tar_across_a_filemark_unload(steps: dict[str, Step]) -> None:
    assert steps["tape"].ok, _out(steps, "tape")
    assert _value(steps, "tape", "TAPE_SECOND") == "ok"
    assert _value(steps, "tape", "TAPE_FIRST") == "ok"
    assert _value(steps, "tape", "UNLOAD") == "ok"


def test_reservations_are_lios_and_span_initiators(steps: dict[str, Step]) -> None:
    assert steps["login_b"].ok, _out(steps, "login_b")
    out = _out(steps, "reservations")
    assert "0xa1" in out.split("KEYS_B", 1)[1] and "0xb2" in out.split("KEYS_B", 1)[1], out
    assert re.search(r"RES_B .*Key=0xa1", out), out
    assert re.search(r"WRITE_B .*Reservation Conflict", out, re.I), out
    assert not re.search(r"WRITE_A .*Reservation Conflict", out, re.I), out
    assert re.search(r"RES_AFTER .*there is NO reservation", out, re.I), out
    assert not re.search(r"WRITE_B2 .*Conflict", out, re.I), out


def _lines(steps: dict[str, Step], name: str, tag: str) -> str:
    out = _out(steps, name)
    return "\n".join(line for line in out.splitlines() if line.startswith(tag + " "))


def _media_event(steps: dict[str, Step], key: str) -> int:
    """The event code of a media event descriptor (MMC-6 table 170), from sg_raw's dump."""
    data = _value(steps, "unit_attentions", key).split()
    return int(data[1 + 4], 16)


def test_after_a_disc_change_only_the_first_initiator_is_told(steps: dict[str, Step]) -> None:
    """The README's limit: one unit attention and one media event, whoever asks first."""
    assert steps["unit_attentions"].ok, _out(steps, "unit_attentions")
    assert "medium may have changed" in _lines(steps, "unit_attentions", "CD_TUR_A")
    tur_b = _lines(steps, "unit_attentions", "CD_TUR_B")
    assert "Unit attention" not in tur_b and "becoming ready" in tur_b, tur_b
    assert _media_event(steps, "CD_GESN_A") == 2  # NewMedia
    assert _media_event(steps, "CD_GESN_B") == 0  # NoChg: A took the event
    assert _media_event(steps, "CD_GESN_B2") == 0
    # What B reads is the new disc all the same.
    assert _value(steps, "unit_attentions", "CD_LABEL_B") == "TWO"


def test_after_an_export_the_second_initiator_sees_the_inventory_as_it_is(
    steps: dict[str, Step],
) -> None:
    assert "Import or export element accessed" in _lines(steps, "unit_attentions", "CH_TUR_A")
    assert "Unit attention" not in _lines(steps, "unit_attentions", "CH_TUR_B")
    inventory = _lines(steps, "unit_attentions", "MTX_B")
    assert re.search(r"Storage Element 2:Empty", inventory), inventory
    assert "ISC001" in inventory and "ISC002" not in inventory, inventory


def test_kill_9_restart_keeps_the_session_and_fio_verifies(steps: dict[str, Step]) -> None:
    out = _out(steps, "kill9")
    assert steps["kill9"].ok, out
    assert _value(steps, "kill9", "FIO_RUNNING") == "yes"
    assert _value(steps, "kill9", "FIO_STATUS") == "0", out
    before = [
        line.removeprefix("BEFORE ") for line in out.splitlines() if line.startswith("BEFORE")
    ]
    after = [line.removeprefix("AFTER ") for line in out.splitlines() if line.startswith("AFTER")]
    assert before and before == after, out
    assert _value(steps, "kill9", "NEW_LOGINS") == "0", out
    assert not re.search(r"^DMESG .*conn error", out, re.M), out


def test_sigterm_removes_exactly_what_the_daemon_made(steps: dict[str, Step]) -> None:
    assert steps["sigterm"].ok, _out(steps, "sigterm")
    assert _value(steps, "sigterm", "ISCSI_LEFT") == "iqn.2026-12.org.example:foreign"
    assert _value(steps, "sigterm", "CORE_LEFT") == ""
    assert _value(steps, "sigterm", "JOURNAL") == "no"
