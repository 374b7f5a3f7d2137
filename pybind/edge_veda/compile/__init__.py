"""Model compiler: turns published weights into an Edge Veda artifact (docs/artifact-format.md).

This is the only part of edge_veda that imports the `tvm` Python package; inference never does.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

from .. import ABI_VERSION
from .._hashing import sha256_file

ARTIFACT_FORMAT_VERSION = 1
MODELS = ("g2p-en",)


MANIFEST_DIGEST = "manifest.json.sha256"


def write_manifest_digest(artifact_dir: str) -> None:
    """Seals manifest.json: its SHA-256 in `sha256sum` format (`sha256sum -c` checks it), which
    ev_init and `models verify` compare before trusting any value of the manifest."""
    digest = sha256_file(os.path.join(artifact_dir, "manifest.json"))
    with open(os.path.join(artifact_dir, MANIFEST_DIGEST), "w", encoding="utf-8") as f:
        f.write(f"{digest}  manifest.json\n")


def host_target() -> dict:
    """The LLVM target of this machine's CPU, in TVM 0.27's dict form."""
    import tvm

    detected = tvm.target.Target.from_device(tvm.cpu())
    return {"kind": "llvm", "mcpu": str(detected.attrs.get("mcpu", "generic"))}


def compile_model(name: str, out_dir: str, target: dict | None = None, cc: str | None = None) -> str:
    """Compiles model `name` into the artifact directory `out_dir` and returns its path.

    `target` is a TVM target dict (default: this CPU); `cc` a C++ cross compiler that links
    the library for another architecture (e.g. "aarch64-linux-gnu-g++").

    The artifact is assembled in a sibling temporary directory and renamed into place, so
    `out_dir` either holds a complete artifact or nothing.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; models this compiler builds: {', '.join(MODELS)}")
    import tvm

    from . import g2p_en

    target = target or host_target()
    tvm_target = tvm.target.Target(target)
    module, facts = g2p_en.build_module(g2p_en.load_weights(), tvm_target)
    executable = tvm.compile(module, target=tvm_target)

    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=parent)
    try:
        library = f"{name}.so"
        if cc:
            from tvm.support import cc as tvm_cc

            executable.export_library(os.path.join(staging, library), fcompile=tvm_cc.cross_compiler(cc))
        else:
            executable.export_library(os.path.join(staging, library))
        lib_path = os.path.join(staging, library)
        manifest = {
            "format": "edge-veda-artifact",
            "format_version": ARTIFACT_FORMAT_VERSION,
            "ev_abi_version": ABI_VERSION,
            "tvm_version": tvm.__version__,
            "target": target,
            "library": library,
            **g2p_en.describe(),
            "model": facts,
            "files": {library: {"size": os.path.getsize(lib_path), "sha256": sha256_file(lib_path)}},
        }
        with open(os.path.join(staging, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        write_manifest_digest(staging)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir
