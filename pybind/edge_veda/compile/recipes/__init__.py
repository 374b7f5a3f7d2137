"""Model recipes: one module per model the compiler builds, registered here by name.

A recipe module defines NAME, KIND, IMPORTS (the compile modules its build imports beyond the
pipeline at compile/'s top level: its compiler key, edge_veda.paths) and `build(target) -> Build`
(pybind/edge_veda/compile/recipe.py); adding a model is a new module here plus one line in
RECIPES. Code only one recipe
uses sits here beside it: kokoro_graph.py (kokoro's ONNX graph), lexicon.py (g2p-en's lexicon
file). What several models can use goes in onnx_import/, relax_passes/ or kernels/.
"""
from __future__ import annotations

import importlib

# name -> module (imported only when that model is compiled: recipes import tvm and weights)
RECIPES = {
    "g2p-en": "edge_veda.compile.recipes.g2p_en",
    "kokoro": "edge_veda.compile.recipes.kokoro",
}

# name -> the precisions `compile --precision` builds, the default first (here, not in the recipe
# module, so a wrong --precision fails before tvm is imported). A reduced precision is a recipe's
# own choice of what to quantize: kokoro's int8 is its vocoder convolutions (recipes/kokoro.py).
PRECISIONS = {
    "kokoro": ("fp32", "int8"),
}


def names() -> tuple[str, ...]:
    return tuple(RECIPES)


def precisions(name: str) -> tuple[str, ...]:
    return PRECISIONS.get(name, ("fp32",))


def load(name: str):
    """The recipe module for `name`; KeyError lists the known names."""
    if name not in RECIPES:
        raise KeyError(f"unknown model {name!r}; models this compiler builds: {', '.join(RECIPES)}")
    return importlib.import_module(RECIPES[name])
