"""ONNX LSTM for TVM 0.27's Relax ONNX frontend, which has no LSTM converter.

One direction of an ONNX LSTM (gate order i, o, f, c; f = sigmoid, g = h = tanh; no peepholes,
no clip) over a symbolic number of steps is

* the input projection of all steps at once, X W^T + (Wb + Rb), as one Relax matmul, and
* the recurrence as a TIR PrimFunc with the time loop inside (serial; the reverse direction
  walks t = n - 1 - s), taking R^T [H, 4H] so that the gate update h R^T streams contiguous
  rows of 4H and vectorizes.

Unrolling the recurrence per step at import (what the torch frontend does) makes the IR grow
with the length; here the length stays symbolic and the kernel is compiled once.
"""
from __future__ import annotations


def recurrence(hidden: int, reverse: bool):
    """PrimFunc (xp: f32[n, 4H], rt: f32[H, 4H]) -> y: f32[n, H] for one direction, zero
    initial state."""
    from tvm.script import tirx as T

    H = hidden
    G = 4 * hidden
    REV = 1 if reverse else 0
    LANES = 16

    def sigmoid(x):
        return T.float32(1) / (T.float32(1) + T.exp(-x))

    @T.prim_func
    def lstm_recurrence(var_xp: T.handle, rt: T.Buffer((H, G), "float32"), var_y: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        n = T.int64()
        xp = T.match_buffer(var_xp, (n, G), "float32")
        y = T.match_buffer(var_y, (n, H), "float32")
        h = T.alloc_buffer((H,), "float32")
        c = T.alloc_buffer((H,), "float32")
        gates = T.alloc_buffer((G,), "float32")
        for j in range(H):
            h[j] = T.float32(0)
            c[j] = T.float32(0)
        for s in range(n):
            # t = s forward, n - 1 - s backward (REV is a compile-time 0 or 1)
            for g in range(G):
                gates[g] = xp[s + REV * (n - 1 - 2 * s), g]
            for k in range(H):
                for go in range(G // LANES):
                    for gi in T.vectorized(LANES):
                        gates[go * LANES + gi] = gates[go * LANES + gi] + h[k] * rt[k, go * LANES + gi]
            for j in range(H):
                c[j] = sigmoid(gates[2 * H + j]) * c[j] + sigmoid(gates[j]) * T.tanh(gates[3 * H + j])
                h[j] = sigmoid(gates[H + j]) * T.tanh(c[j])
                y[s + REV * (n - 1 - 2 * s), j] = h[j]

    return lstm_recurrence


def emit_lstm(bb, x, w, r, b, hidden: int, direction: str, name_prefix: str):
    """Relax for ONNX LSTM(X [T, 1, In], W [D, 4H, In], R [D, 4H, H], B [D, 8H] or None) with
    zero initial states, layout 0, batch 1: returns Y [T, D, 1, H]."""
    from tvm import relax

    op = relax.op
    dirs = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[direction]
    x2 = bb.normalize(op.squeeze(x, axis=[1]))                        # [T, In]
    steps = x2.ty.shape[0]
    outs = []
    for d, rev in enumerate(dirs):
        idx = relax.const(d, "int64")
        w_d = bb.normalize(op.take(w, idx, axis=0))                  # [4H, In]
        xp = op.matmul(x2, op.permute_dims(w_d))                     # [T, 4H]
        if b is not None:
            b_d = bb.normalize(op.take(b, idx, axis=0))              # [8H]
            halves = bb.normalize(op.split(b_d, 2, axis=0))
            xp = op.add(xp, op.add(relax.TupleGetItem(halves, 0), relax.TupleGetItem(halves, 1)))
        xp = bb.normalize(xp)
        rt = bb.normalize(op.permute_dims(op.take(r, idx, axis=0)))  # [H, 4H]
        kernel = f"{name_prefix}lstm_h{hidden}_{'rev' if rev else 'fwd'}"
        gv = bb.add_func(recurrence(hidden, rev).with_attr("global_symbol", kernel), kernel)
        outs.append(bb.normalize(relax.call_tir(gv, [xp, rt], relax.TensorType((steps, hidden), "float32"))))
    y = op.stack(outs, axis=1) if len(outs) > 1 else op.expand_dims(outs[0], axis=1)  # [T, D, H]
    return op.expand_dims(y, axis=2)                                                   # [T, D, 1, H]
