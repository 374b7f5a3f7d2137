"""Responsiveness goals: how soon a cancel, a status query, a refusal, a close or a Ctrl-C answers.

    EDGE_VEDA_BENCH=1 python -m pytest -q tests/bench/test_bench_responsiveness.py -s

The default run checks the same behaviour (the call is cancelled, the status answers during a
call, the loop keeps beating, nothing hangs) with generous or relative bounds only; the figures
and their goals are here. Opt-in, like every benchmark: skipped unless EDGE_VEDA_BENCH=1 or
`-m bench` (timing figures are never a pass/fail of the default run on a loaded machine).
"""
import asyncio
import json
import signal
import subprocess
import sys
import threading
import time

import pytest

import edge_veda
from edge_veda import AsyncModel
from edge_veda._ffi import ffi, lib
from edge_veda.models import CatalogError, ModelManager

from conftest import bench_opted_in, cmudict_sample

pytestmark = [pytest.mark.slow, pytest.mark.bench]

MAX_PROMPT = ("abcdefghijklmnopqrstuvwxyz" * 40)[:1024].encode()
LONG_TEXT = " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 16)
LONG_PHONEMES = "həlˈO " * 100  # one piece of 510 ids, then the rest


@pytest.fixture(scope="module", autouse=True)
def opted_in(request):  # module scope: decided before the module's fixtures build anything
    if not bench_opted_in(request.config):  # tests/conftest.py (it also skips each test)
        pytest.skip("opt-in benchmark: EDGE_VEDA_BENCH=1, or -m bench")


def report(record_property, name: str, seconds: float, goal: float) -> None:
    record_property(name, round(seconds * 1000, 3))
    print(f"\n{name}: {seconds * 1000:.2f} ms (goal < {goal * 1000:.0f} ms)")


def native_generate(ptr, prompt: bytes, params=ffi.NULL) -> int:
    out = ffi.new("char**")
    rc = lib.ev_generate(ptr, prompt, params, out)
    if out[0] != ffi.NULL:
        lib.ev_free_string(out[0])
    return rc


def test_event_loop_gap_during_async_generates(network_dir, record_property):
    from test_async import heartbeat_max_gap

    words = cmudict_sample(500, seed=3)

    async def main():
        async with await AsyncModel.load(network_dir) as m:
            async def work():
                for w in words:
                    await m.generate(w)
            return (await heartbeat_max_gap(work))[0]

    gap = asyncio.run(main())
    report(record_property, "max_heartbeat_gap_ms", gap, 0.050)
    assert gap < 0.050


def test_async_stream_cancel_latency(artifact_dir, record_property):
    async def main():
        async with await AsyncModel.load(artifact_dir) as m:
            first, gate = asyncio.Event(), asyncio.Event()

            async def consume():
                async for _ in m.stream("pneumonoultramicroscopicsilicovolcanoconiosis"):
                    first.set()
                    await gate.wait()

            task = asyncio.create_task(consume())
            await first.wait()
            t0 = time.perf_counter()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.perf_counter() - t0

    latency = asyncio.run(main())
    report(record_property, "async_cancel_latency_ms", latency, 0.050)
    assert latency < 0.050


@pytest.mark.parametrize("sampling", [False, True], ids=["fused-greedy", "step-by-step"])
def test_ev_cancel_latency_on_a_max_length_prompt(artifact_dir, record_property, sampling):
    with edge_veda.Model.load(artifact_dir) as m:
        ptr = m._native._ptr
        params = ffi.new("ev_generation_params*", lib.ev_generation_params_default())
        if sampling:
            params.temperature, params.max_tokens = 3.0, 4096
        latencies = []
        for delay in [0.0005 * i for i in range(20)]:
            result = {}

            def run():
                result["rc"] = native_generate(ptr, MAX_PROMPT, params)
                result["end"] = time.perf_counter()

            worker = threading.Thread(target=run)
            worker.start()
            time.sleep(delay)
            cancelled_at = time.perf_counter()
            lib.ev_cancel(ptr)
            worker.join(30)
            if result.get("rc") == lib.EV_ERR_CANCELLED:
                latencies.append(result["end"] - cancelled_at)
    assert latencies, "no call was running when ev_cancel arrived"
    report(record_property, "ev_cancel_latency_max_ms", max(latencies), 0.050)
    assert max(latencies) < 0.050


@pytest.mark.parametrize("length", [1025, 1_000_000, 100 * 1000 * 1000])
def test_long_prompt_refusal_time(artifact_dir, record_property, length):
    with edge_veda.Model.load(artifact_dir) as m:
        ptr = m._native._ptr
        assert native_generate(ptr, b"a") == lib.EV_OK  # loaded
        prompt = b"a" * length
        t = time.perf_counter()
        assert native_generate(ptr, prompt) == lib.EV_ERR_INVALID_ARGUMENT
        took = time.perf_counter() - t
    report(record_property, "long_prompt_refusal_ms", took, 0.050)
    assert took < 0.050


def test_ev_status_latency_during_a_long_synthesis(kokoro_dir, g2p_artifact_dir, record_property):
    with edge_veda.SpeechModel.load(kokoro_dir, frontend=g2p_artifact_dir, num_threads=2) as tts:
        ptr = tts._native._ptr
        done = threading.Event()
        worker = threading.Thread(target=lambda: (tts.synthesize(LONG_TEXT), done.set()))
        worker.start()
        polls = []
        while not done.is_set():
            info = ffi.new("ev_status_info*")
            info.struct_size = ffi.sizeof("ev_status_info")
            t = time.perf_counter()
            assert lib.ev_status(ptr, info) == lib.EV_OK
            polls.append(time.perf_counter() - t)
            time.sleep(0.02)
        worker.join()
    assert len(polls) >= 20
    report(record_property, "ev_status_latency_max_ms", max(polls), 0.050)
    assert max(polls) < 0.050


def test_model_load_time_with_verification(artifact_dir, record_property):
    """The first ev_init in a process hashes the library; later ones hit the cache (one stat)."""
    code = (f"import json, time, edge_veda\ntimes = []\nfor _ in range(6):\n"
            f"    t = time.perf_counter(); m = edge_veda.Model.load({artifact_dir!r})\n"
            f"    times.append(time.perf_counter() - t); m.close()\nprint(json.dumps(times))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    times = json.loads(proc.stdout.splitlines()[-1])
    report(record_property, "first_load_ms", times[0], 0.5)
    report(record_property, "cached_load_median_ms", sorted(times[1:])[2], 0.050)
    assert times[0] < 0.5
    assert sorted(times[1:])[2] < 0.050


def test_close_with_open_streams_time(artifact_dir, record_property):
    m = edge_veda.Model.load(artifact_dir)
    g = m.stream("hello")
    next(g)
    t = time.perf_counter()
    m.close()
    took = time.perf_counter() - t
    report(record_property, "close_with_open_stream_ms", took, 1.0)
    assert took < 1.0


def test_speech_model_close_during_a_long_synthesis_time(kokoro_dir, record_property):
    tts = edge_veda.SpeechModel.load(kokoro_dir, frontend=None, num_threads=1)
    worker = threading.Thread(target=lambda: pytest.raises(edge_veda.EdgeVedaError, tts.synthesize,
                                                           phonemes=LONG_PHONEMES))
    worker.start()
    time.sleep(1.5)
    t = time.perf_counter()
    tts.close()
    took = time.perf_counter() - t
    worker.join()
    report(record_property, "speech_close_during_synthesis_ms", took, 2.0)
    assert took < 2.0


def test_cli_ctrl_c_exit_time(artifact_dir, edge_veda_home, record_property):
    proc = subprocess.Popen([sys.executable, "-m", "edge_veda", "g2p", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"interrupt\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith(b"interrupt\t")
        t = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        took = time.monotonic() - t
    finally:
        if proc.poll() is None:
            proc.kill()
    report(record_property, "cli_ctrl_c_exit_ms", took, 2.0)
    assert took < 2.0


def test_missing_path_catalog_failure_time(tmp_path, record_property):
    mm = ModelManager(str(tmp_path / "h"), str(tmp_path / "nope.json"))
    t = time.monotonic()
    with pytest.raises(CatalogError, match="does not exist"):
        mm.pull("toy")
    took = time.monotonic() - t
    report(record_property, "missing_catalog_failure_ms", took, 0.5)
    assert took < 0.5
