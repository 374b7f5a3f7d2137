"""Recipe g2p-en: Park & Kim's English grapheme-to-phoneme GRU seq2seq (kind g2p: a CMUdict
lexicon first, this network for the words the lexicon lacks).

The weights come from the PyPI package `g2p-en` (g2p_en/checkpoint20.npz). The package is
located, never imported: importing g2p_en triggers nltk downloads, which fail offline.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os

import numpy as np

from ..kernels import gru_kernels
from .lexicon import cmudict_entries, encode_lexicon
from ..recipe import Build, Function, emit_model_info

# The edge_veda.compile modules this recipe's build imports beyond the pipeline at compile/'s top
# level: with this file they make g2p-en's compiler key (edge_veda.paths.compiler_sources), so
# another recipe's edits keep g2p-en's local builds. tests/test_compile_layout.py checks the list.
IMPORTS = ("kernels.gru_kernels", "recipes.lexicon")

# Vocabularies exactly as g2p_en/g2p.py defines them (ids are positions).
GRAPHEMES = ["<pad>", "<unk>", "</s>"] + list("abcdefghijklmnopqrstuvwxyz")
PHONEMES = ["<pad>", "<unk>", "<s>", "</s>"] + [
    "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1", "AO2",
    "AW0", "AW1", "AW2", "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0", "EH1", "EH2",
    "ER0", "ER1", "ER2", "EY0", "EY1", "EY2", "F", "G", "HH", "IH0", "IH1", "IH2", "IY0",
    "IY1", "IY2", "JH", "K", "L", "M", "N", "NG", "OW0", "OW1", "OW2", "OY0", "OY1", "OY2",
    "P", "R", "S", "SH", "T", "TH", "UH0", "UH1", "UH2", "UW", "UW0", "UW1", "UW2", "V",
    "W", "Y", "Z", "ZH"]
MAX_DECODE_STEPS = 20  # g2p-en's predict(): `for i in range(20)`
BOS, EOS = 2, 3        # <s>, </s> in PHONEMES
MAX_INPUT_CHARS = 1024  # manifest limits.max_input_chars: encoding 1024 characters takes ~7 ms

def checkpoint_path() -> str:
    spec = importlib.util.find_spec("g2p_en")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the PyPI package 'g2p-en' is not installed; it ships the g2p-en weights "
            "(pip install g2p-en)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "checkpoint20.npz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing from the g2p-en package")
    return path


def load_weights() -> dict[str, np.ndarray]:
    with np.load(checkpoint_path()) as npz:
        w = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    assert w["enc_emb"].shape[0] == len(GRAPHEMES), w["enc_emb"].shape
    assert w["dec_emb"].shape[0] == len(PHONEMES), w["dec_emb"].shape
    return w


def source_version() -> str:
    try:
        return importlib.metadata.version("g2p-en")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


NAME = "g2p-en"
# Kind "g2p" (csrc/models/g2p): the text front end, a CMUdict lexicon file (LEXICON_FILE) and the
# network below as its "network" section (a seq2seq-gru section, docs/artifact-format.md).
KIND = "g2p"
LEXICON_FILE = "g2p-en.lexicon"


def build(target) -> Build:
    """The g2p-en module for a tvm.target.Target, its weights and its manifest section."""
    from tvm import relax, tirx

    w = load_weights()
    hidden = w["enc_w_hh"].shape[1]
    n_out = len(PHONEMES)
    tile = gru_kernels.tile_for(target)
    logits_pad = -(-n_out // tile) * tile
    encoder, decoder_step, greedy = gru_kernels.make_kernels(
        hidden, len(GRAPHEMES), n_out, logits_pad, tile, bos=BOS, eos=EOS)

    def input_table(emb, w_ih, b_ih):
        # Each row is what g2p-en computes per step: np.matmul(x, w_ih.T) + b_ih.
        return np.ascontiguousarray(np.matmul(emb, w_ih.T) + b_ih, dtype=np.float32)

    weights = {
        "enc_table": input_table(w["enc_emb"], w["enc_w_ih"], w["enc_b_ih"]),
        "enc_whh": gru_kernels.pack_tiles(w["enc_w_hh"].T, tile),
        "enc_bhh": w["enc_b_hh"],
        "dec_table": input_table(w["dec_emb"], w["dec_w_ih"], w["dec_b_ih"]),
        "dec_whh": gru_kernels.pack_tiles(w["dec_w_hh"].T, tile),
        "dec_bhh": w["dec_b_hh"],
        "fc_w": gru_kernels.pack_tiles(w["fc_w"].T, tile),
        "fc_b": np.pad(w["fc_b"], (0, logits_pad - n_out)),
    }
    # Weights are parameters, not constants: the library maps them once per context and passes
    # the same memory to every VM.
    params = {k: relax.Var(k, relax.TensorType(v.shape, "float32")) for k, v in weights.items()}
    encode_w = ["enc_table", "enc_whh", "enc_bhh"]
    step_w = ["dec_table", "dec_whh", "dec_bhh", "fc_w", "fc_b"]

    bb = relax.BlockBuilder()
    enc_gv = bb.add_func(encoder, "gru_encoder")
    dec_gv = bb.add_func(decoder_step, "gru_decoder_step")
    greedy_gv = bb.add_func(greedy, "gru_greedy")
    h_type = relax.TensorType((hidden,), "float32")

    ids = relax.Var("ids", relax.TensorType((tirx.Var("n", "int64"),), "int32"))
    with bb.function("encode", [ids] + [params[k] for k in encode_w]):
        with bb.dataflow():
            h = bb.emit(relax.call_tir(enc_gv, [ids] + [params[k] for k in encode_w], h_type))
            out = bb.emit_output(h)
        bb.emit_func_output(out)

    tok = relax.Var("token", relax.TensorType((1,), "int32"))
    h_in = relax.Var("h", h_type)
    with bb.function("decode_step", [tok, h_in] + [params[k] for k in step_w]):
        with bb.dataflow():
            res = bb.emit(relax.call_tir(
                dec_gv, [tok, h_in] + [params[k] for k in step_w],
                [h_type, relax.TensorType((logits_pad,), "float32")]))
            out = bb.emit_output(res)
        bb.emit_func_output(out)

    ids = relax.Var("ids", relax.TensorType((tirx.Var("n", "int64"),), "int32"))
    max_steps = relax.Var("max_steps", relax.TensorType((1,), "int32"))
    with bb.function("greedy", [ids, max_steps] + [params[k] for k in encode_w + step_w]):
        with bb.dataflow():
            res = bb.emit(relax.call_tir(
                greedy_gv, [ids, max_steps] + [params[k] for k in encode_w + step_w],
                [relax.TensorType((gru_kernels.GREEDY_MAX_STEPS,), "int32"), relax.TensorType((1,), "int32")]))
            out = bb.emit_output(res)
        bb.emit_func_output(out)

    # What the module states about itself (recipe.emit_model_info); the C kind checks the
    # manifest against these names (csrc/models/seq2seq_gru/seq2seq_gru.cpp, check_model_info).
    info = {"hidden_size": hidden, "input_rows": len(GRAPHEMES), "output_rows": n_out,
            "logits_size": logits_pad, "greedy_max_steps": gru_kernels.GREEDY_MAX_STEPS,
            "output_bos": BOS, "output_eos": EOS}
    emit_model_info(bb, info)

    network_config = {
        "hidden_size": int(hidden),
        "logits_size": int(logits_pad),
        "greedy_max_steps": gru_kernels.GREEDY_MAX_STEPS,
        "workspace_bytes": int(4 * (4 * hidden + 3 * hidden + logits_pad)),
        "vocab": {"input": GRAPHEMES, "output": PHONEMES},
        "special_tokens": {"input_unk": 1, "input_eos": 2, "output_bos": BOS, "output_eos": EOS},
        "tokenizer": {"type": "characters", "lowercase_ascii": True, "output_separator": " "},
        "generation_defaults": {"max_tokens": MAX_DECODE_STEPS},
    }
    return Build(
        module=bb.get(),
        weights=weights,
        functions={"encode": Function("encode", encode_w), "decode_step": Function("decode_step", step_w),
                   "greedy": Function("greedy", encode_w + step_w), "model_info": Function("model_info")},
        kind_config={"network": network_config, "lexicon": {"file": LEXICON_FILE}},
        files={LEXICON_FILE: encode_lexicon(cmudict_entries(), symbols=PHONEMES)},
        version=source_version(),
        description="English text to phonemes (ARPAbet with stress): CMUdict lexicon, then the g2p-en network",
        limits={"max_input_chars": MAX_INPUT_CHARS},
    )
