"""Hostile and careless use of the Python binding: nothing hangs, crashes, leaks a native
stream or raises anything but an EdgeVedaError for bad input.

Whatever could hang (close() against an open stream, a callback calling its own model) runs in
a child interpreter with a timeout, so a regression fails the test instead of hanging the run."""
import asyncio
import math
import subprocess
import sys
import textwrap

import pytest

import edge_veda
from edge_veda import AsyncModel, Model
from edge_veda.errors import InvalidArgumentTypeError


def run_child(code: str, artifact_dir: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter (ARTIFACT = the artifact directory); fails on a hang."""
    script = "import sys, time, threading, edge_veda\nfrom edge_veda import Model\n" \
             f"ARTIFACT = {artifact_dir!r}\n" + textwrap.dedent(code)
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"hung for {timeout} s; output so far: {e.stdout!r} {e.stderr!r}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


# --- close() and open streams ---------------------------------------------------------------

def test_close_ends_an_open_stream_and_a_resumed_generator_raises(artifact_dir):
    proc = run_child("""
        m = Model.load(ARTIFACT)
        g = m.stream("hello")
        first = next(g)
        never_started = m.stream("world")
        t0 = time.monotonic()
        m.close()
        took = time.monotonic() - t0
        assert took < 30, took  # close() does not wait for the suspended streams (a hang would)
        for gen in (g, never_started):
            try:
                next(gen)
            except edge_veda.InvalidStateError as e:
                assert "closed" in e.message and e.hint, e
            else:
                raise AssertionError("a stream resumed after close() must raise")
        assert not m._streams  # every native stream was freed before the context
        print("ok", first)
    """, artifact_dir)
    assert proc.stdout.startswith("ok HH")


def test_close_with_a_stream_left_open_by_with_block(artifact_dir):
    run_child("""
        with Model.load(ARTIFACT) as m:
            g = m.stream("context")
            next(g)
        assert m.closed
        g.close()  # closing the generator afterwards is harmless
    """, artifact_dir)


def test_deleting_an_unfinished_stream_frees_it_at_once(model, reference):
    g = model.stream("abandonment")
    assert next(g) == reference.predict("abandonment").split()[0]
    assert len(model._streams) == 1
    del g
    assert not model._streams
    assert model.generate("after") == reference.predict("after")


def test_many_abandoned_streams_are_all_freed(artifact_dir):
    run_child("""
        m = Model.load(ARTIFACT)
        gens = [m.stream(w) for w in ("one", "two", "three", "four")]
        for g in gens:
            next(g)
        assert len(m._streams) == 4
        gens[1].close()
        assert len(m._streams) == 3
        m.close()
        assert not m._streams
        del gens  # the generators' own clean-up after close() frees nothing twice
    """, artifact_dir)


def test_streams_interleave_with_other_calls(model, reference):
    g = model.stream("interleave")
    tokens = [next(g)]
    assert model.generate("between") == reference.predict("between")
    tokens += list(g)
    assert " ".join(tokens) == reference.predict("interleave")


def test_close_from_another_thread_while_a_stream_is_consumed(artifact_dir):
    proc = run_child("""
        m = Model.load(ARTIFACT)
        outcome = []
        def consume():
            try:
                while True:
                    for _ in m.stream("pneumonoultramicroscopicsilicovolcanoconiosis"):
                        pass
            except (edge_veda.InvalidStateError, edge_veda.CancelledError) as e:
                outcome.append(type(e).__name__)
        t = threading.Thread(target=consume)
        t.start()
        time.sleep(0.2)
        m.close()
        t.join(30)
        assert not t.is_alive(), "the consumer never ended"  # it loops until close() ends it
        assert outcome, outcome
        print(outcome[0])
    """, artifact_dir)
    assert proc.stdout.strip() in ("InvalidStateError", "CancelledError")


def test_close_from_another_thread_while_a_callback_runs(artifact_dir):
    run_child("""
        m = Model.load(ARTIFACT)
        entered, release = threading.Event(), threading.Event()
        errors = []
        def slow(tok, tid):
            entered.set()
            release.wait(5)
        def call():
            try:
                m.generate_with_callback("international", slow)
            except edge_veda.CancelledError:
                errors.append("cancelled")
        t = threading.Thread(target=call)
        t.start()
        assert entered.wait(10)
        closer = threading.Thread(target=m.close)
        closer.start()
        time.sleep(0.1)
        release.set()
        closer.join(5)
        t.join(5)
        assert not closer.is_alive() and not t.is_alive()
        assert m.closed and errors == ["cancelled"], errors
    """, artifact_dir)


# --- callbacks --------------------------------------------------------------------------------

class Boom(Exception):
    pass


def test_raising_token_callback_cancels_and_reraises(model, reference):
    calls = []
    error = Boom("from the callback")

    def on_token(token, token_id):
        calls.append(token)
        raise error

    with pytest.raises(Boom) as e:
        model.generate_with_callback("international", on_token)
    assert e.value is error
    assert len(calls) == 1  # cancelled: the callback is not called again
    assert model.generate("international") == reference.predict("international")


def test_token_callback_raising_on_the_last_token_still_reraises(model, reference):
    n = len(reference.predict("cat").split())
    seen = []

    def on_token(token, token_id):
        seen.append(token)
        if len(seen) == n:
            raise Boom("last")

    with pytest.raises(Boom):
        model.generate_with_callback("cat", on_token)
    assert " ".join(seen) == reference.predict("cat")


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_token_callback_raising_a_base_exception_is_reraised(model, reference, exc_type):
    def on_token(token, token_id):
        raise exc_type()

    with pytest.raises(exc_type):
        model.generate_with_callback("keyboard", on_token)
    assert model.generate("keyboard") == reference.predict("keyboard")


def test_token_callback_that_is_not_callable(model):
    with pytest.raises(edge_veda.InvalidArgumentError) as e:
        model.generate_with_callback("x", "not a function")
    assert isinstance(e.value, TypeError) and "on_token" in e.value.message


def test_memory_callback_exception_goes_to_unraisablehook(model, reference, monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    def on_pressure(current, limit):
        raise Boom("memory")

    model.set_memory_pressure_callback(on_pressure)
    model.notify_memory_pressure()  # returns normally: nothing crosses into C
    assert len(seen) == 1
    assert type(seen[0]).__name__ == "UnraisableHookArgs"  # the real type, which the default hook needs
    assert seen[0].exc_type is Boom and str(seen[0].exc_value) == "memory"
    assert model.generate("memory") == reference.predict("memory")


def test_memory_callback_exception_with_the_default_hook_prints_it_once(artifact_dir):
    run_child_stderr = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import edge_veda
        m = edge_veda.Model.load({artifact_dir!r})
        def bad(cur, lim):
            raise RuntimeError("pressure boom")
        m.set_memory_pressure_callback(bad)
        m.notify_memory_pressure()
        print(m.generate("fine"))
    """)], capture_output=True, text=True, timeout=60)
    assert run_child_stderr.returncode == 0
    err = run_child_stderr.stderr
    assert "RuntimeError: pressure boom" in err
    assert "TypeError" not in err and "onerror" not in err, err  # the reporter itself never fails
    assert run_child_stderr.stdout.strip()


def test_memory_callback_keyboard_interrupt_is_reraised_by_the_call(model):
    def on_pressure(current, limit):
        raise KeyboardInterrupt

    model.set_memory_pressure_callback(on_pressure)
    with pytest.raises(KeyboardInterrupt):
        model.notify_memory_pressure()
    model.set_memory_pressure_callback(None)
    model.notify_memory_pressure()  # nothing left pending


def test_callback_calling_its_own_model_gets_invalid_state_not_a_deadlock(artifact_dir):
    run_child("""
        m = Model.load(ARTIFACT)
        def reenter(tok, tid):
            m.generate("inner")
        try:
            m.generate_with_callback("outer", reenter)
        except edge_veda.InvalidStateError as e:
            assert "callback" in e.message and "Model.generate" in e.message, e
        else:
            raise AssertionError("expected InvalidStateError")

        for name, reenter_call in [
                ("Model.set_memory_pressure_callback", lambda: m.set_memory_pressure_callback(None)),
                ("Model.notify_memory_pressure", lambda: m.notify_memory_pressure()),
                ("Model.status", lambda: m.status()),
                ("Model.stream", lambda: next(m.stream("inner"))),
                ("Model.generate_batch", lambda: m.generate_batch(["inner"])),
                ("Model.warmup", lambda: m.warmup())]:
            def reenter(tok, tid):
                reenter_call()
            try:
                m.generate_with_callback("outer", reenter)
            except edge_veda.InvalidStateError as e:
                assert name in e.message, (name, e)
            else:
                raise AssertionError(name)

        def close_inside(tok, tid):
            m.close()
        try:
            m.generate_with_callback("outer", close_inside)
        except edge_veda.InvalidStateError as e:
            assert "close" in e.message, e
        else:
            raise AssertionError("expected InvalidStateError")

        status_errors = []
        def pressure(cur, lim):
            try:
                m.status()
            except edge_veda.InvalidStateError as e:
                status_errors.append(e)
        m.set_memory_pressure_callback(pressure)
        m.notify_memory_pressure()
        assert len(status_errors) == 1

        cancelled = []
        def cancel_inside(tok, tid):
            m.cancel()  # allowed from a callback
            cancelled.append(tok)
        try:
            m.generate_with_callback("international", cancel_inside)
        except edge_veda.CancelledError:
            pass
        assert len(cancelled) == 1
        assert m.generate("still") and repr(m).startswith("<edge_veda.Model g2p-en")
        m.close()
    """, artifact_dir)


# --- parameters -------------------------------------------------------------------------------

CALLS = {
    "Model.generate": lambda m, **kw: m.generate("word", **kw),
    "Model.generate_batch": lambda m, **kw: m.generate_batch(["word"], **kw),
    "Model.stream": lambda m, **kw: list(m.stream("word", **kw)),
    "Model.generate_with_callback": lambda m, **kw: m.generate_with_callback("word", lambda t, i: None, **kw),
}


@pytest.mark.parametrize("api", list(CALLS))
def test_bad_keyword_names_the_public_call_and_lists_the_allowed(model, api):
    with pytest.raises(edge_veda.InvalidArgumentError) as e:
        CALLS[api](model, temprature=0.5)
    err = e.value
    assert isinstance(err, TypeError)  # like Python's own unexpected-keyword error
    assert f"{api}()" in err.message and "'temprature'" in err.message and "'temperature'" in err.message
    assert "_Params" not in str(err) and "build" not in str(err)
    for allowed in ("max_tokens", "temperature", "top_p", "top_k", "repeat_penalty", "seed", "stop"):
        assert allowed in err.hint


@pytest.mark.parametrize("params, range_text", [
    (dict(seed=2**70), "2**64-1"),
    (dict(seed=-1), "2**64-1"),
    (dict(max_tokens=2**40), "2147483647"),
    (dict(max_tokens=-5), "2147483647"),
    (dict(top_k=2**31), "2147483647"),
    (dict(top_k=-1), "0 (off)"),
    (dict(temperature=-0.5), "greedy"),
    (dict(temperature=math.nan), "greedy"),
    (dict(temperature=math.inf), "greedy"),
    (dict(temperature=1e39), "greedy"),  # beyond float32: would become inf in C
    (dict(temperature=10**400), "greedy"),  # an int too big for a double
    (dict(top_p=0), "(0, 1]"),
    (dict(top_p=1.5), "(0, 1]"),
    (dict(top_p=math.nan), "(0, 1]"),
    (dict(repeat_penalty=0), "> 0"),
    (dict(repeat_penalty=-math.inf), "> 0"),
], ids=lambda v: repr(v)[:40])
def test_out_of_range_values_give_the_allowed_range(model, params, range_text):
    with pytest.raises(edge_veda.InvalidArgumentError) as e:
        model.generate("word", **params)
    (name,) = params
    assert e.value.message.startswith("Model.generate: ") and name in e.value.message
    assert range_text in e.value.hint
    assert not isinstance(e.value, OverflowError)


@pytest.mark.parametrize("params", [
    dict(max_tokens="5"), dict(max_tokens=1.5), dict(max_tokens=True), dict(seed=1.0), dict(top_k="3"),
    dict(temperature="hot"), dict(temperature=True), dict(top_p=[1]), dict(stop=5), dict(stop=b"AH"),
    dict(stop=[b"AH"]), dict(stop=["A\0H"]), dict(stop=["\udcff"]), dict(stop=["x"] * 1025),
], ids=lambda v: repr(v)[:40])
def test_wrong_types_are_invalid_argument_errors(model, params):
    with pytest.raises(edge_veda.InvalidArgumentError) as e:
        model.generate("word", **params)
    assert e.value.message.startswith("Model.generate: ") and e.value.hint


def test_valid_edge_values_are_accepted(model, reference):
    full = reference.predict("boundary")
    assert model.generate("boundary", seed=2**64 - 1, max_tokens=2**31 - 1, top_k=2**31 - 1) == full
    assert model.generate("boundary", temperature=0, top_p=1, repeat_penalty=1, stop=[]) == full
    assert model.generate("boundary", temperature=None, seed=None) == full  # None = the default
    np = pytest.importorskip("numpy")
    assert model.generate("boundary", max_tokens=np.int64(2), temperature=np.float32(0)).split() == full.split()[:2]


@pytest.mark.parametrize("texts, expect", [
    ("hello", "list of str"),
    (b"hello", "list of str"),
    (None, "list of str"),
    (42, "list of str"),
    (["ok", 5, "fine"], "texts[1]"),
    (["ok", None], "texts[1]"),
    (["ok", "fine", "a\0b"], "texts[2]"),
    (["\udcff"], "texts[0]"),
    ([b"bytes"], "texts[0]"),
])
def test_generate_batch_rejects_what_is_not_a_list_of_strings(model, texts, expect):
    with pytest.raises(edge_veda.InvalidArgumentError) as e:
        model.generate_batch(texts)
    assert expect in e.value.message
    if isinstance(texts, (str, bytes)):
        assert "pass a list of strings" in e.value.hint


def test_generate_batch_takes_any_iterable_of_strings(model, reference):
    words = ["tuple", "of", "words"]
    expect = [reference.predict(w) for w in words]
    assert model.generate_batch(tuple(words)) == expect
    assert model.generate_batch(iter(words)) == expect
    assert model.generate_batch([]) == []


def test_text_with_lone_surrogates_is_an_invalid_argument(model):
    with pytest.raises(edge_veda.InvalidArgumentError) as e:
        model.generate("caf\udce9")
    assert "lone surrogate" in e.value.message
    with pytest.raises(edge_veda.InvalidArgumentError):
        model.stream("x\udcff")


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_threads=-1), "num_threads"),
    (dict(num_threads=2**40), "num_threads"),
    (dict(num_threads="4"), "num_threads"),
    (dict(num_threads=1.5), "num_threads"),
    (dict(memory_limit_bytes=-1), "memory_limit_bytes"),
    (dict(memory_limit_bytes=2**64), "memory_limit_bytes"),
    (dict(seed=2**64), "seed"),
    (dict(seed=-1), "seed"),
    (dict(seed="7"), "seed"),
    (dict(device=None), "device"),
    (dict(device="c\0pu"), "device"),
    (dict(threads=2), "num_threads"),  # an unknown keyword: the hint lists the allowed ones
], ids=lambda v: repr(v)[:40])
def test_model_load_checks_its_arguments(artifact_dir, kwargs, name):
    with pytest.raises(edge_veda.InvalidArgumentError) as e:
        Model.load(artifact_dir, **kwargs)
    assert "Model.load" in e.value.message
    assert name in e.value.message + e.value.hint


@pytest.mark.parametrize("source", [None, 42, "g2p\0en"])
def test_model_load_rejects_a_bad_source(source):
    with pytest.raises(edge_veda.InvalidArgumentError):
        Model.load(source)


def test_model_load_accepts_many_threads(artifact_dir, reference):
    with Model.load(artifact_dir, num_threads=300) as m:  # the library caps it
        assert m.generate_batch(["many", "threads"]) == [reference.predict("many"), reference.predict("threads")]


def test_type_errors_stay_type_errors():
    assert issubclass(InvalidArgumentTypeError, edge_veda.InvalidArgumentError)
    assert issubclass(InvalidArgumentTypeError, TypeError) and issubclass(InvalidArgumentTypeError, ValueError)


# --- asyncio ----------------------------------------------------------------------------------

def test_async_model_used_from_a_second_event_loop_gets_memory_events(artifact_dir, reference, monkeypatch):
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    async def first():
        m = await AsyncModel.load(artifact_dir)
        m.memory_events()  # a subscriber whose loop is about to close
        assert await m.generate("first") == reference.predict("first")
        return m

    async def second(m):
        events = m.memory_events()
        await m.notify_memory_pressure()
        event = await asyncio.wait_for(events.__anext__(), timeout=5)
        text = await m.generate("second")
        await m.aclose()

        async def drain():
            return [e async for e in events]  # ends when the model closes
        rest = await asyncio.wait_for(drain(), timeout=5)
        return event, text, rest

    m = asyncio.run(first())
    event, text, rest = asyncio.run(second(m))
    assert event.current_bytes > 1_000_000 and text == reference.predict("second") and rest == []
    assert unraisable == []  # no "Event loop is closed" from the first loop's subscriber


def test_async_model_across_loops_prints_no_traceback(artifact_dir):
    proc = run_child("""
        import asyncio
        from edge_veda import AsyncModel
        async def first():
            m = await AsyncModel.load(ARTIFACT)
            m.memory_events()
            return m
        async def second(m):
            events = m.memory_events()
            await m.notify_memory_pressure()
            await asyncio.wait_for(events.__anext__(), timeout=5)
            out = [t async for t in m.stream("loops")]
            await m.aclose()
            return out
        m = asyncio.run(first())
        print(" ".join(asyncio.run(second(m))))
    """, artifact_dir)
    assert "loop" not in proc.stderr.lower()
    assert proc.stdout.strip()


def test_memory_events_need_a_running_loop(artifact_dir):
    async def load():
        return await AsyncModel.load(artifact_dir)

    m = asyncio.run(load())
    with pytest.raises(edge_veda.InvalidStateError) as e:
        m.memory_events()
    assert "coroutine" in e.value.hint

    async def close():
        await m.aclose()
    asyncio.run(close())


def test_async_stream_ends_when_the_model_is_closed(artifact_dir):
    run_child("""
        import asyncio
        from edge_veda import AsyncModel
        async def main():
            m = await AsyncModel.load(ARTIFACT)
            got = []
            try:
                async for tok in m.stream("pneumonoultramicroscopicsilicovolcanoconiosis"):
                    got.append(tok)
                    if len(got) == 1:
                        await m.aclose()
            except edge_veda.CancelledError:
                pass
            assert m.closed and got
            try:
                async for _ in m.stream("after"):
                    pass
            except edge_veda.InvalidStateError:
                return "ok"
        print(asyncio.run(asyncio.wait_for(main(), 20)))
    """, artifact_dir)


def test_async_bad_keyword_names_the_async_call(artifact_dir):
    async def main():
        async with await AsyncModel.load(artifact_dir) as m:
            with pytest.raises(edge_veda.InvalidArgumentError) as e:
                await m.generate("x", sed=1)
            assert "AsyncModel.generate()" in e.value.message
            with pytest.raises(edge_veda.InvalidArgumentError) as e:
                await m.generate_batch("hello")
            assert "pass a list of strings" in e.value.hint
            with pytest.raises(edge_veda.InvalidArgumentError) as e:
                async for _ in m.stream("x", max_tokens=2**40):
                    pass
            assert "AsyncModel.stream" in e.value.message
            with pytest.raises(edge_veda.InvalidArgumentError) as e:
                await AsyncModel.load(artifact_dir, num_threads=-3)
            return await m.generate_batch(("a", "b"))
    assert len(asyncio.run(main())) == 2


def test_cancelling_aclose_still_closes(artifact_dir):
    async def main():
        m = await AsyncModel.load(artifact_dir)
        task = asyncio.ensure_future(m.aclose())
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        for _ in range(100):
            if m._model.closed:
                break
            await asyncio.sleep(0.05)
        return m

    m = asyncio.run(main())
    assert m.closed and m._model.closed
