"""Generates the C source of the `edge_veda._ffi` cffi extension (API / out-of-line mode).

Run by meson: build_cffi.py include/edge_veda.h OUT.c

The cdef is derived from the header itself, so the binding cannot drift from the ABI:
comments and preprocessor lines are dropped, integer macros become `#define NAME ...`
(cffi reads their values from the compiled header), and the `extern "Python"` callbacks
are added so that C can call back into Python without a per-call trampoline.
"""
import re
import sys

import cffi

PYTHON_CALLBACKS = """
extern "Python" void _ev_py_token_callback(void*, const char*, int32_t);
extern "Python" void _ev_py_memory_callback(void*, size_t, size_t);
extern "Python" void _ev_py_audio_callback(const ev_audio_chunk*, void*);
"""


def cdef_from_header(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        m = re.match(r"#define\s+(EV_[A-Z0-9_]+)\s+(.+)$", stripped)
        if m and re.fullmatch(r"\(?-?\d+\)?|UINT64_C\(0x[0-9A-Fa-f]+\)", m.group(2).strip()):
            out.append(f"#define {m.group(1)} ...")
            continue
        if stripped.startswith("#") or stripped in ("EV_BEGIN_DECLS", "EV_END_DECLS"):
            continue
        out.append(re.sub(r"\bEV_API\s+", "", line))
    return "\n".join(out)


def main(header_path: str, out_path: str) -> None:
    with open(header_path, encoding="utf-8") as f:
        header = f.read()
    ffibuilder = cffi.FFI()
    ffibuilder.cdef(cdef_from_header(header) + PYTHON_CALLBACKS)
    ffibuilder.set_source("edge_veda._ffi", '#include "edge_veda.h"')
    ffibuilder.emit_c_code(out_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
