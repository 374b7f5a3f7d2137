"""The header and the installed library from C: strict compiles, a C test program (natively and
under valgrind) and the example in examples/c."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import require_tools
from edge_veda import config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ["hello", "world", "phonetics", "o'neill", "café", "x", "supercalifragilistic"]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.mark.parametrize("compiler, flags, suffix", [
    ("gcc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"], ".c"),
    ("g++", ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"], ".cpp"),
])
def test_header_compiles_strictly(tmp_path, compiler, flags, suffix):
    require_tools({compiler: compiler})
    src = tmp_path / f"probe{suffix}"
    src.write_text('#include "edge_veda.h"\n'
                   "int main(void) { ev_config c = ev_config_default(); (void)c; return 0; }\n")
    proc = run([compiler, *flags, f"-I{config.include_dir()}", "-fsyntax-only", str(src)])
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def test_api_binary(tmp_path_factory):
    require_tools({"gcc": "gcc"})
    out = tmp_path_factory.mktemp("c") / "test_api"
    proc = run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-O1",
                os.path.join(ROOT, "tests", "c", "test_api.c"), "-o", str(out),
                *config.cflags().split(), *config.libs().split(), "-lpthread"])
    assert proc.returncode == 0, proc.stderr
    return str(out)


def parse_output(stdout):
    lines = stdout.splitlines()
    assert lines[-1] == "ok"
    return dict(line.split("\t", 1) for line in lines[:-1])


def test_c_program_runs_the_model(test_api_binary, artifact_dir, reference):
    proc = run([test_api_binary, artifact_dir, *WORDS])
    assert proc.returncode == 0, proc.stderr
    assert parse_output(proc.stdout) == {w: reference.predict(w) for w in WORDS}


@pytest.fixture(scope="module")
def portable_artifact(tmp_path_factory):
    # valgrind 3.19 cannot execute AVX-512, so this artifact targets baseline x86-64/aarch64.
    from edge_veda.compile import compile_model

    return compile_model("g2p-en", str(tmp_path_factory.mktemp("portable") / "g2p-en"),
                         target={"kind": "llvm"})


@pytest.mark.slow
def test_c_program_under_valgrind_has_no_definite_leaks(test_api_binary, portable_artifact, reference):
    require_tools({"valgrind": "valgrind"})
    words = WORDS[:3]
    proc = run(["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
                "--error-exitcode=99", test_api_binary, portable_artifact, *words], timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert parse_output(proc.stdout) == {w: reference.predict(w) for w in words}
    summary = re.search(r"definitely lost: ([\d,]+) bytes", proc.stderr)
    assert summary is None or summary.group(1) == "0", proc.stderr[-4000:]
    assert "ERROR SUMMARY: 0 errors" in proc.stderr, proc.stderr[-4000:]


@pytest.fixture(scope="module")
def portable_kokoro(tmp_path_factory):
    pytest.importorskip("onnx")
    from edge_veda.compile import compile_model

    return compile_model("kokoro", str(tmp_path_factory.mktemp("portable") / "kokoro"), target={"kind": "llvm"})


@pytest.mark.long
def test_tts_program_under_valgrind_is_clean(tmp_path, portable_kokoro, portable_artifact):
    """tests/c/test_tts.c (threads, cancel, pressure unload/reload, ev_free racing a stream)
    against the installed library under valgrind's memcheck: no invalid reads or writes, no use
    of uninitialized values, nothing definitely lost."""
    require_tools({"valgrind": "valgrind", "gcc": "gcc"})
    exe = tmp_path / "test_tts"
    proc = run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-O1",
                os.path.join(ROOT, "tests", "c", "test_tts.c"), "-o", str(exe),
                *config.cflags().split(), *config.libs().split(), "-lpthread"])
    assert proc.returncode == 0, proc.stderr
    proc = run(["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
                "--error-exitcode=99", str(exe), portable_kokoro, portable_artifact, "light"], timeout=1800)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.splitlines()[-1] == "ok"
    summary = re.search(r"definitely lost: ([\d,]+) bytes", proc.stderr)
    assert summary is None or summary.group(1) == "0", proc.stderr[-4000:]
    assert "ERROR SUMMARY: 0 errors" in proc.stderr, proc.stderr[-4000:]


def test_example_builds_against_installed_library(tmp_path, artifact_dir, reference):
    require_tools({"make": "make", "cc": "gcc"})
    shutil.copytree(os.path.join(ROOT, "examples", "c"), tmp_path / "c")
    proc = run(["make", "-C", str(tmp_path / "c"), f"PYTHON={sys.executable}"])
    assert proc.returncode == 0, proc.stderr
    proc = run([str(tmp_path / "c" / "g2p"), artifact_dir, "edge", "veda"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"edge\t{reference.predict('edge')}",
                                        f"veda\t{reference.predict('veda')}"]
