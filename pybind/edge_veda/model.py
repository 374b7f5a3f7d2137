"""Model: one ev_context with a deterministic lifetime."""
from __future__ import annotations

import dataclasses
import os

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
    """

    def __init__(self, _ctx):
        self._ctx = _ctx

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
        """Releases the native context. Safe to call twice."""
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            lib.ev_free(ctx)

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

    def _handle(self):
        ctx = self._ctx
        if ctx is None:
            raise InvalidStateError("the model is closed", "load it again with Model.load()")
        return ctx

    # -- calls ----------------------------------------------------------------------------
    def generate(self, text: str, **params) -> str:
        """Runs the model on `text` and returns its output (g2p-en: space-separated ARPAbet).

        params: max_tokens, temperature, top_p, top_k, repeat_penalty, seed, stop.
        """
        ctx = self._handle()
        prompt = _encode_prompt(text)
        keep_alive: list = []
        p = _Params.build(keep_alive, **params) if params else ffi.NULL
        out = ffi.new("char**")
        rc = lib.ev_generate(ctx, prompt, p, out)
        try:
            if rc != 0:
                raise error_from_code(rc, ctx)
            return ffi.string(out[0]).decode("utf-8")
        finally:
            lib.ev_free_string(out[0])

    def warmup(self) -> None:
        ctx = self._handle()
        rc = lib.ev_warmup(ctx)
        if rc != 0:
            raise error_from_code(rc, ctx)

    def cancel(self) -> None:
        """Stops the call running on this model (from any thread); it raises CancelledError."""
        ctx = self._ctx
        if ctx is not None:
            lib.ev_cancel(ctx)

    def notify_memory_pressure(self, critical: bool = False) -> None:
        ctx = self._handle()
        level = lib.EV_MEMORY_PRESSURE_CRITICAL if critical else lib.EV_MEMORY_PRESSURE_MODERATE
        rc = lib.ev_notify_memory_pressure(ctx, level)
        if rc != 0:
            raise error_from_code(rc, ctx)

    def status(self) -> Status:
        ctx = self._handle()
        info = ffi.new("ev_status_info*")
        info.struct_size = ffi.sizeof("ev_status_info")
        rc = lib.ev_status(ctx, info)
        if rc != 0:
            raise error_from_code(rc, ctx)
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

    def __repr__(self) -> str:
        if self._ctx is None:
            return "<edge_veda.Model closed>"
        s = self.status()
        return f"<edge_veda.Model {s.model_name} on {s.device} from {s.artifact_path}>"
