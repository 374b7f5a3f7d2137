"""Model (also named TextModel): a text model (input text -> output text; g2p-en today) on a
NativeContext, through edge_veda._base.ModelBase, which it shares with SpeechModel."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Callable, Iterator

from . import _callbacks
from ._base import (  # noqa: F401 - Status, CAPABILITIES, usable_cpus, LOAD_KEYWORDS: edge_veda.model's names
    CAPABILITIES,
    INT32_MAX,
    LOAD_KEYWORDS,
    UINT64_MAX,
    ModelBase,
    Status,
    _encode_prompt,
    _float_value,
    _int_value,
    _unknown_keyword,
    usable_cpus,
)
from ._ffi import ffi, lib
from .errors import InvalidArgumentError, InvalidArgumentTypeError

# EV_SOURCE_* -> the name Model.phonemize(..., with_source=True) gives it.
SOURCES = {
    lib.EV_SOURCE_LEXICON: "lexicon",          # the pronunciation lexicon (CMUdict)
    lib.EV_SOURCE_MODEL: "model",              # predicted by the network (not in the lexicon)
    lib.EV_SOURCE_PUNCTUATION: "punctuation",  # passes through, no phonemes
}

MAX_STOP_SEQUENCES = 1024  # the library's limit


GENERATION_KEYWORDS = ("max_tokens", "temperature", "top_p", "top_k", "repeat_penalty", "seed", "stop")


class GenerationParams:
    """Validated generation parameters; `.pointer()` gives the ev_generation_params* to pass.

    Every value is checked here, in Python, so a bad one is an InvalidArgumentError naming the
    public call and the allowed range, never a cffi OverflowError/TypeError."""

    __slots__ = ("values", "_stop")

    def __init__(self, api: str, params: dict):
        values: dict = {}
        for name, value in params.items():
            if name not in GENERATION_KEYWORDS:
                raise _unknown_keyword(api, name, GENERATION_KEYWORDS)
            if value is None:
                continue  # None = the library default, as if not passed
            if name == "max_tokens":
                value = _int_value(api, name, value, 0, INT32_MAX, "an int from 0 (the model's default) to 2147483647")
            elif name == "top_k":
                value = _int_value(api, name, value, 0, INT32_MAX, "an int from 0 (off) to 2147483647")
            elif name == "seed":
                value = _int_value(api, name, value, 0, UINT64_MAX,
                                   "an int from 0 to 2**64-1 (2**64-1 or None: continue the model's RNG stream)")
            elif name == "temperature":
                value = _float_value(api, name, value, lambda t: t >= 0,
                                     "0 for greedy decoding, or a finite number > 0 to sample")
            elif name == "top_p":
                value = _float_value(api, name, value, lambda v: 0 < v <= 1, "a number in (0, 1]; 1 turns it off")
            elif name == "repeat_penalty":
                value = _float_value(api, name, value, lambda v: v > 0, "a finite number > 0; 1 turns it off")
            values[name] = value
        self.values = values
        self._stop = self._encode_stop(api, values.pop("stop", None))

    @staticmethod
    def _encode_stop(api: str, stop) -> list[bytes]:
        if stop is None:
            return []
        if isinstance(stop, str):
            stop = [stop]
        elif isinstance(stop, (bytes, bytearray)) or not isinstance(stop, Iterable):
            raise InvalidArgumentTypeError(f"{api}: stop must be a str or a list of str, not {type(stop).__name__}",
                                           'e.g. stop=["AH0"]')
        stop = list(stop)
        if len(stop) > MAX_STOP_SEQUENCES:
            raise InvalidArgumentError(f"{api}: {len(stop)} stop sequences", f"pass at most {MAX_STOP_SEQUENCES}")
        return [_encode_prompt(api, s, f"stop[{i}]") for i, s in enumerate(stop)]

    def __bool__(self) -> bool:
        return bool(self.values or self._stop)

    @classmethod
    def pointer_of(cls, api: str, params: dict, keep_alive: list):
        """The ev_generation_params* of the keywords `params` (checked; NULL for none)."""
        return cls(api, params).pointer(keep_alive) if params else ffi.NULL

    def pointer(self, keep_alive: list):
        """The ev_generation_params* (NULL when every value is the default); what it points to
        stays alive as long as `keep_alive`."""
        if not self:
            return ffi.NULL
        p = ffi.new("ev_generation_params*", lib.ev_generation_params_default())
        for name, value in self.values.items():
            setattr(p, name, value)
        if self._stop:
            strings = [ffi.new("char[]", s) for s in self._stop]
            array = ffi.new("char*[]", strings)
            keep_alive.extend((strings, array))
            p.stop_sequences = array
            p.num_stop_sequences = len(strings)
        keep_alive.append(p)
        return p


def encode_texts(api: str, texts) -> list[bytes]:
    """The prompts of a batch call: a list (or other iterable) of str, never a single str."""
    if isinstance(texts, (str, bytes, bytearray)) or not isinstance(texts, Iterable):
        raise InvalidArgumentTypeError(
            f"{api}: texts must be a list of str, not {type(texts).__name__}",
            "pass a list of strings, e.g. generate_batch([\"hello\"]); generate() takes one string")
    encoded = [_encode_prompt(api, t, f"texts[{i}]") for i, t in enumerate(texts)]
    if len(encoded) > INT32_MAX:
        raise InvalidArgumentError(f"{api}: {len(encoded)} texts", "pass at most 2147483647 per call")
    return encoded


def phonemize_on(native, api: str, text: str, with_source: bool, params: dict) -> list[tuple]:
    """ev_phonemize on `native` (a NativeContext): Model.phonemize's and SpeechModel.phonemize's
    one implementation (the result copied while held, freed in finally)."""
    prompt = _encode_prompt(api, text)
    keep_alive: list = []
    p = GenerationParams.pointer_of(api, params, keep_alive)

    def copy(out) -> list[tuple]:
        r = out[0]
        result = []
        for i in range(r.count):
            token = ffi.string(r.tokens[i]).decode("utf-8", "replace")
            phonemes = ffi.string(r.phonemes[i]).decode("utf-8", "replace").split()
            if with_source:
                result.append((token, phonemes, SOURCES.get(r.sources[i], "unknown")))
            else:
                result.append((token, phonemes))
        return result

    return native.call_out(api, lib.ev_phonemize, "ev_phonemes**", prompt, p, copy=copy,
                           free=lambda out: lib.ev_phonemes_free(out[0]))


def _string(out) -> str:
    return ffi.string(out[0]).decode("utf-8", "replace")


def _free_string(out) -> None:
    lib.ev_free_string(out[0])


class Model(ModelBase):
    """A loaded text model artifact (input text -> output text; g2p-en today): generate,
    generate_batch, stream, generate_with_callback and, for g2p models, phonemize. Also named
    edge_veda.TextModel.

    Use as a context manager, or call close(): the native context (and its memory) is released
    deterministically, not when the garbage collector gets to it.

    Threads: a Model may be called from many threads at once; the native context serializes
    the calls. close() cancels what is running, waits for every call to leave the native
    context, frees the native streams still open, then frees the context; calls made after
    close() (and streams resumed after it) raise InvalidStateError.

    Callbacks (token, memory pressure) must not call this model: such a call raises
    InvalidStateError instead of deadlocking. cancel() is allowed from a callback.

    Loading, lifetime, cancel, status and memory pressure are edge_veda._base.ModelBase's; the
    handle's lifetime and every native call go through one edge_veda._native.NativeContext.
    """

    def generate(self, text: str, **params) -> str:
        """Runs the model on `text` and returns its output (g2p-en: space-separated ARPAbet; a
        text of several words gives each word's phonemes and each punctuation token, separated
        by " | ": "Hello, world." -> "HH AH0 L OW1 | , | W ER1 L D | ."; phonemize() gives
        the same per token).

        params: max_tokens, temperature, top_p, top_k, repeat_penalty, seed, stop.
        """
        api = "Model.generate"
        prompt = _encode_prompt(api, text)
        keep_alive: list = []
        p = GenerationParams.pointer_of(api, params, keep_alive)
        return self._native.call_out(api, lib.ev_generate, "char**", prompt, p, copy=_string, free=_free_string)

    def generate_batch(self, texts: list[str], **params) -> list[str]:
        """Runs the model on every text (ev_generate_batch): plain greedy decoding uses up to
        `num_threads` threads; the outputs are what generate() gives for each text.

        texts: a list of str (a single str is an error, not a list of characters)."""
        api = "Model.generate_batch"
        prompts = [ffi.new("char[]", t) for t in encode_texts(api, texts)]
        n = len(prompts)
        keep_alive: list = []
        p = GenerationParams.pointer_of(api, params, keep_alive)
        array = ffi.new("char*[]", prompts) if n else ffi.NULL

        def free(outs) -> None:
            for i in range(n):
                lib.ev_free_string(outs[i])

        return self._native.call_out(api, lib.ev_generate_batch, ffi.new("char*[]", max(n, 1)), array, n, p,
                                     copy=lambda outs: [ffi.string(outs[i]).decode("utf-8", "replace")
                                                        for i in range(n)],
                                     free=free)

    def phonemize(self, text: str, *, with_source: bool = False, **params) -> list[tuple]:
        """Text to phonemes, token by token (ev_phonemize; models with the "phonemize" capability,
        e.g. g2p-en): one `(token, phonemes)` pair per word or punctuation token, in order.

        Words come normalized as the library looked them up (lowercase, numbers spelled out,
        accents stripped: "Café 21st" -> "cafe", "twenty-first"); punctuation gets []. Empty
        text, whitespace, emoji and symbols give []. with_source=True gives `(token, phonemes,
        source)` triples, source being "lexicon", "model" or "punctuation".
        params: as generate(); max_tokens bounds each word, stop sequences are not used.

            >>> model.phonemize("Hello, world.")
            [('hello', ['HH', 'AH0', 'L', 'OW1']), (',', []), ('world', ['W', 'ER1', 'L', 'D']), ('.', [])]
        """
        return phonemize_on(self._native, "Model.phonemize", text, with_source, params)

    def stream(self, text: str, **params) -> Iterator[str]:
        """Yields the output tokens one by one (pull API: one native call per token).

        Arguments are checked now; the native stream begins at the first next(). Closing or
        dropping the generator early releases the native stream; Model.close() releases it
        too, and the generator then raises InvalidStateError if resumed.
        """
        api = "Model.stream"
        prompt = _encode_prompt(api, text)
        gen_params = GenerationParams(api, params) if params else None
        return self._stream_tokens(prompt, gen_params)

    def _stream_tokens(self, prompt: bytes, gen_params) -> Iterator[str]:
        api = "Model.stream"
        native = self._native
        keep_alive: list = []
        p = gen_params.pointer(keep_alive) if gen_params else ffi.NULL
        stream = native.begin_stream(api, lib.ev_stream_begin, prompt, p)
        try:
            while (token := native.next_token(api, stream)) is not None:
                yield token  # no native call is held while the consumer has the token
        finally:
            native.free_stream(stream)

    def generate_with_callback(self, text: str, on_token: Callable[[str, int], None], **params) -> None:
        """Runs ev_generate_stream: on_token(token, token_id) is called on this thread per token.

        If on_token raises, the native call is cancelled and the exception (KeyboardInterrupt
        included) is re-raised here once the native call has returned. on_token must not call
        this model (InvalidStateError); model.cancel() is allowed."""
        api = "Model.generate_with_callback"
        prompt = _encode_prompt(api, text)
        if not callable(on_token):
            raise InvalidArgumentTypeError(f"{api}: on_token must be callable, not {type(on_token).__name__}",
                                           "pass a function taking (token: str, token_id: int)")
        keep_alive: list = []
        p = GenerationParams.pointer_of(api, params, keep_alive)
        self._native.call_relayed(api, lib.ev_generate_stream, prompt, p, callback=_callbacks.TOKEN_CALLBACK,
                                  on_item=on_token)

    def warmup(self) -> None:
        """Loads weights if needed and runs every kernel once (ev_warmup), then one generate()
        through this binding, whose own first call pays for symbol binding and cold caches."""
        super().warmup()
        self.generate("warmup")


TextModel = Model
