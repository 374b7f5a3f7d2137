"""Compiler flags for C/C++ programs that link the installed libedge_veda.

    cc app.c $(python -m edge_veda.config --cflags --libs)
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edge_veda.config", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cflags", action="store_true")
    ap.add_argument("--libs", action="store_true")
    args = ap.parse_args(argv)
    parts = ([cflags()] if args.cflags else []) + ([libs()] if args.libs else [])
    print(" ".join(parts) if parts else f"include: {include_dir()}\nlib: {library_dir()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
