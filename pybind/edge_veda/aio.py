"""asyncio API: every native call runs on one long-lived worker thread per model.

The event-loop thread never enters libedge_veda, so a slow call cannot stall the loop. This
is the Python twin of a Dart app's long-lived worker isolate.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
from typing import AsyncIterator

from .errors import InvalidStateError
from .model import Model, Status

_END = object()


@dataclasses.dataclass(frozen=True)
class MemoryEvent:
    current_bytes: int
    limit_bytes: int


class MemoryEvents:
    """Async iterator of MemoryEvent; `aclose()` unsubscribes."""

    def __init__(self, subscribers: list):
        self._queue: asyncio.Queue = asyncio.Queue()
        self._subscribers = subscribers
        subscribers.append(self._queue)

    def __aiter__(self) -> "MemoryEvents":
        return self

    async def __anext__(self) -> MemoryEvent:
        event = await self._queue.get()
        if event is _END:
            self._unsubscribe()
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        self._unsubscribe()

    def _unsubscribe(self) -> None:
        if self._queue in self._subscribers:
            self._subscribers.remove(self._queue)


class AsyncModel:
    """Async twin of Model. Create with `await AsyncModel.load(...)`; close with
    `await m.aclose()` or `async with`."""

    def __init__(self, model: Model, worker: concurrent.futures.ThreadPoolExecutor,
                 loop: asyncio.AbstractEventLoop):
        self._model = model
        self._worker = worker
        self._loop = loop
        self._memory_queues: list[asyncio.Queue] = []
        model.set_memory_pressure_callback(self._on_memory_pressure)

    @classmethod
    async def load(cls, source: str | os.PathLike = "g2p-en", **config) -> "AsyncModel":
        loop = asyncio.get_running_loop()
        worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-veda-worker")
        try:
            model = await asyncio.wrap_future(worker.submit(Model.load, source, **config))
            return await asyncio.wrap_future(worker.submit(cls, model, worker, loop))
        except BaseException:
            worker.shutdown(wait=False)
            raise

    def _submit(self, fn, *args, **kwargs) -> concurrent.futures.Future:
        if self._model.closed:
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

    async def generate(self, text: str, **params) -> str:
        return await self._run(self._model.generate, text, **params)

    async def generate_batch(self, texts: list[str], **params) -> list[str]:
        return await self._run(self._model.generate_batch, texts, **params)

    async def stream(self, text: str, **params) -> AsyncIterator[str]:
        """Yields tokens as the worker decodes them (ev_generate_stream on the worker thread).

        Cancelling the consuming task, or closing the iterator early, cancels the native call.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def on_token(token: str, _token_id: int) -> None:  # runs on the worker thread
            loop.call_soon_threadsafe(queue.put_nowait, token)

        job = self._submit(self._model.generate_with_callback, text, on_token, **params)
        job.add_done_callback(lambda _f: loop.call_soon_threadsafe(queue.put_nowait, _END))
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    job.result()  # raises the native error, if any
                    return
                yield item
        finally:
            if not job.done() and not job.cancel():
                self._model.cancel()

    async def status(self) -> Status:
        return await self._run(self._model.status)

    async def warmup(self) -> None:
        await self._run(self._model.warmup)

    async def notify_memory_pressure(self, critical: bool = False) -> None:
        await self._run(self._model.notify_memory_pressure, critical)

    def _on_memory_pressure(self, current: int, limit: int) -> None:  # on the worker thread
        event = MemoryEvent(current, limit)
        for q in list(self._memory_queues):
            self._loop.call_soon_threadsafe(q.put_nowait, event)

    def memory_events(self) -> "MemoryEvents":
        """Memory-pressure events, delivered on the event loop, until the model is closed.

        Subscribes at once (not at the first `__anext__`), so no event after this call is lost.
        """
        return MemoryEvents(self._memory_queues)

    async def aclose(self) -> None:
        if self._model.closed:
            return
        self._model.cancel()
        # On the worker, after whatever is queued: no native call races the free.
        await asyncio.wrap_future(self._worker.submit(self._model.close))
        self._worker.shutdown(wait=False)
        for q in self._memory_queues:
            q.put_nowait(_END)

    @property
    def closed(self) -> bool:
        return self._model.closed

    async def __aenter__(self) -> "AsyncModel":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
