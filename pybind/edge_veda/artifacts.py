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


def local_build_dir(name: str) -> str:
    from importlib.metadata import version

    key = f"{name}-tvm{version('apache-tvm')}-{platform.machine()}-{_cpu_key()}"
    return os.path.join(cache_root(), "local", key)


def resolve(source: str, *, compile_if_missing: bool = True, announce=None) -> str:
    """Returns the artifact directory for `source`: an artifact directory, or a model name.

    A name that this machine can compile (g2p-en) is built into the cache on first use;
    `announce(msg)` (default: print to stderr) is told before the compiler runs.
    """
    if os.path.isdir(source):
        return os.path.abspath(source)
    from .compile import MODELS

    if source in MODELS:
        target = local_build_dir(source)
        if os.path.isfile(os.path.join(target, "manifest.json")):
            return target
        if not compile_if_missing:
            return target
        (announce or (lambda m: print(m, file=sys.stderr, flush=True)))(
            f"edge-veda: compiling {source} for this CPU into {target} (first use only)")
        from .compile import compile_model

        return compile_model(source, target)
    from .errors import ModelNotFoundError

    raise ModelNotFoundError(
        f"no artifact directory or known model named {source!r}",
        f"pass an artifact directory (holding manifest.json) or one of: {', '.join(MODELS)}")
