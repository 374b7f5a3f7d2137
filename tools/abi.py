"""The ABI of include/edge_veda.h as data: declarations parsed from the header, struct layouts
computed per target from the declarations alone (as Dart FFI and cffi's ABI mode do), and
layouts measured by compiling a probe with each target's compiler.

    python tools/abi.py            # regenerate abi/edge_veda.abi.json (probes every target)
    python tools/abi.py --check    # fail when the header breaks the committed ABI snapshot
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join(ROOT, "include", "edge_veda.h")
SNAPSHOT = os.path.join(ROOT, "abi", "edge_veda.abi.json")

# Per target: (size, alignment inside a struct) of each scalar kind, and how to build and run
# a probe. i686's System V ABI aligns 8-byte scalars to 4 inside structs.
TARGETS = {
    "x86_64": {"ptr": (8, 8), "i64": (8, 8), "f64": (8, 8), "size_t": (8, 8),
               "cc": "gcc", "run": []},
    "aarch64": {"ptr": (8, 8), "i64": (8, 8), "f64": (8, 8), "size_t": (8, 8),
                "cc": "aarch64-linux-gnu-gcc", "run": ["qemu-aarch64"]},
    "armhf": {"ptr": (4, 4), "i64": (8, 8), "f64": (8, 8), "size_t": (4, 4),
              "cc": "arm-linux-gnueabihf-gcc", "run": ["qemu-arm"]},
    "i686": {"ptr": (4, 4), "i64": (8, 4), "f64": (8, 4), "size_t": (4, 4),
             "cc": "i686-linux-gnu-gcc", "run": ["qemu-i386"]},
}

SCALARS = {  # C type -> kind or (size, align)
    "int8_t": (1, 1), "uint8_t": (1, 1), "char": (1, 1),
    "int16_t": (2, 2), "uint16_t": (2, 2),
    "int32_t": (4, 4), "uint32_t": (4, 4), "float": (4, 4),
    "int64_t": "i64", "uint64_t": "i64", "double": "f64", "size_t": "size_t",
}


def clean(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def parse_header(text: str) -> dict:
    """Declarations of an edge_veda.h-style header: constants, typedefs, structs, functions."""
    src = clean(text)
    constants = {}
    for name, value in re.findall(r"^\s*#define\s+(EV_[A-Z0-9_]+)\s+(.+?)\s*$", src, flags=re.M):
        v = value.strip()
        m = re.fullmatch(r"\(?(-?\d+)\)?|UINT64_C\((0x[0-9A-Fa-f]+)\)", v)
        if m:
            constants[name] = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
        elif re.fullmatch(r'"[^"]*"', v):
            constants[name] = v.strip('"')
    body = "\n".join(line for line in src.splitlines() if not line.strip().startswith("#"))
    body = re.sub(r"\bEV_(API|BEGIN_DECLS|END_DECLS)\b", "", body)
    typedefs, structs, callbacks, functions = {}, {}, {}, {}
    for fields, name in re.findall(r"typedef\s+struct\s+\w+\s*\{(.*?)\}\s*(\w+)\s*;", body, flags=re.S):
        structs[name] = [split_decl(d) for d in fields.split(";") if d.strip()]
    body = re.sub(r"typedef\s+struct\s+\w+\s*\{.*?\}\s*\w+\s*;", "", body, flags=re.S)
    for ret, name, params in re.findall(r"typedef\s+([\w\s\*]+?)\s*\(\s*\*\s*(\w+)\s*\)\s*\((.*?)\)\s*;", body, flags=re.S):
        callbacks[name] = {"returns": norm(ret), "params": parse_params(params)}
    body = re.sub(r"typedef\s+[\w\s\*]+?\(\s*\*\s*\w+\s*\)\s*\(.*?\)\s*;", "", body, flags=re.S)
    for target, name in re.findall(r"typedef\s+([\w\s\*]+?)\s*(\w+)\s*;", body):
        typedefs[name] = norm(target)
    body = re.sub(r"typedef\s+[\w\s\*]+?\s*\w+\s*;", "", body)
    for ret, name, params in re.findall(r"([\w\s\*]+?)\s*\b(ev_\w+)\s*\((.*?)\)\s*;", body, flags=re.S):
        functions[name] = {"returns": norm(ret), "params": parse_params(params)}
    return {"constants": constants, "typedefs": typedefs, "structs": structs,
            "callbacks": callbacks, "functions": functions}


def norm(t: str) -> str:
    t = re.sub(r"\s+", " ", t.strip())
    return re.sub(r"\s*\*", "*", t)


def split_decl(d: str) -> dict:
    m = re.fullmatch(r"\s*(.+?)\s*\b(\w+)\s*", d.strip(), flags=re.S)
    return {"name": m.group(2), "type": norm(m.group(1))}


def parse_params(params: str) -> list:
    params = params.strip()
    if params in ("", "void"):
        return []
    return [split_decl(p) for p in params.split(",")]


def kind_of(ctype: str, decls: dict) -> str:
    """Resolves typedefs down to a scalar, 'ptr' or 'struct NAME'."""
    t = ctype.replace("const ", "").strip()
    if t.endswith("*"):
        return "ptr"
    if t in decls["callbacks"]:
        return "ptr"
    if t in decls["typedefs"]:
        return kind_of(decls["typedefs"][t], decls)
    if t in decls["structs"]:
        return f"struct {t}"
    if t in SCALARS:
        return t
    raise ValueError(f"type {ctype!r} is not allowed in the ABI")


def scalar_layout(kind: str, target: str) -> tuple[int, int]:
    if kind == "ptr":
        return TARGETS[target]["ptr"]
    v = SCALARS[kind]
    return TARGETS[target][v] if isinstance(v, str) else v


def layout(decls: dict, struct: str, target: str) -> dict:
    """C struct layout rules: each field at the next multiple of its alignment; the size rounded
    up to the struct's alignment (the largest field alignment)."""
    offset, align, fields = 0, 1, {}
    for f in decls["structs"][struct]:
        k = kind_of(f["type"], decls)
        if k.startswith("struct "):
            sub = layout(decls, k[7:], target)
            size, a = sub["size"], sub["align"]
        else:
            size, a = scalar_layout(k, target)
        offset = -(-offset // a) * a
        fields[f["name"]] = offset
        offset += size
        align = max(align, a)
    return {"size": -(-offset // align) * align, "align": align, "offsets": fields}


def all_layouts(decls: dict, target: str) -> dict:
    return {s: layout(decls, s, target) for s in decls["structs"]}


def probe_source(decls: dict) -> str:
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "edge_veda.h"', "int main(void) {",
             '    printf("{");']
    first = True
    for s, fields in decls["structs"].items():
        sep = "" if first else ","
        first = False
        lines.append(f'    printf("{sep}\\"{s}\\": {{\\"size\\": %u, \\"align\\": %u, \\"offsets\\": {{", '
                     f"(unsigned)sizeof({s}), (unsigned)offsetof(struct {{ char c; {s} x; }}, x));")
        for i, f in enumerate(fields):
            comma = "," if i else ""
            lines.append(f'    printf("{comma}\\"{f["name"]}\\": %u", (unsigned)offsetof({s}, {f["name"]}));')
        lines.append('    printf("}}");')
    lines += ['    printf("}\\n");', "    return 0;", "}"]
    return "\n".join(lines) + "\n"


def probe(decls: dict, target: str, header_dir: str | None = None) -> dict:
    """Compiles the probe with the target's compiler and runs it (under qemu when foreign)."""
    t = TARGETS[target]
    if shutil.which(t["cc"]) is None or (t["run"] and shutil.which(t["run"][0]) is None):
        raise FileNotFoundError(f"{t['cc']} / {' '.join(t['run']) or 'native'} not installed "
                                f"(apt-get install g++-aarch64-linux-gnu g++-arm-linux-gnueabihf "
                                f"g++-i686-linux-gnu qemu-user)")
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "probe.c"), os.path.join(tmp, "probe")
        with open(src, "w") as f:
            f.write(probe_source(decls))
        subprocess.run([t["cc"], "-std=c99", "-static", "-I", header_dir or os.path.dirname(HEADER),
                        src, "-o", exe], check=True, capture_output=True)
        out = subprocess.run([*t["run"], exe], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def describe(header_text: str, probe_targets=True) -> dict:
    decls = parse_header(header_text)
    doc = {"abi_version": decls["constants"]["EV_ABI_VERSION"], **decls, "layouts": {}}
    if probe_targets:
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "edge_veda.h"), "w") as f:
                f.write(header_text)
            doc["layouts"] = {t: probe(decls, t, tmp) for t in TARGETS}
    return doc


def breaking_changes(old: dict, new: dict) -> list[str]:
    """What `new` changes incompatibly in `old`: moved/retyped/removed fields, changed constants,
    changed or removed functions and callbacks. Appending is fine."""
    problems = []
    for s, fields in old["structs"].items():
        cur = new["structs"].get(s)
        if cur is None:
            problems.append(f"struct {s} removed")
            continue
        for i, f in enumerate(fields):
            if i >= len(cur) or cur[i] != f:
                problems.append(f"{s}.{f['name']} ({f['type']}) moved, retyped or removed")
    for name, value in old["constants"].items():
        if name == "EV_ABI_VERSION" or name.startswith("EV_VERSION_"):
            continue
        if new["constants"].get(name) != value:
            problems.append(f"constant {name} changed from {value!r} to {new['constants'].get(name)!r}")
    for kind in ("functions", "callbacks", "typedefs"):
        for name, sig in old[kind].items():
            if new[kind].get(name) != sig:
                problems.append(f"{kind[:-1]} {name} changed or removed")
    return problems


def check(header_text: str, snapshot: dict) -> list[str]:
    new = describe(header_text, probe_targets=False)
    problems = breaking_changes(snapshot, new)
    if problems and new["abi_version"] != snapshot["abi_version"]:
        return []  # an announced break: regenerate the snapshot
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare the header with the snapshot")
    args = ap.parse_args(argv)
    with open(HEADER) as f:
        text = f.read()
    if args.check:
        with open(SNAPSHOT) as f:
            problems = check(text, json.load(f))
        for p in problems:
            print(f"ABI break without an EV_ABI_VERSION bump: {p}", file=sys.stderr)
        return 1 if problems else 0
    doc = describe(text)
    os.makedirs(os.path.dirname(SNAPSHOT), exist_ok=True)
    with open(SNAPSHOT, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    print(SNAPSHOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
