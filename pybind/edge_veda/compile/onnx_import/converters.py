"""Converters added to (or replacing) TVM 0.27's Relax ONNX frontend for one import.

* LSTM: the frontend has none; lstm.emit_lstm (input projection in Relax, the recurrence as a
  TIR kernel over a symbolic length).
* Resize with constant scales: the frontend computes each output size as
  Cast(int64, scale * Cast(float, dim)), which TVM's shape analysis cannot equate with the
  same length computed elsewhere (e.g. dim * 2 from a conv-transpose branch), so a later
  Reshape(-1) or elementwise op fails on "mismatched shapes". Integer scales become dim * s and
  scales 1/k become floordiv(dim, k), which is what ONNX's floor(dim * scale) gives for them.
* Slice to the end (an end of at least 2^31 - 1, ONNX's way of saying "to the end", on an axis
  of symbolic length T): the end becomes T itself. Left as the constant, the output length is
  min(T, 2^31 - 1) - start, whose upper bound the Relax memory planner uses to allocate that
  tensor statically: an 8 GiB buffer at every call (Kokoro's iSTFT tail), virtual until touched
  on 64-bit Linux, fatal on a 32-bit target or under iOS's address-space limit.

Use: `with converters(prefix): relax.frontend.onnx.from_onnx(...)`; `prefix` names the TIR
kernels the import adds, so two imports can be merged into one module without clashes.
"""
from __future__ import annotations

import contextlib

import numpy as np

INT32_MAX = 2**31 - 1


def _make_converters(prefix: str):
    import tvm
    from tvm import topi
    from tvm.relax.frontend.onnx import onnx_frontend as fe

    from .lstm import emit_lstm

    class LSTM(fe.OnnxOpConverter):
        @classmethod
        def _impl_v14(cls, bb, inputs, attr, params):
            if attr.get("layout", 0) != 0 or attr.get("input_forget", 0) or "clip" in attr:
                raise NotImplementedError("LSTM: only layout 0 without clip / input_forget is supported")
            acts = [a.decode() if isinstance(a, bytes) else a for a in attr.get("activations", ())]
            if acts and [a.lower() for a in acts] not in (["sigmoid", "tanh", "tanh"],
                                                           ["sigmoid", "tanh", "tanh"] * 2):
                raise NotImplementedError(f"LSTM: activations {acts} are not supported")
            x, w, r = inputs[0], inputs[1], inputs[2]
            b = inputs[3] if len(inputs) > 3 else None
            for k, what in ((4, "sequence_lens"), (5, "initial_h"), (6, "initial_c"), (7, "P")):
                if len(inputs) > k and inputs[k] is not None:
                    raise NotImplementedError(f"LSTM: input {what} is not supported (drop zero states)")
            if int(x.ty.shape[1]) != 1:
                raise NotImplementedError("LSTM: batch 1 only")
            direction = attr.get("direction", b"forward")
            direction = direction.decode() if isinstance(direction, bytes) else direction
            return emit_lstm(bb, x, w, r, b, int(attr["hidden_size"]), direction, prefix)

    class Resize(fe.Resize):
        @classmethod
        def _impl_v18(cls, bb, inputs, attr, params):
            x = inputs[0]
            scales = inputs[2] if len(inputs) > 2 else None
            sizes = inputs[3] if len(inputs) > 3 else None
            roi = inputs[1] if len(inputs) > 1 else None
            ndims = len(x.ty.shape)
            if sizes is not None or not isinstance(scales, tvm.ir.GenericConst) or ndims != 3 or (
                    roi is not None and not (isinstance(roi, tvm.ir.GenericConst) and roi.value.numpy().size == 0)):
                return super()._impl_v18(bb, inputs, attr, params)
            s = float(scales.value.numpy()[2])
            if s >= 1 and float(s).is_integer():
                size = x.ty.shape[2] * int(s)
            elif s < 1 and abs(1 / s - round(1 / s)) < 1e-4 * round(1 / s):
                size = tvm.tirx.floordiv(x.ty.shape[2], round(1 / s))
            else:
                return super()._impl_v18(bb, inputs, attr, params)
            if not np.allclose(scales.value.numpy()[:2], 1):
                return super()._impl_v18(bb, inputs, attr, params)
            mode = attr.get("mode", b"nearest").decode("ascii")
            return bb.emit_te(
                topi.image.resize1d, x, [0.0, 0.0], [size], "NCW",
                "nearest_neighbor" if mode == "nearest" else mode,
                attr.get("coordinate_transformation_mode", b"half_pixel").decode("ascii"),
                attr.get("nearest_mode", b"round_prefer_floor").decode("ascii"),
                attr.get("cubic_coeff_a", -0.75), attr.get("exclude_outside", 0),
                attr.get("extrapolation_value", 0.0))

    class Slice(fe.Slice):
        @classmethod
        def _impl_v13(cls, bb, inputs, attr, params):
            data, ends = inputs[0], fe.get_constant(inputs[2], params)
            shape = getattr(getattr(data, "ty", None), "shape", None)
            if isinstance(ends, tvm.ir.GenericConst) and isinstance(shape, tvm.relax.ShapeExpr):
                end_values = [int(v) for v in ends.value.numpy().reshape(-1)]
                axes = fe.get_constant(inputs[3], params)
                steps = fe.get_constant(inputs[4], params)
                axes = ([int(a) for a in axes.value.numpy().reshape(-1)] if isinstance(axes, tvm.ir.GenericConst)
                        else None if axes is not None else list(range(len(end_values))))
                steps = ([int(v) for v in steps.value.numpy().reshape(-1)] if isinstance(steps, tvm.ir.GenericConst)
                         else None if steps is not None else [1] * len(end_values))
                if axes is not None and steps is not None:
                    ndim = len(shape.values)
                    dims = [shape.values[a % ndim] for a in axes]
                    to_end = [e >= INT32_MAX and s > 0 and not isinstance(d, tvm.tirx.IntImm)
                              for e, s, d in zip(end_values, steps, dims)]
                    if any(to_end):
                        new_ends = [d if t else e for e, d, t in zip(end_values, dims, to_end)]
                        inputs = fe.onnx_input([data, inputs[1], tvm.relax.ShapeExpr(new_ends), *inputs[3:]])
            return super()._impl_v13(bb, inputs, attr, params)

    return {"LSTM": LSTM, "Resize": Resize, "Slice": Slice}


@contextlib.contextmanager
def converters(prefix: str = ""):
    """Installs the converters above into the Relax ONNX frontend for the duration."""
    from tvm.relax.frontend.onnx import onnx_frontend as fe

    original = fe._get_convert_map
    extra = _make_converters(prefix)

    def patched():
        table = original()
        table.update(extra)
        return table

    fe._get_convert_map = patched
    try:
        yield
    finally:
        fe._get_convert_map = original
