"""A Relax pass that computes sin(x)^2 with a polynomial that LLVM vectorizes.

Kokoro's vocoder applies the Snake activation x + sin(a x)^2 / a after every resblock conv.
TVM lowers sin to a scalar call of libm's sinf per element, which is ~75% of those kernels'
time (measured: 58 ms -> 13.5 ms per call without it, 2 threads, 19 s of audio); they were
~10% of stage B.

Only sin(x)^2 is rewritten (R.power(R.sin(x), 2)), where the period is pi: with k = round(x / pi),
sin(x)^2 = sin(r)^2 for r = x - k pi in [-pi/2, pi/2]. r is computed with pi split in three
(Cody-Waite: k * PI_A is exact for |k| < 2^16, k * PI_B for |k| < 2^12, so r is accurate to a
few float32 ulps for |x| up to ~10^4) and sin(r) by its Taylor polynomial to degree 13 (the
truncation error on [-pi/2, pi/2] is under 7e-10, below float32 rounding). Everything is
elementwise Relax arithmetic, so it fuses with the surrounding Snake ops and vectorizes. A sin
that is not squared (SineGen's harmonic source, whose phases reach thousands of radians and
whose accuracy the output is sensitive to) is left to libm.
"""
from __future__ import annotations

import math

PI_A = 3.140625                       # 8 significant bits: k * PI_A exact
PI_B = 9.67502593994140625e-4         # 12 significant bits
PI_C = math.pi - PI_A - PI_B          # the rest, rounded to float32 when used
TAYLOR = [(-1.0) ** n / math.factorial(2 * n + 1) for n in range(1, 7)]  # x^3 ... x^13


def polynomial_sin_squared():
    """Module pass (before legalization): power(sin(x), 2) -> polynomial, see above."""
    import tvm
    from tvm import relax

    from .rewrite_pass import rewrite_pass

    op_power = tvm.ir.Op.get("relax.power")
    op_sin = tvm.ir.Op.get("relax.sin")

    def is_two(expr) -> bool:
        if not isinstance(expr, tvm.ir.expr.Constant):
            return False
        data = expr.value.numpy()
        return data.size == 1 and float(data.reshape(())) == 2.0

    @relax.expr_functor.mutator
    class Rewriter(relax.PyExprMutator):
        def visit_call_(self, call):  # noqa: N802 - TVM's visitor name
            call = super().visit_call_(call)
            if not isinstance(call.op, tvm.ir.Op) or not call.op.same_as(op_power) or not is_two(call.args[1]):
                return call
            base = call.args[0]
            bound = self.lookup_binding(base) if isinstance(base, relax.Var) else base
            if not isinstance(bound, relax.Call) or not bound.op.same_as(op_sin):
                return call
            x = bound.args[0]
            dtype = str(x.ty.dtype)
            if dtype != "float32":
                return call
            bb = self.builder_

            def c(v):
                return relax.const(v, dtype)

            mul, sub, add = (lambda a, b, f=f: bb.emit(f(a, b)) for f in
                             (relax.op.multiply, relax.op.subtract, relax.op.add))
            k = bb.emit(relax.op.round(mul(x, c(1.0 / math.pi))))
            r = sub(x, mul(k, c(PI_A)))
            r = sub(r, mul(k, c(PI_B)))
            r = sub(r, mul(k, c(PI_C)))
            r2 = mul(r, r)
            p = c(TAYLOR[-1])
            for coef in reversed(TAYLOR[:-1]):
                p = add(mul(r2, p), c(coef))
            s = add(r, mul(mul(r, r2), p))
            return relax.op.multiply(s, s)

    # the sin binding is left unused: dropped
    return rewrite_pass("edge_veda_polynomial_sin_squared", Rewriter, drop_unused=True)
