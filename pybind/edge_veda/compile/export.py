"""The one export step: a compiled Relax module written as a shared library (desktop, Android)
or as a static system-lib archive with a symbol prefix (iOS, one runtime linked once).

Returns the manifest's `module` object, which tells libedge_veda where to find the module:
{"source": "library", "library": FILE} or {"source": "system-lib", "prefix": P, "archive": FILE}.
"""
from __future__ import annotations

import os
import re

PREFIX_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{7,63}")  # TVM 0.27 rejects prefixes of <= 7 bytes


def default_prefix(name: str) -> str:
    """The system-lib prefix a model gets unless told otherwise: its name as a C identifier."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    prefix = f"ev_{ident}_"
    return prefix if len(prefix) > 7 else prefix + "model_"


def check_prefix(prefix: str) -> str:
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(f"system-lib prefix {prefix!r} must be a C identifier of 8 to 64 characters "
                         "(TVM 0.27 cannot build shorter ones), e.g. 'ev_g2p_en_'")
    return prefix


def build_executable(module, target, *, prefix: str | None = None, pipeline=None):
    """tvm.compile of `module` (with the Relax `pipeline`, default: TVM's); with `prefix`, as
    a system library whose symbols carry it."""
    import tvm

    if prefix is not None:
        module = module.with_attr("system_lib_prefix", check_prefix(prefix))
    return tvm.compile(module, target=target, relax_pipeline=pipeline if pipeline is not None else "default")


def export_module(executable, out_dir: str, name: str, *, cc: str | None = None,
                  prefix: str | None = None) -> tuple[str, dict]:
    """Writes `executable` into `out_dir`; returns (file name, the manifest's `module` object)."""
    from tvm.support import cc as tvm_cc

    if prefix is not None:
        file = f"lib{name.replace('-', '_')}.a"
        kwargs = {}
        if cc:  # a cross toolchain's archiver: aarch64-linux-gnu-g++ -> aarch64-linux-gnu-ar
            kwargs["ar"] = cc[: -len("g++")] + "ar" if cc.endswith("g++") else None
        executable.export_library(os.path.join(out_dir, file),
                                  fcompile=lambda out, objs, **_: tvm_cc.create_staticlib(out, objs, **kwargs))
        return file, {"source": "system-lib", "prefix": prefix, "archive": file}
    file = f"{name}.so"
    if cc:
        executable.export_library(os.path.join(out_dir, file), fcompile=tvm_cc.cross_compiler(cc))
    else:
        executable.export_library(os.path.join(out_dir, file))
    return file, {"source": "library", "library": file}
