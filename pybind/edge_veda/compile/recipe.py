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
