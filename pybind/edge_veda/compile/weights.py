"""The weights file of an artifact: raw tensors, each 64-byte aligned, described by the manifest.

The library maps the file once per context (ev_config.use_mmap) and hands the same memory to
every VM of the context, so a model's weights exist once however many threads run it. The
layout is deliberately trivial (docs/artifact-format.md, "Weights"): the manifest's `weights`
object names the file and lists every tensor with its dtype, shape, byte offset and size.
"""
from __future__ import annotations

import os

import numpy as np

ALIGNMENT = 64  # bytes; what TVM's kernels assume for tensor data
DTYPES = {np.dtype("float32"): "float32", np.dtype("int32"): "int32", np.dtype("float16"): "float16",
          np.dtype("int8"): "int8", np.dtype("uint8"): "uint8", np.dtype("int64"): "int64"}


def write_weights(path: str, tensors: dict[str, np.ndarray]) -> dict:
    """Writes `tensors` (in order) to `path` and returns the manifest's `weights` object."""
    table = []
    offset = 0
    with open(path, "wb") as f:
        for name, array in tensors.items():
            array = np.ascontiguousarray(array)
            if array.dtype not in DTYPES:
                raise ValueError(f"weight {name!r} has dtype {array.dtype}; supported: {sorted(DTYPES.values())}")
            if array.dtype.byteorder == ">":
                raise ValueError(f"weight {name!r} is big-endian; artifacts store little-endian data")
            pad = -offset % ALIGNMENT
            f.write(b"\0" * pad)
            offset += pad
            f.write(array.tobytes())
            table.append({"name": name, "dtype": DTYPES[array.dtype], "shape": [int(d) for d in array.shape],
                          "offset": offset, "nbytes": int(array.nbytes)})
            offset += array.nbytes
    assert os.path.getsize(path) == offset
    return {"file": os.path.basename(path), "alignment": ALIGNMENT, "tensors": table}


def read_weights(artifact_dir: str, weights: dict) -> dict[str, np.ndarray]:
    """The tensors of an artifact's weights file as read-only arrays (tests, tools)."""
    data = np.memmap(os.path.join(artifact_dir, weights["file"]), dtype=np.uint8, mode="r")
    return {t["name"]: data[t["offset"]:t["offset"] + t["nbytes"]].view(t["dtype"]).reshape(t["shape"])
            for t in weights["tensors"]}
