"""Memory pressure: events reach the loop, weights unload and reload transparently, and no
callback runs after it is removed or the model is closed."""
import asyncio

import edge_veda
from edge_veda import AsyncModel, Model


def test_limit_below_footprint_unloads_and_reloads(artifact_dir, reference):
    async def main():
        async with await AsyncModel.load(artifact_dir, memory_limit_bytes=4096,
                                         auto_unload_on_memory_pressure=True) as m:
            events = m.memory_events()
            before = await m.generate("pressure")
            event = await asyncio.wait_for(events.__anext__(), timeout=5)
            unloaded = await m.status()
            after = await m.generate("pressure")
            loaded_during = await m.status()
            await events.aclose()
            return before, event, unloaded, after, loaded_during

    before, event, unloaded, after, status2 = asyncio.run(main())
    assert event.limit_bytes == 4096 and event.current_bytes > 1_000_000
    assert not unloaded.weights_loaded and unloaded.memory_used_bytes == 0
    assert before == after == reference.predict("pressure")
    assert not status2.weights_loaded  # unloaded again after the call crossed the limit


def test_notify_delivers_event_on_the_loop_and_unloads(artifact_dir, reference):
    async def main():
        loop_thread = None
        async with await AsyncModel.load(artifact_dir, auto_unload_on_memory_pressure=True) as m:
            events = m.memory_events()
            first = await m.generate("notify")
            await m.notify_memory_pressure(critical=True)
            event = await asyncio.wait_for(events.__anext__(), timeout=5)
            import threading
            loop_thread = threading.current_thread() is threading.main_thread()
            status = await m.status()
            again = await m.generate("notify")
            return first, event, status, again, loop_thread

    first, event, status, again, on_loop = asyncio.run(main())
    assert event.current_bytes > 1_000_000 and event.limit_bytes == 0
    assert not status.weights_loaded
    assert first == again == reference.predict("notify") and on_loop


def test_no_callback_after_unregister_or_close(artifact_dir):
    calls = []
    m = Model.load(artifact_dir, memory_limit_bytes=4096)
    m.set_memory_pressure_callback(lambda cur, lim: calls.append((cur, lim)))
    m.notify_memory_pressure()
    assert len(calls) == 1
    m.generate("crossing")  # crosses the limit: fires once
    assert len(calls) == 2
    m.set_memory_pressure_callback(None)
    m.notify_memory_pressure(critical=True)
    m.generate("again")
    assert len(calls) == 2

    m.set_memory_pressure_callback(lambda cur, lim: calls.append((cur, lim)))
    m.close()
    assert len(calls) == 2
    try:
        m.notify_memory_pressure()
    except edge_veda.InvalidStateError:
        pass
    assert len(calls) == 2
