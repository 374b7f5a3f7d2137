"""Model: one ev_context with a deterministic lifetime."""
from __future__ import annotations

import dataclasses
import os
import threading
from typing import Callable, Iterator

from . import _callbacks
from ._ffi import ffi, lib
from .errors import InvalidArgumentError, InvalidStateError, error_from_code


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


def _text(ptr) -> str:
    return ffi.string(ptr).decode("utf-8") if ptr != ffi.NULL else ""


def _encode_prompt(text: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidArgumentError(f"text must be str, not {type(text).__name__}",
                                   "decode bytes to str before calling generate")
    if "\0" in text:
        raise InvalidArgumentError("text contains a NUL character",
                                   "remove NUL characters; the C ABI takes NUL-terminated strings")
    return text.encode("utf-8")


class _Params:
    """Builds an ev_generation_params (or NULL when every value is the default)."""

    __slots__ = ()

    @staticmethod
    def build(keep_alive: list, max_tokens=None, temperature=None, top_p=None, top_k=None,
              repeat_penalty=None, seed=None, stop=None):
        if (max_tokens is None and temperature is None and top_p is None and top_k is None
                and repeat_penalty is None and seed is None and not stop):
            return ffi.NULL
        p = ffi.new("ev_generation_params*", lib.ev_generation_params_default())
        if max_tokens is not None:
            p.max_tokens = max_tokens
        if temperature is not None:
            p.temperature = temperature
        if top_p is not None:
            p.top_p = top_p
        if top_k is not None:
            p.top_k = top_k
        if repeat_penalty is not None:
            p.repeat_penalty = repeat_penalty
        if seed is not None:
            p.seed = seed
        if stop:
            if isinstance(stop, str):
                stop = [stop]
            strings = [ffi.new("char[]", _encode_prompt(s)) for s in stop]
            array = ffi.new("char*[]", strings)
            keep_alive.extend((strings, array))
            p.stop_sequences = array
            p.num_stop_sequences = len(strings)
        keep_alive.append(p)
        return p


class Model:
    """A loaded model artifact.

    Use as a context manager, or call close(): the native context (and its memory) is released
    deterministically, not when the garbage collector gets to it.

    Threads: a Model may be called from many threads at once; the native context serializes
    the calls. close() cancels what is running, waits for every call to leave the native
    context, then frees it; calls made after close() raise InvalidStateError.
    """

    def __init__(self, _ctx):
        self._ctx = _ctx
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._pressure_handle = None  # keeps the registered callback alive

    @classmethod
    def load(cls, source: str | os.PathLike = "g2p-en", device: str = "cpu", *,
             num_threads: int = 0, memory_limit_bytes: int = 0,
             auto_unload_on_memory_pressure: bool = False, use_mmap: bool = True,
             seed: int = 0) -> "Model":
        """Loads an artifact directory, or a model by name (g2p-en is compiled on first use)."""
        from .artifacts import resolve

        path = resolve(os.fspath(source))
        cfg = ffi.new("ev_config*", lib.ev_config_default())
        path_c = ffi.new("char[]", os.fsencode(path))
        device_c = ffi.new("char[]", device.encode())
        cfg.model_path = path_c
        cfg.device = device_c
        cfg.num_threads = num_threads
        cfg.memory_limit_bytes = memory_limit_bytes
        cfg.auto_unload_on_memory_pressure = int(bool(auto_unload_on_memory_pressure))
        cfg.use_mmap = int(bool(use_mmap))
        cfg.seed = seed
        err = ffi.new("ev_error_t*")
        ctx = lib.ev_init(cfg, err)
        if ctx == ffi.NULL:
            raise error_from_code(err[0])
        return cls(ctx)

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Cancels running calls, waits for them to return, frees the context. Idempotent."""
        with self._lock:
            ctx, self._ctx = self._ctx, None
            if ctx is None:
                return
            lib.ev_cancel(ctx)
            while self._inflight:
                self._idle.wait()
        lib.ev_free(ctx)  # after this the memory-pressure callback can no longer fire
        self._pressure_handle = None

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        # A safety net only; close() or `with` is the contract.
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        return self._ctx is None

    def _enter(self):
        with self._lock:
            ctx = self._ctx
            if ctx is None:
                raise InvalidStateError("the model is closed", "load it again with Model.load()")
            self._inflight += 1
            return ctx

    def _leave(self) -> None:
        with self._lock:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.notify_all()

    def _call(self, fn, *args):
        """Runs lib.fn(ctx, *args) and raises for a failure code."""
        ctx = self._enter()
        try:
            rc = fn(ctx, *args)
            if rc != 0:
                raise error_from_code(rc, ctx)
        finally:
            self._leave()

    # -- calls ----------------------------------------------------------------------------
    def generate(self, text: str, **params) -> str:
        """Runs the model on `text` and returns its output (g2p-en: space-separated ARPAbet).

        params: max_tokens, temperature, top_p, top_k, repeat_penalty, seed, stop.
        """
        prompt = _encode_prompt(text)
        keep_alive: list = []
        p = _Params.build(keep_alive, **params) if params else ffi.NULL
        out = ffi.new("char**")
        ctx = self._enter()
        try:
            rc = lib.ev_generate(ctx, prompt, p, out)
            if rc != 0:
                raise error_from_code(rc, ctx)
            return ffi.string(out[0]).decode("utf-8")
        finally:
            lib.ev_free_string(out[0])
            self._leave()

    def generate_batch(self, texts: list[str], **params) -> list[str]:
        """Runs the model on every text (ev_generate_batch): plain greedy decoding uses up to
        `num_threads` threads; the outputs are what generate() gives for each text."""
        prompts = [ffi.new("char[]", _encode_prompt(t)) for t in texts]
        n = len(prompts)
        keep_alive: list = []
        p = _Params.build(keep_alive, **params) if params else ffi.NULL
        array = ffi.new("char*[]", prompts) if n else ffi.NULL
        outs = ffi.new("char*[]", max(n, 1))
        ctx = self._enter()
        try:
            rc = lib.ev_generate_batch(ctx, array, n, p, outs)
            if rc != 0:
                raise error_from_code(rc, ctx)
            return [ffi.string(outs[i]).decode("utf-8") for i in range(n)]
        finally:
            for i in range(n):
                lib.ev_free_string(outs[i])
            self._leave()

    def stream(self, text: str, **params) -> Iterator[str]:
        """Yields the output tokens one by one (pull API: one native call per token).

        Closing the generator early releases the native stream.
        """
        prompt = _encode_prompt(text)
        keep_alive: list = []
        p = _Params.build(keep_alive, **params) if params else ffi.NULL
        stream_out = ffi.new("ev_stream*")
        token = ffi.new("const char**")
        ctx = self._enter()
        try:
            rc = lib.ev_stream_begin(ctx, prompt, p, stream_out)
            if rc != 0:
                raise error_from_code(rc, ctx)
            stream = stream_out[0]
            try:
                while True:
                    rc = lib.ev_stream_next(stream, token, ffi.NULL)
                    if rc == lib.EV_ERR_STREAM_END:
                        return
                    if rc != 0:
                        raise error_from_code(rc, ctx)
                    yield ffi.string(token[0]).decode("utf-8")
            finally:
                lib.ev_stream_free(stream)
        finally:
            self._leave()

    def generate_with_callback(self, text: str, on_token: Callable[[str, int], None], **params) -> None:
        """Runs ev_generate_stream: on_token(token, token_id) is called on this thread per token."""
        prompt = _encode_prompt(text)
        keep_alive: list = []
        p = _Params.build(keep_alive, **params) if params else ffi.NULL
        handle = ffi.new_handle(on_token)  # alive until the call returns
        self._call(lib.ev_generate_stream, prompt, p, _callbacks.TOKEN_CALLBACK, handle)

    def warmup(self) -> None:
        """Loads weights if needed and runs every kernel once (ev_warmup), then one generate()
        through this binding, whose own first call pays for symbol binding and cold caches."""
        self._call(lib.ev_warmup)
        self.generate("warmup")

    def cancel(self) -> None:
        """Stops the call running on this model (from any thread); it raises CancelledError."""
        ctx = self._ctx
        if ctx is not None:
            lib.ev_cancel(ctx)

    def set_memory_pressure_callback(self, callback: Callable[[int, int], None] | None) -> None:
        """callback(current_bytes, limit_bytes) runs on the thread that caused the event (the one
        inside a call on this model, or the one calling notify_memory_pressure). None removes
        it; once this returns, the previous callback never runs again."""
        handle = ffi.new_handle(callback) if callback is not None else None
        fn = _callbacks.MEMORY_CALLBACK if callback is not None else ffi.NULL
        self._call(lib.ev_set_memory_pressure_callback, fn, handle if handle is not None else ffi.NULL)
        self._pressure_handle = handle

    def notify_memory_pressure(self, critical: bool = False) -> None:
        level = lib.EV_MEMORY_PRESSURE_CRITICAL if critical else lib.EV_MEMORY_PRESSURE_MODERATE
        self._call(lib.ev_notify_memory_pressure, level)

    def status(self) -> Status:
        info = ffi.new("ev_status_info*")
        info.struct_size = ffi.sizeof("ev_status_info")
        ctx = self._enter()
        try:
            rc = lib.ev_status(ctx, info)
            if rc != 0:
                raise error_from_code(rc, ctx)
            # The strings belong to the context: copy them while it is certainly alive.
            return Status(
                initialized=bool(info.initialized),
                weights_loaded=bool(info.weights_loaded),
                device=_text(info.device),
                artifact_path=_text(info.artifact_path),
                model_name=_text(info.model_name),
                model_kind=_text(info.model_kind),
                num_threads=int(info.num_threads),
                memory_used_bytes=int(info.memory_used_bytes),
                memory_limit_bytes=int(info.memory_limit_bytes),
            )
        finally:
            self._leave()

    def __repr__(self) -> str:
        if self._ctx is None:
            return "<edge_veda.Model closed>"
        s = self.status()
        return f"<edge_veda.Model {s.model_name} on {s.device} from {s.artifact_path}>"
