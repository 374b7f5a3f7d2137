"""What a recipe hands the compiler: a Relax module whose functions take their weights as
trailing parameters, the weights themselves, and the kind's section of the manifest."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Function:
    """One VM function: the name in the module and, in order, the weights it takes after its
    data inputs (names in `Build.weights`)."""
    name: str
    weights: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict:
        return {"name": self.name, "weights": list(self.weights)}


@dataclasses.dataclass
class Build:
    module: object                       # tvm.IRModule
    weights: dict[str, np.ndarray]       # written to the weights file in this order
    functions: dict[str, Function]       # role -> function (roles are the kind's vocabulary)
    kind_config: dict                    # the manifest's section named after the kind
    version: str                         # version of the weights' source
    description: str
    limits: dict = dataclasses.field(default_factory=dict)  # e.g. {"max_input_chars": 1024}
    kernel_threads: bool = False  # True when kernels have parallel loops (TVM's thread pool)
    # Further files of the artifact (e.g. a lexicon): plain name -> content. Listed in the
    # manifest's "files" with size and SHA-256 like the module and the weights.
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    # The Relax pipeline tvm.compile runs (a tvm.transform.Pass); None: TVM's default for the
    # target. For recipes whose module the default pipeline cannot build (kokoro).
    pipeline: object = None
    # "fp32", or a reduced precision the recipe offers (its PRECISIONS; recorded in the manifest)
    precision: str = "fp32"


def emit_model_info(bb, info: dict[str, int]) -> None:
    """Adds the module's `model_info` function to the BlockBuilder `bb`: the shapes it was
    compiled with, as named values: () -> (i32[n] values, u8[m] names, ASCII, comma-separated,
    same order). The C kind reads them by name (csrc/models/model_info.h) and refuses a manifest
    that disagrees, so the recipe and the kind share names, never positions."""
    from tvm import relax

    for name, value in info.items():
        if not name or not set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_"):
            raise ValueError(f"model_info name {name!r} is not [a-z0-9_]+")
        if not -2**31 <= int(value) < 2**31:
            raise ValueError(f"model_info {name}={value} does not fit int32")
    values = np.array([int(v) for v in info.values()], dtype="int32")
    names = np.frombuffer(",".join(info).encode("ascii"), dtype="uint8")
    with bb.function("model_info", []):
        bb.emit_func_output(relax.Tuple([relax.const(values), relax.const(names)]))
