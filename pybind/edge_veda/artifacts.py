"""Where model artifacts live, and turning a `source` (name or directory) into a directory.

The cache root is platformdirs' user data dir for "edge-veda" (on Linux
~/.local/share/edge-veda), or $EDGE_VEDA_HOME when set.
"""
from __future__ import annotations

import hashlib
import os
import platform
import sys

import platformdirs


def cache_root() -> str:
    return os.environ.get("EDGE_VEDA_HOME") or platformdirs.user_data_dir("edge-veda", appauthor=False)


def _cpu_key() -> str:
    # An artifact compiled for one CPU may use instructions another lacks (SIGILL), so local
    # builds are keyed by the CPU's feature flags, not only by the architecture.
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


def _compiler_key() -> str:
    # A new compiler (kernels, layout, manifest) must not reuse artifacts built by an old one.
    import glob

    h = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(os.path.dirname(__file__), "compile", "*.py"))):
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:8]


def local_build_dir(name: str) -> str:
    from . import runtime_version  # the TVM libedge_veda was built against; no metadata scan

    key = f"{name}-tvm{runtime_version()}-{platform.machine()}-{_cpu_key()}-{_compiler_key()}"
    return os.path.join(cache_root(), "local", key)


def resolve(source: str, *, announce=None) -> str:
    """Returns the artifact directory for `source`: an artifact directory, or a model name.

    A name resolves, in order, to: the installed model (edge-veda models pull); a download the
    catalog offers (pulled now); a local build of a model this machine can compile (g2p-en),
    compiled into the cache on first use. `announce(msg)` (default: stderr) is told before a
    pull or a compile starts.
    """
    if os.path.isdir(source):
        return os.path.abspath(source)
    from .compile import MODELS
    from .errors import ModelNotFoundError
    from .models import ModelManager

    say = announce or (lambda m: print(m, file=sys.stderr, flush=True))
    try:
        manager = ModelManager()
        if manager.is_installed(source):
            return manager.path(source)
        entry = manager.entry(source)
    except ValueError:  # not a valid model name
        entry = None
    if entry is not None and entry.downloadable:
        say(f"edge-veda: pulling {source} into {manager.path(source)}")
        return manager.pull(source)
    if source in MODELS:
        target = local_build_dir(source)
        if os.path.isfile(os.path.join(target, "manifest.json")):
            return target
        say(f"edge-veda: compiling {source} for this CPU into {target} (first use only)")
        from .compile import compile_model

        return compile_model(source, target)
    raise ModelNotFoundError(
        f"no artifact directory, installed model or catalog entry named {source!r}",
        f"pass an artifact directory (holding manifest.json), a model from `edge-veda models list`, "
        f"or one of: {', '.join(MODELS)}")
