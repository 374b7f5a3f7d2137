"""One ABI everywhere: the struct layouts every binding computes from declarations alone equal
what each target's C compiler produces (x86_64, aarch64, armhf, i686; foreign probes run under
qemu), and the committed ABI snapshot only ever grows."""
import ctypes
import json
import os
import re
import sys

import cffi
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import abi  # noqa: E402
from conftest import require_tools  # noqa: E402
import gen_dart  # noqa: E402


def _load_build_cffi():
    # By path: putting pybind/ on sys.path would shadow the installed edge_veda package.
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_cffi", os.path.join(ROOT, "pybind", "build_cffi.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cdef_from_header = _load_build_cffi().cdef_from_header

HEADER_TEXT = open(abi.HEADER).read()
DECLS = abi.parse_header(HEADER_TEXT)
SNAPSHOT = json.load(open(abi.SNAPSHOT))


# Debian packages of each target's compiler and emulator (.ci/run installs them).
TARGET_PACKAGES = {"gcc": "gcc", "aarch64-linux-gnu-gcc": "g++-aarch64-linux-gnu",
                   "arm-linux-gnueabihf-gcc": "g++-arm-linux-gnueabihf", "i686-linux-gnu-gcc": "g++-i686-linux-gnu",
                   "qemu-aarch64": "qemu-user", "qemu-arm": "qemu-user", "qemu-i386": "qemu-user"}


def require_target_tools(target):
    """Skips (fails under CI=true) when the target's cross compiler or qemu is missing."""
    t = abi.TARGETS[target]
    require_tools({tool: TARGET_PACKAGES.get(tool, tool) for tool in [t["cc"], *t["run"][:1]]})


@pytest.fixture(scope="module", params=list(abi.TARGETS))
def target_probe(request):
    require_target_tools(request.param)
    return request.param, abi.probe(DECLS, request.param)


def test_declaration_layouts_match_each_compiler(target_probe):
    target, measured = target_probe
    assert abi.all_layouts(DECLS, target) == measured


def test_snapshot_is_the_header_as_measured(target_probe):
    """abi/edge_veda.abi.json is regenerated from this header (python tools/abi.py)."""
    target, measured = target_probe
    fresh = abi.describe(HEADER_TEXT, probe_targets=False)
    for key in ("constants", "typedefs", "structs", "callbacks", "functions", "abi_version"):
        assert SNAPSHOT[key] == fresh[key], f"{key} drifted: run python tools/abi.py"
    assert SNAPSHOT["layouts"][target] == measured


def test_snapshot_describes_functions_structs_and_enums():
    assert SNAPSHOT["functions"]["ev_init"] == {
        "returns": "ev_context", "params": [{"name": "config", "type": "const ev_config*"},
                                            {"name": "out_error", "type": "ev_error_t*"}]}
    assert SNAPSHOT["constants"]["EV_ERR_CANCELLED"] == -7
    assert [f["name"] for f in SNAPSHOT["structs"]["ev_config"]][0] == "struct_size"
    assert set(SNAPSHOT["layouts"]) == set(abi.TARGETS)


def test_cffi_abi_mode_layout_matches_the_host_compiler():
    """cffi's ABI mode (no compiler) lays structs out for the machine it runs on."""
    ffi = cffi.FFI()
    ffi.cdef(cdef_from_header(HEADER_TEXT).replace("...", "0"))
    measured = abi.probe(DECLS, "x86_64")
    for name, lay in measured.items():
        assert ffi.sizeof(name) == lay["size"] and ffi.alignof(name) == lay["align"]
        assert {f: ffi.offsetof(name, f) for f in lay["offsets"]} == lay["offsets"]


CTYPES = {"int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32, "int64_t": ctypes.c_int64,
          "uint64_t": ctypes.c_uint64, "float": ctypes.c_float, "double": ctypes.c_double,
          "size_t": ctypes.c_size_t, "ptr": ctypes.c_void_p}


def test_ctypes_layout_matches_the_host_compiler():
    measured = abi.probe(DECLS, "x86_64")
    for name, fields in DECLS["structs"].items():
        cls = type(name, (ctypes.Structure,), {"_fields_": [
            (f["name"], CTYPES[abi.kind_of(f["type"], DECLS)]) for f in fields]})
        assert ctypes.sizeof(cls) == measured[name]["size"]
        assert ctypes.alignment(cls) == measured[name]["align"]
        assert {f: getattr(cls, f).offset for f in measured[name]["offsets"]} == measured[name]["offsets"]


DART_KINDS = {"Int32": "int32_t", "Uint32": "uint32_t", "Int64": "int64_t", "Uint64": "uint64_t",
              "Float": "float", "Double": "double", "Size": "size_t", "Int8": "int8_t", "Uint8": "uint8_t",
              "Int16": "int16_t", "Uint16": "uint16_t"}


def dart_structs(text):
    """Struct declarations read back from the generated Dart, as Dart FFI would see them."""
    structs = {}
    for name, body in re.findall(r"final class (\w+) extends Struct \{(.*?)\n\}", text, flags=re.S):
        fields = []
        for annotation, pointer, fname in re.findall(
                r"(?:@(\w+)\(\)\s*external \w+|external (Pointer<.*?>)) (\w+);", body):
            fields.append({"name": fname, "type": "void*" if pointer else DART_KINDS[annotation]})
        structs[name] = fields
    return structs


def test_dart_bindings_are_generated_from_the_header():
    with open(gen_dart.OUT) as f:
        assert f.read() == gen_dart.generate(HEADER_TEXT), "run python tools/gen_dart.py"


def test_dart_struct_layouts_match_each_compiler(target_probe):
    target, measured = target_probe
    with open(gen_dart.OUT) as f:
        structs = dart_structs(f.read())
    assert set(structs) == set(DECLS["structs"])
    dart_decls = {**DECLS, "structs": structs}
    assert abi.all_layouts(dart_decls, target) == measured
    for name, fields in structs.items():  # same names, same order, same widths as the header
        assert [f["name"] for f in fields] == [f["name"] for f in DECLS["structs"][name]]


def test_dart_functions_cover_the_header():
    with open(gen_dart.OUT) as f:
        text = f.read()
    assert sorted(re.findall(r"\('(ev_\w+)'\)", text)) == sorted(DECLS["functions"])


# --- append-only ----------------------------------------------------------------------------

def edited(old, new, count=1):
    assert old in HEADER_TEXT
    return HEADER_TEXT.replace(old, new, count)


MOVED_FIELD = edited(
    "    int32_t num_threads;        /* worker threads; 0 = library default; > EV_MAX_THREADS is clamped */\n"
    "    const char* model_path;",
    "    const char* model_path;\n"
    "    int32_t num_threads;        /* worker threads; 0 = library default; > EV_MAX_THREADS is clamped */")
CHANGED_ENUM = edited("#define EV_ERR_CANCELLED -7", "#define EV_ERR_CANCELLED -70")
RETYPED_FIELD = edited("    int32_t top_k;              /* keep", "    int64_t top_k;              /* keep")
REMOVED_FUNCTION = edited("EV_API ev_error_t ev_cancel(ev_context ctx);", "")
APPENDED = edited("    int32_t use_mmap;           /* 1: map the weights file instead of reading it */\n",
                  "    int32_t use_mmap;           /* 1: map the weights file instead of reading it */\n"
                  "    int32_t new_field_at_the_end;\n") + "\nEV_API int32_t ev_new_function(void);\n"


@pytest.mark.parametrize("header, expect", [
    (MOVED_FIELD, "ev_config.num_threads"),
    (CHANGED_ENUM, "EV_ERR_CANCELLED"),
    (RETYPED_FIELD, "ev_generation_params.top_k"),
    (REMOVED_FUNCTION, "ev_cancel"),
], ids=["moved-field", "changed-enum-value", "retyped-field", "removed-function"])
def test_breaking_changes_are_caught(header, expect):
    problems = abi.check(header, SNAPSHOT)
    assert problems and any(expect in p for p in problems), problems


def test_breaking_change_with_an_abi_bump_passes():
    bumped = MOVED_FIELD.replace("#define EV_ABI_VERSION 1", "#define EV_ABI_VERSION 2")
    assert abi.check(bumped, SNAPSHOT) == []


def test_appending_passes():
    assert abi.check(APPENDED, SNAPSHOT) == []
    assert abi.check(HEADER_TEXT, SNAPSHOT) == []
