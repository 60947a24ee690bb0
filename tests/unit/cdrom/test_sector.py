"""EDC and RSPC parity checked against a straightforward second implementation.

The reference below follows ECMA-130 annex A literally: bit-by-bit CRC,
GF(2^8) multiplication by shift-and-add, and for every P and Q code word
the encoder of a two-parity Reed-Solomon code evaluated element by element
(Horner's rule), then every code word's two syndromes are checked to be zero.
"""

from __future__ import annotations

import random

import pytest

from devemu.cdrom import sector


def ref_edc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xD8018001 if crc & 1 else 0)
    return crc


def ref_edc_msb_polynomial(data: bytes) -> int:
    """The same CRC by long division with 0x8001801B on bit-reversed input."""

    def rev(v: int, bits: int) -> int:
        return int(f"{v:0{bits}b}"[::-1], 2)

    crc = 0
    for byte in data:
        crc ^= rev(byte, 8) << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8001801B) & 0xFFFFFFFF if crc & 0x80000000 else crc << 1
    return rev(crc, 32)


def gmul(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
        b >>= 1
    return out


def times_alpha(v: int) -> int:
    return gmul(v, 2)


def ref_parity(vector: list[int]) -> tuple[int, int]:
    """Two parity symbols making sum(c)=0 and sum(c_i a^(n-1-i))=0."""
    a = 0
    b = 0
    for v in vector:
        a ^= v
        b = times_alpha(b ^ v)
    # b = sum d_k a^(N-k); the code needs p0*(a+1) = sum d + sum d a^(N+1-k)
    b = times_alpha(b)
    p0 = 0
    for candidate in range(256):
        if gmul(candidate, 3) == a ^ b:
            p0 = candidate
            break
    return p0, p0 ^ a


def ref_ecc(region: bytearray) -> None:
    """Fill P (at 2064) and Q (at 2236) of ``region`` = sector[12:2352]."""
    for j in range(86):
        column = [region[j + 86 * k] for k in range(24)]
        p0, p1 = ref_parity(column)
        region[2064 + j] = p0
        region[2150 + j] = p1
    for n in range(26):
        for plane in range(2):
            diag = [region[2 * ((44 * k + 43 * n) % 1118) + plane] for k in range(43)]
            q0, q1 = ref_parity(diag)
            region[2236 + 2 * n + plane] = q0
            region[2288 + 2 * n + plane] = q1


def syndromes_zero(region: bytes) -> bool:
    for j in range(86):
        word = [region[j + 86 * k] for k in range(26)]
        s0 = s1 = 0
        for i, v in enumerate(word):
            s0 ^= v
            s1 ^= gmul(v, pow_alpha(25 - i))
        if s0 or s1:
            return False
    for n in range(26):
        for plane in range(2):
            word = [region[2 * ((44 * k + 43 * n) % 1118) + plane] for k in range(43)]
            word += [region[2236 + 2 * n + plane], region[2288 + 2 * n + plane]]
            s0 = s1 = 0
            for i, v in enumerate(word):
                s0 ^= v
                s1 ^= gmul(v, pow_alpha(44 - i))
            if s0 or s1:
                return False
    return True


def pow_alpha(e: int) -> int:
    v = 1
    for _ in range(e):
        v = times_alpha(v)
    return v


def bcd(v: int) -> int:
    return (v // 10) * 16 + v % 10


def reference_mode1(lba: int, data: bytes) -> bytes:
    m, s, f = ((lba + 150) // 4500, (lba + 150) // 75 % 60, (lba + 150) % 75)
    raw = bytearray(2352)
    raw[0:12] = bytes([0] + [0xFF] * 10 + [0])
    raw[12:16] = bytes([bcd(m), bcd(s), bcd(f), 1])
    raw[16:2064] = data
    raw[2064:2068] = ref_edc(bytes(raw[:2064])).to_bytes(4, "little")
    region = bytearray(raw[12:])
    ref_ecc(region)
    raw[12:] = region
    return bytes(raw)


def test_edc_two_references_agree() -> None:
    data = bytes(random.Random(1).randbytes(300))
    assert sector.edc(data) == ref_edc(data) == ref_edc_msb_polynomial(data)


def test_edc_of_zeros_is_zero() -> None:
    assert sector.edc(bytes(2064)) == 0


@pytest.mark.parametrize("lba", [0, 16, 4500, 333_000])
def test_mode1_sector_matches_reference(lba: int) -> None:
    data = random.Random(lba).randbytes(2048)
    ours = bytes(sector.mode1_sector(lba, data))
    assert ours == reference_mode1(lba, data)
    assert syndromes_zero(ours[12:])


def test_mode1_header_layout() -> None:
    raw = sector.mode1_sector(0, bytes(2048))
    assert raw[:16].hex() == "00ffffffffffffffffffff0000020001"
    assert raw[2068:2076] == bytes(8)


def test_mode2_form1_parity_uses_zero_header() -> None:
    data = random.Random(7).randbytes(2048)
    raw = sector.mode2_form1_sector(1234, data)
    assert raw[15] == 2
    assert raw[16:24] == sector.FORM1_SUBHEADER * 2
    assert int.from_bytes(raw[2072:2076], "little") == ref_edc(bytes(raw[16:2072]))
    region = bytearray(b"\0\0\0\0" + raw[16:])
    assert syndromes_zero(bytes(region))
    assert not syndromes_zero(bytes(raw[12:]))


def test_mode2_form2_has_edc_and_no_parity() -> None:
    sub = bytes([0, 0, 0x20, 0])
    raw = sector.mode2_form2_sector(5, bytes(range(256)) * 9 + bytes(20), sub)
    assert int.from_bytes(raw[2348:2352], "little") == ref_edc(bytes(raw[16:2348]))


def test_mode2_sector_picks_form_from_subheader() -> None:
    body = sector.FORM1_SUBHEADER * 2 + bytes(2048) + bytes(280)
    assert (
        sector.mode2_sector(0, body)[2072:2076]
        == sector.mode2_form1_sector(0, bytes(2048))[2072:2076]
    )
    formless = bytes(range(256)) * 9 + bytes(32)
    assert sector.mode2_sector(0, formless)[16:] == formless
