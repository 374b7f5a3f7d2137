"""C -> Python callbacks (cffi `extern "Python"`, declared in the generated cdef).

C passes back the `void* user_data` it was given: a cffi handle to a Python object. Whoever
registers a callback keeps that handle alive until the C side can no longer call it (after
ev_set_memory_pressure_callback(ctx, NULL, NULL), after ev_free, or when the streaming call
returns).

No Python exception may unwind into C. What each callback does with one:
- token callback: the exception is kept on the TokenRelay, the native call is cancelled, and
  Model.generate_with_callback re-raises it once the native call has returned;
- memory-pressure callback: an Exception escapes to cffi, which hands it to
  sys.unraisablehook (with a correct UnraisableHookArgs); a BaseException that is not an
  Exception (KeyboardInterrupt, SystemExit) is kept per thread and re-raised by the Model call
  that was running on that thread, so Ctrl-C in a callback is not swallowed.
"""
from __future__ import annotations

import threading
from typing import Callable

from ._ffi import ffi, lib

_deferred = threading.local()


class TokenRelay:
    """What the token callback's user_data points to: the user's callable, the context to cancel
    if it raises, and the exception it raised (re-raised by the caller after the native call)."""

    __slots__ = ("on_token", "ctx", "error")

    def __init__(self, on_token: Callable[[str, int], None]):
        self.on_token = on_token
        self.ctx = ffi.NULL
        self.error: BaseException | None = None


def take_deferred() -> BaseException | None:
    """The KeyboardInterrupt/SystemExit a memory-pressure callback raised on this thread, once."""
    exc = getattr(_deferred, "exc", None)
    if exc is not None:
        _deferred.exc = None
    return exc


# No `onerror=`: without it cffi reports an escaping exception through sys.unraisablehook itself.
@ffi.def_extern()
def _ev_py_token_callback(user_data, token, token_id):
    relay = ffi.from_handle(user_data)
    if relay.error is not None:
        return  # cancelled already; the few tokens decoded before the cancel lands are dropped
    try:
        relay.on_token(ffi.string(token).decode("utf-8", "replace"), int(token_id))
    except BaseException as exc:  # noqa: B036 - KeyboardInterrupt too: re-raised by the caller
        relay.error = exc
        lib.ev_cancel(relay.ctx)  # never blocks; allowed from inside a callback


@ffi.def_extern()
def _ev_py_memory_callback(user_data, current_bytes, limit_bytes):
    try:
        ffi.from_handle(user_data)(int(current_bytes), int(limit_bytes))
    except Exception:
        raise  # to cffi -> sys.unraisablehook; C never sees it
    except BaseException as exc:  # noqa: B036
        _deferred.exc = exc


class AudioRelay:
    """What the audio callback's user_data points to: on_chunk(chunk) receives each chunk as a
    dict (samples copied into a float32 numpy array), the context to cancel if it raises, and
    the exception it raised (re-raised by the caller after the native call)."""

    __slots__ = ("on_chunk", "ctx", "error")

    def __init__(self, on_chunk):
        self.on_chunk = on_chunk
        self.ctx = ffi.NULL
        self.error: BaseException | None = None


@ffi.def_extern()
def _ev_py_audio_callback(chunk, user_data):
    import numpy as np

    relay = ffi.from_handle(user_data)
    if relay.error is not None:
        return
    try:
        n = int(chunk.sample_count)
        samples = np.frombuffer(ffi.buffer(chunk.samples, 4 * n), dtype=np.float32).copy() if n else \
            np.zeros(0, dtype=np.float32)
        relay.on_chunk({"index": int(chunk.chunk_index), "start_sample": int(chunk.start_sample),
                        "samples": samples, "is_final": bool(chunk.is_final), "progress": float(chunk.progress)})
    except BaseException as exc:  # noqa: B036 - re-raised by the caller
        relay.error = exc
        lib.ev_cancel(relay.ctx)


AUDIO_CALLBACK = lib._ev_py_audio_callback
TOKEN_CALLBACK = lib._ev_py_token_callback
MEMORY_CALLBACK = lib._ev_py_memory_callback
