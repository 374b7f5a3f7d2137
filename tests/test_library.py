"""Library hygiene: the shared library exports exactly the ev_* functions, and, as it embeds the
TVM runtime, the runtime's C entry points compiled model code calls (TVMFFI*, TVMBackend*:
docs/static-linking.md, "What libedge_veda.so exports") — nothing of the C++ inside."""
import re
import subprocess
import sys

from edge_veda import config


def exported(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def test_shared_library_exports_only_ev_functions():
    import os

    from abi_names import header_functions

    names = exported(os.path.join(config.library_dir(), "libedge_veda.so"))
    runtime = [n for n in names if re.fullmatch(r"TVM(FFI|Backend)\w+", n)]
    ours = [n for n in names if n not in runtime]
    assert ours and all(re.fullmatch(r"ev_\w+", n) for n in ours), [n for n in ours if not n.startswith("ev_")]
    assert sorted(ours) == sorted(header_functions())
    # what model objects reference (system-lib registration, workspaces, the thread pool, errors)
    for needed in ("TVMFFIEnvModRegisterSystemLibSymbol", "TVMFFIErrorSetRaisedFromCStrParts",
                   "TVMBackendAllocWorkspace", "TVMBackendFreeWorkspace", "TVMBackendParallelLaunch"):
        assert needed in runtime, needed


def test_no_tvm_library_is_loaded_by_the_embedded_runtime(artifact_dir):
    """libedge_veda.so needs no libtvm*: loading and running a model maps none, and imports no
    tvm / tvm_ffi Python package."""
    code = f"""
import sys, edge_veda
with edge_veda.Model.load({artifact_dir!r}) as m:
    assert m.generate("hello") == "HH AH0 L OW1"
maps = open("/proc/self/maps").read()
assert "libtvm" not in maps, [l for l in maps.splitlines() if "libtvm" in l][:3]
assert "tvm" not in sys.modules and "tvm_ffi" not in sys.modules
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_process_that_imported_tvm_first_runs_models_on_the_embedded_runtime(artifact_dir):
    """The apache-tvm wheel's runtime and the embedded one side by side: -Bsymbolic keeps
    libedge_veda's calls in its own copy, the version script keeps its symbols out of the wheel's."""
    code = f"""
import tvm, tvm_ffi, edge_veda
x = tvm.runtime.tensor(__import__("numpy").arange(3, dtype="float32"))
with edge_veda.Model.load({artifact_dir!r}) as m:
    assert m.generate("hello") == "HH AH0 L OW1"
    assert m.generate_batch(["world", "phonetics"]) == ["W ER1 L D", "F AH0 N EH1 T IH0 K S"]
assert x.numpy().tolist() == [0.0, 1.0, 2.0]  # the wheel's runtime still works too
f = tvm.get_global_func("ffi.SystemLib")
assert f is not None
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
