"""Means over time, [1, C, T] -> [1, C, 1], with LANES independent partial sums per channel.

Kokoro's vocoder normalizes over time at every AdaIN (instance norm: the mean of x, then the
mean of (x - mean)^2), 44 sites, each over every sample of a [1, C, T] activation. TVM lowers
relax.mean to one running float sum per channel: each add waits for the previous one (float adds
are not reassociated), so the loop runs at the add's latency, one sample every ~3 cycles, and
nothing vectorizes. perf on the medium input (tools/profile_tts.py, Zen 5, 2 threads): the two
means of the last stage's AdaINs were ~9% of an int8 synthesis, more than any conv but the
largest; with this kernel a call took 735 -> 695 ms (fp32) and 516 -> 458-478 ms (int8).

Here every channel keeps LANES running sums (one vector register on AVX-512, two on AVX2, four
on NEON), added across at the end: the loop streams memory instead of waiting on one add. The
sum's order changes (16 interleaved partial sums, then their total), which changes the mean by
float32 rounding only (~1e-7 relative), as any reassociation would.
"""
from __future__ import annotations

LANES = 16


def make_time_mean(channels: int):
    """The PrimFunc y[1, channels, 1] = mean over t of x[1, channels, t] (t symbolic, >= 1)."""
    from tvm.script import tirx as T

    # s_tir (block form, a root block): relax's reshape detection reads the body of every
    # one-input call_tir as one
    @T.prim_func(s_tir=True)
    def time_mean(var_x: T.handle, y: T.Buffer((T.int64(1), channels, T.int64(1)), "float32")):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        t = T.int64()
        x = T.match_buffer(var_x, (T.int64(1), channels, t), "float32")
        with T.sblock("root"):
            sums = T.sblock_alloc_buffer((channels, LANES), "float32")
            for c in T.parallel(channels):
                for lane in T.vectorized(LANES):
                    sums[c, lane] = T.float32(0)
                for j in range(t // LANES):
                    for lane in T.vectorized(LANES):
                        sums[c, lane] = sums[c, lane] + x[0, c, j * LANES + lane]
                for j in range(t % LANES):
                    sums[c, j] = sums[c, j] + x[0, c, t // LANES * LANES + j]
                for lane in range(1, LANES):
                    sums[c, 0] = sums[c, 0] + sums[c, lane]
                y[0, c, 0] = sums[c, 0] / T.Cast("float32", t)

    return time_mean


def lane_time_means(applies=lambda function: True):
    """Module pass (before legalization): relax.mean of a float32 [1, C, T] tensor over its last
    axis (C a constant, T symbolic, keepdims) -> call_tir of make_time_mean(C), in the Relax
    functions for which `applies(function name)` is true."""
    import tvm
    from tvm import relax

    from ..relax_passes.rewrite_pass import rewrite_pass

    op_mean = tvm.ir.Op.get("relax.mean")

    @relax.expr_functor.mutator
    class Rewriter(relax.PyExprMutator):
        def __init__(self, mod):
            super().__init__(mod)
            self.kernels = {}
            self.function = ""  # the Relax function being visited (rewrite_pass sets it)

        def visit_call_(self, call):  # noqa: N802 - TVM's visitor name
            call = super().visit_call_(call)
            if not isinstance(call.op, tvm.ir.Op) or not call.op.same_as(op_mean) or not applies(self.function):
                return call
            x = call.args[0]
            si = x.ty
            if not isinstance(si, relax.TensorType) or si.shape is None or str(si.dtype) != "float32" or si.ndim != 3:
                return call
            n, c, t = si.shape.values
            axes = call.attrs.axis
            if not call.attrs.keepdims or axes is None or len(axes) != 1 or int(axes[0]) not in (2, -1):
                return call
            if not (isinstance(n, tvm.tirx.IntImm) and int(n) == 1 and isinstance(c, tvm.tirx.IntImm)) or \
                    isinstance(t, tvm.tirx.IntImm):
                return call  # a constant length: left to the default (not Kokoro's time axis)
            channels = int(c)
            gv = self.kernels.get(channels)
            if gv is None:
                name = f"time_mean_{channels}"
                gv = self.builder_.add_func(make_time_mean(channels).with_attr("global_symbol", name), name)
                self.kernels[channels] = gv
            return relax.call_tir(gv, [x], call.ty)

    return rewrite_pass("edge_veda_lane_time_means", Rewriter)
