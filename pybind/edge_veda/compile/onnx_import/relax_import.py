"""ONNX graphs into one Relax module whose weights are function parameters, not constants.

The library maps an artifact's weights file once and passes the same memory to every VM
(docs/artifact-format.md, "Weights"), so a module must take its weights as parameters. TVM's
`from_onnx(keep_params_in_input=True)` makes every initializer a parameter, the small shape
constants and scalars too; here the large float initializers become parameters (named and shared
across graphs) and the rest become Constant nodes the importer folds.

The Relax importer makes one "main" per ONNX graph; a model cut into several graphs (Kokoro: at
its data-dependent alignment) is imported graph by graph and merged (merge_modules).
"""
from __future__ import annotations

import re

import numpy as np


def _weight_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.]+", ".", name.removeprefix("onnx::")).strip(".") or "w"
    if len(base) > 100:
        base = base[-100:].lstrip(".")
    out, k = base, 1
    while out in taken:
        k += 1
        out = f"{base}.{k}"
    taken.add(out)
    return out


def initializers_to_parameters(model, names: dict[bytes, str], taken: set[str], min_elements: int):
    """Splits `model`'s initializers into weights (float32 with at least `min_elements` elements;
    renamed; they become parameters) and small constants (moved into Constant nodes, so the
    importer folds them). `names` maps a weight's content digest to its name across graphs, so a
    tensor several graphs use is one weight; `taken` holds the names given so far.
    Returns {weight name: array} in parameter order and the bytes left as constants."""
    import hashlib

    from onnx import helper, numpy_helper

    g = model.graph
    weights: dict[str, np.ndarray] = {}
    rename: dict[str, str] = {}
    constants = []
    const_bytes = 0
    kept = []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size >= min_elements:
            key = hashlib.sha256(a.dtype.str.encode() + str(a.shape).encode() + a.tobytes()).digest()
            if key not in names:
                names[key] = _weight_name(t.name, taken)
            new = names[key]
            rename[t.name] = new
            if new not in weights:
                weights[new] = np.ascontiguousarray(a)
                kept.append(numpy_helper.from_array(weights[new], new))
        else:
            constants.append(helper.make_node("Constant", [], [t.name], value=t, name=f"const:{t.name}"))
            const_bytes += a.nbytes
    for n in g.node:
        for k, i in enumerate(n.input):
            if i in rename:
                n.input[k] = rename[i]
    nodes = constants + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(kept)
    return weights, const_bytes


def import_graph(model, shapes: dict, dtypes: dict, prefix: str):
    """The Relax module of one ONNX graph (function "main": data inputs, then the weights as
    parameters, in initializer order), imported with converters.py's converters; the TIR kernels
    the import adds are named with `prefix`, so several imports can be merged."""
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    from .converters import converters

    with converters(prefix):
        mod = from_onnx(model, shape_dict=shapes, dtype_dict=dtypes, keep_params_in_input=True)
    mod, _ = relax.frontend.detach_params(mod)
    return mod


def merge_modules(mains: dict, extra) -> object:
    """One IRModule of several imported modules (`mains`: new name -> module) and `extra`: each
    module's "main" under its new name, the rest (kernels, already uniquely prefixed) as they are."""
    import tvm

    merged = tvm.IRModule()
    for new_name, mod in list(mains.items()) + [(None, extra)]:
        for gv, func in mod.functions.items():
            if gv.name_hint == "main" and new_name is not None:
                merged[new_name] = func.with_attr("global_symbol", new_name)
            elif any(g.name_hint == gv.name_hint for g in merged.functions):
                raise ValueError(f"two modules define {gv.name_hint}")
            else:
                merged[gv] = func
    return merged


def parameter_weights(mod, weights: dict[str, np.ndarray]) -> list[str]:
    """The names of the weights `mod`'s "main" takes after its data inputs, in order (each must be
    in `weights`)."""
    func = mod["main"]
    n_in = int(func.attrs["num_input"])
    names = [p.name for p in func.params[n_in:]]
    missing = [n for n in names if n not in weights]
    if missing:
        raise ValueError(f"parameters without weights: {missing[:5]}")
    return names
