"""Hand-scheduled TIR kernels for GRU sequence-to-sequence models on CPUs.

TVM 0.27's default Relax pipeline leaves matrix-vector products as scalar loops (10-20x
slower than numpy), so the kernels are written directly in TIR with the layout and loop
order chosen for the CPU:

* the recurrent matrix W_hh^T is packed tile-major, [G/TILE, H, TILE], so the inner loop of
  every tile reads one contiguous stream and TILE independent lanes accumulate in registers;
* the input projection embedding @ W_ih^T + b_ih is precomputed into a [vocab, 3H] table,
  which turns half of each GRU cell into a row lookup;
* one kernel runs a whole encoder (the time loop is inside TIR), one runs a decoder step
  (GRU cell + output projection, for sampling), and one runs a whole greedy word (encoder,
  decoder loop and argmax, with early exit at </s>), so greedy decoding costs one call per word.
* the register tile is as wide as the vector registers allow: 128 columns (8 accumulator chains)
  with AVX-512's 32 registers, 64 with 16.
"""
from __future__ import annotations

import numpy as np

GREEDY_MAX_STEPS = 64  # output capacity of the fused greedy kernel


def tile_for(target) -> int:
    """Output columns per register tile for `target` (a tvm.target.Target)."""
    from tvm.target import codegen

    try:
        if codegen.target_has_features("avx512f", target):
            return 128
    except Exception:  # non-x86 targets
        pass
    return 64


def pack_tiles(w_t: np.ndarray, tile: int) -> np.ndarray:
    """[K, N] -> [N/tile, K, tile], N padded with zeros to a multiple of `tile`."""
    k, n = w_t.shape
    n_pad = -(-n // tile) * tile
    padded = np.zeros((k, n_pad), np.float32)
    padded[:, :n] = w_t
    return np.ascontiguousarray(padded.reshape(k, n_pad // tile, tile).transpose(1, 0, 2))


LANES = 16  # elementwise vector width


def make_exp(T):
    """expf as Cephes' range reduction + degree-6 polynomial (max error ~1 ulp on [-87, 88]),
    written in TIR so that LLVM vectorizes it."""

    def vexp(x):
        x = T.max(T.min(x, T.float32(88.3762626647949)), T.float32(-87.3365447504))
        fx = T.floor(x * T.float32(1.44269504088896341) + T.float32(0.5))
        r = x - fx * T.float32(0.693359375) + fx * T.float32(2.12194440e-4)
        p = T.float32(1.9875691500e-4)
        p = p * r + T.float32(1.3981999507e-3)
        p = p * r + T.float32(8.3334519073e-3)
        p = p * r + T.float32(4.1665795894e-2)
        p = p * r + T.float32(1.6666665459e-1)
        p = p * r + T.float32(5.0000001201e-1)
        y = p * r * r + r + T.float32(1)
        scale = T.reinterpret("float32", T.shift_left(T.Cast("int32", fx) + 127, 23))
        return y * scale

    return vexp


def make_kernels(hidden: int, in_vocab: int, out_vocab: int, logits_pad: int, TILE: int,
                 bos: int, eos: int):
    from tvm.script import tirx as T

    vexp = make_exp(T)
    MAXO = GREEDY_MAX_STEPS

    H = hidden
    G = 3 * hidden
    NT = G // TILE
    LT = logits_pad // TILE
    assert G % TILE == 0 and logits_pad % TILE == 0

    @T.macro
    def matvec(x, w, bias, out, acc, n_tiles):
        # out[j] = bias[j] + sum_k x[k] * w[j // TILE, k, j % TILE]
        for jo in range(n_tiles):
            for ji in T.vectorized(TILE):
                acc[ji] = bias[jo * TILE + ji]
            for k in range(H):
                for ji in T.vectorized(TILE):
                    acc[ji] = acc[ji] + x[k] * w[jo, k, ji]
            for ji in T.vectorized(TILE):
                out[jo * TILE + ji] = acc[ji]

    def sigmoid(x):
        return T.float32(1) / (T.float32(1) + vexp(-x))

    def gru_cell(table, t, gh, h_prev, j):
        # PyTorch/g2p-en GRU: r, z = sigmoid(.), n = tanh(x_n + r * h_n), h = (1 - z) n + z h.
        # Built as one expression (no let-bindings inside the vector loop); exp is the
        # polynomial above, because libm's expf would be called once per lane.
        r = sigmoid(table[t, j] + gh[j])
        z = sigmoid(table[t, H + j] + gh[H + j])
        n = T.float32(2) * sigmoid(T.float32(2) * (table[t, 2 * H + j] + r * gh[2 * H + j])) - T.float32(1)
        return (T.float32(1) - z) * n + z * h_prev[j]

    @T.macro
    def gru_combine(table, t, gh, h_prev, h_next):
        for jo in range(H // LANES):
            for ji in T.vectorized(LANES):
                h_next[jo * LANES + ji] = gru_cell(table, t, gh, h_prev, jo * LANES + ji)

    @T.macro
    def encode_into(ids, n, table, whh, bhh, h, gh, acc):
        for j in range(H):
            h[j] = T.float32(0)
        for s in range(n):
            if s == 0:  # h is all zeros: W_hh h + b_hh is exactly b_hh
                for j in range(G):
                    gh[j] = bhh[j]
            else:
                matvec(h, whh, bhh, gh, acc, NT)
            gru_combine(table, ids[s], gh, h, h)

    @T.prim_func
    def gru_encoder(var_ids: T.handle, table: T.Buffer((in_vocab, G), "float32"),
                    whh: T.Buffer((NT, H, TILE), "float32"), bhh: T.Buffer((G,), "float32"),
                    h_out: T.Buffer((H,), "float32")):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        n = T.int64()
        ids = T.match_buffer(var_ids, (n,), "int32")
        h = T.alloc_buffer((H,), "float32")
        gh = T.alloc_buffer((G,), "float32")
        acc = T.alloc_buffer((TILE,), "float32", scope="local")
        encode_into(ids, n, table, whh, bhh, h, gh, acc)
        for j in range(H):
            h_out[j] = h[j]

    @T.prim_func
    def gru_decoder_step(tok: T.Buffer((1,), "int32"), h: T.Buffer((H,), "float32"),
                         table: T.Buffer((out_vocab, G), "float32"),
                         whh: T.Buffer((NT, H, TILE), "float32"), bhh: T.Buffer((G,), "float32"),
                         fcw: T.Buffer((LT, H, TILE), "float32"), fcb: T.Buffer((logits_pad,), "float32"),
                         h_out: T.Buffer((H,), "float32"), logits: T.Buffer((logits_pad,), "float32")):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        gh = T.alloc_buffer((G,), "float32")
        acc = T.alloc_buffer((TILE,), "float32", scope="local")
        matvec(h, whh, bhh, gh, acc, NT)
        gru_combine(table, tok[0], gh, h, h_out)
        matvec(h_out, fcw, fcb, logits, acc, LT)

    @T.prim_func
    def gru_greedy(var_ids: T.handle, max_steps: T.Buffer((1,), "int32"),
                   enc_table: T.Buffer((in_vocab, G), "float32"), enc_whh: T.Buffer((NT, H, TILE), "float32"),
                   enc_bhh: T.Buffer((G,), "float32"),
                   dec_table: T.Buffer((out_vocab, G), "float32"), dec_whh: T.Buffer((NT, H, TILE), "float32"),
                   dec_bhh: T.Buffer((G,), "float32"),
                   fcw: T.Buffer((LT, H, TILE), "float32"), fcb: T.Buffer((logits_pad,), "float32"),
                   out_ids: T.Buffer((MAXO,), "int32"), out_len: T.Buffer((1,), "int32")):
        # The whole g2p-en predict(): encoder, then argmax decoding until </s> or max_steps.
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        n = T.int64()
        ids = T.match_buffer(var_ids, (n,), "int32")
        h = T.alloc_buffer((H,), "float32")
        h2 = T.alloc_buffer((H,), "float32")
        gh = T.alloc_buffer((G,), "float32")
        logits = T.alloc_buffer((logits_pad,), "float32")
        acc = T.alloc_buffer((TILE,), "float32", scope="local")
        state = T.alloc_buffer((3,), "int32", scope="local")  # [next input, produced, done]
        best = T.alloc_buffer((1,), "int32", scope="local")
        encode_into(ids, n, enc_table, enc_whh, enc_bhh, h, gh, acc)
        state[0] = bos
        state[1] = 0
        state[2] = 0
        for step in range(MAXO):
            if state[2] == 0 and step < max_steps[0]:
                matvec(h, dec_whh, dec_bhh, gh, acc, NT)
                gru_combine(dec_table, state[0], gh, h, h2)
                for j in range(H):
                    h[j] = h2[j]
                matvec(h, fcw, fcb, logits, acc, LT)
                best[0] = 0
                for v in range(1, out_vocab):  # first maximum, as numpy's argmax
                    if logits[v] > logits[best[0]]:
                        best[0] = v
                if best[0] == eos:
                    state[2] = 1
                else:
                    out_ids[state[1]] = best[0]
                    state[1] = state[1] + 1
                    state[0] = best[0]
        out_len[0] = state[1]

    return gru_encoder, gru_decoder_step, gru_greedy
