"""A small iSCSI initiator (RFC 7143) that sends CDBs longer than 16 bytes.

Why not libiscsi: the Debian libiscsi 1.19 (``libiscsi7``) keeps a task's
CDB in a 16-byte array; ``scsi_create_task`` with the 236-byte OSD-2 CDB
aborts the process ("buffer overflow detected", measured through ctypes),
and PyPI ``cython-iscsi`` wraps the same library. The kernel's own
initiator (open-iscsi) cannot help either: since Linux 5.19 the SCSI
midlayer holds at most 32 CDB bytes. So this module speaks the protocol
itself, just enough for one session to one target:

- login without authentication (security stage with ``AuthMethod=None``,
  then the operational stage: no digests, ``InitialR2T=Yes``,
  ``ImmediateData=No``, so every data-out byte answers an R2T; keys the
  target proposes on its own are answered with the value it proposed);
- SCSI Command PDUs with the CDB's first 16 bytes in the header and the
  rest in an Extended CDB additional header segment (RFC 7143 11.3.1.2);
- Data-In, R2T/Data-Out, SCSI Response with its sense data, NOP-In
  pings answered, and a logout at the end.

It is a test client, not a general initiator: one connection, one
command at a time, error recovery level 0.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

from devemu.testing.osd import Response

LOGIN_REQUEST = 0x03
LOGIN_RESPONSE = 0x23
SCSI_COMMAND = 0x01
SCSI_RESPONSE = 0x21
DATA_OUT = 0x05
DATA_IN = 0x25
R2T = 0x31
NOP_OUT = 0x00
NOP_IN = 0x20
LOGOUT_REQUEST = 0x06
LOGOUT_RESPONSE = 0x26
REJECT = 0x3F
IMMEDIATE = 0x40
FINAL = 0x80
_BHS = 48
_NO_TAG = 0xFFFFFFFF


#: Keys only a target declares: never answered (RFC 7143 13).
_DECLARED_BY_TARGET = frozenset(
    {"TargetAlias", "TargetAddress", "TargetPortalGroupTag", "MaxRecvDataSegmentLength"}
)
#: Answers, not proposals (RFC 7143 6.2).
_NOT_VALUES = frozenset({"NotUnderstood", "Irrelevant", "Reject"})


class IscsiError(Exception):
    """The target refused the login or broke the protocol."""


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def _keys(pairs: dict[str, str]) -> bytes:
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs.items())


def _parse_keys(data: bytes) -> dict[str, str]:
    out = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            k, _, v = item.decode(errors="replace").partition("=")
            out[k] = v
    return out


def _lun(lun: int) -> bytes:
    """SAM-5 4.7: single-level peripheral addressing for LUNs below 256."""
    return bytes([0, lun]) + bytes(6) if lun < 256 else struct.pack(">HHxxxx", 0x4000 | lun, 0)


@dataclass
class _Pdu:
    bhs: bytes
    data: bytes

    @property
    def opcode(self) -> int:
        return self.bhs[0] & 0x3F


class IscsiTransport:
    """One iSCSI session to ``target`` at ``host:port``, commands to ``lun``."""

    def __init__(
        self,
        host: str,
        port: int,
        target: str,
        initiator: str,
        lun: int = 0,
        timeout: float = 60.0,
    ) -> None:
        self.lun = lun
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.cmdsn = 1
        self.expstatsn = 0
        self.itt = 1
        self.isid = b"\x80" + os.urandom(3) + b"\x00\x00"
        self.max_send = 8192  # the target's MaxRecvDataSegmentLength
        self._login(target, initiator)

    # --- PDUs ---

    def _send(self, bhs: bytes, data: bytes = b"", ahs: bytes = b"") -> None:
        assert len(bhs) == _BHS
        self.sock.sendall(bhs + ahs + data + bytes(_pad4(len(data)) - len(data)))

    def _recv_exact(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise IscsiError("the target closed the connection")
            out += chunk
        return bytes(out)

    def _recv(self) -> _Pdu:
        bhs = self._recv_exact(_BHS)
        ahs_len = bhs[4] * 4
        data_len = int.from_bytes(bhs[5:8], "big")
        if ahs_len:
            self._recv_exact(ahs_len)
        data = self._recv_exact(_pad4(data_len))[:data_len]
        pdu = _Pdu(bhs, data)
        if pdu.opcode in (SCSI_RESPONSE, LOGIN_RESPONSE, LOGOUT_RESPONSE, NOP_IN) or (
            pdu.opcode == DATA_IN and bhs[1] & 0x01
        ):
            self.expstatsn = struct.unpack_from(">I", bhs, 24)[0] + 1
        return pdu

    def _next_itt(self) -> int:
        self.itt = (self.itt + 1) & 0x7FFFFFFF or 1
        return self.itt

    # --- login and logout ---

    def _login_step(
        self, csg: int, nsg: int, keys: dict[str, str], tsih: int
    ) -> tuple[dict[str, str], int]:
        """Login requests of one stage until the target moves on to ``nsg`` (RFC 7143 6.2)."""
        answer: dict[str, str] = {}
        data = _keys(keys)
        for _ in range(8):
            flags = FINAL | (csg << 2) | nsg
            bhs = struct.pack(
                ">BBBB B3s 6sH I HH I I 16x",
                LOGIN_REQUEST | IMMEDIATE,
                flags,
                0,
                0,
                0,
                len(data).to_bytes(3, "big"),
                self.isid,
                tsih,
                self.itt,
                0,
                0,
                self.cmdsn,
                self.expstatsn,
            )
            self._send(bhs, data)
            pdu = self._recv()
            if pdu.opcode != LOGIN_RESPONSE:
                raise IscsiError(f"login: opcode {pdu.opcode:#x} instead of a login response")
            status_class, detail = pdu.bhs[36], pdu.bhs[37]
            if status_class:
                raise IscsiError(f"login refused: status class {status_class}, detail {detail}")
            got = _parse_keys(pdu.data)
            answer.update(got)
            tsih = struct.unpack_from(">H", pdu.bhs, 14)[0]
            if pdu.bhs[1] & FINAL and pdu.bhs[1] & 0x03 == nsg:
                return answer, tsih
            # The target stays in the stage: it proposed keys of its own, which
            # must be answered (RFC 7143 6.2). Accept each proposed value.
            proposed = {
                k: v.split(",")[0]
                for k, v in got.items()
                if k not in keys and k not in _DECLARED_BY_TARGET and v not in _NOT_VALUES
            }
            keys = {**keys, **proposed}
            data = _keys(proposed)
        raise IscsiError(f"login: the target never left stage {csg}")

    def _login(self, target: str, initiator: str) -> None:
        names = {"InitiatorName": initiator, "TargetName": target, "SessionType": "Normal"}
        answer, tsih = self._login_step(0, 1, {**names, "AuthMethod": "None"}, 0)
        if answer.get("AuthMethod", "None") != "None":
            raise IscsiError(f"the target wants authentication: {answer.get('AuthMethod')}")
        operational = {
            "HeaderDigest": "None",
            "DataDigest": "None",
            "MaxRecvDataSegmentLength": "262144",
            "InitialR2T": "Yes",
            "ImmediateData": "No",
            "MaxBurstLength": "262144",
            "FirstBurstLength": "65536",
            "MaxOutstandingR2T": "1",
            "ErrorRecoveryLevel": "0",
            "DataPDUInOrder": "Yes",
            "DataSequenceInOrder": "Yes",
            "DefaultTime2Wait": "2",
            "DefaultTime2Retain": "0",
            "MaxConnections": "1",
            "IFMarker": "No",
            "OFMarker": "No",
        }
        answer, self.tsih = self._login_step(1, 3, operational, tsih)
        self.max_send = int(answer.get("MaxRecvDataSegmentLength", "8192"))

    def close(self) -> None:
        try:
            bhs = struct.pack(
                ">BBH 4x 8x I H2x I I 16x",
                LOGOUT_REQUEST | IMMEDIATE,
                FINAL,
                0,
                self._next_itt(),
                0,
                self.cmdsn,
                self.expstatsn,
            )
            self._send(bhs)
            while self._recv().opcode != LOGOUT_RESPONSE:
                pass
        except (OSError, IscsiError):
            pass
        self.sock.close()

    # --- commands ---

    def execute(self, cdb: bytes, data_out: bytes | None, data_in_length: int) -> Response:
        """Run one command; data-out goes in answer to R2Ts, data-in is gathered."""
        itt = self._next_itt()
        head, rest = cdb[:16].ljust(16, b"\0"), cdb[16:]
        ahs = b""
        if rest:
            body = b"\0" + rest
            ahs = struct.pack(">HB", len(body), 0x01) + body
            ahs += bytes(_pad4(len(ahs)) - len(ahs))
        flags = FINAL | 0x01  # simple task attribute
        expected = 0
        if data_out is not None:
            flags |= 0x20
            expected = len(data_out)
        elif data_in_length:
            flags |= 0x40
            expected = data_in_length
        bhs = struct.pack(
            ">BBH B3s 8s I I I I 16s",
            SCSI_COMMAND,
            flags,
            0,
            len(ahs) // 4,
            bytes(3),
            _lun(self.lun),
            itt,
            expected,
            self.cmdsn,
            self.expstatsn,
            head,
        )
        self._send(bhs, b"", ahs)
        self.cmdsn += 1
        data_in = bytearray()
        while True:
            pdu = self._recv()
            op = pdu.opcode
            if op == NOP_IN:
                self._answer_nop(pdu)
                continue
            if op == REJECT:
                raise IscsiError(f"the target rejected the command: reason {pdu.bhs[2]:#x}")
            if struct.unpack_from(">I", pdu.bhs, 16)[0] != itt:
                continue
            if op == R2T:
                self._send_data_out(pdu, itt, data_out or b"")
            elif op == DATA_IN:
                offset = struct.unpack_from(">I", pdu.bhs, 40)[0]
                end = offset + len(pdu.data)
                if len(data_in) < end:
                    data_in += bytes(end - len(data_in))
                data_in[offset:end] = pdu.data
                if pdu.bhs[1] & 0x01:  # status in this PDU
                    return Response(pdu.bhs[3], bytes(data_in))
            elif op == SCSI_RESPONSE:
                if pdu.bhs[2]:
                    raise IscsiError(f"iSCSI response {pdu.bhs[2]:#x}")
                sense = b""
                if len(pdu.data) >= 2:
                    n = int.from_bytes(pdu.data[:2], "big")
                    sense = pdu.data[2 : 2 + n]
                return Response(pdu.bhs[3], bytes(data_in), sense)

    def _send_data_out(self, r2t: _Pdu, itt: int, data: bytes) -> None:
        ttt, _statsn, _exp, _max, _r2tsn, offset, length = struct.unpack_from(
            ">IIIIIII", r2t.bhs, 20
        )
        end = offset + length
        datasn = 0
        while offset < end:
            n = min(self.max_send, end - offset)
            last = offset + n >= end
            bhs = struct.pack(
                ">BB2x B3s 8s I I 4x I 4x I I 4x",
                DATA_OUT,
                FINAL if last else 0,
                0,
                n.to_bytes(3, "big"),
                _lun(self.lun),
                itt,
                ttt,
                self.expstatsn,
                datasn,
                offset,
            )
            self._send(bhs, data[offset : offset + n])
            offset += n
            datasn += 1

    def _answer_nop(self, nop: _Pdu) -> None:
        ttt = struct.unpack_from(">I", nop.bhs, 20)[0]
        if ttt == _NO_TAG:
            return
        bhs = struct.pack(
            ">BB2x 4x 8s I I I I 16x",
            NOP_OUT | IMMEDIATE,
            FINAL,
            nop.bhs[8:16],
            _NO_TAG,
            ttt,
            self.cmdsn,
            self.expstatsn,
        )
        self._send(bhs)
