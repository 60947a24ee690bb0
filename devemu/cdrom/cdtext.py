"""CD-TEXT packs for READ TOC/PMA/ATIP format 5 (MMC-6 6.26.3.6, annex J).

CD-TEXT is a list of 18-byte packs: pack type, track number, sequence
number, block/character position, 12 text bytes, and a CRC-16 (the Q
sub-channel CRC, stored inverted). Text strings are NUL-terminated and
run on from pack to pack; block 0 is ISO 8859-1 in English. Three size
information packs (type 0x8F) close the block.
"""

from __future__ import annotations

from devemu.cdrom.disc import Disc
from devemu.cdrom.subchannel import crc16

TITLE = 0x80
PERFORMER = 0x81
SONGWRITER = 0x82
SIZE_INFO = 0x8F
#: Pack types whose payload is text (MMC-6 table J.2), by the name a CUE sheet or cdrdao uses.
TEXT_ITEMS = {
    TITLE: "TITLE",
    PERFORMER: "PERFORMER",
    SONGWRITER: "SONGWRITER",
    0x83: "COMPOSER",
    0x84: "ARRANGER",
    0x85: "MESSAGE",
    0x86: "DISC_ID",
    0x8E: "UPC_EAN",
}
#: Byte 3 of a pack: the double-byte flag and the block number (language) above the position.
_DOUBLE_BYTE = 0x80
_BLOCK = 0x70
PAYLOAD = 12
#: Language code of block 0: English (EBU Tech 3258).
ENGLISH = 0x09


def _pack(kind: int, track: int, seq: int, position: int, payload: bytes) -> bytes:
    body = bytes((kind, track, seq, position & 0x0F)) + payload
    return body + (crc16(body) ^ 0xFFFF).to_bytes(2, "big")


def _text_packs(kind: int, texts: list[bytes], first_track: int, seq: int) -> list[bytes]:
    """Packs carrying ``texts`` (album first, then one per track) back to back."""
    stream = bytearray()
    owners: list[tuple[int, int]] = []  # (track number, character position) per byte
    for i, text in enumerate(texts):
        for pos in range(len(text) + 1):
            owners.append((0 if i == 0 else first_track + i - 1, pos))
        stream += text + b"\0"
    packs: list[bytes] = []
    for off in range(0, len(stream), PAYLOAD):
        chunk = bytes(stream[off : off + PAYLOAD]).ljust(PAYLOAD, b"\0")
        track, pos = owners[off]
        packs.append(_pack(kind, track, seq + len(packs), min(pos, 15), chunk))
    return packs


def cdtext_packs(disc: Disc) -> bytes:
    """The disc's CD-TEXT: a CDTEXTFILE's, or built from TITLE, PERFORMER and SONGWRITER.

    b"" for a disc without any.
    """
    if disc.cdtext_packs is not None:
        return disc.cdtext_packs
    tracks = disc.tracks
    kinds: list[tuple[int, list[bytes]]] = []
    for kind, album, per_track in (
        (TITLE, disc.title, [t.title for t in tracks]),
        (PERFORMER, disc.performer, [t.performer for t in tracks]),
        (SONGWRITER, disc.songwriter, [t.songwriter for t in tracks]),
    ):
        if album is None and not any(per_track):
            continue
        texts = [(album or "").encode("latin-1", "replace")]
        texts += [(t or "").encode("latin-1", "replace") for t in per_track]
        kinds.append((kind, texts))
    if not kinds:
        return b""
    packs: list[bytes] = []
    counts = [0] * 16
    for kind, texts in kinds:
        new = _text_packs(kind, texts, tracks[0].number, len(packs))
        counts[kind - 0x80] = len(new)
        packs += new
    counts[SIZE_INFO - 0x80] = 3
    last_seq = len(packs) + 2
    info = bytes((0x00, tracks[0].number, tracks[-1].number, 0x00)) + bytes(counts)
    info += bytes((last_seq, 0, 0, 0, 0, 0, 0, 0)) + bytes((ENGLISH, 0, 0, 0, 0, 0, 0, 0))
    for i in range(3):
        packs.append(_pack(SIZE_INFO, i, len(packs), 0, info[i * PAYLOAD : (i + 1) * PAYLOAD]))
    return b"".join(packs)


def read_cdtext(packs: bytes) -> dict[int, dict[str, str]]:
    """The text items of block 0 in ``packs``: track number (0 the disc) -> item -> text.

    Each text pack type is one stream of NUL-terminated strings: a string
    that starts a pack belongs to the track the pack names, one that
    starts after a NUL to the track after the previous string's; a lone
    TAB repeats the previous track's string (MMC-6 annex J). Double-byte
    text (MS-JIS) and the other blocks (languages) are left out.
    """
    out: dict[int, dict[str, str]] = {}
    state: dict[int, tuple[int, bytearray, str]] = {}  # kind -> (track, string so far, previous)
    for off in range(0, len(packs) - len(packs) % 18, 18):
        kind, pack_track, _seq, flags = packs[off : off + 4]
        if kind not in TEXT_ITEMS or flags & (_BLOCK | _DOUBLE_BYTE):
            continue
        track, text, previous = state.get(kind, (pack_track, bytearray(), ""))
        if not text:
            track = pack_track
        for byte in packs[off + 4 : off + 4 + PAYLOAD]:
            if byte:
                text.append(byte)
                continue
            if text:
                value = previous if text == b"\t" else text.decode("latin-1")
                out.setdefault(track, {})[TEXT_ITEMS[kind]] = value
                previous = value
            text = bytearray()
            track += 1
        state[kind] = (track, text, previous)
    return dict(sorted(out.items()))
