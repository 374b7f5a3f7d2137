"""A Relax pass that runs stride-1 1-D convolutions as hand-written, register-blocked TIR kernels.

TVM 0.27 legalizes `relax.nn.conv1d` as one reduction block; cpu_schedule.py can reorder it so
the time axis vectorizes, but the output accumulates through memory (every input channel re-reads
and re-writes the output rows) and the symbolic time axis cannot be tiled without a predicate
that stops vectorization (TVM's `split` on a symbolic extent; `loop_partition` refuses it).
Kokoro's vocoder convs ran at 44-76 GMAC/s that way: 40-68% of this machine's measured fp32 peak
(112 GMAC/s, 2 cores, AVX-512 FMA).

The kernel here is written directly in TIR, the standard direct-convolution micro-kernel:

* the output is cut into blocks of `channels` output channels x `time` samples whose
  accumulators stay in vector registers for the whole reduction (input channels x taps): each
  step loads `time / lanes` input vectors, broadcasts `channels` weights and issues
  channels x time / lanes FMAs (4 x 4 on AVX-512: 16 of the 32 registers accumulate);
* the symbolic time axis needs no predicate: the input is copied once into a zero-padded buffer
  long enough for whole blocks (this is the convolution's padding too), and only the store of
  the last block is cut to the output length (a loop of variable trip count);
* blocks are ordered time-major so consecutive blocks on a thread reuse the same input tile from
  L1/L2 across all output channels; the blocks run in parallel (TVM's thread pool).

Measured (2 threads, 19 s of audio shapes): 11 taps x 128 channels 72 -> 101 GMAC/s, 7 taps x 256
channels 70 -> 100, 3 taps x 128 channels 48 -> 77. Wider register tiles (6 x 48, 8 x 48) spill
and run 3-4x slower; ordering blocks channel-major streams the input from L3 (3x slower).

Applies to conv1d with groups 1, stride 1, batch 1, float32, NCW/OIW layouts and a static
weight shape; everything else keeps the default legalization. Sums run in a different order
than the reference loop (float rounding differs at the 1e-7 level).
"""
from __future__ import annotations


def _ints(values) -> list[int]:
    return [int(v) for v in values]


def register_tile(target, c_out: int) -> tuple[int, int]:
    """(output channels, time samples) per register block for `target`: half of the vector
    registers accumulate (32 on AVX-512 and AArch64, 16 on AVX2 and 32-bit ARM)."""
    from tvm.target import codegen

    def has(feature: str) -> bool:
        try:
            return bool(codegen.target_has_features(feature, target))
        except Exception:  # noqa: BLE001 - a target of another architecture
            return False

    triple = str(target.attrs.get("mtriple", "")) if target.attrs else ""
    if has("avx512f"):
        lanes, registers = 16, 32
    elif has("avx2"):
        lanes, registers = 8, 16
    elif triple.startswith(("aarch64", "arm64")):
        lanes, registers = 4, 32
    else:
        lanes, registers = 4, 16
    channels = next(c for c in (4, 2, 1) if c_out % c == 0)
    vectors = max(1, registers // 2 // channels)
    return channels, vectors * lanes


def make_kernel(c_in: int, c_out: int, taps: int, dilation: int, pad_left: int, channels: int, time: int):
    """The PrimFunc y[1, c_out, t_out] = conv1d(x[1, c_in, t_in], w[c_out, c_in, taps]) (stride 1,
    zero padding `pad_left` on the left; t_out is the output buffer's length)."""
    from tvm.script import tirx as T

    span = dilation * (taps - 1)
    groups = c_out // channels

    @T.prim_func
    def conv1d_direct(var_x: T.handle, w: T.Buffer((c_out, c_in, taps), "float32"), var_y: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        t_in = T.int64()
        t_out = T.int64()
        x = T.match_buffer(var_x, (T.int64(1), c_in, t_in), "float32")
        y = T.match_buffer(var_y, (T.int64(1), c_out, t_out), "float32")
        blocks = T.meta_var((t_out + time - 1) // time)
        xp = T.alloc_buffer((c_in, blocks * time + span), "float32")
        for c in T.parallel(c_in):
            for t in range(blocks * time + span):
                xp[c, t] = T.if_then_else(pad_left <= t and t < t_in + pad_left, x[0, c, t - pad_left],
                                          T.float32(0))
        for job in T.parallel(groups * blocks):
            t0 = T.meta_var(job // groups * time)
            o0 = T.meta_var(job % groups * channels)
            acc = T.alloc_buffer((channels, time), "float32", scope="local")
            for o in T.unroll(channels):
                for lane in T.vectorized(time):
                    acc[o, lane] = T.float32(0)
            for rc in range(c_in):
                for k in T.unroll(taps):
                    for o in T.unroll(channels):
                        for lane in T.vectorized(time):
                            acc[o, lane] = acc[o, lane] + xp[rc, t0 + k * dilation + lane] * w[o0 + o, rc, k]
            for o in T.unroll(channels):
                for lane in range(T.min(time, t_out - t0)):
                    y[0, o0 + o, t0 + lane] = acc[o, lane]

    return conv1d_direct


def direct_conv1d(target):
    """Module pass (before legalization): eligible conv1d -> call_tir of make_kernel, see above."""
    import tvm
    from tvm import relax

    op_conv = tvm.ir.Op.get("relax.nn.conv1d")

    @relax.expr_functor.mutator
    class Rewriter(relax.PyExprMutator):
        def __init__(self, mod):
            super().__init__(mod)
            self.kernels = {}

        def visit_call_(self, call):  # noqa: N802 - TVM's visitor name
            call = super().visit_call_(call)
            if not isinstance(call.op, tvm.ir.Op) or not call.op.same_as(op_conv):
                return call
            new = self._direct(call)
            return call if new is None else new

        def _direct(self, call):
            a = call.attrs
            data, weight = call.args
            if int(a.groups) != 1 or _ints(a.strides) != [1] or a.data_layout != "NCW" or \
                    a.kernel_layout != "OIW" or a.out_layout != "NCW" or str(a.out_dtype) not in ("", "None", "void", "float32"):
                return None
            wsi, dsi, osi = weight.ty, data.ty, call.ty
            if not all(isinstance(si, relax.TensorType) and si.shape is not None and si.ndim == 3
                       and str(si.dtype) == "float32" for si in (wsi, dsi, osi)):
                return None
            try:
                c_out, c_in, taps = _ints(wsi.shape.values)
                batch = int(dsi.shape.values[0])
            except (TypeError, ValueError):
                return None  # symbolic weight shape or batch
            if batch != 1:
                return None
            (dilation,) = _ints(a.dilation)
            pad_left = _ints(a.padding)[0]
            channels, time = register_tile(target, c_out)
            key = (c_in, c_out, taps, dilation, pad_left, channels, time)
            gv = self.kernels.get(key)
            if gv is None:
                name = f"conv1d_direct_{c_out}x{c_in}x{taps}_d{dilation}_p{pad_left}"
                gv = self.builder_.add_func(make_kernel(*key).with_attr("global_symbol", name), name)
                self.kernels[key] = gv
            return relax.call_tir(gv, [data, weight], osi)

    @tvm.transform.module_pass(opt_level=0, name="edge_veda_direct_conv1d")
    def apply(mod, _ctx):
        rewriter = Rewriter(mod)
        for gv, func in mod.functions.items():
            if isinstance(func, relax.Function):
                rewriter.builder_.update_func(gv, rewriter.visit_expr(func))
        return rewriter.builder_.get()

    return apply
