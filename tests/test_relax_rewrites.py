"""The Relax rewrites Kokoro's pipeline applies before legalization, on small graphs with a symbolic
length, against numpy and against TVM's own lowering of the original op:

* compile/polyphase.py: strided conv1d_transpose -> conv1d over phase channels + interleave;
* compile/sin_squared.py: power(sin(x), 2) -> range reduction + polynomial (unsquared sin kept).
"""
from __future__ import annotations

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
from tvm import relax, tirx  # noqa: E402

TARGET = {"kind": "llvm"}


def _run(mod, *inputs):
    dev = tvm.cpu()
    vm = relax.VirtualMachine(tvm.compile(mod, target=tvm.target.Target(TARGET)), dev)
    out = vm["main"](*[tvm.runtime.tensor(x, dev) for x in inputs])
    return out.numpy() if hasattr(out, "numpy") else [o.numpy() for o in out]


def _conv_transpose_module(c_in, c_out, k, s, pad, output_padding):
    t = tirx.Var("T", "int64")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([1, c_in, t], "float32"))
    w = relax.Var("w", relax.TensorType([c_in, c_out, k], "float32"))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv1d_transpose(x, w, strides=s, padding=pad, output_padding=output_padding))
            out = bb.emit_output(bb.emit(relax.op.add(y, relax.const(1.0, "float32"))))
        bb.emit_func_output(out)
    return bb.get()


def _conv_transpose_reference(x, w, s, pad, output_padding):
    (_, _, t_in), (_, c_out, k) = x.shape, w.shape
    y = np.zeros((1, c_out, (t_in - 1) * s - pad[0] - pad[1] + k + output_padding), np.float64)
    for i in range(t_in):
        for kk in range(k):
            t = i * s + kk - pad[0]
            if 0 <= t < y.shape[2]:
                y[0, :, t] += x[0, :, i].astype(np.float64) @ w[:, :, kk]
    return y + 1.0


@pytest.mark.parametrize("c_in,c_out,k,s,pad,output_padding,rewritten", [
    (16, 8, 20, 10, (5, 5), 0, True),   # Kokoro's first upsampling (x10)
    (12, 6, 12, 6, (3, 3), 0, True),    # Kokoro's second (x6)
    (4, 3, 6, 2, (1, 2), 1, True),      # three taps per phase, asymmetric padding, output padding
    (4, 3, 3, 2, (1, 1), 1, False),     # kernel not a multiple of the stride: left as it is
])
def test_polyphase_conv1d_transpose(c_in, c_out, k, s, pad, output_padding, rewritten):
    from edge_veda.compile.polyphase import polyphase_conv1d_transpose

    mod = _conv_transpose_module(c_in, c_out, k, s, pad, output_padding)
    new = polyphase_conv1d_transpose()(mod)
    assert ("conv1d_transpose" not in new.script()) == rewritten
    for t_in in (1, 2, 7, 33):
        rng = np.random.default_rng(t_in)
        x = rng.standard_normal((1, c_in, t_in)).astype(np.float32)
        w = rng.standard_normal((c_in, c_out, k)).astype(np.float32)
        ref = _conv_transpose_reference(x, w, s, pad, output_padding)
        got, orig = _run(new, x, w), _run(mod, x, w)
        assert got.shape == orig.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * max(1.0, np.abs(ref).max()))


def test_polynomial_sin_squared():
    from edge_veda.compile.sin_squared import polynomial_sin_squared

    t = tirx.Var("T", "int64")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([1, 4, t], "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            a = bb.emit(relax.op.multiply(x, relax.const(1.5, "float32")))
            sq = bb.emit(relax.op.power(relax.op.sin(a), relax.const(2.0, "float32")))
            plain = bb.emit(relax.op.sin(x))  # not squared: must stay libm's sin
            out = bb.emit_output(relax.Tuple([sq, plain]))
        bb.emit_func_output(out)
    mod = bb.get()
    new = polynomial_sin_squared()(mod)
    assert new.script().count("R.sin(") == 1 and "R.power" not in new.script()
    xs = np.concatenate([np.linspace(-50, 50, 40000), np.linspace(-5000, 5000, 40000),
                         np.random.default_rng(0).standard_normal(40000) * 3]).astype(np.float32).reshape(1, 4, -1)
    sq, plain = _run(new, xs)
    ref = np.sin((xs * np.float32(1.5)).astype(np.float64)) ** 2
    assert np.abs(sq - ref).max() < 5e-7  # a few float32 ulps of values in [0, 1]
    np.testing.assert_array_equal(plain, _run(mod, xs)[1])
