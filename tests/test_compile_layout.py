"""The compiler's layout and its per-recipe cache keys (edge_veda.paths.compiler_sources).

A local build's directory name carries compiler_key(name): the hash of artifact.py, the pipeline
at compile/'s top level, and the recipe's module with the modules its IMPORTS tuple names. These
tests prove that list complete (every edge_veda.compile module the recipe can import is hashed:
statically, each import statement anywhere in the code it reaches, lazy ones inside functions
included; and at run time, what a real compile loaded), exact (nothing declared that the recipe
does not import), and that an edit to one recipe's code leaves the other recipe's key alone.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from edge_veda import paths
from edge_veda.compile.recipes import RECIPES

PACKAGE = "edge_veda.compile"


def compile_dir(root: str | None = None) -> str:
    return os.path.join(root or paths.PACKAGE_DIR, "compile")


def module_file(module: str) -> str:
    """compile/-relative module name ("" is edge_veda.compile itself) -> its file."""
    parts = module.split(".") if module else []
    package = os.path.join(compile_dir(), *parts, "__init__.py")
    return package if os.path.isfile(package) else os.path.join(compile_dir(), *parts) + ".py"


def is_package(module: str) -> bool:
    return module_file(module).endswith("__init__.py")


def imported_modules(module: str) -> set[str]:
    """The edge_veda.compile modules (compile/-relative names) that any import statement of
    `module` names, wherever it stands (top level or inside a function), parent packages included."""
    with open(module_file(module), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    here = module.split(".") if module else []
    package = here if is_package(module) else here[:-1]
    found = set()

    def add(parts: list[str], names=()):
        for k in range(len(parts) + 1):  # importing a.b runs a/__init__.py first
            found.add(".".join(parts[:k]))
        for name in names:  # `from package import module`
            if os.path.isfile(module_file(".".join(parts + [name]))):
                found.add(".".join(parts + [name]))

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 > len(package):
                    continue  # above edge_veda.compile (edge_veda.artifact, _ffi, errors...)
                base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            elif node.module == PACKAGE or (node.module or "").startswith(PACKAGE + "."):
                base = node.module.split(".")[2:]
            else:
                continue
            add(base, [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == PACKAGE or a.name.startswith(PACKAGE + "."):
                    add(a.name.split(".")[2:])
    return {m for m in found if os.path.isfile(module_file(m))}


def closure(start: set[str]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(imported_modules(m) - seen)
    return seen


def rel(path: str) -> str:
    return os.path.relpath(path, paths.PACKAGE_DIR)


def recipe_module(name: str) -> str:
    return RECIPES[name][len(PACKAGE) + 1:]


def declared_imports(name: str) -> tuple:
    import importlib

    return importlib.import_module(RECIPES[name]).IMPORTS


PIPELINE = {f[:-3] for f in os.listdir(compile_dir()) if f.endswith(".py") and f != "__init__.py"}


def test_the_pipeline_imports_only_itself():
    """compile/'s top level is what every recipe's key hashes: nothing it imports may live in a
    sub-package (else a recipe-only key would miss it), except the recipe registry."""
    reached = closure(PIPELINE | {""})
    assert reached <= PIPELINE | {"", "recipes"}, sorted(reached - PIPELINE)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_imports_are_complete_and_exact(name):
    recipe = recipe_module(name)
    reached = closure({recipe})
    sources = set(paths.compiler_sources(name))
    missing = sorted(rel(module_file(m)) for m in reached if rel(module_file(m)) not in sources)
    assert not missing, f"{RECIPES[name]} imports modules its compiler key does not hash: {missing}"
    expected = {m for m in reached if "." in m and not is_package(m)} - {recipe}
    assert set(declared_imports(name)) == expected, "IMPORTS must list exactly these (see its comment)"
    assert all(os.path.isfile(os.path.join(paths.PACKAGE_DIR, f)) for f in sources)


@pytest.fixture()
def package_copy(tmp_path, monkeypatch):
    """A copy of the files compiler keys read, which the key then hashes instead."""
    root = tmp_path / "edge_veda"
    shutil.copytree(compile_dir(), root / "compile", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(paths.PACKAGE_DIR, "artifact.py"), root / "artifact.py")
    monkeypatch.setattr(paths, "PACKAGE_DIR", str(root))
    return root


@pytest.mark.parametrize("edited, changes", [
    ("compile/recipes/kokoro_graph.py", {"kokoro"}),     # Kokoro's own graph surgery
    ("compile/recipes/kokoro.py", {"kokoro"}),
    ("compile/onnx_import/lstm.py", {"kokoro"}),          # generic, but only kokoro uses it now
    ("compile/kernels/microkernels.py", {"kokoro"}),
    ("compile/kernels/gru_kernels.py", {"g2p-en"}),
    ("compile/recipes/lexicon.py", {"g2p-en", "kokoro"}),  # both write lexicon files
    ("compile/recipes/kokoro_lexicon.py", {"kokoro"}),
    ("compile/kernels/__init__.py", {"g2p-en", "kokoro"}),  # both import a module of kernels/
    ("compile/build.py", {"g2p-en", "kokoro"}),           # the pipeline
    ("compile/recipes/__init__.py", {"g2p-en", "kokoro"}),
    ("artifact.py", {"g2p-en", "kokoro"}),
])
def test_an_edit_changes_exactly_the_keys_of_the_recipes_that_use_it(package_copy, edited, changes):
    before = {name: paths.compiler_key(name) for name in RECIPES}
    with open(package_copy / edited, "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    after = {name: paths.compiler_key(name) for name in RECIPES}
    assert {name for name in RECIPES if after[name] != before[name]} == changes


def test_a_name_or_registry_it_cannot_read_hashes_everything(package_copy):
    everything = paths.compiler_sources("no-such-model")
    assert "compile/recipes/kokoro_graph.py" in everything and "compile/kernels/gru_kernels.py" in everything
    (package_copy / "compile" / "recipes" / "__init__.py").write_text("RECIPES = dict(broken=1)\n")
    assert paths.compiler_sources("g2p-en") == everything


def test_paths_imports_nothing_of_the_compiler():
    """resolve.py finds local builds through paths.py in runtime-only installs (no tvm)."""
    script = textwrap.dedent("""
        import sys
        from edge_veda import paths
        keys = [paths.local_build_dir(name, "/nonexistent") for name in ("g2p-en", "kokoro")]
        loaded = [m for m in sys.modules if m.startswith(("edge_veda.compile", "tvm"))]
        assert not loaded, loaded
        print(keys)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


LOADED = """
import json, sys
{body}
print(json.dumps(sorted(m.__file__ for name, m in list(sys.modules.items())
                        if (name == "edge_veda.compile" or name.startswith("edge_veda.compile."))
                        and getattr(m, "__file__", None))))
"""


def loaded_files(body: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", LOADED.format(body=textwrap.dedent(body))],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return {rel(f) for f in json.loads(proc.stdout.splitlines()[-1])}


def test_compiling_g2p_en_loads_only_what_its_key_hashes(tmp_path):
    """A real compile in a fresh process: every edge_veda.compile module it loaded is hashed."""
    pytest.importorskip("tvm")
    loaded = loaded_files(f"""
        from edge_veda.compile import compile_model
        compile_model("g2p-en", {str(tmp_path / "g2p-en")!r}, announce=lambda m: None)
    """)
    assert "compile/kernels/gru_kernels.py" in loaded
    assert loaded <= set(paths.compiler_sources("g2p-en")), sorted(loaded - set(paths.compiler_sources("g2p-en")))


def test_kokoros_pipeline_and_onnx_import_load_only_what_its_key_hashes():
    """Kokoro's compile takes a minute and 2.3 GB, so this runs the code paths that import lazily
    (the Relax pipeline, an ONNX import with the converters) on a tiny graph instead; the static
    test above covers every import statement."""
    pytest.importorskip("tvm")
    pytest.importorskip("onnx")
    loaded = loaded_files("""
        import numpy as np
        import tvm
        from onnx import TensorProto, helper
        from edge_veda.compile.recipes import kokoro
        from edge_veda.compile.onnx_import.relax_import import import_graph

        kokoro.relax_pipeline(tvm.target.Target("llvm"))
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
        import_graph(helper.make_model(graph), {"x": [2]}, {"x": "float32"}, "t_")
    """)
    assert {"compile/onnx_import/lstm.py", "compile/kernels/cpu_schedule.py"} <= loaded
    assert loaded <= set(paths.compiler_sources("kokoro")), sorted(loaded - set(paths.compiler_sources("kokoro")))
