"""The Relax rewrites Kokoro's pipeline applies before legalization, on small graphs with a symbolic
length, against numpy and against TVM's own lowering of the original op:

* compile/relax_passes/polyphase.py: strided conv1d_transpose -> conv1d over phase channels + interleave;
* compile/relax_passes/sin_squared.py: power(sin(x), 2) -> range reduction + polynomial (unsquared sin kept);
* compile/kernels/microkernels.py: stride-1 conv1d and matmul by a weight -> register-blocked TIR kernels (padding, dilation, tails).
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
    from edge_veda.compile.relax_passes.polyphase import polyphase_conv1d_transpose

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
    from edge_veda.compile.relax_passes.sin_squared import polynomial_sin_squared

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


def _conv_module(c_in, c_out, k, *, dilation=1, pad=(0, 0), strides=1, groups=1, bias=False):
    t = tirx.Var("T", "int64")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([1, c_in, t], "float32"))
    w = relax.Var("w", relax.TensorType([c_out, c_in // groups, k], "float32"))
    b = relax.Var("b", relax.TensorType([c_out], "float32"))
    with bb.function("main", [x, w, b] if bias else [x, w]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv1d(x, w, strides=strides, padding=pad, dilation=dilation, groups=groups))
            if bias:  # as the ONNX importer writes a Conv's bias: reshape to [1, C, 1], add
                y = bb.emit(relax.op.add(bb.emit(relax.op.reshape(b, [1, c_out, 1])), y))
            out = bb.emit_output(bb.emit(relax.op.add(y, relax.const(1.0, "float32"))))
        bb.emit_func_output(out)
    return bb.get()


def _conv_reference(x, w, dilation, pad):
    (_, c_in, t_in), (c_out, _, k) = x.shape, w.shape
    xp = np.pad(x[0].astype(np.float64), ((0, 0), pad))
    t_out = xp.shape[1] - dilation * (k - 1)
    y = np.zeros((c_out, max(t_out, 0)))
    for kk in range(k):
        y += w[:, :, kk].astype(np.float64) @ xp[:, kk * dilation:kk * dilation + t_out]
    return y[None] + 1.0


def _bias_of(c_out):
    return np.linspace(-1, 1, c_out).astype(np.float32)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return {flag for line in f if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:
        return set()


@pytest.mark.parametrize("target,c_out,tile", [
    ({"kind": "llvm", "mcpu": "znver4"}, 128, (4, 64)),   # AVX-512: 16 of 32 registers x 16 lanes
    ({"kind": "llvm", "mcpu": "haswell"}, 128, (4, 16)),  # AVX2: 8 of 16 x 8
    ({"kind": "llvm", "mtriple": "aarch64-linux-gnu"}, 128, (4, 16)),  # NEON: 16 of 32 x 4
    (TARGET, 128, (4, 8)),                                # baseline x86-64 (SSE2): 8 of 16 x 4
    ({"kind": "llvm", "mcpu": "znver4"}, 22, (2, 128)),
    ({"kind": "llvm", "mcpu": "znver4"}, 5, (1, 256)),
])
def test_direct_conv1d_register_tile(target, c_out, tile):
    from edge_veda.compile.kernels.microkernels import register_tile

    assert register_tile(tvm.target.Target(target), c_out) == tile


# Register tiles for the host's AVX-512 (4 channels x 64 samples), AVX2 (4 x 16), AArch64 (4 x 16):
# lengths below, at, between and above whole blocks; channel counts that tile by 4, 2 and 1.
@pytest.mark.parametrize("target", [{"kind": "llvm", "mcpu": "znver4"}, {"kind": "llvm", "mcpu": "haswell"}, TARGET])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("c_in,c_out,k,dilation,pad", [
    (16, 8, 11, 5, (25, 25)),   # a vocoder resblock conv (dilated, "same" padding)
    (6, 10, 7, 3, (9, 5)),      # asymmetric padding, 2 channels per tile
    (5, 3, 2, 1, (1, 1)),       # polyphase upsampling's 2 taps, 1 channel per tile
    (8, 4, 1, 1, (0, 0)),       # pointwise
])
def test_direct_conv1d(target, bias, c_in, c_out, k, dilation, pad):
    from edge_veda.compile.kernels.microkernels import register_blocked_kernels

    mod = _conv_module(c_in, c_out, k, dilation=dilation, pad=pad, bias=bias)
    new = register_blocked_kernels(tvm.target.Target(target))(mod)
    script = new.script()
    assert "R.nn.conv1d" not in script and "conv1d_direct" in script
    # a bias add folds into the kernel: no add is left but the final + 1.0, one conv call
    assert script.count("R.add(") == 1 if bias else True
    assert script.count("R.call_tir(") == 1
    needs = {"znver4": "avx512f", "haswell": "avx2"}.get(target.get("mcpu"))
    if needs and needs not in _cpu_flags():
        pytest.skip(f"this CPU has no {needs} to run the {target['mcpu']} kernel")
    dev = tvm.cpu()
    vm = relax.VirtualMachine(tvm.compile(new, target=tvm.target.Target(target)), dev)
    span = dilation * (k - 1)
    for t_in in sorted({max(1, span + 1 - sum(pad)), 3, 16, 64, 65, 130, 1000}):
        if t_in + sum(pad) - span < 1:
            continue
        rng = np.random.default_rng(t_in)
        x = rng.standard_normal((1, c_in, t_in)).astype(np.float32)
        w = rng.standard_normal((c_out, c_in, k)).astype(np.float32)
        args = [x, w, _bias_of(c_out)] if bias else [x, w]
        got = vm["main"](*[tvm.runtime.tensor(a, dev) for a in args]).numpy()
        ref = _conv_reference(x, w, dilation, pad) + (_bias_of(c_out)[None, :, None] if bias else 0)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("kwargs", [dict(strides=2), dict(groups=2)])
def test_direct_conv1d_leaves_other_convolutions(kwargs):
    from edge_veda.compile.kernels.microkernels import register_blocked_kernels

    mod = _conv_module(4, 4, 3, **kwargs)
    new = register_blocked_kernels(tvm.target.Target(TARGET))(mod)
    assert "R.nn.conv1d" in new.script() and "conv1d_direct" not in new.script()


@pytest.mark.parametrize("rank,k_dim,n_dim,blocked", [
    (3, 24, 128, True),    # ALBERT's projections: [1, L, K] @ [K, N]
    (2, 16, 48, True),     # an LSTM input projection, columns tile by 16
    (3, 8, 50, False),     # 50 columns: no vector-wide tile, left to the default
])
def test_blocked_matmul(rank, k_dim, n_dim, blocked):
    from edge_veda.compile.kernels.microkernels import register_blocked_kernels

    m = tirx.Var("M", "int64")
    lead = [1] * (rank - 2)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([*lead, m, k_dim], "float32"))
    w = relax.Var("w", relax.TensorType([k_dim, n_dim], "float32"))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            y = bb.emit(relax.op.matmul(x, w))
            out = bb.emit_output(bb.emit(relax.op.add(y, relax.const(1.0, "float32"))))
        bb.emit_func_output(out)
    new = register_blocked_kernels(tvm.target.Target(TARGET))(bb.get())
    assert ("matmul_blocked" in new.script()) == blocked
    dev = tvm.cpu()
    vm = relax.VirtualMachine(tvm.compile(new, target=tvm.target.Target(TARGET)), dev)
    for rows in (1, 3, 4, 5, 202):
        rng = np.random.default_rng(rows)
        xs = rng.standard_normal((*lead, rows, k_dim)).astype(np.float32)
        ws = rng.standard_normal((k_dim, n_dim)).astype(np.float32)
        got = vm["main"](tvm.runtime.tensor(xs, dev), tvm.runtime.tensor(ws, dev)).numpy()
        ref = xs.astype(np.float64) @ ws.astype(np.float64) + 1.0
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * max(1.0, np.abs(ref).max()))
