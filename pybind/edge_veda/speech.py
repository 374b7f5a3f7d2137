"""SpeechModel: a text-to-speech artifact (model kind "tts", Kokoro-82M) on a NativeContext.

    with edge_veda.SpeechModel.load("kokoro") as tts:      # + the g2p-en front end for text
        audio = tts.synthesize("Hello, world.")             # Audio: float32 samples at 24 kHz
        audio.save_wav("hello.wav")
        for chunk in tts.stream("First sentence. Second one."):  # one chunk per sentence
            play(chunk.samples)

Text goes through the front end (a G2P model's context in the same process and runtime, set
with ev_set_frontend); phonemes in the model's own symbols can be given directly.
"""
from __future__ import annotations

import dataclasses
import io
import os
import re
import warnings
import wave
from typing import Iterator

import numpy as np

from . import _bridge, _callbacks
from ._base import ModelBase, _encode_prompt, _float_value, _refuse_unknown, usable_cpus
from ._ffi import ffi, lib
from .errors import InvalidArgumentError, InvalidArgumentTypeError, InvalidStateError
from .model import Model, phonemize_on

SYNTHESIS_KEYWORDS = ("phonemes", "voice", "speed")


@dataclasses.dataclass(frozen=True)
class Word:
    """One input word of a synthesis and where it is in the audio.

    text: the word as the input wrote it ("Dr.", "1984", "$3.50"); for phoneme input, the run of
    symbols. spoken: what the front end said for it ("doctor", "nineteen eighty-four").
    start, end: its first sample and one past its last. source_start, source_end: where `text`
    is in the input str (character offsets, input[source_start:source_end] == text); None for
    phoneme input. Unpacks and indexes as the (text, start, end) triple."""

    text: str
    start: int
    end: int
    spoken: str = ""
    source_start: int | None = None
    source_end: int | None = None

    def __iter__(self):
        return iter((self.text, self.start, self.end))

    def __getitem__(self, i):
        return (self.text, self.start, self.end)[i]

    def __len__(self) -> int:
        return 3

    def shifted(self, samples: int, chars: int | None) -> "Word":
        """The word `samples` later in the audio, `chars` later in the input (None: unknown)."""
        moved = self.source_start is not None and chars is not None
        return dataclasses.replace(self, start=self.start + samples, end=self.end + samples,
                                   source_start=self.source_start + chars if moved else None,
                                   source_end=self.source_end + chars if moved else None)


@dataclasses.dataclass(frozen=True)
class Audio:
    """A synthesized utterance. `words`: one Word per input word, in input order (the spoken
    words read from one input word, "1984" -> "nineteen eighty-four", are one entry)."""

    samples: np.ndarray  # float32, mono
    sample_rate: int
    words: tuple = ()

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0

    def pcm16(self) -> np.ndarray:
        """The samples as 16-bit PCM (clipped to [-1, 1] first)."""
        return (np.clip(self.samples, -1.0, 1.0) * 32767.0).round().astype("<i2")

    def save_wav(self, path) -> None:
        """Writes a 16-bit mono WAV file to `path` (str or os.PathLike), or to an open binary file
        object (stdout, a pipe): the file is written with one write, its header complete."""
        # The whole file is built in memory first: the wave module seeks back to patch the header
        # when a write fails, which a pipe cannot do, and a wave.Wave_write whose open() failed
        # prints "Exception ignored ... AttributeError" when collected.
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(self.pcm16().tobytes())
        if hasattr(path, "write"):
            path.write(buf.getbuffer())
            return
        with open(os.fspath(path), "wb") as f:
            f.write(buf.getbuffer())


@dataclasses.dataclass(frozen=True)
class AudioChunk:
    """One chunk of SpeechModel.stream(): `start_sample` is where it begins in the utterance."""

    samples: np.ndarray
    index: int
    start_sample: int
    is_final: bool
    progress: float  # fraction of the input synthesized so far


def _char_offsets(text: str) -> list[int]:
    """Per UTF-8 byte offset of `text` (and its end), the index of the character it is in."""
    at = []
    for i, c in enumerate(text):
        at += [i] * len(c.encode("utf-8", "surrogatepass"))
    at.append(len(text))
    return at


def _words(a, text: str | None) -> tuple:
    """ev_audio's words as Word entries: the spoken words of one source span (the input bytes
    they were read from) merged into one entry for that input word."""
    has_source = a.struct_size >= ffi.offsetof("ev_audio", "word_source_end") + ffi.sizeof("int64_t*")
    chars = _char_offsets(text) if text is not None and has_source else None
    words: list[Word] = []
    span = None  # the byte span of words[-1]
    for i in range(int(a.word_count)):
        spoken = ffi.string(a.words[i]).decode("utf-8", "replace")
        start, end = int(a.word_start[i]), int(a.word_end[i])
        b, e = (int(a.word_source_begin[i]), int(a.word_source_end[i])) if chars else (-1, -1)
        if not (chars and 0 <= b < e < len(chars)):
            words.append(Word(spoken, start, end, spoken))
            span = None
            continue
        if span is not None and b < span[1]:  # the same input word ("1984": "nineteen", "eighty-four")
            w = words[-1]
            span = (span[0], max(span[1], e))
            s0, s1 = chars[span[0]], chars[span[1]]
            words[-1] = Word(text[s0:s1], min(w.start, start), max(w.end, end), f"{w.spoken} {spoken}", s0, s1)
            continue
        span = (b, e)
        words.append(Word(text[chars[b]:chars[e]], start, end, spoken, chars[b], chars[e]))
    return tuple(words)


def _audio(out, text: str | None = None) -> Audio:
    """`text`: the input text (None for phoneme input), which the word spans index."""
    a = out[0]
    n = int(a.sample_count)
    samples = np.frombuffer(ffi.buffer(a.samples, 4 * n), dtype=np.float32).copy() if n else \
        np.zeros(0, dtype=np.float32)
    return Audio(samples, int(a.sample_rate), _words(a, text))


# A sentence ends at . ! ? or an ellipsis (closing quotes or brackets may follow) before
# whitespace, or at a blank line; a phrase at , ; : or a dash before whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*\s+|\n\s*\n")
_PHRASE_END = re.compile(r"[,;:\u2013\u2014]\s")


def _cut(sentence: str, limit: int) -> Iterator[str]:
    """`sentence` in pieces of at most `limit` code points: cut after the last phrase mark that
    fits, else at the last space, else (one endless word) at the limit."""
    while len(sentence) > limit:
        head = sentence[:limit + 1]
        marks = [m.end() for m in _PHRASE_END.finditer(head)]
        cut = marks[-1] if marks else head.rfind(" ")
        cut = cut if cut > 0 else limit
        yield sentence[:cut].rstrip()
        sentence = sentence[cut:].lstrip()
    if sentence:
        yield sentence


def split_text(text: str, limit: int) -> list[str]:
    """`text` as parts of at most `limit` code points (the model's limits.max_input_chars), each
    made of whole sentences where a sentence fits, so that each part sounds as it would within
    the whole text (the library starts every sentence at a sound). A sentence over the limit is
    cut at phrase marks (, ; : dashes), then at spaces. Text within the limit is one part, as given."""
    if limit <= 0 or len(text) <= limit:
        return [text]
    parts: list[str] = []
    part = ""
    for sentence in _SENTENCE_END.split(text):
        for piece in _cut(sentence.strip(), limit):
            if part and len(part) + 1 + len(piece) > limit:
                parts.append(part)
                part = ""
            part = f"{part} {piece}" if part else piece
    if part or not parts:
        parts.append(part)
    return parts


class Voices(list):
    """SpeechModel.voices: a list of voice names, the default first. Also callable, so that
    `tts.voices()` reads as AsyncSpeechModel's `await m.voices()` does (one spelling for both);
    `tts.voices`, the older form, stays a list."""

    __slots__ = ()

    def __call__(self) -> list[str]:
        return list(self)


def _voice_names(out) -> "Voices":
    """ev_list_voices' answer (ev_voice_list**): the names, the default first."""
    voices = out[0]
    return Voices(ffi.string(voices.names[i]).decode() for i in range(voices.count))



# Kokoro's voice names: a language letter, a gender letter, "_", a name (af_heart: American
# English, female). What `edge-veda voices` says about each; the English front end reads the
# British lexicon for b* voices.
VOICE_LANGUAGES = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr", "h": "hi", "i": "it", "j": "ja",
                   "p": "pt-br", "z": "zh"}


def voice_info(name: str) -> tuple[str, str]:
    """(language, gender) of a Kokoro voice name, e.g. ("en-gb", "female") for "bf_emma";
    ("", "") for a name outside Kokoro's convention."""
    if len(name) < 4 or name[2] != "_" or name[0] not in VOICE_LANGUAGES or name[1] not in "fm":
        return "", ""
    return VOICE_LANGUAGES[name[0]], "female" if name[1] == "f" else "male"


# The languages the English front end speaks, and each one's default voice: a language chooses
# the voice (`edge-veda say --lang`), the voice chooses the lexicon (b*: en-gb, else en-us).
ENGLISH_DEFAULT_VOICES = {"en-us": "af_heart", "en-gb": "bf_emma"}


def foreign_voice_warning(voice: str | None) -> str | None:
    """For text input: a warning when the voice (a blend's first voice, whose language the
    reading takes) is of a language other than English, or None. Such a voice is accepted
    (Kokoro voices any phonemes): it reads the English front end's phonemes (US lexicon) in
    that voice, with its accent."""
    first = (voice or "").split(",")[0].split(":")[0].strip()
    language = voice_info(first)[0]
    if not language or language in ENGLISH_DEFAULT_VOICES:
        return None
    return (f"voice {first} is {language}, but the text front end reads English: the text is read as "
            f"US English in that voice (English voices: a* and b*, e.g. af_heart, bf_emma; or give "
            f"phonemes in the voice's language)")

class SpeechModel(ModelBase):
    """A loaded text-to-speech artifact: synthesize, synthesize_with_callback, stream (of
    AudioChunks), voices, sample_rate, timings. Lifetime, threads, callbacks, cancel(),
    status() and memory pressure as for Model (edge_veda._base.ModelBase, which both share);
    close() also closes the front end it loaded."""

    _name = "SpeechModel"
    _example = "kokoro"
    _frontend: Model | None = None  # the front end this model loaded (closed with it)
    _lent_frontend: ModelBase | None = None  # the front end whose context this model's C context holds

    @classmethod
    def load(cls, source="kokoro", device: str = "cpu", *, frontend: str | os.PathLike | Model | None = "g2p-en",
             **kwargs) -> "SpeechModel":
        """Loads a TTS artifact (a directory or a name, as Model.load) and, for text input, a
        front end: a G2P model name/directory (loaded here, closed with this model), an open
        Model (borrowed: keep it open while this model uses it), or None (phonemes only)."""
        # Its threads are TVM's kernel pool only, whose workers spin: more than the CPUs this
        # process may use only wait for each other (64 on 2 CPUs: ~40x slower). Lowered, as
        # documented; a bad value is left for Model.load to refuse.
        n = kwargs.get("num_threads")
        if isinstance(n, int) and not isinstance(n, bool) and n > usable_cpus():
            kwargs["num_threads"] = usable_cpus()
        model = super().load(source, device, **kwargs)
        try:
            if frontend is not None:
                # An open model is borrowed (a SpeechModel too: the library refuses it as a
                # front end, UnsupportedOperationError); a name or a directory is loaded here.
                borrowed = isinstance(frontend, ModelBase)
                fe = frontend if borrowed else Model.load(frontend, device)
                if not borrowed:
                    model._frontend = fe
                # The TTS context keeps the front end's pointer: a loan, so that closing a
                # borrowed front end first can never free what this context still uses.
                fe_ctx = fe._native.lend("SpeechModel.load")
                model._lent_frontend = fe
                model._native.call("SpeechModel.load", lib.ev_set_frontend, fe_ctx)
                model._native.keep("frontend", fe)
        except BaseException:
            model.close()
            raise
        return model

    def close(self) -> None:
        super().close()
        lent, self._lent_frontend = self._lent_frontend, None
        if lent is not None:
            lent._native.end_loan()  # the TTS context is freed: it holds the pointer no more
        fe, self._frontend = self._frontend, None
        if fe is not None:
            fe.close()

    @property
    def voices(self) -> Voices:
        """The model's voices, the default first (ev_list_voices: the one place they are fetched).
        `tts.voices()` and `tts.voices` both give them: the call form is the one AsyncSpeechModel
        has (`await m.voices()`)."""
        return self._native.call_out("SpeechModel.voices", lib.ev_list_voices, "ev_voice_list**", copy=_voice_names,
                                     free=lambda out: lib.ev_voice_list_free(out[0]))

    def phonemize(self, text: str, *, with_source: bool = False, **params) -> list[tuple]:
        """What a text synthesis says, word by word, in the model's own symbols (ev_phonemize on
        the TTS context): Kokoro's English lexicon first, else the front end's ARPAbet mapped;
        function words in their weak forms inside a phrase; the default voice's language.
        Needs the front end. Same shape as Model.phonemize (with_source: lexicon/model/punctuation).

            >>> tts.phonemize("Hello, world.")
            [('hello', ['h', 'ə', 'l', 'ˈ', 'O']), (',', []), ('world', ['w', 'ˈ', 'ɜ', 'ɹ', 'l', 'd']), ('.', [])]
        """
        return phonemize_on(self._native, "SpeechModel.phonemize", text, with_source, params)

    @property
    def sample_rate(self) -> int:
        return self._status_info("SpeechModel.sample_rate", lambda info: int(info.sample_rate))

    def timings(self) -> dict:
        """Milliseconds the last synthesis spent per stage: frontend, durations, audio."""
        return self._status_info("SpeechModel.timings", lambda info: {
            "frontend": float(info.last_frontend_ms), "durations": float(info.last_durations_ms),
            "audio": float(info.last_audio_ms)})

    def _params(self, api: str, text, phonemes, voice, speed, keep: list, unknown=()):
        _refuse_unknown(api, unknown, SYNTHESIS_KEYWORDS)  # an InvalidArgumentTypeError (a TypeError too)
        fe = self._native._keep.get("frontend")
        if text is not None and fe is not None and fe.closed:
            # The C front end is borrowed: a closed one must never be reached.
            raise InvalidStateError(f"{api}: the front-end model was closed",
                                    "keep the G2P model open while this SpeechModel uses it, or load "
                                    "SpeechModel with frontend=NAME so it owns its front end")
        if (text is None) == (phonemes is None):
            raise InvalidArgumentError(f"{api}: pass either text or phonemes=", 'e.g. synthesize("Hello.") or '
                                       'synthesize(phonemes="həlˈO.")')
        source = phonemes if phonemes is not None else text
        encoded = _encode_prompt(api, source, "phonemes" if phonemes is not None else "text")
        p = ffi.new("ev_synthesis_params*", lib.ev_synthesis_params_default())
        p.input = lib.EV_TTS_INPUT_PHONEMES if phonemes is not None else lib.EV_TTS_INPUT_TEXT
        p.speed = _float_value(api, "speed", speed, lambda v: 0.25 <= v <= 4,
                               "a number from 0.25 to 4 (1 = the model's own pace)")
        if voice is not None:
            if not isinstance(voice, str):
                raise InvalidArgumentTypeError(f"{api}: voice must be a str, not {type(voice).__name__}",
                                               f"one of {self.voices}, or a blend like 'a:0.7,b:0.3'")
            warning = foreign_voice_warning(voice) if text is not None else None
            if warning is not None:
                warnings.warn(f"{api}: {warning}", UserWarning, stacklevel=3)
            v = ffi.new("char[]", _encode_prompt(api, voice, "voice"))
            keep.append(v)
            p.voice = v
        keep.append(p)
        return encoded, p

    def synthesize(self, text: str | None = None, *, phonemes: str | None = None, voice: str | None = None,
                   speed: float = 1.0, **unknown) -> Audio:
        """The audio of `text` (through the front end) or of `phonemes` (the model's symbols).
        speed: 0.25 to 4. Input of any length: over the model's limit (status().max_input_chars)
        it is synthesized part by part, split at sentence ends (split_text)."""
        api = "SpeechModel.synthesize"
        keep: list = []
        encoded, p = self._params(api, text, phonemes, voice, speed, keep, unknown)
        parts = self._parts(text if phonemes is None else phonemes)
        if len(parts) == 1:
            return self._native.call_out(api, lib.ev_synthesize, "ev_audio**", encoded, p,
                                         copy=lambda out: _audio(out, text if phonemes is None else None),
                                         free=lambda out: lib.ev_audio_free(out[0]))
        pieces, words, start, cursor = [], [], 0, 0
        for part in parts:  # longer than the model's limit: part by part (split_text)
            a = self._native.call_out(api, lib.ev_synthesize, "ev_audio**", part.encode("utf-8"), p,
                                      copy=lambda out: _audio(out, part if phonemes is None else None),
                                      free=lambda out: lib.ev_audio_free(out[0]))
            pieces.append(a.samples)
            for w in a.words:
                # A part is the text's sentences joined by single spaces: each word is found in
                # the text after the one before it.
                at = text.find(w.text, cursor) if w.source_start is not None else -1
                if at >= 0:
                    cursor = at + len(w.text)
                words.append(w.shifted(start, at - w.source_start if at >= 0 else None))
            start += len(a.samples)
        return Audio(np.concatenate(pieces), a.sample_rate, tuple(words))

    def _parts(self, source: str) -> list[str]:
        """`source` split into parts the model accepts (split_text at limits.max_input_chars)."""
        limit = self.__dict__.get("_max_chars")
        if limit is None:
            limit = self.__dict__["_max_chars"] = self.status().max_input_chars
        return split_text(source, limit)

    def synthesize_with_callback(self, text: str | None = None, on_chunk=None, *, phonemes: str | None = None,
                                 voice: str | None = None, speed: float = 1.0, **unknown) -> None:
        """ev_synthesize_stream on this thread: on_chunk(AudioChunk) per sentence, in order. If
        on_chunk raises, the native call is cancelled and the exception re-raised here. Input of
        any length: over the model's limit, one native stream per part (split_text), so memory
        is bounded by a part's audio, not the text's."""
        api = "SpeechModel.synthesize_with_callback"
        if not callable(on_chunk):
            raise InvalidArgumentTypeError(f"{api}: on_chunk must be callable", "pass a function taking an AudioChunk")
        keep: list = []
        encoded, p = self._params(api, text, phonemes, voice, speed, keep, unknown)
        parts = self._parts(text if phonemes is None else phonemes)
        if len(parts) == 1:
            self._native.call_relayed(api, lib.ev_synthesize_stream, encoded, p, callback=_callbacks.AUDIO_CALLBACK,
                                      on_item=lambda fields: on_chunk(AudioChunk(**fields)))
            return
        # Longer than the model's limit: part by part (split_text), one native stream each, the
        # chunks numbered, placed and measured as one utterance's.
        total = sum(map(len, parts))
        done = {"index": 0, "start": 0, "chars": 0}
        for i, part in enumerate(parts):
            last = i == len(parts) - 1

            def relay(fields, part=part, last=last) -> None:
                chunk = AudioChunk(fields["samples"], done["index"], done["start"], last and fields["is_final"],
                                   (done["chars"] + fields["progress"] * len(part)) / total)
                done["index"] += 1
                done["start"] += len(chunk.samples)
                on_chunk(chunk)

            self._native.call_relayed(api, lib.ev_synthesize_stream, part.encode("utf-8"), p,
                                      callback=_callbacks.AUDIO_CALLBACK, on_item=relay)
            done["chars"] += len(part)

    def stream(self, text: str | None = None, *, phonemes: str | None = None, voice: str | None = None,
               speed: float = 1.0, **unknown) -> Iterator[AudioChunk]:
        """Yields the audio chunk by chunk (one per sentence) while the rest is synthesized: the
        native call runs on a worker thread; leaving the loop early cancels it. Arguments are
        checked at the first next()."""
        # Abandoned: the worker's call, and only it, is stopped. ev_cancel from the consumer
        # would also stop calls other threads have waiting for this model, so it is sent only
        # when the worker's call is the one call in flight (cancel_only); otherwise the next
        # chunk's callback cancels its own call (ev_cancel inside a callback stops only that call).
        return _bridge.iterate(
            lambda emit: self.synthesize_with_callback(text, emit, phonemes=phonemes, voice=voice, speed=speed),
            cancel=self._native.cancel_only, name="edge-veda-speech-stream",
            check=lambda: _refuse_unknown("SpeechModel.stream", unknown, SYNTHESIS_KEYWORDS))
