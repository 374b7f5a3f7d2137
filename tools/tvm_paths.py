"""Prints where the apache-tvm / apache-tvm-ffi wheels keep what libedge_veda builds against.

Output, one per line: tvm-ffi include dir, tvm-ffi lib dir, tvm lib dir, TVM version, the
apache-tvm package dir, the apache-tvm-ffi package dir, tvm-ffi version. The package dirs hold
the runtime sources the static runtime build (-Dtvm_runtime=static) compiles.
Locates the packages without importing them (importing `tvm` loads the 260 MB compiler).
"""
import importlib.metadata
import importlib.util
import os
import sys


def package_dir(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"edge-veda build: Python package '{name}' not found; "
                 f"pip install apache-tvm apache-tvm-ffi (or pass -Dtvm_ffi_include/-Dtvm_libdir)")
    return list(spec.submodule_search_locations)[0]


ffi = package_dir("tvm_ffi")
tvm = package_dir("tvm")
print(os.path.join(ffi, "include"))
print(os.path.join(ffi, "lib"))
print(os.path.join(tvm, "lib"))
print(importlib.metadata.version("apache-tvm"))
print(tvm)
print(ffi)
print(importlib.metadata.version("apache-tvm-ffi"))
