"""The tts kind through the ABI, the Python SpeechModel and the CLI: text through the G2P front
end in the same process, streaming, cancellation, word timings, every new entry point's bad
arguments, and memory (one copy of each model's weights). Accuracy against onnxruntime is in
tests/test_kokoro_compile.py (test_matches_onnxruntime)."""
import os
import subprocess
import sys
import threading
import time
import wave

import numpy as np
import pytest

import edge_veda
from edge_veda._ffi import ffi, lib

PARAGRAPH = "Hello, world. The year 2025 had 365 days! Did you count them?"
SAMPLES_PER_FRAME = 600


@pytest.fixture(scope="module")
def tts(kokoro_dir, artifact_dir):
    with edge_veda.SpeechModel.load(kokoro_dir, frontend=artifact_dir, num_threads=2) as m:
        yield m


def native(model):
    return model._native._ptr


@pytest.mark.slow
def test_text_paragraph_words_and_timings(tts):
    audio = tts.synthesize(PARAGRAPH)
    assert audio.sample_rate == 24000 and audio.samples.dtype == np.float32
    assert len(audio.samples) % SAMPLES_PER_FRAME == 0 and 4.0 < audio.duration < 15.0
    assert np.all(np.isfinite(audio.samples)) and 0.05 < np.abs(audio.samples).max() <= 1.5
    # One entry per input word, as the input wrote it; what was said for it beside it.
    words = [w for w, _, _ in audio.words]
    assert words == ["Hello", "world", "The", "year", "2025", "had", "365", "days", "Did", "you", "count",
                     "them"], words
    assert [w.spoken for w in audio.words] == ["hello", "world", "the", "year", "twenty twenty-five", "had",
                                               "three hundred sixty-five", "days", "did", "you", "count", "them"]
    assert all(PARAGRAPH[w.source_start:w.source_end] == w.text for w in audio.words)
    starts = [s for _, s, _ in audio.words]
    assert starts == sorted(starts) and all(s < e <= len(audio.samples) for _, s, e in audio.words)
    t = tts.timings()
    assert t["frontend"] > 0 and t["durations"] > 0 and t["audio"] > t["durations"]
    s = tts.status()
    assert "synthesize" in s.capabilities and s.model_kind == "tts"


def test_words_are_the_input_words_with_their_spans(tts):
    """Audio.words: the input's words ("Dr.", "$3.50", "1984") with their character offsets in the
    str (after non-ASCII text too) and what was said for each; sample spans in order. The C fields
    (ev_audio.word_source_begin/end) are UTF-8 byte offsets, shared by the words of one source word."""
    text = "Dr. Smith paid $3.50 in 1984. Café naïve 7pm!"
    audio = tts.synthesize(text)
    assert [w.text for w in audio.words] == ["Dr.", "Smith", "paid", "$3.50", "in", "1984", "Café", "naïve",
                                             "7pm"], audio.words
    assert [w.spoken for w in audio.words][:6] == ["doctor", "smith", "paid", "three dollars fifty cents", "in",
                                                   "nineteen eighty-four"]
    assert all(text[w.source_start:w.source_end] == w.text for w in audio.words)
    assert [w.source_start for w in audio.words] == [0, 4, 10, 15, 21, 24, 30, 35, 41]
    assert all(a.end <= b.start for a, b in zip(audio.words, audio.words[1:]))
    assert all(w.start < w.end <= len(audio.samples) for w in audio.words)
    # The ABI: one entry per spoken word, each with its source word's byte span.
    out = ffi.new("ev_audio**")
    assert lib.ev_synthesize(native(tts), text.encode(), ffi.NULL, out) == lib.EV_OK
    try:
        a = out[0]
        assert a.struct_size >= ffi.sizeof("ev_audio")
        raw = [(ffi.string(a.words[i]).decode(), text.encode()[a.word_source_begin[i]:a.word_source_end[i]].decode())
               for i in range(a.word_count)]
    finally:
        lib.ev_audio_free(out[0])
    assert raw[:7] == [("doctor", "Dr."), ("smith", "Smith"), ("paid", "paid"), ("three", "$3.50"),
                       ("dollars", "$3.50"), ("fifty", "$3.50"), ("cents", "$3.50")], raw
    assert ("nineteen", "1984") in raw and ("eighty-four", "1984") in raw and raw[-1] == ("m.", "7pm")
    # ev_phonemize (ABI minor 7) carries the same spans per token.
    ph_out = ffi.new("ev_phonemes**")
    assert lib.ev_phonemize(native(tts), text.encode(), ffi.NULL, ph_out) == lib.EV_OK
    try:
        r = ph_out[0]
        assert r.struct_size >= ffi.sizeof("ev_phonemes")
        spans = [(ffi.string(r.tokens[i]).decode(), text.encode()[r.source_begin[i]:r.source_end[i]].decode())
                 for i in range(r.count)]
    finally:
        lib.ev_phonemes_free(ph_out[0])
    assert spans[:2] == [("doctor", "Dr."), ("smith", "Smith")] and ("eighty-four", "1984") in spans, spans
    # Phoneme input has no source: the symbols' runs, no offsets.
    ph = tts.synthesize(phonemes="həlˈO wˈɜɹld")
    assert [(w.text, w.source_start) for w in ph.words] == [("həlˈO", None), ("wˈɜɹld", None)]
    # Text over the model's limit (split_text): the offsets still index the whole text.
    long = "  ".join(f"Sentence {i} costs ${i}.25 today." for i in range(8))
    tts.__dict__["_max_chars"] = 40  # each sentence a part of its own (as tests/test_tts_long_text.py)
    try:
        assert len(edge_veda.speech.split_text(long, 40)) == 8
        got = tts.synthesize(long, speed=4)
    finally:
        del tts.__dict__["_max_chars"]
    assert len(got.words) == 8 * 5 and all(long[w.source_start:w.source_end] == w.text for w in got.words)
    assert [w.text for w in got.words[-5:]] == ["Sentence", "7", "costs", "$7.25", "today"]
    assert [w.start for w in got.words] == sorted(w.start for w in got.words)


@pytest.mark.slow
def test_cli_say_writes_a_wav_of_the_synthesized_length(tts, kokoro_dir, artifact_dir, tmp_path):
    out = tmp_path / "para.wav"
    proc = subprocess.run([sys.executable, "-m", "edge_veda", "say", PARAGRAPH, "-o", str(out), "--model", kokoro_dir,
                           "--frontend", artifact_dir, "--threads", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        frames = w.getnframes()
    # one chunk per sentence, joined: the sentences synthesized apart, frame counts exact
    pieces = [tts.synthesize(s) for s in ("Hello, world.", "The year 2025 had 365 days!", "Did you count them?")]
    assert frames == sum(len(p.samples) for p in pieces)
    assert frames % SAMPLES_PER_FRAME == 0 and f"{frames / 24000:.2f} s" in proc.stderr
    voices = subprocess.run([sys.executable, "-m", "edge_veda", "voices", "--model", kokoro_dir],
                            capture_output=True, text=True, timeout=120)
    rows = [line.split("\t") for line in voices.stdout.splitlines()]
    assert voices.returncode == 0 and [r[0] for r in rows] == tts.voices()
    assert rows[0] == ["af_heart", "en-us", "female"] and ["bm_george", "en-gb", "male"] in rows


@pytest.mark.slow
def test_stream_delivers_the_first_sentence_before_the_last_is_synthesized(tts):
    arrivals = []
    t0 = time.perf_counter()
    chunks = []
    for c in tts.stream(PARAGRAPH):
        arrivals.append(time.perf_counter() - t0)
        chunks.append(c)
    total = time.perf_counter() - t0
    # sentence by sentence, the first sentence's first word on its own (test_stream_seams)
    assert [c.index for c in chunks] == list(range(len(chunks))) and len(chunks) >= 3
    assert [c.is_final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    progress = [c.progress for c in chunks]
    assert progress == sorted(progress) and progress[-1] == 1.0 and progress[0] < 0.5
    starts = np.cumsum([0] + [len(c.samples) for c in chunks[:-1]]).tolist()
    assert [c.start_sample for c in chunks] == starts
    assert arrivals[0] < 0.5 * total, (arrivals, total)  # the first words came before the rest was made


SEAM_SENTENCES = ["Hello there, and welcome.",
                  "Our first audio should come quickly, even for a long opening sentence like this one.",
                  "Please call me back tomorrow morning."]


@pytest.mark.slow
@pytest.mark.parametrize("sentence", SEAM_SENTENCES)
def test_stream_seams(tts, sentence):
    """A stream vocodes the first sentence in parts (its first word or two alone: first audio in a
    fraction of the sentence's time). Joined, the parts must sound like the sentence made whole:
    the same length (the parts share one run of the durations stage), DTW-aligned log-mel cosine
    >= 0.95, and no pause longer than 120 ms where a part ends between two words."""
    from audio_metrics import aligned_log_mel_cosine, longest_pause

    chunks = [c.samples for c in tts.stream(sentence)]
    whole = tts.synthesize(sentence).samples
    joined = np.concatenate(chunks)
    assert len(chunks) >= 2, "the first sentence of a stream is vocoded in parts"
    assert len(chunks[0]) < 0.5 * len(whole)
    assert len(joined) == len(whole)
    assert aligned_log_mel_cosine(joined, whole, 24000) >= 0.95
    for seam in np.cumsum([len(c) for c in chunks[:-1]]):
        # the crossfade is centred kSeamFrames (2 frames) after the chunk's end
        at = int(seam) + 2 * SAMPLES_PER_FRAME
        pause = longest_pause(joined, 24000, at, 2400)
        assert pause <= max(120.0, longest_pause(whole, 24000, at, 2400) + 20.0), (seam, pause)


@pytest.mark.slow
def test_cancel_during_a_long_synthesis_then_the_context_works(tts):
    text = " ".join(["This sentence is one of many in a long text."] * 12)
    seen = []

    def cancel_after_first(chunk):
        seen.append(chunk.index)
        tts.cancel()  # allowed from the callback: stops before the next piece

    t0 = time.perf_counter()
    with pytest.raises(edge_veda.CancelledError):
        tts.synthesize_with_callback(text, cancel_after_first)
    assert seen == [0] and time.perf_counter() - t0 < 30
    # from another thread, mid-call
    timer = threading.Timer(0.5, tts.cancel)
    timer.start()
    with pytest.raises(edge_veda.CancelledError):
        tts.synthesize(text)
    timer.join()
    assert len(tts.synthesize("Still here.").samples) > 0


@pytest.mark.slow
def test_voices_blends_and_speed(tts):
    # all 54 Kokoro v1.0 voices, the American English flagship first (the default)
    assert tts.voices[0] == "af_heart" and len(tts.voices) == 54
    assert {"af_heart", "am_michael", "bf_emma", "bm_george", "jf_alpha", "jm_kumo"} <= set(tts.voices)
    english = tts.synthesize(phonemes="həlˈoʊ", voice="bf_emma")
    assert len(english.samples) > 0
    ph = "kanakisɯ bozeɴko"
    a = tts.synthesize(phonemes=ph, voice="jf_alpha")
    b = tts.synthesize(phonemes=ph, voice="jm_kumo")
    blend = tts.synthesize(phonemes=ph, voice="jf_alpha:0.5,jm_kumo:0.5")
    assert not np.array_equal(a.samples, b.samples) and len(blend.samples) > 0
    same = tts.synthesize(phonemes=ph, voice="jf_alpha:2")  # one voice, any weight: itself
    assert np.array_equal(same.samples, a.samples)
    slow = tts.synthesize(phonemes=ph, speed=0.5)
    fast = tts.synthesize(phonemes=ph, speed=2.0)
    assert len(slow.samples) > len(a.samples) > len(fast.samples)
    for bad, match in [("nobody", "no voice named 'nobody'"), ("jf_alpha:-1", "not a positive number"),
                       ("jf_alpha:x", "not a positive number"), ("", None)]:
        if match is None:
            continue
        with pytest.raises(edge_veda.InvalidArgumentError, match=match) as e:
            tts.synthesize(phonemes=ph, voice=bad)
        if bad == "nobody":
            assert "af_heart" in e.value.hint
    for speed in (0.0, 0.1, 5.0, float("nan"), float("inf")):
        with pytest.raises(edge_veda.InvalidArgumentError, match="speed"):
            tts.synthesize(phonemes=ph, speed=speed)
    with pytest.raises(edge_veda.InvalidArgumentError, match="no phoneme the model knows"):
        tts.synthesize(phonemes="#$%")


def test_null_and_invalid_arguments_of_every_new_entry_point(tts, model):
    ctx = native(tts)
    out = ffi.new("ev_audio**")
    p = ffi.new("ev_synthesis_params*", lib.ev_synthesis_params_default())
    assert p.struct_size == ffi.sizeof("ev_synthesis_params") and p.speed == 1.0 and p.input == lib.EV_TTS_INPUT_TEXT
    assert lib.ev_synthesize(ffi.NULL, b"x", ffi.NULL, out) == lib.EV_ERR_INVALID_ARGUMENT and out[0] == ffi.NULL
    assert lib.ev_synthesize(ctx, ffi.NULL, ffi.NULL, out) == lib.EV_ERR_INVALID_ARGUMENT
    assert lib.ev_synthesize(ctx, b"x", ffi.NULL, ffi.NULL) == lib.EV_ERR_INVALID_ARGUMENT
    for field, value in (("struct_size", 3), ("struct_size", 1 << 20), ("input", 7), ("speed", -1.0)):
        q = ffi.new("ev_synthesis_params*", lib.ev_synthesis_params_default())
        setattr(q, field, value)
        assert lib.ev_synthesize(ctx, b"a", q, out) == lib.EV_ERR_INVALID_ARGUMENT, field
        assert out[0] == ffi.NULL
    lib.ev_audio_free(ffi.NULL)
    assert lib.ev_synthesize_stream(ffi.NULL, b"x", ffi.NULL, ffi.NULL, ffi.NULL) == lib.EV_ERR_INVALID_ARGUMENT
    assert lib.ev_synthesize_stream(ctx, b"x", ffi.NULL, ffi.NULL, ffi.NULL) == lib.EV_ERR_INVALID_ARGUMENT
    assert lib.ev_synthesize_stream(ctx, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL) == lib.EV_ERR_INVALID_ARGUMENT
    names = ffi.new("char**")
    assert lib.ev_voices(ffi.NULL, names) == lib.EV_ERR_INVALID_ARGUMENT
    assert lib.ev_voices(ctx, ffi.NULL) == lib.EV_ERR_INVALID_ARGUMENT
    assert lib.ev_set_frontend(ffi.NULL, ffi.NULL) == lib.EV_ERR_INVALID_ARGUMENT
    assert lib.ev_set_frontend(ctx, ctx) == lib.EV_ERR_INVALID_ARGUMENT
    # a TTS context cannot be a front end (it does not phonemize); a G2P model does not synthesize
    with edge_veda.SpeechModel.load(tts.status().artifact_path, frontend=None) as other:
        assert lib.ev_set_frontend(native(other), ctx) == lib.EV_ERR_UNSUPPORTED_OPERATION
        with pytest.raises(edge_veda.InvalidStateError, match="front end"):
            other.synthesize("text needs a front end")
    g2p = native(model)
    assert lib.ev_synthesize(g2p, b"hello", ffi.NULL, out) == lib.EV_ERR_UNSUPPORTED_OPERATION
    assert lib.ev_voices(g2p, names) == lib.EV_ERR_UNSUPPORTED_OPERATION
    # ABI minor 6: the voices as an array, the same names as the comma-joined string
    listed = ffi.new("ev_voice_list**")
    assert lib.ev_list_voices(ffi.NULL, listed) == lib.EV_ERR_INVALID_ARGUMENT and listed[0] == ffi.NULL
    assert lib.ev_list_voices(ctx, ffi.NULL) == lib.EV_ERR_INVALID_ARGUMENT
    assert lib.ev_list_voices(g2p, listed) == lib.EV_ERR_UNSUPPORTED_OPERATION and listed[0] == ffi.NULL
    lib.ev_voice_list_free(ffi.NULL)
    assert lib.ev_list_voices(ctx, listed) == lib.EV_OK
    try:
        v = listed[0]
        assert v.struct_size == ffi.sizeof("ev_voice_list")
        array = [ffi.string(v.names[i]).decode() for i in range(v.count)]
    finally:
        lib.ev_voice_list_free(listed[0])
    assert lib.ev_voices(ctx, names) == lib.EV_OK
    try:
        joined = ffi.string(names[0]).decode()
    finally:
        lib.ev_free_string(names[0])
    assert array == joined.split(",") and len(array) >= 5
    # the context is still usable after all of that
    assert tts.voices[0] == "af_heart" and tts.voices == array


@pytest.mark.slow
def test_g2p_and_tts_share_one_process_and_one_copy_of_the_weights(kokoro_dir, artifact_dir):
    """The G2P and the TTS contexts in one process on one runtime: RSS grows by their weights
    (mapped once) plus working memory (the VM's activations for a short sentence, measured
    ~150 MiB; bound 256 MiB). A second TTS context maps the same file: its pages are the same
    physical memory (PSS, which counts a shared page once, does not grow by another copy)."""
    code = f"""
import edge_veda, psutil
p = psutil.Process()
base_rss, base_pss = p.memory_info().rss, p.memory_full_info().pss
g2p = edge_veda.Model.load({artifact_dir!r})
a = edge_veda.SpeechModel.load({kokoro_dir!r}, frontend=g2p, num_threads=2)
x = a.synthesize("One process, one runtime.")
assert g2p.generate("hello") == "HH AH0 L OW1"
weights = a.status().weights_bytes + g2p.status().weights_bytes
rss = p.memory_info().rss - base_rss
b = edge_veda.SpeechModel.load({kokoro_dir!r}, frontend=g2p, num_threads=2)
y = b.synthesize("One process, one runtime.")
assert (x.samples == y.samples).all()
pss = p.memory_full_info().pss - base_pss
print(rss >> 20, pss >> 20, weights >> 20)
assert rss < weights + (256 << 20), (rss, weights)
assert pss < weights + (256 << 20), (pss, weights)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_async_twin_streams_on_its_worker_and_cancels(kokoro_dir, artifact_dir):
    import asyncio

    async def main():
        async with await edge_veda.AsyncSpeechModel.load(kokoro_dir, frontend=artifact_dir, num_threads=2) as m:
            assert (await m.voices())[0] == "af_heart"
            audio = await m.synthesize("Hello.")
            assert audio.sample_rate == 24000 and len(audio.samples) > 0
            chunks = [c async for c in m.stream("One. Two.")]
            assert [c.index for c in chunks] == [0, 1] and chunks[-1].is_final
            # a consumer task cancelled mid-stream cancels the native call; the model goes on
            long = " ".join(["This sentence is one of many."] * 20)

            async def consume():
                async for _ in m.stream(long):
                    await asyncio.sleep(10)

            task = asyncio.create_task(consume())
            await asyncio.sleep(1.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert len((await m.synthesize("Again.")).samples) > 0

    asyncio.run(main())


def test_artifact_found_where_app_bundles_put_it(artifact_dir, tmp_path):
    """ev_init(model_path) looks in the directory, then tvm_output/, Resources/ and
    Contents/Resources/ (docs: edge_veda.h ev_init); the error lists every path tried."""
    import shutil

    for place in ("tvm_output", "Resources", "Contents/Resources"):
        app = tmp_path / place.replace("/", "_") / "Demo.app"
        shutil.copytree(artifact_dir, app / place)
        with edge_veda.Model.load(str(app)) as m:
            assert m.generate("hello") == "HH AH0 L OW1"
            assert m.status().artifact_path.endswith(place)
    empty = tmp_path / "Empty.app"
    (empty / "Contents").mkdir(parents=True)
    with pytest.raises(edge_veda.ModelNotFoundError) as e:
        edge_veda.Model.load(str(empty))
    for place in ("", "/tvm_output", "/Resources", "/Contents/Resources"):
        assert f"'{empty}{place}/manifest.json'" in e.value.hint


def test_a_closed_borrowed_front_end_is_refused_not_reached(kokoro_dir, artifact_dir):
    g2p = edge_veda.Model.load(artifact_dir)
    with edge_veda.SpeechModel.load(kokoro_dir, frontend=g2p) as tts:
        g2p.close()
        with pytest.raises(edge_veda.InvalidStateError, match="front-end model was closed"):
            tts.synthesize("hello")


@pytest.mark.slow
def test_memory_pressure_unloads_the_voice_model_and_the_next_call_reloads_it(kokoro_dir, artifact_dir):
    """ev_notify_memory_pressure(CRITICAL) with auto unload releases Kokoro's weights (status
    says so, tracked memory drops to 0); the next synthesis reloads them and produces the same
    audio, and the front end keeps working throughout."""
    with edge_veda.SpeechModel.load(kokoro_dir, frontend=artifact_dir, num_threads=2,
                                    auto_unload_on_memory_pressure=True) as m:
        before = m.synthesize("Pressure test.")
        loaded = m.status()
        assert loaded.weights_loaded and loaded.memory_used_bytes >= loaded.weights_bytes > 300e6
        m.notify_memory_pressure(critical=True)
        unloaded = m.status()
        assert not unloaded.weights_loaded and unloaded.memory_used_bytes == 0
        assert m.voices[0] == "af_heart"  # answered from the manifest, no reload needed
        after = m.synthesize("Pressure test.")
        assert m.status().weights_loaded
        assert len(after.samples) == len(before.samples) and after.words == before.words
        np.testing.assert_allclose(after.samples, before.samples, atol=1e-5)


def test_switching_device_is_free_then_init_and_an_unsupported_one_lists_the_supported(kokoro_dir, artifact_dir):
    """Seed 2's set_device: close the model and load it again with another device string. A
    device this build lacks is refused at load with the devices it has; nothing is left open."""
    with pytest.raises(edge_veda.UnsupportedDeviceError) as e:
        edge_veda.SpeechModel.load(kokoro_dir, device="gpu", frontend=None)
    assert "'gpu'" in str(e.value) and '"cpu"' in e.value.hint
    with edge_veda.SpeechModel.load(kokoro_dir, device="cpu", frontend=None, num_threads=2) as m:
        assert m.status().device == "cpu" and m.voices


@pytest.mark.slow
def test_address_space_stays_near_the_weights(kokoro_dir):
    """A short synthesis reserves no address space beyond the mapped weights and its working
    buffers. Regression: a Slice "to the end" compiled with a constant end made the memory
    planner reserve a static 8 GiB buffer per call (VmPeak 9 GB for "ka."): harmless on 64-bit
    Linux until touched, but an allocation failure on a 32-bit target or under iOS's limits."""
    code = f"""
import edge_veda, re
with edge_veda.SpeechModel.load({kokoro_dir!r}, frontend=None, num_threads=2) as m:
    m.synthesize(phonemes="ka.")
    weights = m.status().weights_bytes
status = open("/proc/self/status").read()
print(int(re.search(r"VmPeak:\\s+(\\d+) kB", status).group(1)) * 1024, weights)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak, weights = map(int, proc.stdout.split())
    print(f"VmPeak {peak >> 20} MiB, weights {weights >> 20} MiB")
    assert peak < weights + (1 << 30), (peak, weights)


@pytest.mark.slow
def test_memory_does_not_grow_with_each_new_input_length(kokoro_dir):
    """A long-lived service synthesizes texts of every length. Regression: with TVM's pooled
    allocator each distinct length left its buffers cached (+150 MiB per new length, without
    bound: 550 -> 1,640 MiB over 8 sentences); the tts kind's VM now releases them after use."""
    code = f"""
import edge_veda, psutil, sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
from test_kokoro_compile import phoneme_text
p = psutil.Process()
with edge_veda.SpeechModel.load({kokoro_dir!r}, frontend=None, num_threads=2) as m:
    rss = []
    for n in range(30, 37):
        m.synthesize(phonemes=phoneme_text(n, n))
        rss.append(p.memory_info().rss)
print(*rss)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rss = [int(x) for x in proc.stdout.split()]
    print("RSS after each length, MiB:", [x >> 20 for x in rss])
    assert max(rss[1:]) - rss[0] < 200 << 20, [x >> 20 for x in rss]
