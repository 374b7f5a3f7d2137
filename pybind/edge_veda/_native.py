"""The lifetime of one native ev_context, and the one wrapper every call into it goes through.

A NativeContext owns the handle. Every call that passes the handle to libedge_veda runs inside
`hold(api)`, which:
- refuses a closed context (InvalidStateError naming `api`),
- refuses a call from a callback of the same context on the same thread: the native call the
  callback runs in holds the context, so the new call would wait for itself forever,
- counts the call in flight, so that close() can wait for it before ev_free,
- re-raises a KeyboardInterrupt/SystemExit a memory-pressure callback deferred on this thread.

The calls are made through the few shapes the ABI has, each written once here:
- call(api, fn, *args): fn(ctx, *args) -> rc, raised as the library's error;
- call_out(api, fn, out, *args, copy=, free=): the same with a trailing out-parameter; returns
  copy(out), made while the context is held, and runs free(out) in every case;
- call_relayed(api, fn, *args, callback=, on_item=): a call that runs one of _callbacks' C
  callbacks; an exception on_item raises cancels the call and is re-raised once it returned;
- begin_stream / next_token / free_stream: the pull API (ev_stream).

Native streams (ev_stream) are registered here too: close() frees every one still open before
the context, and a stream resumed after that raises InvalidStateError.

A context lent to another one (a G2P front end set on a TTS context with ev_set_frontend: C
keeps its pointer) is counted with lend()/end_loan(): close() then closes it for Python at once
but frees it only when the last loan ends, so C never reaches a freed front end.

The model classes (edge_veda._base.ModelBase: Model, SpeechModel) are built on this; none of
them keeps its own lock, counter or handle.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from . import _callbacks
from ._ffi import ffi, lib
from .errors import InvalidStateError, error_from_code

CLOSED_HINT = "load it again (Model.load or SpeechModel.load) and call the new object"
STREAM_CLOSED = ("the model was closed while this stream was open",
                 "close the model only after its streams are done")


def runtime_version() -> str:
    """The TVM version libedge_veda was built against."""
    return ffi.string(lib.ev_runtime_version()).decode()


class NativeStream:
    """A native ev_stream begun on a NativeContext; `ptr` is None once freed."""

    __slots__ = ("ptr", "__weakref__")

    def __init__(self, ptr):
        self.ptr = ptr


class NativeContext:
    """Owns one ev_context: close() cancels what runs, waits for every call to leave, frees the
    open streams, then frees the context. Thread-safe; see the module docstring."""

    def __init__(self, ptr):
        self._ptr = ptr
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0
        self._callers: set[int] = set()  # threads inside a native call on this context
        self.streams: set[NativeStream] = set()  # native streams begun and not yet freed
        self._keep: dict[str, object] = {}  # objects C holds pointers to (callback handles)
        self._loans = 0  # other contexts that hold this one's pointer (lend / end_loan)
        self._free_on_last_loan = None  # the pointer close() left for end_loan() to free

    @classmethod
    def open(cls, config) -> "NativeContext":
        """ev_init(config); raises the library's error."""
        err = ffi.new("ev_error_t*")
        ptr = lib.ev_init(config, err)
        if ptr == ffi.NULL:
            raise error_from_code(err[0])
        return cls(ptr)

    @property
    def closed(self) -> bool:
        return self._ptr is None

    # -- calls --------------------------------------------------------------------------------
    def _enter(self, api: str):
        me = threading.get_ident()
        with self._lock:
            ptr = self._ptr
            if ptr is None:
                raise InvalidStateError("the model is closed", CLOSED_HINT)
            if me in self._callers:
                raise InvalidStateError(f"{api} called while this thread is inside another call on the same model "
                                        "(from a callback of that call: the model's own, or its front end's)",
                                        "callbacks must not call into the model whose call runs them; call "
                                        "model.cancel() there, or hand the work to another thread")
            self._callers.add(me)
            self._inflight += 1
            return ptr

    def _leave(self) -> None:
        with self._lock:
            self._callers.discard(threading.get_ident())
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.notify_all()
        deferred = _callbacks.take_deferred()
        if deferred is not None:  # a KeyboardInterrupt/SystemExit from a memory callback
            raise deferred

    @contextlib.contextmanager
    def hold(self, api: str) -> Iterator:
        """Yields the handle for native calls made inside the block (see the module docstring).
        Raise a failure code inside the block (error_from_code(rc, ptr)): the message is
        thread-local in the library and read from the context."""
        ptr = self._enter(api)
        try:
            yield ptr
        finally:
            self._leave()

    def call(self, api: str, fn, *args) -> None:
        """Runs fn(ctx, *args) and raises for a failure code."""
        with self.hold(api) as ptr:
            rc = fn(ptr, *args)
            if rc != 0:
                raise error_from_code(rc, ptr)

    def call_out(self, api: str, fn, out, *args, copy, free=None):
        """Runs fn(ctx, *args, out) (out: a cdata, or a C type that ffi.new makes one of) and
        returns copy(out), made while the context is held (what `out` points to may belong to
        the context); raises for a failure code. free(out) runs in every case, the library's
        own error included (every ev_*_free accepts the NULL a failed call leaves)."""
        if isinstance(out, str):
            out = ffi.new(out)
        with self.hold(api) as ptr:
            try:
                rc = fn(ptr, *args, out)
                if rc != 0:
                    raise error_from_code(rc, ptr)
                return copy(out)
            finally:
                if free is not None:
                    free(out)

    def call_relayed(self, api: str, fn, *args, callback, on_item) -> None:
        """Runs fn(ctx, *args, callback, user_data), a call that runs the C `callback` (one of
        _callbacks') on this thread with user_data -> a _callbacks.Relay of on_item. If on_item
        raises, the call is cancelled and the exception (KeyboardInterrupt included) is raised
        here once the native call has returned; else a failure code is raised."""
        relay = _callbacks.Relay(on_item)
        handle = ffi.new_handle(relay)  # alive until the call returns
        with self.hold(api) as ptr:
            relay.ctx = ptr
            rc = fn(ptr, *args, callback, handle)
            error, relay.error = relay.error, None
            if error is not None:
                try:
                    raise error
                finally:
                    error = None  # no cycle through the traceback
            if rc != 0:
                raise error_from_code(rc, ptr)

    def keep(self, key: str, obj) -> None:
        """Keeps `obj` alive while C may use it (until replaced, or until the context is freed)."""
        self._keep[key] = obj

    def cancel(self) -> None:
        """ev_cancel: never blocks; allowed from any thread and from a callback."""
        with self._lock:  # so close() cannot free the context between the check and the call
            if self._ptr is not None:
                lib.ev_cancel(self._ptr)

    def close(self, api: str = "Model.close()") -> None:
        """Idempotent. Refused from a callback of this context (that call could never end)."""
        with self._lock:
            if self._ptr is None:
                return
            if threading.get_ident() in self._callers:
                raise InvalidStateError(f"{api} called from a callback of the same model",
                                        "call model.cancel() in the callback, and close() after the call returns")
            ptr, self._ptr = self._ptr, None
            lib.ev_cancel(ptr)
            while self._inflight:
                self._idle.wait()
            # Every stream must be freed before its context; streams resumed later find the
            # context closed and raise InvalidStateError.
            streams, self.streams = self.streams, set()
            pointers = [s.ptr for s in streams if s.ptr is not None]
            for s in streams:
                s.ptr = None
            lent = self._loans > 0
            if lent:  # another context still holds the pointer: the last end_loan() frees it
                self._free_on_last_loan = ptr
        for sp in pointers:
            lib.ev_stream_free(sp)
        if not lent:
            self._free(ptr)

    def _free(self, ptr) -> None:
        lib.ev_free(ptr)  # after this no callback can fire
        self._keep.clear()

    def lend(self, api: str):
        """Counts a loan of the handle to another native context (which keeps the pointer) and
        returns the handle; refused once closed. End it with end_loan() after that context is freed."""
        with self._lock:
            if self._ptr is None:
                raise InvalidStateError(f"{api}: the model is closed", CLOSED_HINT)
            self._loans += 1
            return self._ptr

    def end_loan(self) -> None:
        """Ends one loan; frees the context if close() ran while it was lent."""
        with self._lock:
            self._loans -= 1
            ptr = self._free_on_last_loan if self._loans == 0 else None
            if ptr is not None:
                self._free_on_last_loan = None
        if ptr is not None:
            self._free(ptr)

    def cancel_only(self, thread_id: int) -> bool:
        """ev_cancel, but only when the one call in flight is `thread_id`'s: a cancel also stops
        the calls other threads have waiting for the context. True if it was sent."""
        with self._lock:
            if self._ptr is None or self._inflight != 1 or self._callers != {thread_id}:
                return False
            lib.ev_cancel(self._ptr)
            return True

    # -- streams ------------------------------------------------------------------------------
    def begin_stream(self, api: str, begin, *args) -> NativeStream:
        """begin(ctx, *args, ev_stream* out) -> rc; the stream is registered for close()."""
        return self.call_out(api, begin, "ev_stream*", *args, copy=self._register_stream)

    def _register_stream(self, out) -> NativeStream:
        stream = NativeStream(out[0])
        with self._lock:
            self.streams.add(stream)
        return stream

    def next_token(self, api: str, stream: NativeStream) -> str | None:
        """ev_stream_next: the stream's next token, or None at its end; a stream whose context
        was closed raises InvalidStateError."""
        token = ffi.new("const char**")
        with self._hold_stream(api, stream) as ptr:
            rc = lib.ev_stream_next(stream.ptr, token, ffi.NULL)
            if rc == lib.EV_ERR_STREAM_END:
                return None
            if rc != 0:
                raise self._stream_error(rc, ptr)
            return ffi.string(token[0]).decode("utf-8", "replace")  # valid until the next call

    @contextlib.contextmanager
    def _hold_stream(self, api: str, stream: NativeStream) -> Iterator:
        """Yields the context handle for a call on `stream` (raise failures with
        `self._stream_error(rc, ptr)`); a stream whose context was closed raises InvalidStateError."""
        try:
            ptr = self._enter(api)
        except InvalidStateError:
            if self._ptr is None:
                raise InvalidStateError(*STREAM_CLOSED) from None
            raise
        try:
            if stream.ptr is None:  # cannot happen while the context is open; kept as a guard
                raise InvalidStateError("the stream was released", "start a new one with Model.stream()")
            yield ptr
        finally:
            self._leave()

    def _stream_error(self, rc: int, ptr):
        if self._ptr is None:  # close() cancelled the call the stream was in
            return InvalidStateError(*STREAM_CLOSED)
        return error_from_code(rc, ptr)

    def free_stream(self, stream: NativeStream) -> None:
        """Frees the stream unless close() did; counted in flight so that ev_free waits for it."""
        with self._lock:
            sp, stream.ptr = stream.ptr, None
            self.streams.discard(stream)
            if sp is None:
                return
            self._inflight += 1
        try:
            lib.ev_stream_free(sp)
        finally:
            with self._lock:
                self._inflight -= 1
                if self._inflight == 0:
                    self._idle.notify_all()
