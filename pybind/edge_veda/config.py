"""Compiler flags for C/C++ programs that link the installed libedge_veda.

    cc app.c $(python -m edge_veda.config --cflags --libs)            # libedge_veda.so
    cc app.c $(python -m edge_veda.config --cflags --static --libs) \\
        -Wl,--whole-archive libg2p_en.a libkokoro.a -Wl,--no-whole-archive   # one static program

--static links libedge_veda.a, which holds the TVM runtime and tvm-ffi too: the program needs
no TVM library at run time (docs/static-linking.md).
"""
from __future__ import annotations

import argparse
import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def include_dir() -> str:
    installed = os.path.join(PACKAGE_DIR, "include")
    if os.path.isfile(os.path.join(installed, "edge_veda.h")):
        return installed
    # An editable install (pip install -e .) runs from the source tree: the header is at its root.
    source = os.path.join(os.path.dirname(os.path.dirname(PACKAGE_DIR)), "include")
    return source if os.path.isfile(os.path.join(source, "edge_veda.h")) else installed


def library_dir() -> str:
    if os.path.isfile(os.path.join(PACKAGE_DIR, "libedge_veda.so")):
        return PACKAGE_DIR
    # An editable install keeps the library next to the cffi extension, in meson's build dir.
    import importlib

    ffi_module = importlib.import_module(__package__ + "._ffi")  # loaded by edge_veda already
    built = os.path.dirname(getattr(ffi_module, "__file__", "") or "")
    return built if built and os.path.isfile(os.path.join(built, "libedge_veda.so")) else PACKAGE_DIR


def cflags() -> str:
    return f"-I{include_dir()}"


def libs() -> str:
    return f"-L{library_dir()} -ledge_veda -Wl,-rpath,{library_dir()}"


# What libedge_veda.a's C++ needs from the system, after the archives.
STATIC_SYSTEM_LIBS = "-lstdc++ -lm -lpthread -ldl"


def static_libs() -> str:
    """The link line for a static program: libedge_veda.a whole (the runtime registers its VM
    loader from static initializers, which an ordinary archive link would drop), then the
    system libraries its C++ uses. Model archives go into their own --whole-archive group."""
    archive = os.path.join(library_dir(), "libedge_veda.a")
    if not os.path.isfile(archive):
        raise SystemExit(f"edge_veda.config: {archive} is missing: this install has no static library "
                         "(it comes with installs built with -Dtvm_runtime=static, the default for pip)")
    return f"-Wl,--whole-archive {archive} -Wl,--no-whole-archive {STATIC_SYSTEM_LIBS}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edge_veda.config", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cflags", action="store_true")
    ap.add_argument("--libs", action="store_true")
    ap.add_argument("--static", action="store_true",
                    help="with --libs: link libedge_veda.a (runtime included) instead of libedge_veda.so")
    args = ap.parse_args(argv)
    if args.static and not args.libs:
        ap.error("--static goes with --libs")
    link = static_libs() if args.static else libs()
    parts = ([cflags()] if args.cflags else []) + ([link] if args.libs else [])
    print(" ".join(parts) if parts else f"include: {include_dir()}\nlib: {library_dir()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
