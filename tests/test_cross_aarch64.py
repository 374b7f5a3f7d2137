"""The same ABI on arm64: libedge_veda cross-built with cross/linux-aarch64.ini against the
runtime libraries of the aarch64 apache-tvm / apache-tvm-ffi wheels, g2p-en compiled for
aarch64 by TVM, and the C test program run under qemu-aarch64: 500+ words must give exactly the
x86_64 output."""
import glob
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import cmudict_sample, require_tools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEELS = ["apache-tvm==0.27.0.post1", "apache-tvm-ffi==0.1.15.post2"]
RUNTIME_LIBS = ("tvm/lib/libtvm_runtime.so", "tvm_ffi/lib/libtvm_ffi.so")


def env_with_venv():
    bindir = os.path.dirname(sys.executable)
    return dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))


# tool -> the Debian package that provides it (a skip names them; CI=true makes it a failure)
CROSS_TOOLS = {"aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu", "qemu-aarch64": "qemu-user", "file": "file"}


@pytest.fixture(scope="module")
def arm64_runtime(tmp_path_factory):
    require_tools(CROSS_TOOLS)
    root = tmp_path_factory.mktemp("arm64")
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--platform", "manylinux_2_28_aarch64", "--python-version", "3.11", "-d", str(wheels),
                    *WHEELS], check=True, capture_output=True)
    for whl in glob.glob(str(wheels / "*.whl")):
        with zipfile.ZipFile(whl) as z:
            for name in z.namelist():
                if name in RUNTIME_LIBS:
                    z.extract(name, root / "site")
    assert all((root / "site" / lib).is_file() for lib in RUNTIME_LIBS)
    return root / "site"


@pytest.fixture(scope="module")
def arm64_build(arm64_runtime, tmp_path_factory):
    build = str(tmp_path_factory.mktemp("build-aarch64"))
    paths = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tvm_paths.py")],
                           capture_output=True, text=True, check=True).stdout.split("\n")
    setup = subprocess.run(
        ["meson", "setup", build, ROOT, "--cross-file", os.path.join(ROOT, "cross", "linux-aarch64.ini"),
         "-Dpython=disabled", "-Dtests=true", f"-Dtvm_ffi_include={paths[0]}",  # headers are arch-neutral
         f"-Dtvm_ffi_libdir={arm64_runtime / 'tvm_ffi' / 'lib'}", f"-Dtvm_libdir={arm64_runtime / 'tvm' / 'lib'}",
         f"-Dtvm_version={paths[3]}"], capture_output=True, text=True, env=env_with_venv())
    assert setup.returncode == 0, setup.stdout[-3000:]
    built = subprocess.run(["ninja", "-C", build], capture_output=True, text=True, env=env_with_venv())
    assert built.returncode == 0, built.stdout[-3000:]
    out = subprocess.run(["file", os.path.join(build, "libedge_veda.so")], capture_output=True, text=True).stdout
    assert "aarch64" in out
    return build


@pytest.fixture(scope="module")
def arm64_artifact(tmp_path_factory):
    from edge_veda.compile import compile_model

    require_tools(CROSS_TOOLS)

    return compile_model("g2p-en", str(tmp_path_factory.mktemp("art-arm64") / "g2p-en"),
                         target={"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]},
                         cc="aarch64-linux-gnu-g++")


@pytest.mark.slow
def test_aarch64_under_qemu_matches_x86_64(arm64_build, arm64_artifact, model, reference):
    # Half CMUdict words (the lexicon), half words CMUdict lacks (the network's kernels on arm64).
    sample = [w for w in cmudict_sample(520, seed=64) if w and not w.startswith("-")]
    lexicon_words = sample[:260]
    network_words = [w[::-1] + "q" for w in sample[260:] if w.isalpha() and not reference.in_lexicon(w[::-1] + "q")]
    words = lexicon_words + network_words
    assert len(words) >= 500 and len(network_words) >= 200
    proc = subprocess.run(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", os.path.join(arm64_build, "test_api"),
                           arm64_artifact, *words], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "ok"  # the whole C test program (guards, streams, cancel, pressure) passed
    arm = dict(line.split("\t", 1) for line in lines[:-1])
    x86 = {w: model.generate(w) for w in words}
    assert arm == x86
    assert all(arm[w] == reference.predict(w) for w in words)
