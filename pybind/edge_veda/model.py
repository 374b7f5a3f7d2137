"""Model: one ev_context with a deterministic lifetime."""
from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import operator
import os
from collections.abc import Iterable
from typing import Callable, Iterator

from . import _callbacks
from ._ffi import ffi, lib
from ._native import NativeContext
from .errors import EdgeVedaError, InvalidArgumentError, InvalidArgumentTypeError


@dataclasses.dataclass(frozen=True)
class Status:
    initialized: bool
    weights_loaded: bool
    device: str
    artifact_path: str
    model_name: str
    model_kind: str
    num_threads: int
    memory_used_bytes: int
    memory_limit_bytes: int
    capabilities: frozenset  # of CAPABILITIES names, e.g. {"generate", "generate_batch"}
    weights_mapped: bool     # the weights file is memory-mapped (use_mmap)
    weights_bytes: int       # bytes of weights, held once however many threads run
    max_input_chars: int     # longest prompt accepted, in code points


# EV_CAP_* bit -> the name Status.capabilities uses for it.
CAPABILITIES = {
    lib.EV_CAP_GENERATE: "generate",              # generate, generate_with_callback, stream
    lib.EV_CAP_GENERATE_BATCH: "generate_batch",
    lib.EV_CAP_PHONEMIZE: "phonemize",            # phonemize (model kind "g2p")
    lib.EV_CAP_SYNTHESIZE: "synthesize",          # SpeechModel (model kind "tts")
}

# EV_SOURCE_* -> the name Model.phonemize(..., with_source=True) gives it.
SOURCES = {
    lib.EV_SOURCE_LEXICON: "lexicon",          # the pronunciation lexicon (CMUdict)
    lib.EV_SOURCE_MODEL: "model",              # predicted by the network (not in the lexicon)
    lib.EV_SOURCE_PUNCTUATION: "punctuation",  # passes through, no phonemes
}


def _capability_names(bits: int) -> frozenset:
    return frozenset(name for bit, name in CAPABILITIES.items() if bits & bit)


def _text(ptr) -> str:
    return ffi.string(ptr).decode("utf-8", "replace") if ptr != ffi.NULL else ""


INT32_MAX = 2**31 - 1
UINT64_MAX = 2**64 - 1
FLOAT32_MAX = 3.4028234663852886e38
MAX_STOP_SEQUENCES = 1024  # the library's limit


def _encode_prompt(api: str, text, what: str = "text") -> bytes:
    """UTF-8 bytes of `text` for the C ABI, or an InvalidArgumentError naming `api` and `what`."""
    if not isinstance(text, str):
        raise InvalidArgumentTypeError(f"{api}: {what} must be str, not {type(text).__name__}",
                                       "decode bytes to str before calling (bytes.decode('utf-8'))")
    if "\0" in text:
        raise InvalidArgumentError(f"{api}: {what} contains a NUL character at index {text.index(chr(0))}",
                                   "remove NUL characters; the C ABI takes NUL-terminated strings")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate, e.g. from os.fsdecode of invalid UTF-8
        raise InvalidArgumentError(
            f"{api}: {what} is not valid Unicode (lone surrogate at index {e.start})",
            "decode the input with errors='replace', or drop the invalid characters") from None


def _int_value(api: str, name: str, value, lo: int, hi: int, allowed: str) -> int:
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise InvalidArgumentTypeError(f"{api}: {name} must be an int, not {type(value).__name__}",
                                       f"{name}: {allowed}")
    number = operator.index(value)
    if not lo <= number <= hi:
        raise InvalidArgumentError(f"{api}: {name}={number} is out of range", f"{name}: {allowed}")
    return number


def _float_value(api: str, name: str, value, ok: Callable[[float], bool], allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentTypeError(f"{api}: {name} must be a number, not {type(value).__name__}",
                                       f"{name}: {allowed}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a double
        number = math.inf
    # float32 in the C struct: anything beyond FLOAT32_MAX would silently become inf there.
    if not (math.isfinite(number) and abs(number) <= FLOAT32_MAX and ok(number)):
        raise InvalidArgumentError(f"{api}: {name}={value!r} is out of range", f"{name}: {allowed}")
    return number


GENERATION_KEYWORDS = ("max_tokens", "temperature", "top_p", "top_k", "repeat_penalty", "seed", "stop")


def _unknown_keyword(api: str, name: str, allowed) -> InvalidArgumentTypeError:
    close = difflib.get_close_matches(name, allowed, n=1)
    return InvalidArgumentTypeError(
        f"{api}() got an unexpected keyword argument {name!r}"
        + (f" (did you mean {close[0]!r}?)" if close else ""),
        "allowed keywords: " + ", ".join(allowed))


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under taskset or a container's
    cpuset), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


LOAD_KEYWORDS = ("device", "num_threads", "memory_limit_bytes", "auto_unload_on_memory_pressure", "use_mmap", "seed")


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


def _string(out) -> str:
    return ffi.string(out[0]).decode("utf-8", "replace")


def _free_string(out) -> None:
    lib.ev_free_string(out[0])


class Model:
    """A loaded text model artifact (input text -> output text; g2p-en today).

    Use as a context manager, or call close(): the native context (and its memory) is released
    deterministically, not when the garbage collector gets to it.

    Threads: a Model may be called from many threads at once; the native context serializes
    the calls. close() cancels what is running, waits for every call to leave the native
    context, frees the native streams still open, then frees the context; calls made after
    close() (and streams resumed after it) raise InvalidStateError.

    Callbacks (token, memory pressure) must not call this model: such a call raises
    InvalidStateError instead of deadlocking. cancel() is allowed from a callback.

    The handle's lifetime and every native call go through one edge_veda._native.NativeContext.
    """

    def __init__(self, _native: NativeContext):
        self._native = _native

    @classmethod
    def load(cls, source: str | os.PathLike = "g2p-en", device: str = "cpu", *,
             num_threads: int = 0, memory_limit_bytes: int = 0,
             auto_unload_on_memory_pressure: bool = False, use_mmap: bool = True,
             seed: int = 0, **unknown) -> "Model":
        """Loads an artifact directory, or a model by name (edge_veda.resolve: an installed
        model, a local build, a catalog download, or g2p-en compiled on first use; a download
        or a compile is announced on stderr).

        num_threads: 0 (one per core) to 2**31-1, capped by the library (64); more threads than
        the CPUs this process may use (usable_cpus()) only wait for each other (SpeechModel.load
        and the CLI lower it to that count). memory_limit_bytes and seed: 0 to 2**64-1."""
        from .resolve import resolve

        api = "Model.load"
        for name in unknown:  # an EdgeVedaError (and TypeError) listing what is allowed
            raise _unknown_keyword(api, name, LOAD_KEYWORDS)
        if not isinstance(source, (str, os.PathLike)):
            raise InvalidArgumentTypeError(f"{api}: source must be a model name or a path, not {type(source).__name__}",
                                           'e.g. Model.load("g2p-en") or Model.load("/path/to/artifact")')
        source = os.fspath(source)
        if isinstance(source, bytes):
            source = os.fsdecode(source)
        if "\0" in source:
            raise InvalidArgumentError(f"{api}: source contains a NUL character", "pass a valid path or model name")
        device_c = _encode_prompt(api, device, "device")
        num_threads = _int_value(api, "num_threads", num_threads, 0, INT32_MAX,
                                 "an int from 0 (one per core) to 2147483647; the library caps large values")
        memory_limit_bytes = _int_value(api, "memory_limit_bytes", memory_limit_bytes, 0, UINT64_MAX,
                                        "an int from 0 (no limit) to 2**64-1")
        seed = _int_value(api, "seed", seed, 0, UINT64_MAX, "an int from 0 to 2**64-1")

        path = resolve(source)
        cfg = ffi.new("ev_config*", lib.ev_config_default())
        path_c = ffi.new("char[]", os.fsencode(path))
        device_c = ffi.new("char[]", device_c)
        cfg.model_path = path_c
        cfg.device = device_c
        cfg.num_threads = num_threads
        cfg.memory_limit_bytes = memory_limit_bytes
        cfg.auto_unload_on_memory_pressure = int(bool(auto_unload_on_memory_pressure))
        cfg.use_mmap = int(bool(use_mmap))
        cfg.seed = seed
        return cls(NativeContext.open(cfg))

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Cancels running calls, waits for them to return, frees open streams and the context.

        Idempotent; callable from any thread, but not from a callback of this model (that
        raises InvalidStateError: the call the callback runs in could never end)."""
        self._native.close("Model.close()")

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        # A safety net only; close() or `with` is the contract.
        try:
            self._native.close()
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        return self._native.closed

    @property
    def _streams(self) -> set:
        """The native streams begun and not yet freed (for tests)."""
        return self._native.streams

    # -- calls ----------------------------------------------------------------------------
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
        api = "Model.phonemize"
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

        return self._native.call_out(api, lib.ev_phonemize, "ev_phonemes**", prompt, p, copy=copy,
                                     free=lambda out: lib.ev_phonemes_free(out[0]))

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
        self._native.call("Model.warmup", lib.ev_warmup)
        self.generate("warmup")

    def cancel(self) -> None:
        """Stops the call running on this model (from any thread, or from one of its callbacks);
        that call raises CancelledError."""
        self._native.cancel()

    def set_memory_pressure_callback(self, callback: Callable[[int, int], None] | None) -> None:
        """callback(current_bytes, limit_bytes) runs on the thread that caused the event (the one
        inside a call on this model, or the one calling notify_memory_pressure). None removes
        it; once this returns, the previous callback never runs again. An exception it raises
        goes to sys.unraisablehook (KeyboardInterrupt/SystemExit are re-raised by the model
        call it interrupted)."""
        if callback is not None and not callable(callback):
            raise InvalidArgumentTypeError(
                f"Model.set_memory_pressure_callback: callback must be callable or None, not {type(callback).__name__}",
                "pass a function taking (current_bytes: int, limit_bytes: int)")
        handle = ffi.new_handle(callback) if callback is not None else None
        fn = _callbacks.MEMORY_CALLBACK if callback is not None else ffi.NULL
        self._native.call("Model.set_memory_pressure_callback", lib.ev_set_memory_pressure_callback, fn,
                          handle if handle is not None else ffi.NULL)
        self._native.keep("memory_pressure", handle)

    def notify_memory_pressure(self, critical: bool = False) -> None:
        level = lib.EV_MEMORY_PRESSURE_CRITICAL if critical else lib.EV_MEMORY_PRESSURE_MODERATE
        self._native.call("Model.notify_memory_pressure", lib.ev_notify_memory_pressure, level)

    def status(self) -> Status:
        info = ffi.new("ev_status_info*")
        info.struct_size = ffi.sizeof("ev_status_info")
        # The strings belong to the context: copied while it is certainly alive.
        return self._native.call_out("Model.status", lib.ev_status, info, copy=lambda info: Status(
            initialized=bool(info.initialized),
            weights_loaded=bool(info.weights_loaded),
            device=_text(info.device),
            artifact_path=_text(info.artifact_path),
            model_name=_text(info.model_name),
            model_kind=_text(info.model_kind),
            num_threads=int(info.num_threads),
            memory_used_bytes=int(info.memory_used_bytes),
            memory_limit_bytes=int(info.memory_limit_bytes),
            capabilities=_capability_names(int(info.capabilities)),
            weights_mapped=bool(info.weights_mapped),
            weights_bytes=int(info.weights_bytes),
            max_input_chars=int(info.max_input_chars),
        ))

    def __repr__(self) -> str:
        if self._native.closed:
            return "<edge_veda.Model closed>"
        try:
            s = self.status()
        except EdgeVedaError:  # e.g. repr() from inside one of its callbacks
            return "<edge_veda.Model>"
        return f"<edge_veda.Model {s.model_name} on {s.device} from {s.artifact_path}>"
