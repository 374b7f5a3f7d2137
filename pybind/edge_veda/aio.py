"""asyncio API: every native call runs on one long-lived worker thread per model.

The event-loop thread never enters libedge_veda, so a slow call cannot stall the loop. This
is the Python twin of a Dart app's long-lived worker isolate.

An AsyncModel is not tied to the event loop that loaded it: each call, stream and
memory-event subscription belongs to the loop running when it was made, so a model loaded in
one `asyncio.run()` can be used from the next.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import threading
from typing import AsyncIterator

from . import _bridge
from ._base import Status, _encode_prompt
from .errors import InvalidStateError
from .model import GenerationParams, Model, encode_texts
from .speech import Audio, AudioChunk, SpeechModel

_END = object()  # the end of a memory_events() subscription


@dataclasses.dataclass(frozen=True)
class MemoryEvent:
    current_bytes: int
    limit_bytes: int


class _Subscriber:
    """One memory_events() iterator: its queue and the event loop that reads it."""

    __slots__ = ("loop", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue()

    def deliver(self, item) -> bool:
        """Posts `item` to the subscriber's loop from any thread; False once that loop is closed."""
        if self.loop.is_closed():
            return False
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # closed between the check and the call
            return False
        return True


class MemoryEvents:
    """Async iterator of MemoryEvent; `aclose()` unsubscribes."""

    def __init__(self, model: "_AsyncBase", subscriber: _Subscriber):
        self._model = model
        self._subscriber = subscriber

    def __aiter__(self) -> "MemoryEvents":
        return self

    async def __anext__(self) -> MemoryEvent:
        if asyncio.get_running_loop() is not self._subscriber.loop:
            raise InvalidStateError("memory events are read on the event loop that subscribed",
                                    "call model.memory_events() in the loop that iterates it")
        event = await self._subscriber.queue.get()
        if event is _END:
            self._model._unsubscribe(self._subscriber)
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        self._model._unsubscribe(self._subscriber)


class _AsyncBase:
    """What the async twins share: the model on its own long-lived worker thread, every call
    submitted to it (cancelling the awaiting task cancels the call), aclose(), status, warmup,
    memory events, and streams through the callback bridge (edge_veda._bridge.aiterate)."""

    _model_class: type  # what load() loads on the worker (each twin sets it)

    def __init__(self, model, worker: concurrent.futures.ThreadPoolExecutor):
        self._model = model
        self._worker = worker
        self._closing = False
        self._subscribers_lock = threading.Lock()  # the worker thread delivers, loops subscribe
        self._subscribers: list[_Subscriber] = []
        model.set_memory_pressure_callback(self._on_memory_pressure)

    @classmethod
    async def _load(cls, source, config: dict):
        """cls._model_class.load(source, **config) on the model's own worker thread."""
        worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-veda-worker")
        try:
            model = await asyncio.wrap_future(worker.submit(cls._model_class.load, source, **config))
            try:
                return await asyncio.wrap_future(worker.submit(cls, model, worker))
            except BaseException:
                worker.submit(model.close)
                raise
        except BaseException:
            worker.shutdown(wait=False)
            raise

    def _submit(self, fn, *args, **kwargs) -> concurrent.futures.Future:
        if self._closing or self._model.closed:
            raise InvalidStateError("the model is closed", "load it again with AsyncModel.load()")
        return self._worker.submit(fn, *args, **kwargs)

    async def _run(self, fn, *args, **kwargs):
        job = self._submit(fn, *args, **kwargs)
        try:
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            # Still queued: cancelled before it ran. Running: stop it inside the native call.
            if not job.cancel():
                self._model.cancel()
            raise

    def _stream(self, call, check=None) -> AsyncIterator:
        """The items call(emit) hands to emit on the worker, read on the running loop. Cancelling
        the consuming task, or closing the iterator early, cancels the native call; aclose() of
        the model ends the stream (the native call is cancelled)."""
        return _bridge.aiterate(call, submit=self._submit, cancel=self._model.cancel, check=check)

    async def status(self) -> Status:
        return await self._run(self._model.status)

    async def warmup(self) -> None:
        await self._run(self._model.warmup)

    async def notify_memory_pressure(self, critical: bool = False) -> None:
        await self._run(self._model.notify_memory_pressure, critical)

    def _on_memory_pressure(self, current: int, limit: int) -> None:  # on the worker thread
        event = MemoryEvent(current, limit)
        with self._subscribers_lock:
            subscribers = list(self._subscribers)
        gone = [s for s in subscribers if not s.deliver(event)]
        for s in gone:  # their loop has closed: nobody can read them any more
            self._unsubscribe(s)

    def _unsubscribe(self, subscriber: _Subscriber) -> None:
        with self._subscribers_lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def memory_events(self) -> "MemoryEvents":
        """Memory-pressure events, delivered on the running event loop, until the model is closed.

        Subscribes at once (not at the first `__anext__`), so no event after this call is lost.
        Call it from a coroutine: the events go to the loop running it.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise InvalidStateError("AsyncModel.memory_events() called with no running event loop",
                                    "call it from a coroutine, in the loop that iterates the events") from None
        subscriber = _Subscriber(loop)
        with self._subscribers_lock:
            if self._closing or self._model.closed:
                subscriber.queue.put_nowait(_END)
            else:
                self._subscribers.append(subscriber)
        return MemoryEvents(self, subscriber)

    async def aclose(self) -> None:
        """Cancels the running call (a stream ends with CancelledError), lets queued calls run,
        then frees the model on its worker. Idempotent."""
        if self._closing:
            return
        self._closing = True
        self._model.cancel()
        # On the worker, after whatever is queued: no native call races the free.
        try:
            # Shielded: cancelling aclose() must not drop the queued close.
            await asyncio.shield(asyncio.wrap_future(self._worker.submit(self._model.close)))
        finally:
            self._worker.shutdown(wait=False)
            with self._subscribers_lock:
                subscribers, self._subscribers = self._subscribers, []
            for s in subscribers:
                s.deliver(_END)

    @property
    def closed(self) -> bool:
        return self._closing or self._model.closed

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class AsyncModel(_AsyncBase):
    """Async twin of Model (edge_veda.TextModel). Create with `await AsyncModel.load(...)`;
    close with `await m.aclose()` or `async with`."""

    _model_class = Model

    @classmethod
    async def load(cls, source: str | os.PathLike = "g2p-en", **config) -> "AsyncModel":
        """Model.load(source, **config) on the model's own worker thread."""
        return await cls._load(source, config)

    async def generate(self, text: str, **params) -> str:
        _encode_prompt("AsyncModel.generate", text)  # bad arguments fail here, naming this call
        GenerationParams("AsyncModel.generate", params)
        return await self._run(self._model.generate, text, **params)

    async def generate_batch(self, texts: list[str], **params) -> list[str]:
        texts = list(texts) if not isinstance(texts, (str, bytes, bytearray)) else texts
        encode_texts("AsyncModel.generate_batch", texts)
        GenerationParams("AsyncModel.generate_batch", params)
        return await self._run(self._model.generate_batch, texts, **params)

    async def phonemize(self, text: str, **params) -> list[tuple]:
        """Model.phonemize on the model's worker thread."""
        return await self._run(self._model.phonemize, text, **params)

    def stream(self, text: str, **params) -> AsyncIterator[str]:
        """Yields tokens as the worker decodes them (ev_generate_stream on the worker thread).

        Cancelling the consuming task, or closing the iterator early, cancels the native call.
        aclose() of the model ends the stream (the native call is cancelled). Arguments are
        checked at the first `__anext__`.
        """
        def check() -> None:
            _encode_prompt("AsyncModel.stream", text)
            GenerationParams("AsyncModel.stream", params)

        return self._stream(
            lambda emit: self._model.generate_with_callback(text, lambda token, _id: emit(token), **params), check)


class AsyncSpeechModel(_AsyncBase):
    """Async twin of SpeechModel: `await AsyncSpeechModel.load("kokoro")`, then
    `await m.synthesize(...)` or `async for chunk in m.stream(...)`; every native call runs on
    the model's worker thread, and cancelling the consuming task cancels the native call."""

    _model_class = SpeechModel

    @classmethod
    async def load(cls, source: str | os.PathLike = "kokoro", **config) -> "AsyncSpeechModel":
        """SpeechModel.load(source, **config) (frontend= as there) on the worker thread."""
        return await cls._load(source, config)

    async def synthesize(self, text: str | None = None, **params) -> Audio:
        """SpeechModel.synthesize on the worker thread; returns an edge_veda.Audio."""
        return await self._run(self._model.synthesize, text, **params)

    async def phonemize(self, text: str, **params) -> list[tuple]:
        """SpeechModel.phonemize on the worker thread."""
        return await self._run(self._model.phonemize, text, **params)

    async def voices(self) -> list[str]:
        """SpeechModel.voices() on the worker thread: the names, the default first."""
        return await self._run(lambda: self._model.voices())

    def stream(self, text: str | None = None, **params) -> AsyncIterator[AudioChunk]:
        """Yields AudioChunks (one per sentence) as the worker makes them. Cancelling the
        consuming task, or closing the iterator early, cancels the native call."""
        return self._stream(lambda emit: self._model.synthesize_with_callback(text, emit, **params))
