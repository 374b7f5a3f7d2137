"""A Relax pass that rewrites strided 1-D transposed convolutions as polyphase convolutions.

TVM 0.27 legalizes `relax.nn.conv1d_transpose` as: dilate the input with stride - 1 zeros, pad,
and run a dense convolution with the flipped kernel. With stride s, (s - 1)/s of those
multiply-adds hit zeros (Kokoro's vocoder upsamples by 10 and 6: 90% and 83% of the work of its
two largest kernels, ~12% of stage B, is multiplying zeros).

Output sample t of a transposed convolution (stride s, kernel K = J * s taps, left padding pl)
takes input i with weight tap k exactly when i * s + k = t + pl. Writing t + pl = q * s + p
(phase p in [0, s)) and k = p + s * j (j in [0, J)):

    y[c, q * s + p - pl] = sum_{ci, j} x[ci, q - j] * w[ci, c, p + s * j]

For each phase p this is an ordinary convolution with J taps, so all s phases are ONE conv1d
with s * C_out output channels (channel c * s + p), weights w'[c * s + p, ci, J - 1 - j] =
w[ci, c, p + s * j], the input padded by J - 1 on both sides. Its output [C_out * s, Q]
(Q = T_in + J - 1) is interleaved to [C_out, Q * s] (reshape, transpose, reshape) and sliced at
pl (one elementwise pass; reshapes would trip RewriteDataflowReshape on symbolic lengths). The
convolution goes through the usual legalization and cpu_schedule; the weight shuffle is a copy
of the weights per call (negligible beside the convolution). Same products, only the zero
ones dropped; sums are reordered (float rounding differs at the 1e-7 level).

Applies only where this is exact and simple: groups 1, dilation 1, NCW/IOW layouts, stride > 1,
K divisible by the stride, output padding not larger than the right padding (so Q * s covers
every output); other transposed convolutions are left to the default legalization.
"""
from __future__ import annotations


def _ints(values) -> list[int]:
    return [int(v) for v in values]


def _weights(w, s: int):
    """w [C_in, C_out, J * s] -> w' [C_out * s, C_in, J]: w'[c * s + p, ci, jj] = w[ci, c, p + s * (J - 1 - jj)]."""
    from tvm import te

    c_in, c_out, k = (int(v) for v in w.shape)
    j = k // s
    return te.compute((c_out * s, c_in, j), lambda o, ci, jj: w[ci, o // s, o % s + s * (j - 1 - jj)],
                      name="polyphase_weights")


def _interleave(z, c_out: int, s: int, pl: int, t_out):
    """z [N, C_out * s, Q] (phase-major channels) -> y [N, C_out, t_out]: y[n, c, t] = z[n, c * s + p, q]
    with t + pl = q * s + p (the interleave and the crop in one pass)."""
    from tvm import te

    return te.compute((z.shape[0], c_out, t_out),
                      lambda n, c, t: z[n, c * s + (t + pl) % s, (t + pl) // s], name="polyphase_interleave")


def polyphase_conv1d_transpose():
    """Module pass (before legalization): conv1d_transpose -> conv1d + interleave, see above."""
    import tvm
    from tvm import relax

    from .rewrite_pass import rewrite_pass

    op_transpose = tvm.ir.Op.get("relax.nn.conv1d_transpose")

    @relax.expr_functor.mutator
    class Rewriter(relax.PyExprMutator):
        def visit_call_(self, call):  # noqa: N802 - TVM's visitor name
            call = super().visit_call_(call)
            if not isinstance(call.op, tvm.ir.Op) or not call.op.same_as(op_transpose):
                return call
            new = self._polyphase(call)
            return call if new is None else new

        def _polyphase(self, call):
            a = call.attrs
            data, weight = call.args
            if int(a.groups) != 1 or _ints(a.dilation) != [1] or a.data_layout != "NCW" or \
                    a.kernel_layout != "IOW" or a.out_layout != "NCW":
                return None
            (s,) = _ints(a.strides)
            pl, pr = _ints(a.padding)
            (op,) = _ints(a.output_padding)
            wsi, dsi, osi = weight.ty, data.ty, call.ty
            if not all(isinstance(si, relax.TensorType) and si.shape is not None and si.ndim == 3
                       for si in (wsi, dsi, osi)):
                return None
            try:
                c_in, c_out, k = _ints(wsi.shape.values)
            except (TypeError, ValueError):
                return None  # symbolic weight shape
            if s < 2 or k % s or op > pr or str(wsi.dtype) != str(dsi.dtype) or str(osi.dtype) != str(dsi.dtype):
                return None
            j = k // s
            t_out = osi.shape.values[2]
            bb = self.builder_
            w = bb.emit_te(_weights, weight, s, primfunc_name_hint="polyphase_weights")
            z = bb.emit(relax.op.nn.conv1d(data, w, padding=(j - 1, j - 1)))
            y = bb.emit_te(_interleave, z, c_out, s, pl, t_out, primfunc_name_hint="polyphase_interleave")
            return bb.match_cast(y, osi)

    return rewrite_pass("edge_veda_polyphase_conv1d_transpose", Rewriter)
