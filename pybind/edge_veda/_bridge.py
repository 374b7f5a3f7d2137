"""The one callback -> iterator bridge.

A producer runs a call that hands each result to a callback (a native streaming call:
Model.generate_with_callback, SpeechModel.synthesize_with_callback) on a thread of its own; a
consumer reads the results as an iterator (iterate: SpeechModel.stream) or, on an event loop,
as an async iterator (aiterate: AsyncModel.stream, AsyncSpeechModel.stream).

What both keep:
- order: results arrive in the order the callback got them, then the end;
- the producer never waits for the consumer (the queue is unbounded): it runs inside a native
  call that holds its model, and a consumer that calls the same model before it reads on
  would otherwise wait for the producer waiting for it;
- an exception the call raised (KeyboardInterrupt included) is raised in the consumer, after
  the results that came before it;
- a consumer that leaves early (break, close(), its task cancelled) stops the call: `cancel`
  at once, and the next result the callback gets raises Abandoned in it, which cancels that
  call (the callbacks' relays do: _callbacks);
- the event loop never blocks: aiterate's producer posts with call_soon_threadsafe, and the
  consumer's early leave does not wait for the producer.
Both are generators: nothing runs before the first next(); `check()`, if given, runs then, first.
"""
from __future__ import annotations

import queue
import threading
from typing import AsyncIterator, Callable, Iterator

_END = object()


class Abandoned(Exception):
    """Raised in the producer's callback once the consumer has left: ends the call."""


class _Feed:
    """The producer side: run() makes the call, emit() is its callback, the end is posted last."""

    __slots__ = ("call", "post", "left", "ended", "error")

    def __init__(self, call: Callable, post: Callable):
        self.call = call  # call(emit)
        self.post = post  # post(item): hands one item to the consumer, from the producer thread
        self.left = False  # the consumer has gone
        self.ended = False  # the consumer has read the end
        self.error: BaseException | None = None

    def emit(self, item) -> None:
        if self.left:
            raise Abandoned()
        self.post(item)

    def run(self) -> None:  # on the producer thread
        try:
            self.call(self.emit)
        except Abandoned:
            pass
        except BaseException as exc:  # noqa: B036 - handed to the consumer
            self.error = exc
        finally:
            self.post(_END)

    def more(self, item) -> bool:
        """False at the end, where the call's exception, if any, is raised."""
        if item is not _END:
            return True
        self.ended = True
        error, self.error = self.error, None
        if error is not None:
            try:
                raise error
            finally:
                error = None
        return False

    def leave(self) -> bool:
        """The consumer goes; True if it leaves before the end (the call may still run)."""
        self.left = True
        return not self.ended


def iterate(call: Callable, *, cancel: Callable[[int], object], name: str,
            check: Callable | None = None) -> Iterator:
    """The results of call(emit), made on a new daemon thread named `name`. Left early:
    cancel(thread_id) while the call runs (e.g. NativeContext.cancel_only: it stops that
    thread's call and no other), and the consumer waits for the thread either way."""
    if check is not None:
        check()
    items: queue.Queue = queue.Queue()
    feed = _Feed(call, items.put)
    worker = threading.Thread(target=feed.run, name=name, daemon=True)
    worker.start()
    try:
        while feed.more(item := items.get()):
            yield item
    finally:
        if feed.leave() and worker.is_alive() and worker.ident is not None:
            cancel(worker.ident)
        worker.join()


async def aiterate(call: Callable, *, submit: Callable, cancel: Callable[[], object],
                   check: Callable | None = None) -> AsyncIterator:
    """The results of call(emit), made on the thread `submit(fn) -> concurrent.futures.Future`
    runs it on (a model's worker), read on the running event loop. Left early: a call still
    queued is dropped, a running one gets cancel()."""
    import asyncio  # ~40 ms: only programs that use the async API pay for it

    if check is not None:
        check()
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue()

    def post(item) -> None:  # from the producer thread; the loop may be gone by then
        try:
            loop.call_soon_threadsafe(items.put_nowait, item)
        except RuntimeError:
            pass

    feed = _Feed(call, post)
    job = submit(feed.run)
    try:
        while feed.more(item := await items.get()):
            yield item
    finally:
        if feed.leave() and not job.done() and not job.cancel():
            cancel()
