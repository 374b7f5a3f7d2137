"""The C layers include only downwards (docs/architecture.md): core/ includes core/ alone (and
the public header), runtime/ core/ and itself, models/ all three, api.cpp everything. That core/
compiles without any TVM include path is proved by the build itself (meson.build compiles it
as its own library without the TVM dependency); this test keeps the rest of the rule."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
ALLOWED = {
    "core": {"core"},
    "runtime": {"core", "runtime"},
    "models": {"core", "runtime", "models"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def local_includes(path):
    with open(path, encoding="utf-8") as f:
        return INCLUDE.findall(f.read())


def test_each_layer_includes_only_itself_and_the_layers_below():
    wrong = []
    for layer, allowed in ALLOWED.items():
        for top, _, files in os.walk(os.path.join(CSRC, layer)):
            for name in files:
                if not name.endswith((".h", ".cpp")):
                    continue
                path = os.path.join(top, name)
                for inc in local_includes(path):
                    if inc == "edge_veda.h":
                        continue
                    first = inc.split("/", 1)[0]
                    if "/" not in inc or first not in allowed:
                        wrong.append(f"{os.path.relpath(path, ROOT)} includes \"{inc}\"")
    assert not wrong, "\n".join(wrong)


def test_only_the_runtime_includes_tvm():
    offenders = []
    for top, _, files in os.walk(CSRC):
        if "tvm_compat" in top or os.path.relpath(top, CSRC).startswith("runtime"):
            continue
        for name in files:
            if name.endswith((".h", ".cpp")):
                path = os.path.join(top, name)
                with open(path, encoding="utf-8") as f:
                    if re.search(r"#\s*include\s*<(tvm|dlpack)/", f.read()):
                        offenders.append(os.path.relpath(path, ROOT))
    assert not offenders, offenders


def test_core_is_built_without_the_tvm_dependency():
    with open(os.path.join(ROOT, "meson.build"), encoding="utf-8") as f:
        build = f.read()
    core = re.search(r"edge_veda_core = static_library\((.*?)\n\s*install: false\)", build, re.S)
    assert core, "meson.build no longer builds core/ on its own"
    assert "tvm_dep" not in core.group(1) and "tvm" not in core.group(1).replace("edge_veda_core", "")
