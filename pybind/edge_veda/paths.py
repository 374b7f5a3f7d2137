"""Where model artifacts live. Imports nothing of edge_veda.models or edge_veda.compile: the compiler
key hashes the compiler's files, so finding a local build never loads the compiler (nor tvm,
which runtime-only installs lack).

The cache root is platformdirs' user data dir for "edge-veda" (on Linux
~/.local/share/edge-veda), or $EDGE_VEDA_HOME when set. Below it:

    models/NAME/   installed artifacts (edge_veda.models)
    local/KEY/     artifacts compiled on this machine, KEY from local_build_dir(name)
    locks/         one lock file per pull or local build
"""
from __future__ import annotations

import ast
import hashlib
import os
import platform

import platformdirs

from ._native import runtime_version
from .artifact import MANIFEST


def cache_root() -> str:
    return os.environ.get("EDGE_VEDA_HOME") or platformdirs.user_data_dir("edge-veda", appauthor=False)


def cpu_key() -> str:
    """An artifact compiled for one CPU may use instructions another lacks (SIGILL), so local
    builds are keyed by the CPU's feature flags, not only by the architecture."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return hashlib.sha256(f"{platform.machine()}|{flags}".encode()).hexdigest()[:12]


# edge_veda/, where the compiler's files are hashed from (tests point it at a copy)
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_COMPILE = "compile"                    # the compiler's folder in it
_COMPILE_PACKAGE = "edge_veda.compile."


def _literal(path: str, name: str):
    """The value of the top-level assignment `name = <literal>` in the Python file `path`, read
    with ast, not imported (see the module docstring)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(node.value)
    raise KeyError(f"{path} assigns no literal {name}")


def _module_files(module: str) -> list[str]:
    """The files importing `module` (dotted, under edge_veda.compile) runs: its own and the
    __init__.py of each package it is in. Paths relative to PACKAGE_DIR."""
    parts = module.split(".")
    files = [os.path.join(_COMPILE, *parts[:k], "__init__.py") for k in range(len(parts))]
    package = os.path.join(_COMPILE, *parts, "__init__.py")
    if os.path.isfile(os.path.join(PACKAGE_DIR, package)):  # the module is a package
        return files + [package]
    return files + [os.path.join(_COMPILE, *parts) + ".py"]


def compiler_sources(name: str) -> list[str]:
    """The files (relative to edge_veda/) that make model `name`'s compiler key: artifact.py, the
    pipeline every recipe runs (compile/*.py and the registry compile/recipes/__init__.py), the
    recipe's module and the modules its IMPORTS tuple names. So editing one recipe's code (say
    kokoro's graph rewrites) does not invalidate another model's local builds. For a name the
    registry does not list, or a registry or recipe this cannot read: every .py file of compile/."""
    sources = {"artifact.py", os.path.join(_COMPILE, "recipes", "__init__.py")}
    top = os.path.join(PACKAGE_DIR, _COMPILE)
    sources.update(os.path.join(_COMPILE, f) for f in (os.listdir(top) if os.path.isdir(top) else ())
                   if f.endswith(".py"))
    try:
        module = _literal(os.path.join(top, "recipes", "__init__.py"), "RECIPES")[name]
        if not module.startswith(_COMPILE_PACKAGE):
            raise KeyError(module)
        module = module[len(_COMPILE_PACKAGE):]
        recipe_files = _module_files(module)
        imports = _literal(os.path.join(PACKAGE_DIR, recipe_files[-1]), "IMPORTS")
        if not isinstance(imports, tuple) or not all(isinstance(m, str) for m in imports):
            raise TypeError(f"{module}.IMPORTS must be a tuple of module names")
    except (OSError, SyntaxError, ValueError, KeyError, TypeError):
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            sources.update(os.path.relpath(os.path.join(root, f), PACKAGE_DIR) for f in files if f.endswith(".py"))
        return sorted(sources)
    sources.update(recipe_files)
    for m in imports:
        sources.update(_module_files(m))
    return sorted(sources)


def compiler_key(name: str) -> str:
    """A new compiler (kernels, recipes, layout, manifest) must not reuse artifacts built by an
    old one: the hash of the files compiling model `name` runs (compiler_sources)."""
    h = hashlib.sha256()
    for rel in compiler_sources(name):
        h.update(rel.replace(os.sep, "/").encode() + b"\0")
        try:
            with open(os.path.join(PACKAGE_DIR, rel), "rb") as f:
                h.update(f.read())
        except FileNotFoundError:  # a stale IMPORTS entry (tests/test_compile_layout.py catches it)
            h.update(b"\0missing")
    return h.hexdigest()[:8]


def local_build_dir(name: str, root: str | None = None) -> str:
    """Where model `name` compiled on this machine lives under the cache `root` (default: cache_root())."""
    key = f"{name}-tvm{runtime_version()}-{platform.machine()}-{cpu_key()}-{compiler_key(name)}"
    return os.path.join(root or cache_root(), "local", key)


def is_built(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, MANIFEST))
