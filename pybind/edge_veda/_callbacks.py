"""C -> Python callbacks (cffi `extern "Python"`, declared in the generated cdef).

C passes back the `void* user_data` it was given: a cffi handle to a Python object. Whoever
registers a callback keeps that handle alive until the C side can no longer call it (after
ev_set_memory_pressure_callback(ctx, NULL, NULL), after ev_free, or when the streaming call
returns).

No Python exception may unwind into C. What each callback does with one:
- token and audio callbacks: the exception is kept on the Relay, the native call is
  cancelled, and NativeContext.call_relayed (under Model.generate_with_callback,
  SpeechModel.synthesize_with_callback) re-raises it once the native call has returned;
- memory-pressure callback: an Exception escapes to cffi, which hands it to
  sys.unraisablehook (with a correct UnraisableHookArgs); a BaseException that is not an
  Exception (KeyboardInterrupt, SystemExit) is kept per thread and re-raised by the Model call
  that was running on that thread, so Ctrl-C in a callback is not swallowed.
"""
from __future__ import annotations

import threading

from ._ffi import ffi, lib

_deferred = threading.local()


class Relay:
    """What a streaming call's user_data points to: the user's callable (on_item), the context
    to cancel if it raises, and the exception it raised (re-raised by the caller after the
    native call: NativeContext.call_relayed)."""

    __slots__ = ("on_item", "ctx", "error")

    def __init__(self, on_item):
        self.on_item = on_item
        self.ctx = ffi.NULL
        self.error: BaseException | None = None


def _deliver(user_data, give) -> None:
    """give(relay.on_item) inside the C callback: once it has raised, the items still decoded
    before the cancel lands are dropped; its exception (KeyboardInterrupt too) is kept on the
    relay and the call cancelled (ev_cancel never blocks and is allowed inside a callback)."""
    relay = ffi.from_handle(user_data)
    if relay.error is not None:
        return
    try:
        give(relay.on_item)
    except BaseException as exc:  # noqa: B036 - re-raised by the caller
        relay.error = exc
        lib.ev_cancel(relay.ctx)


def take_deferred() -> BaseException | None:
    """The KeyboardInterrupt/SystemExit a memory-pressure callback raised on this thread, once."""
    exc = getattr(_deferred, "exc", None)
    if exc is not None:
        _deferred.exc = None
    return exc


# No `onerror=`: without it cffi reports an escaping exception through sys.unraisablehook itself.
@ffi.def_extern()
def _ev_py_token_callback(user_data, token, token_id):
    # on_token(token, token_id)
    _deliver(user_data, lambda on_token: on_token(ffi.string(token).decode("utf-8", "replace"), int(token_id)))


@ffi.def_extern()
def _ev_py_memory_callback(user_data, current_bytes, limit_bytes):
    try:
        ffi.from_handle(user_data)(int(current_bytes), int(limit_bytes))
    except Exception:
        raise  # to cffi -> sys.unraisablehook; C never sees it
    except BaseException as exc:  # noqa: B036
        _deferred.exc = exc


@ffi.def_extern()
def _ev_py_audio_callback(chunk, user_data):
    # on_chunk(fields): the chunk's fields by name (AudioChunk's), its samples copied into a
    # float32 numpy array
    _deliver(user_data, lambda on_chunk: on_chunk(_audio_fields(chunk)))


def _audio_fields(chunk) -> dict:
    import numpy as np

    n = int(chunk.sample_count)
    samples = np.frombuffer(ffi.buffer(chunk.samples, 4 * n), dtype=np.float32).copy() if n else \
        np.zeros(0, dtype=np.float32)
    return {"index": int(chunk.chunk_index), "start_sample": int(chunk.start_sample), "samples": samples,
            "is_final": bool(chunk.is_final), "progress": float(chunk.progress)}


AUDIO_CALLBACK = lib._ev_py_audio_callback
TOKEN_CALLBACK = lib._ev_py_token_callback
MEMORY_CALLBACK = lib._ev_py_memory_callback
