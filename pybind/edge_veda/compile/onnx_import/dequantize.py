"""Rewrites an onnxruntime dynamically quantized (int8) ONNX graph into a plain float32 graph.

onnxruntime's dynamic quantization keeps the float model's structure and replaces each weighted
op by an integer pattern whose activations are quantized at run time. This module undoes that,
turning every pattern back into the standard float op with dequantized weights
((q - zero_point) * scale, exactly the values the int8 model multiplies by):

* DynamicQuantizeLinear(x) -> MatMulInteger(xq, Wq, xzp, wzp) -> Cast -> Mul(xs * ws)
  becomes MatMul(x, W)
* DynamicQuantizeLinear(x) -> ConvInteger(...) [-> Add(bias_q)] -> Cast -> Mul(xs * ws)
  becomes Conv(x, W, b); the int8 graph stores the conv bias as Floor(b / (xs * ws)) computed
  at run time, and b is the float initializer at the start of that chain
* com.microsoft DynamicQuantizeLSTM becomes LSTM (weights stored [dirs, in, 4H] are transposed
  to ONNX's [dirs, 4H, in]; scale and zero point per direction or per gate column)
* DequantizeLinear(Gather(int8 table, ids)) becomes Gather(float table, ids)

Afterwards dead nodes are dropped and float initializers with identical contents are merged
(the quantizer copies a weight once per use; ALBERT shares its layer weights 12 times).

The result is a numerically different model from the int8 one (activations are no longer
quantized): it is the float model the int8 graph was made from, up to weight rounding.
Only the `onnx` package is needed; onnxruntime is not.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .graph import GraphEditor


def _scale_mul_weight_scale(ed: GraphEditor, scale_name: str) -> np.ndarray:
    """The weight scale inside Mul(x_scale, w_scale), the combined scale of a quantized op."""
    mul = ed.producer.get(scale_name)
    if mul is None or mul.op_type != "Mul":
        raise ValueError(f"{scale_name!r} is not Mul(x_scale, w_scale)")
    consts = [i for i in mul.input if ed.is_const(i)]
    if len(consts) != 1:
        raise ValueError(f"{mul.name}: expected exactly one constant (the weight scale)")
    return ed.array(consts[0]).astype(np.float32)


def _dynamic_quantized_input(ed: GraphEditor, name: str) -> str:
    node = ed.producer.get(name)
    if node is None or node.op_type != "DynamicQuantizeLinear":
        raise ValueError(f"{name!r} does not come from DynamicQuantizeLinear")
    return node.input[0]


def _trace_float_bias(ed: GraphEditor, name: str) -> np.ndarray:
    """Follows Reshape/Cast/Floor/Round/Div(bias, scale) back to the float bias initializer."""
    for _ in range(8):
        if ed.is_const(name):
            value = ed.array(name)
            if value.dtype == np.float32:
                return value
            raise ValueError(f"bias chain ends in {name!r} of dtype {value.dtype}, not float32")
        node = ed.producer.get(name)
        if node is None or node.op_type not in ("Reshape", "Cast", "Floor", "Round", "Div"):
            raise ValueError(f"unexpected node in a quantized bias chain: "
                             f"{node.op_type if node is not None else name}")
        name = node.input[0]
    raise ValueError("quantized bias chain too long")


def _dequant(q: np.ndarray, zp: np.ndarray, scale: np.ndarray, axis_shape) -> np.ndarray:
    zp = np.asarray(zp).astype(np.float32)
    scale = np.asarray(scale).astype(np.float32)
    if zp.size > 1:
        zp = zp.reshape(axis_shape)
    if scale.size > 1:
        scale = scale.reshape(axis_shape)
    return ((q.astype(np.float32) - zp) * scale).astype(np.float32)


def _rewrite_matmul_integer(ed: GraphEditor, n) -> None:
    from onnx import helper

    x = _dynamic_quantized_input(ed, n.input[0])
    wq = ed.array(n.input[1])
    wzp = ed.array(n.input[3]) if len(n.input) > 3 and n.input[3] else np.zeros((), wq.dtype)
    cast = ed.only_consumer(n.output[0], "Cast")
    mul = ed.only_consumer(cast.output[0], "Mul")
    scale_in = mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]
    w_scale = _scale_mul_weight_scale(ed, scale_in)
    w = _dequant(wq, wzp, w_scale, (1, -1))  # per output column: [K, N] * [N]
    w_name = ed.add_init(n.input[1].removesuffix("_quantized"), w)
    ed.replace(n, [helper.make_node("MatMul", [x, w_name], [mul.output[0]], name=mul.name + "_fp32")],
               drop=[n, cast, mul])


def _rewrite_conv_integer(ed: GraphEditor, n) -> None:
    from onnx import helper

    x = _dynamic_quantized_input(ed, n.input[0])
    wq = ed.array(n.input[1])
    wzp = ed.array(n.input[3]) if len(n.input) > 3 and n.input[3] else np.zeros((), wq.dtype)
    drop = [n]
    nxt = ed.consumers.get(n.output[0], [])
    bias = None
    if len(nxt) == 1 and nxt[0].op_type == "Add":
        add = nxt[0]
        other = add.input[1] if add.input[0] == n.output[0] else add.input[0]
        bias = _trace_float_bias(ed, other)
        drop.append(add)
        cast = ed.only_consumer(add.output[0], "Cast")
    else:
        cast = ed.only_consumer(n.output[0], "Cast")
    mul = ed.only_consumer(cast.output[0], "Mul")
    drop += [cast, mul]
    scale_in = mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]
    w_scale = _scale_mul_weight_scale(ed, scale_in)
    w = _dequant(wq, wzp, w_scale, (-1,) + (1,) * (wq.ndim - 1))  # per output channel
    inputs = [x, ed.add_init(n.input[1].removesuffix("_quantized"), w)]
    if bias is not None:
        inputs.append(ed.add_init(mul.output[0] + ".bias", bias.reshape(-1).astype(np.float32)))
    conv = helper.make_node("Conv", inputs, [mul.output[0]], name=mul.name + "_fp32")
    conv.attribute.extend(n.attribute)
    ed.replace(n, [conv], drop=drop)


def _rewrite_dynamic_quantize_lstm(ed: GraphEditor, n) -> None:
    from onnx import helper

    # inputs: X, W, R, B, sequence_lens, initial_h, initial_c, P, W_scale, W_zero_point,
    #         R_scale, R_zero_point
    ins = list(n.input) + [""] * (12 - len(n.input))

    def deq(q_name, scale_name, zp_name):
        q = ed.array(q_name)                     # [dirs, in, 4H]
        scale = ed.array(scale_name)
        zp = ed.array(zp_name) if zp_name else np.zeros((), q.dtype)
        shape = (q.shape[0], 1, 1) if np.asarray(scale).size == q.shape[0] else (q.shape[0], 1, q.shape[2])
        w = _dequant(q, zp, scale, shape)
        return np.ascontiguousarray(w.transpose(0, 2, 1))  # ONNX LSTM: [dirs, 4H, in]

    w = ed.add_init(ins[1].removesuffix("_quantized"), deq(ins[1], ins[8], ins[9]))
    r = ed.add_init(ins[2].removesuffix("_quantized"), deq(ins[2], ins[10], ins[11]))
    lstm = helper.make_node("LSTM", [ins[0], w, r] + ins[3:8], list(n.output), name=n.name + "_fp32")
    lstm.attribute.extend(a for a in n.attribute if a.name in (
        "activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size",
        "input_forget", "layout"))
    while lstm.input and not lstm.input[-1]:
        lstm.input.pop()
    ed.replace(n, [lstm], drop=[n])


def _rewrite_dequantize_gather(ed: GraphEditor, n) -> None:
    """DequantizeLinear(Gather(int8 table, ids), scale, zp) -> Gather(float table, ids)."""
    from onnx import helper

    gather = ed.producer.get(n.input[0])
    if gather is None or gather.op_type != "Gather" or not ed.is_const(gather.input[0]):
        return  # not the embedding pattern; left as is
    axis = next((a.i for a in gather.attribute if a.name == "axis"), 0)
    dq_axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
    table_q = ed.array(gather.input[0])
    scale = ed.array(n.input[1])
    zp = ed.array(n.input[2]) if len(n.input) > 2 and n.input[2] else np.zeros((), table_q.dtype)
    if np.asarray(scale).size > 1 and (axis != 0 or dq_axis not in (1, -1)):
        raise ValueError(f"{n.name}: per-axis dequantization of a gathered table is not handled")
    table = _dequant(table_q, zp, scale, (1, -1))
    name = ed.add_init(gather.input[0].removesuffix("_quantized"), table)
    new = helper.make_node("Gather", [name, gather.input[1]], [n.output[0]], name=n.name + "_fp32")
    new.attribute.extend(gather.attribute)
    drop = [n] + ([gather] if len(ed.consumers.get(gather.output[0], [])) == 1 else [])
    ed.replace(n, [new], drop=drop)


REWRITES = {
    "MatMulInteger": _rewrite_matmul_integer,
    "ConvInteger": _rewrite_conv_integer,
    "DynamicQuantizeLSTM": _rewrite_dynamic_quantize_lstm,
    "DequantizeLinear": _rewrite_dequantize_gather,
}


def dequantize(model):
    """The float32 model of an onnxruntime dynamically quantized `model` (modified in place and
    returned)."""
    ed = GraphEditor(model)
    for n in list(ed.graph.node):
        rewrite = REWRITES.get(n.op_type)
        if rewrite is not None:
            rewrite(ed, n)
    ed.commit()
    left = sorted({n.op_type for n in ed.graph.node} & {"MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM",
                                                          "DynamicQuantizeLinear", "DequantizeLinear"})
    if left:
        raise ValueError(f"quantized ops left after the rewrite: {', '.join(left)}")
    dedupe_initializers(model)
    return model


def dedupe_initializers(model, min_bytes: int = 256) -> int:
    """Merges float initializers of identical dtype, shape and bytes; returns how many went."""
    from onnx import numpy_helper

    first: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.nbytes < min_bytes:
            continue
        key = (a.dtype.str, a.shape, hashlib.sha256(a.tobytes()).hexdigest())
        if key in first:
            rename[t.name] = first[key]
        else:
            first[key] = t.name
    if not rename:
        return 0
    for n in model.graph.node:
        for k, i in enumerate(n.input):
            if i in rename:
                n.input[k] = rename[i]
    kept = [t for t in model.graph.initializer if t.name not in rename]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return len(rename)
