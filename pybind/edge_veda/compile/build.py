"""One artifact from one recipe: compile the module, export it (shared library or system-lib
archive), write the weights file and the sealed manifest into a directory."""
from __future__ import annotations

import os

from .. import artifact
from .._ffi import lib
from . import export, recipes
from .weights import write_weights


def host_target() -> dict:
    """The LLVM target of this machine's CPU, in TVM 0.27's dict form."""
    import tvm

    detected = tvm.target.Target.from_device(tvm.cpu())
    return {"kind": "llvm", "mcpu": str(detected.attrs.get("mcpu", "generic"))}


def target_features(tvm_target) -> list[str]:
    """The LLVM features `tvm_target` lets the compiler use (avx2, avx512f, dotprod, ... and
    tuning flags), recorded in the manifest so that the library refuses the module on a CPU
    that lacks one (csrc/core/cpu_features.h) instead of dying with SIGILL in a kernel."""
    from tvm.target import codegen

    try:
        features = codegen.llvm_get_cpu_features(tvm_target)
    except Exception:  # noqa: BLE001 - a target LLVM cannot describe: record nothing, check nothing
        return []
    return sorted(str(name) for name in features if not hasattr(features, "get") or features.get(name))


def build_artifact(name: str, out_dir: str, *, target: dict | None = None, cc: str | None = None,
                   static: bool = False, prefix: str | None = None, precision: str = "fp32") -> dict:
    """Builds model `name` into the (existing, empty) directory `out_dir`; returns the manifest.

    target: a TVM target dict (default: this CPU). cc: a C++ cross compiler (and, for --static,
    its archiver). static: a system-lib archive with `prefix` (default: from the name) instead
    of a shared library. precision: "fp32" or one of the recipe's PRECISIONS (checked by the
    caller, compile_model)."""
    import tvm

    prefix = export.check_prefix(prefix or export.default_prefix(name)) if static else None
    recipe = recipes.load(name)
    target = target or host_target()
    tvm_target = tvm.target.Target(target)
    build = recipe.build(tvm_target, precision=precision) if precision != "fp32" else recipe.build(tvm_target)
    executable = export.build_executable(build.module, tvm_target, prefix=prefix, pipeline=build.pipeline)
    module_file, module = export.export_module(executable, out_dir, name, cc=cc, prefix=prefix,
                                               tvm_version=tvm.__version__)
    module["kernel_threads"] = build.kernel_threads
    weights_file = f"{name}.weights"
    weights = write_weights(os.path.join(out_dir, weights_file), build.weights)
    extra_files = []
    for file_name, content in build.files.items():
        if file_name in (artifact.MANIFEST, artifact.MANIFEST_DIGEST) or "/" in file_name or file_name.startswith(".") or \
                file_name in (module_file, weights_file):
            raise ValueError(f"recipe {name}: {file_name!r} cannot be an artifact file name")
        with open(os.path.join(out_dir, file_name), "wb") as f:
            f.write(content)
        extra_files.append(file_name)
    manifest = {
        "format": artifact.FORMAT,
        "format_version": artifact.FORMAT_VERSION,
        "ev_abi_version": int(lib.EV_ABI_VERSION),
        "tvm_version": tvm.__version__,
        "target": {**target, "features": target_features(tvm_target)},
        "precision": build.precision,
        "name": recipe.NAME,
        "version": build.version,
        "kind": recipe.KIND,
        "description": build.description,
        "module": module,
        "weights": weights,
        "functions": {role: f.to_json() for role, f in build.functions.items()},
        "limits": build.limits,
        recipe.KIND: build.kind_config,
        "files": {f: artifact.file_entry(os.path.join(out_dir, f)) for f in (module_file, weights_file, *extra_files)},
    }
    artifact.write_manifest(out_dir, manifest)
    return manifest
