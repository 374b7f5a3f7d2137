"""`edge-veda compile kokoro --precision int8` (issue 23) against the fp32 artifact on the accuracy
inputs of tests/test_kokoro_compile.py (9 phoneme-id inputs, 5 to 400 ids, voice jf_alpha).

Both artifacts run the same fp32 "durations" stage, so the int8 artifact's "audio" stage gets the
same alignment, d and t_en as the fp32 one, and the two waveforms have identical frames: what
differs is the generator's residual-block convs (kernels/int8_conv.py). The bars:

* log-spectral distance to fp32 <= 2.5 dB (audio_metrics.log_spectral_distance; kokoro-pi's
  measure for reduced-precision Kokoro, where ~2.2 dB was judged inaudible); measured 0.20-0.30 dB;
* log-mel cosine to fp32 >= 0.9995 (the fp32 artifact's own bar against onnxruntime): measured
  0.99999;
* beside them, the phase floor: the distance a harmless change already causes (fp32 audio with
  `d` perturbed by 1e-7 relative, random sign): 0.13-0.90 dB measured. Kokoro's harmonic source
  turns any tiny upstream change into a phase change; printed, not asserted.

CI runs three of the inputs (IN_CI); EDGE_VEDA_LONG=1 runs all nine. The int8 artifact is compiled once per session (~1-2 min; tests/conftest.py kokoro_int8_dir);
EDGE_VEDA_KOKORO_INT8_ARTIFACT=DIR reuses one already built.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from audio_metrics import log_mel_cosine, log_spectral_distance
from test_kokoro_compile import LENGTHS, VOICE, phoneme_text

pytestmark = pytest.mark.slow

MAX_LSD_DB = 2.5
MIN_LOG_MEL_COSINE = 0.9995


def stages(artifact_dir):
    """manifest, weights, role -> callable through TVM's Python VM (as test_kokoro_compile)."""
    tvm = pytest.importorskip("tvm")
    from tvm import relax

    from edge_veda import artifact
    from edge_veda.compile.weights import read_weights

    manifest = artifact.read_manifest(artifact_dir)
    dev = tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(os.path.join(artifact_dir, manifest["module"]["library"])), dev)
    tensors = read_weights(artifact_dir, manifest["weights"])
    out = {}
    for role, spec in manifest["functions"].items():
        bound = [tvm.runtime.tensor(np.ascontiguousarray(tensors[name]), dev) for name in spec["weights"]]

        def run(*inputs, _name=spec["name"], _bound=bound):
            result = vm[_name](*[tvm.runtime.tensor(np.ascontiguousarray(x), dev) for x in inputs], *_bound)
            return result.numpy() if hasattr(result, "numpy") else tuple(o.numpy() for o in result)
        out[role] = run
    return manifest, tensors, out


@pytest.fixture(scope="module")
def both(kokoro_dir, kokoro_int8_dir):
    return stages(kokoro_dir), stages(kokoro_int8_dir)


def test_int8_manifest_records_precision_and_int8_kernels(kokoro_int8_dir, kokoro_dir):
    from edge_veda import artifact

    m8, m32 = artifact.read_manifest(kokoro_int8_dir), artifact.read_manifest(kokoro_dir)
    assert m8["precision"] == "int8" and m32.get("precision", "fp32") == "fp32"
    with open(os.path.join(kokoro_int8_dir, m8["module"]["library"]), "rb") as f:
        library = f.read()
    # the generator's resblock convs (kernels 3/7/11, dilations 1/3/5, 128 and 256 channels) took
    # the int8 kernel; the decoder's 1024-channel convs did not (see recipes/kokoro.py)
    expected = [f"conv1d_int8_{c}x{c}x{k}_d{d}_p{d * (k - 1) // 2}".encode()
                for c in (128, 256) for k in (3, 7, 11) for d in (1, 3, 5)]
    missing = [name.decode() for name in expected if name not in library]
    assert not missing, missing
    assert b"conv1d_int8_1024x" not in library and b"conv1d_direct_1024x1024x3" in library


# CI runs three of the nine inputs (short, medium, long: ~1 min beside the compile); all nine
# with EDGE_VEDA_LONG=1 or -m long (measured on all nine: see the module docstring).
IN_CI = (5, 24, 160)


@pytest.mark.parametrize("n", [n if n in IN_CI else pytest.param(n, marks=pytest.mark.long) for n in LENGTHS])
def test_int8_vocoder_sounds_like_fp32(n, both):
    from edge_veda.compile.recipes import kokoro_graph as kg

    (manifest, tensors, fp32), (_, _, int8) = both
    vocab = manifest["tts"]["vocab"]
    tokens = np.array([[0, *[vocab[c] for c in phoneme_text(n, seed=n)], 0]], np.int64)
    style = np.array(tensors[manifest["tts"]["voices"][VOICE]][n - 1:n])
    durations, d, t_en = fp32["durations"](tokens, style, np.ones(1, np.float32))
    alignment = kg.alignment(durations)
    reference = fp32["audio"](alignment, d, t_en, style)
    audio = int8["audio"](alignment, d, t_en, style)
    rng = np.random.default_rng(n)
    nudged = (d.astype(np.float64) * (1 + 1e-7 * rng.choice([-1, 1], d.shape))).astype(np.float32)
    floor = log_spectral_distance(fp32["audio"](alignment, nudged, t_en, style), reference)

    sr = manifest["tts"]["sample_rate"]
    lsd = log_spectral_distance(audio, reference)
    cosine = log_mel_cosine(audio, reference, sr)
    print(f"\n  n={n}: {len(reference) // manifest['tts']['samples_per_frame']} frames, int8 vs fp32: "
          f"log-spectral distance {lsd:.2f} dB (phase floor {floor:.2f} dB), log-mel cosine {cosine:.6f}")
    assert len(audio) == len(reference)
    assert np.isfinite(audio).all()
    assert lsd <= MAX_LSD_DB, (lsd, floor)
    assert cosine >= MIN_LOG_MEL_COSINE, cosine
