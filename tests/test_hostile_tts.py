"""Hostile use of the TTS surface, round two: a TTS context and its G2P front end called from
each other's callbacks and threads (no deadlock: each call finishes or is refused with
EV_ERR_INVALID_STATE), cancel inside one long piece, a borrowed front end closed under a running
synthesis, an abandoned stream beside another thread's call, and inputs that used to give silent
wrong output (overflowing blend weights, phonemes of only spaces, vocabulary ids past the
model's tables, NaN weights).

The C cases run in a fresh interpreter with a timeout, so a deadlock fails the test instead of
hanging the run."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import edge_veda
from edge_veda import artifact
from edge_veda._ffi import ffi, lib

pytestmark = pytest.mark.slow

LONG_PHONEMES = "həlˈO " * 100  # ~600 ids without punctuation: one piece of 510 ids, then the rest

PRELUDE = """
import json, sys, threading, time
from edge_veda._ffi import ffi, lib

def last_error(ctx=ffi.NULL):
    return ffi.string(lib.ev_last_error_message(ctx)).decode()

def init(path, **fields):
    cfg = ffi.new("ev_config*", lib.ev_config_default())
    keep = ffi.new("char[]", path.encode())
    cfg.model_path = keep
    for k, v in fields.items():
        setattr(cfg, k, v)
    err = ffi.new("ev_error_t*")
    ctx = lib.ev_init(cfg, err)
    assert ctx != ffi.NULL, last_error()
    return ctx

def synthesize(ctx, text, phonemes=False):
    p = ffi.new("ev_synthesis_params*", lib.ev_synthesis_params_default())
    p.input = lib.EV_TTS_INPUT_PHONEMES if phonemes else lib.EV_TTS_INPUT_TEXT
    out = ffi.new("ev_audio**")
    rc = lib.ev_synthesize(ctx, text.encode(), p, out)
    n = out[0].sample_count if out[0] != ffi.NULL else 0
    msg = last_error(ctx) if rc else ""
    lib.ev_audio_free(out[0])
    return int(rc), int(n), msg
"""


def run(body: str, kokoro_dir, g2p_dir, timeout=300, address_space_mb=None):
    """Runs BODY in a fresh interpreter; ADDRESS_SPACE_MB sets RLIMIT_AS before it starts, as
    `ulimit -v` does (the interpreter and the library are then loaded under the limit)."""
    code = PRELUDE + f"KOKORO = {str(kokoro_dir)!r}\nG2P = {str(g2p_dir)!r}\n" + textwrap.dedent(body)

    def limit_address_space():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (address_space_mb << 20, resource.getrlimit(resource.RLIMIT_AS)[1]))

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit_address_space if address_space_mb else None)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- composed contexts: no lock order a callback can invert ----------------------------------

def test_front_end_callback_calling_its_tts_context_is_refused_not_deadlocked(kokoro_dir, g2p_artifact_dir):
    r = run("""
        fe = init(G2P, num_threads=1)
        tts = init(KOKORO, num_threads=1)
        assert lib.ev_set_frontend(tts, fe) == lib.EV_OK
        inner = {}

        @ffi.callback("ev_token_callback")
        def synth_in_callback(user, token, token_id):
            if "synth" not in inner:
                inner["synth"] = synthesize(tts, "Hi.")
                inner["set_frontend"] = [int(lib.ev_set_frontend(tts, fe)), last_error(tts)]

        outer = lib.ev_generate_stream(fe, b"hello world", ffi.NULL, synth_in_callback, ffi.NULL)
        after = synthesize(tts, "Hi.")  # both contexts usable afterwards
        out = ffi.new("char**")
        g2p_after = lib.ev_generate(fe, b"hello", ffi.NULL, out)
        lib.ev_free_string(out[0])
        lib.ev_free(tts)
        lib.ev_free(fe)
        print(json.dumps(dict(outer=outer, inner=inner, after=after, g2p_after=g2p_after)))
    """, kokoro_dir, g2p_artifact_dir)
    assert r["outer"] == lib.EV_OK
    rc, n, msg = r["inner"]["synth"]
    assert rc == lib.EV_ERR_INVALID_STATE and n == 0, msg
    assert "model 'g2p-en' is in use by the call that runs this callback" in msg and "\nhint: " in msg, msg
    rc, msg = r["inner"]["set_frontend"]
    assert rc == lib.EV_ERR_INVALID_STATE and "g2p-en" in msg, msg
    assert r["after"][0] == lib.EV_OK and r["after"][1] > 0
    assert r["g2p_after"] == lib.EV_OK


def test_front_end_pressure_callback_inside_a_synthesis_calling_the_tts_context(kokoro_dir, g2p_artifact_dir):
    r = run("""
        fe = init(G2P, num_threads=1, memory_limit_bytes=1)  # every call crosses the limit
        tts = init(KOKORO, num_threads=1)
        assert lib.ev_set_frontend(tts, fe) == lib.EV_OK
        inner = []

        @ffi.callback("ev_memory_pressure_callback")
        def on_pressure(user, current, limit):
            info = ffi.new("ev_status_info*")
            info.struct_size = ffi.sizeof("ev_status_info")
            names = ffi.new("char**")
            rc = int(lib.ev_voices(tts, names))  # needs the TTS context's lock
            inner.append([rc, last_error(tts), int(lib.ev_status(tts, info)), int(info.sample_rate)])

        assert lib.ev_set_memory_pressure_callback(fe, on_pressure, ffi.NULL) == lib.EV_OK
        outer = synthesize(tts, "Hi.")
        lib.ev_set_memory_pressure_callback(fe, ffi.NULL, ffi.NULL)
        lib.ev_free(tts)
        lib.ev_free(fe)
        print(json.dumps(dict(outer=outer, inner=inner)))
    """, kokoro_dir, g2p_artifact_dir)
    assert r["outer"][0] == lib.EV_OK and r["outer"][1] > 0
    assert r["inner"], "the front end's pressure callback did not fire"
    rc, msg, status_rc, rate = r["inner"][0]
    assert rc == lib.EV_ERR_INVALID_STATE, msg
    assert "model 'kokoro' is in use by the call that runs this callback" in msg, msg
    # ev_status takes no lock since ABI minor 6: it answers even here, with the TTS's status.
    assert status_rc == lib.EV_OK and rate == 24000


def test_lock_order_inversion_across_two_threads_finishes(kokoro_dir, g2p_artifact_dir):
    """A loops ev_synthesize(tts, text) (tts, then its front end); B runs ev_generate_stream(fe)
    whose callback calls ev_synthesize(tts, phonemes) (fe, then tts). Every call returns: the
    one whose wait would close the cycle (A's or B's, whichever waits second) is refused with
    EV_ERR_INVALID_STATE, the others succeed."""
    r = run("""
        fe = init(G2P, num_threads=1)
        tts = init(KOKORO, num_threads=1)
        assert lib.ev_set_frontend(tts, fe) == lib.EV_OK
        a_results, b_inner, b_outer = [], [], []

        def a():
            for _ in range(4):
                a_results.append(synthesize(tts, "Hi there."))

        @ffi.callback("ev_token_callback")
        def on_token(user, token, token_id):
            b_inner.append(synthesize(tts, "hˈI.", phonemes=True))

        def b():
            for _ in range(4):
                b_outer.append(int(lib.ev_generate_stream(fe, b"hi", ffi.NULL, on_token, ffi.NULL)))

        threads = [threading.Thread(target=a), threading.Thread(target=b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lib.ev_free(tts)
        lib.ev_free(fe)
        print(json.dumps(dict(a=a_results, b_inner=b_inner, b_outer=b_outer)))
    """, kokoro_dir, g2p_artifact_dir)
    assert r["b_outer"] == [lib.EV_OK] * 4
    assert len(r["a"]) == 4 and r["b_inner"]
    for rc, n, msg in r["a"] + r["b_inner"]:
        assert (rc == lib.EV_OK and n > 0) or (rc == lib.EV_ERR_INVALID_STATE and "would deadlock" in msg), msg


# ---- cancel inside one long piece -------------------------------------------------------------

@pytest.fixture(scope="module")
def long_piece_seconds(kokoro_dir):
    """What synthesizing LONG_PHONEMES takes uncancelled on one thread, here and now: what a cancel
    honoured only after the long piece would take most of (the tests' reference; the latency
    goals are benchmarks: tests/bench/test_bench_tts.py, tests/bench/test_bench_responsiveness.py)."""
    with edge_veda.SpeechModel.load(kokoro_dir, frontend=None, num_threads=1) as tts:
        t = time.perf_counter()
        tts.synthesize(phonemes=LONG_PHONEMES)
        return time.perf_counter() - t


def test_cancel_stops_a_long_piece_within_one_kernel(kokoro_dir, g2p_artifact_dir, long_piece_seconds):
    """ev_cancel lands between kernels of the vocoder, not after the piece. The latency is a
    benchmark figure (tests/bench/test_bench_tts.py); here only a bound far above it and far
    below the rest of the piece (a quarter of the whole synthesis, measured alike) is asserted."""
    r = run(f"""
        tts = init(KOKORO, num_threads=1)
        result = {{}}

        def work():
            result["synth"] = synthesize(tts, {LONG_PHONEMES!r}, phonemes=True)
            result["returned"] = time.perf_counter()

        t = threading.Thread(target=work)
        t.start()
        time.sleep(1.5)
        cancelled_at = time.perf_counter()
        lib.ev_cancel(tts)
        t.join()
        after = synthesize(tts, "hˈI.", phonemes=True)
        lib.ev_free(tts)
        print(json.dumps(dict(synth=result["synth"], latency=result["returned"] - cancelled_at, after=after)))
    """, kokoro_dir, g2p_artifact_dir)
    rc, n, msg = r["synth"]
    assert rc == lib.EV_ERR_CANCELLED and n == 0, msg
    assert r["latency"] < long_piece_seconds / 4, (r, long_piece_seconds)  # measured ~0.05 s of 5+ s
    assert r["after"][0] == lib.EV_OK and r["after"][1] > 0


def test_closing_a_speech_model_during_a_long_synthesis_is_prompt(kokoro_dir, long_piece_seconds):
    tts = edge_veda.SpeechModel.load(kokoro_dir, frontend=None, num_threads=1)
    failure = []

    def work():
        try:
            tts.synthesize(phonemes=LONG_PHONEMES)
        except BaseException as exc:  # noqa: B036
            failure.append(exc)

    t = threading.Thread(target=work)
    t.start()
    time.sleep(1.5)
    started = time.perf_counter()
    tts.close()
    took = time.perf_counter() - started
    t.join()
    assert failure and isinstance(failure[0], (edge_veda.CancelledError, edge_veda.InvalidStateError)), failure
    assert took < long_piece_seconds / 4, (took, long_piece_seconds)  # not after the piece (the rest of it)


# ---- a borrowed front end closed under a synthesis --------------------------------------------

def test_closing_a_borrowed_front_end_never_frees_it_under_the_speech_model(kokoro_dir, g2p_artifact_dir):
    fe = edge_veda.Model.load(g2p_artifact_dir, num_threads=1)
    tts = edge_veda.SpeechModel.load(kokoro_dir, frontend=fe, num_threads=1)
    results, errors = [], []

    def long_call():
        results.append(len(tts.synthesize(phonemes="həlˈO " * 40).samples))

    def text_call():
        try:
            results.append(len(tts.synthesize("Hello there.").samples))
        except edge_veda.InvalidStateError as exc:  # the front end was closed before it began
            errors.append(exc)

    t1 = threading.Thread(target=long_call)
    t1.start()
    while tts._native._inflight == 0:
        time.sleep(0.01)
    t2 = threading.Thread(target=text_call)
    t2.start()
    while tts._native._inflight < 2:
        time.sleep(0.01)
    fe.close()  # returns at once; the native context stays until the speech model lets go
    assert fe.closed
    other = edge_veda.Model.load(g2p_artifact_dir)  # would reuse freed memory if fe were freed
    t1.join()
    t2.join()
    assert len(results) + len(errors) == 2 and all(n > 0 for n in results), (results, errors)
    with pytest.raises(edge_veda.InvalidStateError, match="front-end model was closed"):
        tts.synthesize("Hello.")
    assert len(tts.synthesize(phonemes="hˈI.").samples) > 0  # phonemes need no front end
    assert fe._native._free_on_last_loan is not None
    tts.close()
    assert fe._native._free_on_last_loan is None  # freed with the speech model's loan
    assert other.generate("hello") == "HH AH0 L OW1"
    other.close()


# ---- an abandoned stream stops its own call only ----------------------------------------------

def test_abandoned_stream_does_not_cancel_another_threads_call(kokoro_dir):
    with edge_veda.SpeechModel.load(kokoro_dir, frontend=None, num_threads=1) as tts:
        stream = tts.stream(phonemes="hˈI. hˈI ðˈɛɹ. " * 3)
        first = next(stream)
        assert first.index == 0
        outcome = []

        def other():
            try:
                outcome.append(len(tts.synthesize(phonemes="hˈI.").samples))
            except BaseException as exc:  # noqa: B036
                outcome.append(exc)

        t = threading.Thread(target=other)
        t.start()
        while tts._native._inflight < 2:  # the other call is in flight beside the stream's
            time.sleep(0.01)
        stream.close()  # abandoned after the first chunk
        t.join()
        assert len(outcome) == 1 and isinstance(outcome[0], int) and outcome[0] > 0, outcome
        assert len(tts.synthesize(phonemes="hˈI.").samples) > 0


# ---- silent wrong output ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def speech(kokoro_dir):
    with edge_veda.SpeechModel.load(kokoro_dir, frontend=None, num_threads=2) as m:
        yield m


def test_blend_weights_that_overflow_are_refused(speech):
    voices = speech.voices
    with pytest.raises(edge_veda.InvalidArgumentError, match="add up to infinity"):
        speech.synthesize(phonemes="hˈI.", voice=f"{voices[0]}:1e308,{voices[1]}:1e308")
    ok = speech.synthesize(phonemes="hˈI.", voice=f"{voices[0]}:1e300,{voices[1]}:1e300")
    assert np.abs(ok.samples).max() < 1.5  # large but finite weights are normalized


@pytest.mark.parametrize("phonemes", [" ", " # ", "   \t "])
def test_phonemes_with_nothing_to_say_are_an_error_on_both_paths(speech, phonemes):
    with pytest.raises(edge_veda.InvalidArgumentError, match="nothing to say|no phoneme the model knows"):
        speech.synthesize(phonemes=phonemes)
    chunks = []
    with pytest.raises(edge_veda.InvalidArgumentError, match="nothing to say|no phoneme the model knows"):
        speech.synthesize_with_callback(None, chunks.append, phonemes=phonemes)
    assert chunks == []


def _copy_artifact(src, dst):
    """A copy whose big files are hard links (the tests edit the manifest, or replace a file)."""
    os.makedirs(dst)
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if name.startswith("manifest"):
            shutil.copy(s, d)
        else:
            os.link(s, d)
    return dst


@pytest.mark.parametrize("edit, fragment", [
    (lambda t: t["vocab"].update({"ʘ": 178}), 'tts.vocab["ʘ"] is id 178'),
    (lambda t: t["vocab"].update({"ʘ": 65535}), "is id 65535"),
    (lambda t: t.update(pad_id=200), "tts.pad_id is id 200"),
])
def test_vocabulary_ids_past_the_embedding_tables_are_refused(kokoro_dir, tmp_path, edit, fragment):
    art = _copy_artifact(kokoro_dir, str(tmp_path / "k"))
    m = json.load(open(os.path.join(art, "manifest.json")))
    edit(m["tts"])
    artifact.write_manifest(art, m)
    with pytest.raises(edge_veda.ModelInvalidError) as e:
        edge_veda.SpeechModel.load(art, frontend=None)
    assert fragment in str(e.value) and "178 rows" in str(e.value)


def test_nan_weights_fail_clearly_instead_of_returning_nan_audio(kokoro_dir, tmp_path):
    art = _copy_artifact(kokoro_dir, str(tmp_path / "k"))
    m = json.load(open(os.path.join(art, "manifest.json")))
    audio_only = [w for w in m["functions"]["audio"]["weights"] if w not in m["functions"]["durations"]["weights"]]
    table = {t["name"]: t for t in m["weights"]["tensors"]}
    target = next(w for w in audio_only if table[w]["dtype"] == "float32")
    weights = os.path.join(art, m["weights"]["file"])
    data = bytearray(open(weights, "rb").read())
    os.remove(weights)  # the hard link: the original stays intact
    begin = table[target]["offset"]
    end = begin + table[target]["nbytes"]
    data[begin:end] = np.full((end - begin) // 4, np.nan, dtype=np.float32).tobytes()
    with open(weights, "wb") as f:
        f.write(data)
    del data
    m["files"][m["weights"]["file"]] = artifact.file_entry(weights)
    artifact.write_manifest(art, m)
    with edge_veda.SpeechModel.load(art, frontend=None, num_threads=2) as tts:
        with pytest.raises(edge_veda.ModelInvalidError, match="NaN or infinite samples"):
            tts.synthesize(phonemes="hˈI.")


# ---- threads that cannot be had ---------------------------------------------------------------

@pytest.mark.parametrize("model", ["kokoro", "g2p"])
def test_thread_creation_failure_under_an_address_space_limit_is_an_error(kokoro_dir, g2p_artifact_dir, model):
    """`ulimit -v` and 64 kernel threads: TVM's pool used to std::terminate when a worker thread
    could not start (its workers' malloc arenas, made while the pool was still starting threads,
    left no room for the last stacks; about 1 run in 10 at 1.2-1.5 GB). Now ev_init refuses with
    EV_ERR_OUT_OF_MEMORY and a hint, or the call runs; never an abort. For g2p a batch of 128
    words the network must decode (out of the lexicon) runs too. Several limits, twice each:
    the abort depended on thread timing."""
    body = """
        path = KOKORO if MODEL == "kokoro" else G2P
        cfg = ffi.new("ev_config*", lib.ev_config_default())
        keep = ffi.new("char[]", path.encode())
        cfg.model_path = keep
        cfg.num_threads = 64
        err = ffi.new("ev_error_t*")
        ctx = lib.ev_init(cfg, err)
        result = dict(init=int(err[0]), msg=last_error())
        if ctx != ffi.NULL:
            if MODEL == "kokoro":
                result["call"] = synthesize(ctx, "həlˈO.", phonemes=True)[0]
            else:
                words = [ffi.new("char[]", b"zqx%dblorv" % i) for i in range(128)]
                outs = ffi.new("char*[]", 128)
                result["call"] = int(lib.ev_generate_batch(ctx, ffi.new("char*[]", words), 128, ffi.NULL, outs))
                for i in range(128):
                    lib.ev_free_string(outs[i])
            result["call_msg"] = last_error(ctx)
            lib.ev_free(ctx)
        print(json.dumps(result))
    """.replace("MODEL", repr(model))
    for limit_mb in (1200, 1500, 1200, 1500):
        r = run(body, kokoro_dir, g2p_artifact_dir, address_space_mb=limit_mb)
        if r["init"] != lib.EV_OK:
            assert r["init"] == lib.EV_ERR_OUT_OF_MEMORY, (limit_mb, r)
            assert "threads" in r["msg"] and "num_threads" in r["msg"], r["msg"]
        else:
            assert r["call"] in (lib.EV_OK, lib.EV_ERR_OUT_OF_MEMORY), (limit_mb, r)


def test_ctrl_c_during_say_ends_it_promptly(kokoro_dir, tmp_path, long_piece_seconds):
    """SIGINT during one long piece: exit 130 well before the piece would end (was 33.6 s: the
    cancel waited for the whole piece), and nothing is left at the output path."""
    import signal

    out = tmp_path / "long.wav"
    proc = subprocess.Popen([sys.executable, "-m", "edge_veda", "say", "--phonemes", LONG_PHONEMES, "-o", str(out),
                             "--model", str(kokoro_dir), "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4.0)  # loaded, inside the synthesis
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    took = time.perf_counter() - sent
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert took < long_piece_seconds / 4, (took, long_piece_seconds)
    assert not out.exists()


def test_say_with_nothing_to_say_fails_and_writes_nothing(kokoro_dir, tmp_path):
    out = tmp_path / "ph.wav"
    proc = subprocess.run([sys.executable, "-m", "edge_veda", "say", "--phonemes", " # ", "-o", str(out),
                           "--model", str(kokoro_dir)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "nothing to say" in proc.stderr or "no phoneme the model knows" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
