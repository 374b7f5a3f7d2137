"""What every model class shares: ModelBase (loading, lifetime, cancel, status, memory
pressure: one NativeContext each), Status, and the checks of the arguments the C ABI takes.

The operations are the model classes' own, one class per family of kinds, side by side:
edge_veda.model.Model (text: generate, generate_batch, stream, phonemize) and
edge_veda.speech.SpeechModel (synthesize, stream of audio, voices). A kind that lacks an
operation its class has answers the library's UnsupportedOperationError.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import operator
import os
from typing import Callable

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


def _capability_names(bits: int) -> frozenset:
    return frozenset(name for bit, name in CAPABILITIES.items() if bits & bit)


def _text(ptr) -> str:
    return ffi.string(ptr).decode("utf-8", "replace") if ptr != ffi.NULL else ""


INT32_MAX = 2**31 - 1
UINT64_MAX = 2**64 - 1
FLOAT32_MAX = 3.4028234663852886e38


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


def _unknown_keyword(api: str, name: str, allowed) -> InvalidArgumentTypeError:
    close = difflib.get_close_matches(name, allowed, n=1)
    return InvalidArgumentTypeError(
        f"{api}() got an unexpected keyword argument {name!r}"
        + (f" (did you mean {close[0]!r}?)" if close else ""),
        "allowed keywords: " + ", ".join(allowed))


def _refuse_unknown(api: str, unknown, allowed) -> None:
    """Raises for the first keyword of `unknown` (an InvalidArgumentTypeError, a TypeError too,
    listing what is allowed and the closest name)."""
    for name in unknown:
        raise _unknown_keyword(api, name, allowed)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. under taskset or a container's
    cpuset), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


LOAD_KEYWORDS = ("device", "num_threads", "memory_limit_bytes", "auto_unload_on_memory_pressure", "use_mmap", "seed")


def _status_struct():
    info = ffi.new("ev_status_info*")
    info.struct_size = ffi.sizeof("ev_status_info")
    return info


class ModelBase:
    """One loaded artifact on one NativeContext: loading, the deterministic lifetime (a context
    manager, or close(): the native context and its memory are released then, not when the
    garbage collector gets to it), cancel(), status() and memory pressure. The kind's
    operations are its class's (Model, SpeechModel).

    Threads: a model may be called from many threads at once; the native context serializes
    the calls. close() cancels what is running, waits for every call to leave the native
    context, frees the native streams still open, then frees the context; calls made after
    close() (and streams resumed after it) raise InvalidStateError.

    Callbacks (token, audio, memory pressure) must not call this model: such a call raises
    InvalidStateError instead of deadlocking. cancel() is allowed from a callback.
    """

    _name = "Model"  # the class the messages name
    _example = "g2p-en"  # a model name it loads, for hints

    def __init__(self, _native: NativeContext):
        self._native = _native

    @classmethod
    def load(cls, source: str | os.PathLike = "g2p-en", device: str = "cpu", *,
             num_threads: int = 0, memory_limit_bytes: int = 0,
             auto_unload_on_memory_pressure: bool = False, use_mmap: bool = True,
             seed: int = 0, **unknown):
        """Loads an artifact directory, or a model by name (edge_veda.resolve: an installed
        model, a local build, a catalog download, or g2p-en compiled on first use; a download
        or a compile is announced on stderr).

        num_threads: 0 (one per core) to 2**31-1, capped by the library (64); more threads than
        the CPUs this process may use (usable_cpus()) only wait for each other (SpeechModel.load
        and the CLI lower it to that count). memory_limit_bytes and seed: 0 to 2**64-1."""
        from .resolve import resolve

        api = f"{cls._name}.load"
        _refuse_unknown(api, unknown, LOAD_KEYWORDS)  # an EdgeVedaError (and TypeError) listing what is allowed
        if not isinstance(source, (str, os.PathLike)):
            raise InvalidArgumentTypeError(f"{api}: source must be a model name or a path, not {type(source).__name__}",
                                           f'e.g. {cls._name}.load("{cls._example}") or {cls._name}.load("/path/to/artifact")')
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
        self._native.close(f"{self._name}.close()")

    def __enter__(self):
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

    # -- what every kind answers --------------------------------------------------------------
    def warmup(self) -> None:
        """Loads weights if needed and runs every kernel once (ev_warmup)."""
        self._native.call(f"{self._name}.warmup", lib.ev_warmup)

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
                f"{self._name}.set_memory_pressure_callback: callback must be callable or None, not {type(callback).__name__}",
                "pass a function taking (current_bytes: int, limit_bytes: int)")
        handle = ffi.new_handle(callback) if callback is not None else None
        fn = _callbacks.MEMORY_CALLBACK if callback is not None else ffi.NULL
        self._native.call(f"{self._name}.set_memory_pressure_callback", lib.ev_set_memory_pressure_callback, fn,
                          handle if handle is not None else ffi.NULL)
        self._native.keep("memory_pressure", handle)

    def notify_memory_pressure(self, critical: bool = False) -> None:
        level = lib.EV_MEMORY_PRESSURE_CRITICAL if critical else lib.EV_MEMORY_PRESSURE_MODERATE
        self._native.call(f"{self._name}.notify_memory_pressure", lib.ev_notify_memory_pressure, level)

    def _status_info(self, api: str, read: Callable):
        """read(ev_status_info*) of ev_status, while the context is held (its strings belong to
        the context)."""
        return self._native.call_out(api, lib.ev_status, _status_struct(), copy=read)

    def status(self) -> Status:
        return self._status_info(f"{self._name}.status", lambda info: Status(
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
            return f"<edge_veda.{self._name} closed>"
        try:
            s = self.status()
        except EdgeVedaError:  # e.g. repr() from inside one of its callbacks
            return f"<edge_veda.{self._name}>"
        return f"<edge_veda.{self._name} {s.model_name} on {s.device} from {s.artifact_path}>"
