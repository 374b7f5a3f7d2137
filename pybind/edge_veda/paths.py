"""Where model artifacts live. Imports nothing of edge_veda.models or edge_veda.compile.

The cache root is platformdirs' user data dir for "edge-veda" (on Linux
~/.local/share/edge-veda), or $EDGE_VEDA_HOME when set. Below it:

    models/NAME/   installed artifacts (edge_veda.models)
    local/KEY/     artifacts compiled on this machine, KEY = local_build_key(name)
    locks/         one lock file per pull or local build
"""
from __future__ import annotations

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


def compiler_key() -> str:
    """A new compiler (kernels, recipes, layout, manifest) must not reuse artifacts built by an
    old one: the hash of every .py file of edge_veda/compile and edge_veda/artifact.py."""
    here = os.path.dirname(os.path.abspath(__file__))
    sources = [os.path.join(here, "artifact.py")]
    for top, dirs, files in os.walk(os.path.join(here, "compile")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        sources += [os.path.join(top, f) for f in files if f.endswith(".py")]
    h = hashlib.sha256()
    for path in sorted(sources):
        h.update(os.path.relpath(path, here).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:8]


def local_build_dir(name: str, root: str | None = None) -> str:
    """Where model `name` compiled on this machine lives under the cache `root` (default: cache_root())."""
    key = f"{name}-tvm{runtime_version()}-{platform.machine()}-{cpu_key()}-{compiler_key()}"
    return os.path.join(root or cache_root(), "local", key)


def is_built(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, MANIFEST))
