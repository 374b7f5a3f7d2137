"""Kokoro's own English pronunciations: misaki's lexicons (the transcriptions Kokoro's English
voices were trained on: flaps, reduced vowels, diphthong letters, stress on the syllable) as
lexicon files (docs/lexicon-format.md) whose phoneme ids are Kokoro's vocabulary ids.

Source: the PyPI wheel misaki==0.9.4, read as data (never imported, never installed):
misaki/data/{us,gb}_{gold,silver}.json, word -> phonemes in Kokoro's symbols, or, for words
read differently by part of speech, {"DEFAULT": ..., "VBD": ..., ...}. Without a tagger the
DEFAULT reading is taken. Per language, gold wins over silver; a word is stored lowercase (the
front end's tokens are), its lowercase entry winning over a capitalized one ("Alice" serves
"alice" only when there is no "alice"). Entries with a symbol outside Kokoro's vocabulary are
left out (counted in the returned stats)."""
from __future__ import annotations

import json
import zipfile

from ..sources import fetch
from .lexicon import encode_lexicon

MISAKI_REQUIREMENT = "misaki==0.9.4"
MISAKI_WHEEL = "misaki-0.9.4-py3-none-any.whl"
MISAKI_SHA256 = "90e2eeb169786c014c429e5058d2ea6bcd02d651f2a24450ba6c9ffc0f8da15a"
LANGUAGES = {"en-us": ("us_gold.json", "us_silver.json"), "en-gb": ("gb_gold.json", "gb_silver.json")}


def symbol_names(vocab_size: int) -> list[str]:
    """The lexicon's phoneme table: Kokoro id i is named "k<i>" (the format's names are ASCII;
    the kind maps ids back to its vocabulary's symbols)."""
    return [f"k{i}" for i in range(vocab_size)]


def _reading(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        default = value.get("DEFAULT")
        return default if isinstance(default, str) else None
    return None


def entries(language: str, vocab: dict[str, int]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """word -> Kokoro ids as symbol names, for `language` ("en-us" or "en-gb"); and counts of
    what was kept and left out."""
    wheel = fetch(MISAKI_REQUIREMENT, MISAKI_WHEEL, MISAKI_SHA256, why="it ships Kokoro's English lexicons")
    ranked: dict[str, tuple[int, list[str]]] = {}  # word -> (rank, ids); lower rank wins
    stats = {"kept": 0, "unknown_symbol": 0, "no_reading": 0}
    with zipfile.ZipFile(wheel) as z:
        for tier, name in enumerate(LANGUAGES[language]):
            table = json.loads(z.read(f"misaki/data/{name}"))
            for word, value in table.items():
                reading = _reading(value)
                if not reading:
                    stats["no_reading"] += 1
                    continue
                if any(ch not in vocab for ch in reading):
                    stats["unknown_symbol"] += 1
                    continue
                key = word.lower()
                if not 1 <= len(key.encode("utf-8")) <= 255 or len(reading) > 255 or " " in key:
                    continue
                rank = tier * 2 + (0 if word == key else 1)
                if key not in ranked or rank < ranked[key][0]:
                    ranked[key] = (rank, [f"k{vocab[ch]}" for ch in reading])
    stats["kept"] = len(ranked)
    return {w: ids for w, (_, ids) in ranked.items()}, stats


def lexicon_files(vocab: dict[str, int], vocab_size: int) -> dict[str, bytes]:
    """language -> the lexicon file's bytes."""
    names = symbol_names(vocab_size)
    return {lang: encode_lexicon(entries(lang, vocab)[0], symbols=names) for lang in LANGUAGES}
