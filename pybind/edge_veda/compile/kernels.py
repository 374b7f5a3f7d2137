"""Hand-scheduled TIR kernels for GRU sequence-to-sequence models on CPUs.

TVM 0.27's default Relax pipeline leaves matrix-vector products as scalar loops (10-20x
slower than numpy), so the kernels are written directly in TIR with the layout and loop
order chosen for the CPU:

* the recurrent matrix W_hh^T is packed tile-major, [G/TILE, H, TILE], so the inner loop of
  every tile reads one contiguous stream and TILE independent lanes accumulate in registers;
* the input projection embedding @ W_ih^T + b_ih is precomputed into a [vocab, 3H] table,
  which turns half of each GRU cell into a row lookup;
* one kernel runs a whole encoder (the time loop is inside TIR) and one kernel runs a whole
  decoder step (GRU cell + output projection), so the runtime pays one call per word or step.
"""
from __future__ import annotations

import numpy as np

TILE = 64  # output columns per register tile: 4 AVX-512 / 8 AVX2 vectors of accumulators


def pack_tiles(w_t: np.ndarray, tile: int = TILE) -> np.ndarray:
    """[K, N] -> [N/tile, K, tile], N padded with zeros to a multiple of `tile`."""
    k, n = w_t.shape
    n_pad = -(-n // tile) * tile
    padded = np.zeros((k, n_pad), np.float32)
    padded[:, :n] = w_t
    return np.ascontiguousarray(padded.reshape(k, n_pad // tile, tile).transpose(1, 0, 2))


def make_kernels(hidden: int, in_vocab: int, out_vocab: int, logits_pad: int):
    from tvm.script import tirx as T

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

    @T.macro
    def gru_combine(table, t, gh, h_prev, h_next):
        # PyTorch/g2p-en GRU: r, z = sigmoid(.), n = tanh(x_n + r * h_n), h = (1 - z) n + z h
        for j in range(H):
            r = T.float32(1) / (T.float32(1) + T.exp(-(table[t, j] + gh[j])))
            z = T.float32(1) / (T.float32(1) + T.exp(-(table[t, H + j] + gh[H + j])))
            n = T.tanh(table[t, 2 * H + j] + r * gh[2 * H + j])
            h_next[j] = (T.float32(1) - z) * n + z * h_prev[j]

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
        for j in range(H):
            h[j] = T.float32(0)
        for s in range(n):
            matvec(h, whh, bhh, gh, acc, NT)
            gru_combine(table, ids[s], gh, h, h)
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

    return gru_encoder, gru_decoder_step
