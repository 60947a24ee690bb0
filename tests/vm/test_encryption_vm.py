"""Tape data encryption under the real kernel, driven by Debian's ``stenc``.

In the tier's guest, a daemon of its own serves a library with one drive
and two cartridges, and shows:

- ``stenc -e on -k KEYFILE -a 1`` sets a key (SECURITY PROTOCOL OUT,
  Set Data Encryption, SSC-5 8.5) and ``stenc`` reports it (Data
  Encryption Status page) with the key description the key file gives
  (the U-KAD). Not ``stenc --detail`` on a blank tape: stenc 1.0.7 then
  crashes in its own retry loop (the next block is end of data, status
  1h, and its loop frees what it returns);
- ``tar`` to ``/dev/nstN`` and back with the key returns the data, and
  ``stenc --detail`` then reports the volume encrypted and decryptable;
- after ``stenc -e off`` the read fails: ``tar`` gets an I/O error (st
  logs DATA PROTECT, UNABLE TO DECRYPT DATA) and ``sg_raw`` READ(6) shows
  DATA PROTECT, UNABLE TO DECRYPT DATA (74h/01h);
  with another key, INCORRECT DATA ENCRYPTION KEY (74h/03h);
- ``grep -c`` finds no plaintext of the encrypted blocks in the cartridge
  file, and does find it in a cartridge written in the clear (so the
  check can fail); reading that clear cartridge with ``stenc -e on`` is
  UNENCRYPTED DATA ENCOUNTERED WHILE DECRYPTING (74h/02h) and with
  ``stenc -e mixed`` works;
- ``sg_reset -d`` (LOGICAL UNIT RESET, which the kernel hands to devemu
  as a TMR entry) clears the key: ``stenc --detail`` then says off.
"""

from __future__ import annotations

import re

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

PATTERN = "DEVEMU-KNOWN-PLAINTEXT-5f3a9c"
KEY1 = "00112233445566778899aabbccddeeff" * 2
KEY2 = "ffeeddccbbaa99887766554433221100" * 2

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[library]]
name = "vtl12"
directory = "/run/vtl-encrypt"
slots = 3
barcodes = ["E01001L8", "E01002L8"]
serial = "VMLIB00012"

[[library.drives]]
name = "vtl12-d0"
serial = "VMENCRYPT1"
"""

SCRIPT = (
    guest_functions(ready_timeout=45)
    + rf"""
CFG="$DEVEMU_VM_SHARE/vtl.toml"
serve_start "$CFG" /tmp/serve.log -v
pid=$serve_pid
for _ in $(seq 200); do
    CH=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {{print $(NF-1)}}' | head -n1)
    T0=$(node_with_serial VMENCRYPT1 /sys/class/scsi_tape/nst[0-9]*)
    [ -c "$CH" ] && [ -n "$T0" ] && break
    sleep 0.05
done
SG0=/dev/$(ls "/sys/class/scsi_tape/${{T0##*/}}/device/scsi_generic")
echo "DEVICES $CH $T0 $SG0"
wait_ready() {{
    for _ in $(seq 100); do mt -f "$1" status > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}}
read6() {{  # one variable READ(6) of up to 64 KiB at BOP, its sense shown
    mt -f "$T0" rewind
    sg_raw -r 65536 "$SG0" 08 00 01 00 00 00 > /tmp/r 2>&1; echo "$1_RC $?"
    sed "s/^/$1 /" /tmp/r
}}
printf '%s\nvmkey-one\n' {KEY1} > /tmp/key1
printf '%s\nvmkey-two\n' {KEY2} > /tmp/key2
chmod 600 /tmp/key1 /tmp/key2
mkdir -p /tmp/a /tmp/x /tmp/y
yes {PATTERN} | head -c 300000 > /tmp/a/plain.txt
head -c 100000 /dev/urandom > /tmp/a/random.bin

# --- cartridge 1, written with a key
mtx -f "$CH" load 1 0 && wait_ready "$T0" && echo "LOAD1 ok"
stenc -f "$T0" -e on -k /tmp/key1 -a 1 > /tmp/s 2>&1; echo "STENC_ON $?"
sed 's/^/STENCON /' /tmp/s
stenc -f "$T0" > /tmp/s 2>&1; echo "DETAIL1_RC $?"
sed 's/^/DETAIL1 /' /tmp/s
mt -f "$T0" rewind
tar -cf "$T0" -C /tmp/a . && echo "TAR_WRITE ok"
mt -f "$T0" rewind
tar -xf "$T0" -C /tmp/x && cmp /tmp/a/plain.txt /tmp/x/plain.txt \
    && cmp /tmp/a/random.bin /tmp/x/random.bin && echo "TAR_READ_EQUAL ok"
mt -f "$T0" rewind
stenc -f "$T0" --detail > /tmp/s 2>&1; echo "DETAIL2_RC $?"
sed 's/^/DETAIL2 /' /tmp/s

# --- the key cleared: no read
stenc -f "$T0" -e off > /tmp/s 2>&1; echo "STENC_OFF $?"
sed 's/^/STENCOFF /' /tmp/s
mt -f "$T0" rewind
stenc -f "$T0" --detail > /tmp/s 2>&1; echo "DETAIL3_RC $?"
sed 's/^/DETAIL3 /' /tmp/s
dmesg -c > /dev/null 2>&1 || true
mt -f "$T0" rewind
tar -tf "$T0" > /tmp/t 2>&1; echo "TAR_NOKEY $?"
sed 's/^/TARNOKEY /' /tmp/t
dmesg | sed 's/^/DMESG /'
read6 NOKEY

# --- another key
stenc -f "$T0" -e on -k /tmp/key2 -a 1 > /dev/null 2>&1; echo "STENC_KEY2 $?"
read6 WRONGKEY
# --- a logical unit reset clears every key (SSC-5 4.2, data encryption)
sg_reset -d "$SG0" > /tmp/s 2>&1; echo "SG_RESET $?"
sed 's/^/SGRESET /' /tmp/s
for _ in 1 2 3; do sg_turs "$SG0" > /dev/null 2>&1 && break; done
stenc -f "$T0" --detail > /tmp/s 2>&1; echo "DETAIL4_RC $?"
sed 's/^/DETAIL4 /' /tmp/s
stenc -f "$T0" -e off > /dev/null 2>&1; echo "STENC_OFF2 $?"
mtx -f "$CH" unload 1 0 && echo "UNLOAD1 ok"
grep -c {PATTERN} /run/vtl-encrypt/E01001L8.tape > /tmp/g; echo "GREP_ENCRYPTED_RC $?"
echo "GREP_ENCRYPTED_COUNT $(cat /tmp/g)"

# --- cartridge 2, written in the clear
mtx -f "$CH" load 2 0 && wait_ready "$T0" && echo "LOAD2 ok"
tar -cf "$T0" -C /tmp/a . && echo "TAR_CLEAR ok"
stenc -f "$T0" -e on -k /tmp/key1 -a 1 > /dev/null 2>&1; echo "STENC_ON2 $?"
read6 CLEARDECRYPT
stenc -f "$T0" -e mixed -k /tmp/key1 -a 1 > /dev/null 2>&1; echo "STENC_MIXED $?"
mt -f "$T0" rewind
tar -xf "$T0" -C /tmp/y && cmp /tmp/a/plain.txt /tmp/y/plain.txt && echo "TAR_MIXED_EQUAL ok"
stenc -f "$T0" -e off > /dev/null 2>&1
mtx -f "$CH" unload 2 0 && echo "UNLOAD2 ok"
echo "GREP_CLEAR_COUNT $(grep -c {PATTERN} /run/vtl-encrypt/E01002L8.tape)"
kill -TERM "$pid"; wait "$pid"; echo "TERM_STATUS $?"
echo "--- serve log"
tail -n 30 /tmp/serve.log
"""
)


@pytest.fixture(scope="module")
def served(guest_scripts: GuestScripts) -> tuple[VmResult, str]:
    share = guest_scripts.new_share()
    (share / "vtl.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=420)
    print(result.output)
    return result, result.output


def _text(output: str, tag: str) -> str:
    return "\n".join(lines(output, tag))


def test_script_completed(served: tuple[VmResult, str]) -> None:
    result, output = served
    assert result.exit_code == 0, output
    assert value(output, "TERM_STATUS") == "0"


def test_stenc_sets_a_key_and_reports_it(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "LOAD1") == "ok"
    assert value(output, "STENC_ON") == "0", _text(output, "STENCON")
    assert "Success" in _text(output, "STENCON")
    assert value(output, "DETAIL1_RC") == "0"
    status = _text(output, "DETAIL1")
    assert re.search(r"Drive Encryption:\s+on", status), status
    assert re.search(r"Drive Key Desc\.\(uKAD\):\s+vmkey-one", status), status


def test_tar_round_trip_with_the_key(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "TAR_WRITE") == "ok"
    assert value(output, "TAR_READ_EQUAL") == "ok"
    assert value(output, "DETAIL2_RC") == "0"
    detail = _text(output, "DETAIL2")
    assert re.search(r"Product ID:\s+ULT3580-TD8", detail), detail
    assert re.search(r"Drive Output:\s+Decrypting", detail), detail
    assert re.search(r"Drive Input:\s+Encrypting", detail), detail
    assert re.search(r"Key Instance Counter:\s+1\b", detail), detail
    assert re.search(r"Volume Encryption:\s+Encrypted and able to decrypt", detail), detail


def test_without_the_key_the_read_fails_with_the_encryption_sense(
    served: tuple[VmResult, str],
) -> None:
    _, output = served
    assert value(output, "STENC_OFF") == "0", _text(output, "STENCOFF")
    detail = _text(output, "DETAIL3")
    assert re.search(r"Drive Encryption:\s+off", detail), detail
    assert re.search(r"Volume Encryption:\s+Encrypted, but unable to decrypt", detail), detail
    assert value(output, "TAR_NOKEY") != "0"
    assert value(output, "NOKEY_RC") != "0"
    raw = _text(output, "NOKEY")
    assert re.search(r"Data Protect", raw, re.I), raw
    assert re.search(r"Unable to decrypt data", raw, re.I), raw
    kernel = _text(output, "DMESG")  # what st logged for the failed tar read
    assert re.search(r"Sense Key : Data Protect", kernel), kernel
    assert re.search(r"Add\. Sense: Unable to decrypt data", kernel), kernel


def test_a_wrong_key_is_told_apart(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "STENC_KEY2") == "0"
    raw = _text(output, "WRONGKEY")
    assert value(output, "WRONGKEY_RC") != "0"
    assert re.search(r"Incorrect data encryption key", raw, re.I), raw


def test_a_logical_unit_reset_clears_the_key(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "SG_RESET") == "0", _text(output, "SGRESET")
    assert value(output, "DETAIL4_RC") == "0", _text(output, "DETAIL4")
    detail = _text(output, "DETAIL4")
    assert re.search(r"Drive Encryption:\s+off", detail), detail


def test_no_plaintext_in_the_encrypted_cartridge_file(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "UNLOAD1") == "ok"
    assert value(output, "GREP_ENCRYPTED_COUNT") == "0"
    assert value(output, "GREP_ENCRYPTED_RC") == "1"  # grep found nothing (not an error)
    assert int(value(output, "GREP_CLEAR_COUNT")) > 100  # the same check finds clear data


def test_clear_blocks_with_decrypt_and_mixed_modes(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "TAR_CLEAR") == "ok"
    assert value(output, "STENC_ON2") == "0"
    raw = _text(output, "CLEARDECRYPT")
    assert value(output, "CLEARDECRYPT_RC") != "0"
    assert re.search(r"Unencrypted data encountered while decrypting", raw, re.I), raw
    assert value(output, "STENC_MIXED") == "0"
    assert value(output, "TAR_MIXED_EQUAL") == "ok"
