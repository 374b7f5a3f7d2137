"""One runtime, linked once, as Mach-O: the iOS link checked with a real Apple-format linker.

libedge_veda.a is cross-built for arm64 macOS with zig (cross/macos-arm64-zig.ini: zig's clang,
libc++ and linker; no Apple SDK), g2p-en and Kokoro are compiled by TVM as Mach-O system-lib
archives (`--static --prefix`, archived with zig's llvm-ar), and a C program is linked from the
three with `-force_load` per archive and `-dead_strip`, as an Xcode app target with the seed's
podspecs links them. Nothing Mach-O runs here: the executable is read with llvm-nm and
llvm-objdump (arm64, platform macOS, one copy of each runtime symbol, both models' descriptions,
each registration constructor in __mod_init_func, the ev_* API). A model archive that bundles the
runtime fails that link with duplicate symbols, and link-check says so beforehand; link-check
catches the other ELF fixtures on Mach-O archives too. Model archives compiled for arm64 iOS
carry platform iOS (libedge_veda itself cannot be built for iOS here: docs/static-linking.md).

Needs: pip install ziglang (the test extra), apt-get install llvm. About 6 min on 2 cores
(libedge_veda.a ~3 min, Kokoro ~2 min, zig's libc++ once per machine ~1-3 min more).
"""
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from abi_names import header_functions
from conftest import ROOT, in_ci, require_tools, venv_tools_env

pytestmark = pytest.mark.slow  # ~6 min: runs in CI (.ci/run installs llvm; the test extra has ziglang)

ZIG = [sys.executable, "-m", "ziglang"]
MACOS = "aarch64-macos.12.0"                        # zig's target: arm64, macOS 12 or later
MACOS_TVM = {"kind": "llvm", "mtriple": "arm64-apple-macos12.0"}
IOS_TVM = {"kind": "llvm", "mtriple": "arm64-apple-ios14.0"}
G2P_PREFIX, KOKORO_PREFIX = "ev_mac_g2p_en_", "ev_mac_kokoro_"
LLVM_TOOLS = {"llvm-nm": "llvm", "llvm-objdump": "llvm", "llvm-ar": "llvm"}
# A C symbol's Mach-O name has one leading "_"; these are the runtime's C entry points.
RUNTIME = re.compile(r"_(TVMFFI|TVMBackend)\w+")


def zig_cc(target: str = MACOS) -> str:
    return shlex.join([*ZIG, "cc", "-target", target])


def require_zig():
    if importlib.util.find_spec("ziglang") is None:
        message = "ziglang not installed (pip install ziglang: the test extra has it)"
        if in_ci():
            pytest.fail(f"{message}; CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)


def tool(*cmd, check=True):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, (" ".join(cmd) + "\n" + proc.stdout[-3000:] + proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def macos_lib(tmp_path_factory):
    """libedge_veda.a for arm64 macOS, TVM runtime and tvm-ffi embedded (-Dtvm_runtime=static)."""
    require_tools(LLVM_TOOLS)
    require_zig()
    build = str(tmp_path_factory.mktemp("build-macos-arm64"))
    env = venv_tools_env()  # python3 in the cross file: the venv's, which has ziglang
    cross = os.path.join(ROOT, "cross", "macos-arm64-zig.ini")
    setup = subprocess.run(["meson", "setup", build, ROOT, "--cross-file", cross, "-Dpython=disabled",
                            "-Dtvm_runtime=static"], capture_output=True, text=True, env=env)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    # -j2: the runtime's unity sources are heavy, and CI has two cores
    built = subprocess.run(["ninja", "-j2", "-C", build, "libedge_veda.a"], capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stdout[-3000:]
    return os.path.join(build, "libedge_veda.a")


def compile_static(name, out, prefix, target=MACOS_TVM, cc=None):
    from edge_veda.compile import compile_model

    art = compile_model(name, str(out), static=True, prefix=prefix, target=target, cc=cc or zig_cc())
    return os.path.join(art, f"lib{name.replace('-', '_')}.a")


@pytest.fixture(scope="module")
def models(macos_lib, tmp_path_factory):
    pytest.importorskip("onnx")
    root = tmp_path_factory.mktemp("macos-models")
    return {"g2p-en": compile_static("g2p-en", root / "g2p", G2P_PREFIX),
            "kokoro": compile_static("kokoro", root / "kokoro", KOKORO_PREFIX)}


@pytest.fixture(scope="module")
def program_object(macos_lib, tmp_path_factory):
    from test_static_runtime import PROGRAM  # the program tests/test_static_runtime.py runs on Linux

    d = tmp_path_factory.mktemp("macos-prog")
    (d / "prog.c").write_text(PROGRAM)
    tool(*ZIG, "cc", "-target", MACOS, "-std=c99", "-O1", "-I", os.path.join(ROOT, "include"), "-c",
         str(d / "prog.c"), "-o", str(d / "prog.o"))
    return str(d / "prog.o")


def link(exe, program_object, archives, *extra, check=True):
    """zig's Mach-O linker, as an app target links: every archive -force_load'ed, -dead_strip."""
    cmd = [*ZIG, "c++", "-target", MACOS, program_object, "-o", str(exe), "-Wl,-dead_strip",
           *[f"-Wl,-force_load,{a}" for a in archives], *extra]
    return tool(*cmd, check=check)


def defined(path):
    """name -> how many times the file defines it (llvm-nm; Mach-O names, with the "_")."""
    counts = {}
    for line in tool("llvm-nm", "--defined-only", path).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            counts[parts[2]] = counts.get(parts[2], 0) + 1
    return counts


def init_functions(exe):
    """The functions __mod_init_func points at (dyld runs them before main), by symbol name."""
    out = tool("llvm-objdump", "--macho", "-s", "--section=__DATA_CONST,__mod_init_func", exe).stdout
    return [m.group(1) for m in re.finditer(r"^0x[0-9a-f]+\s+0x[0-9a-f]+\s+(\S+)$", out, re.M)]


def load_commands(path):
    return tool("llvm-objdump", "--macho", "--private-headers", path).stdout


@pytest.fixture(scope="module")
def program(models, macos_lib, program_object, tmp_path_factory):
    """The full ev_* API kept (-u _ev_...): what a host that looks it up at run time needs (Dart's
    DynamicLibrary.process(), dlsym), since -dead_strip drops what the program does not call."""
    exe = tmp_path_factory.mktemp("macos-exe") / "two_models"
    keep = [f"-Wl,-u,_{name}" for name in header_functions()]
    link(exe, program_object, [macos_lib, models["g2p-en"], models["kokoro"]], *keep)
    return str(exe)


def test_macho_program_one_runtime_both_models(program, macos_lib, models):
    headers = load_commands(program)
    assert re.search(r"MH_MAGIC_64\s+ARM64\s+\S+\s+\S+\s+EXECUTE", headers), headers[:600]
    assert re.search(r"platform macos\s+sdk \S+\s+minos 12\.0", headers), headers
    dylibs = re.findall(r"cmd LC_LOAD_DYLIB\n.*?name (\S+)", headers, re.S)
    assert dylibs == ["/usr/lib/libSystem.B.dylib"]  # no TVM, no libc++ dylib: all inside

    syms = defined(program)
    runtime = {n: c for n, c in syms.items() if RUNTIME.fullmatch(n)}
    assert {"_TVMFFIEnvModRegisterSystemLibSymbol", "_TVMBackendAllocWorkspace", "_TVMBackendParallelLaunch",
            "_TVMFFIErrorSetRaisedFromCStrParts"} <= set(runtime)
    assert all(c == 1 for c in runtime.values()), {n: c for n, c in runtime.items() if c != 1}
    assert set(runtime) <= set(defined(macos_lib))  # ... and that one copy is libedge_veda.a's

    for prefix, kernel in ((G2P_PREFIX, "gru_greedy"), (KOKORO_PREFIX, None)):
        assert syms.get(f"_{prefix}__tvm_ffi__library_bin") == 1, prefix
        assert syms.get(f"_{prefix}__tvm_ffi__library_ctx") == 1, prefix
        kernels = [n for n in syms if n.startswith(f"___tvm_ffi_{prefix}")]
        assert len(kernels) >= 3 and (kernel is None or f"___tvm_ffi_{prefix}{kernel}" in kernels)

    # dyld runs, per model: its registration with libedge_veda (<prefix>ev_register.o), TVM's
    # kernel registration (lib0.o) and its description's (<prefix>devc.o) - all kept by -dead_strip
    init = init_functions(program)
    for prefix in (G2P_PREFIX, KOKORO_PREFIX):
        assert init.count(f"_{prefix}_register") == 1, init
        assert init.count(f"__GLOBAL__sub_I_{prefix}devc") == 1, init
    assert init.count("___tvm_module_startup") == 2, init
    assert "_ev_register_system_lib_model" in syms

    api = [f"_{name}" for name in header_functions()]
    assert all(syms.get(name) == 1 for name in api), [n for n in api if n not in syms]


def test_dead_strip_keeps_the_models_and_drops_unused_api(models, macos_lib, program_object, tmp_path):
    """Without -u, -dead_strip removes every ev_* function the program does not call; the models
    stay whole, because their static constructors are roots and reach everything they register."""
    exe = tmp_path / "stripped"
    link(exe, program_object, [macos_lib, models["g2p-en"], models["kokoro"]])
    syms = defined(str(exe))
    assert "_ev_init" in syms and "_ev_synthesize" in syms  # called by the program
    assert "_ev_phonemize" not in syms and "_ev_generate_batch" not in syms  # not called: gone
    for prefix in (G2P_PREFIX, KOKORO_PREFIX):
        assert f"_{prefix}__tvm_ffi__library_bin" in syms and f"_{prefix}_register" in syms
    assert init_functions(str(exe)).count("___tvm_module_startup") == 2
    # model archives passed plainly (no -force_load): nothing references them, the link succeeds
    # and the models are silently not in it
    plain = tmp_path / "plain"
    tool(*ZIG, "c++", "-target", MACOS, program_object, "-o", str(plain), f"-Wl,-force_load,{macos_lib}",
         models["g2p-en"], models["kokoro"])
    assert not [n for n in defined(str(plain)) if "__tvm_ffi__library" in n]


@pytest.fixture(scope="module")
def bundled(models, macos_lib, tmp_path_factory):
    """The seed's problem: a model archive that brings its own runtime (here the runtime's
    objects from libedge_veda.a added to g2p-en's archive)."""
    d = tmp_path_factory.mktemp("macos-bundled")
    runtime_members = [m for m in tool("llvm-ar", "t", macos_lib).stdout.split() if "tvm_embedded" in m]
    assert runtime_members
    subprocess.run(["llvm-ar", "x", models["g2p-en"]], cwd=d, check=True)
    subprocess.run(["llvm-ar", "x", macos_lib, *runtime_members], cwd=d, check=True)
    out = str(d / "libg2p_bundled.a")
    members = sorted(f for f in os.listdir(d) if f.endswith(".o"))
    tool(*ZIG, "ar", "crs", out, *[str(d / m) for m in members])
    return out


def test_second_runtime_fails_the_link_and_link_check_says_why(bundled, models, macos_lib, program_object, tmp_path):
    from edge_veda import linkcheck

    r = linkcheck.run([bundled, models["kokoro"]], [macos_lib], nm="llvm-nm")
    (problem,) = r.problems
    assert problem.startswith(f"{bundled}: bundles a TVM runtime / tvm-ffi copy: it defines TVMBackend")
    proc = link(tmp_path / "two_runtimes", program_object, [macos_lib, bundled, models["kokoro"]], check=False)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "duplicate symbol definition: _TVMBackendAllocWorkspace" in err, err[-3000:]
    assert f"{bundled}(" in err and f"{macos_lib}(" in err


# --- link-check on Mach-O archives: the fixtures tests/test_link_check.py builds on ELF -----------

def test_link_check_clean_macho_archives(models, macos_lib):
    from edge_veda import linkcheck

    r = linkcheck.run([models["g2p-en"], models["kokoro"]], [macos_lib], nm="llvm-nm")
    assert r.ok, r.problems
    assert r.lines[0] == f"{models['g2p-en']}: prefix {G2P_PREFIX} (3 kernels)"
    assert r.lines[1].startswith(f"{models['kokoro']}: prefix {KOKORO_PREFIX} (")
    assert r.lines[2].startswith(f"{macos_lib}: runtime (")


def test_link_check_duplicate_prefix_macho(models, macos_lib, program_object, tmp_path):
    from edge_veda import linkcheck

    again = compile_static("g2p-en", tmp_path / "g2p-again", G2P_PREFIX)
    (p,) = linkcheck.run([models["g2p-en"], again], nm="llvm-nm").problems
    assert f"duplicate prefix '{G2P_PREFIX}'" in p and f"{G2P_PREFIX}__tvm_ffi__library_bin" in p
    # the linker agrees, later: both force-loaded define the description twice
    proc = link(tmp_path / "dup", program_object, [macos_lib, models["g2p-en"], again], check=False)
    assert proc.returncode != 0
    assert f"duplicate symbol definition: _{G2P_PREFIX}__tvm_ffi__library_bin" in proc.stdout + proc.stderr


def test_link_check_lost_registration_member_macho(models, tmp_path):
    """ar x both archives into one folder + ar crs: kokoro's lib0.o replaces g2p-en's."""
    from edge_veda import linkcheck

    for archive in (models["g2p-en"], models["kokoro"]):
        subprocess.run(["llvm-ar", "x", archive], cwd=tmp_path, check=True)
    members = sorted(f for f in os.listdir(tmp_path) if f.endswith(".o"))
    assert members.count("lib0.o") == 1 and len(members) == 5
    merged = str(tmp_path / "libmodels.a")
    tool("llvm-ar", "crs", merged, *[str(tmp_path / m) for m in members])
    (p,) = linkcheck.run([merged], nm="llvm-nm").problems
    assert p.startswith(f"{merged}: prefix '{G2P_PREFIX}' has {G2P_PREFIX}__tvm_ffi__library_bin "
                        f"(in {G2P_PREFIX}devc.o) but no {G2P_PREFIX}__tvm_ffi__library_ctx")


def test_link_check_not_a_model_and_gnu_nm_macho(models, tmp_path):
    from edge_veda import linkcheck

    src = tmp_path / "plain.c"
    src.write_text("int plain_function(void) { return 1; }\n")
    obj = str(tmp_path / "plain.o")
    tool(*ZIG, "cc", "-target", MACOS, "-c", str(src), "-o", obj)
    assert " T _plain_function\n" in tool("llvm-nm", obj).stdout
    (p,) = linkcheck.run([obj], nm="llvm-nm").problems
    assert p.startswith(f"{obj}: not a model archive: no system-lib prefix")
    # GNU nm cannot read Mach-O (it says so and exits 0): an error naming llvm-nm, not "not a model"
    if shutil.which("nm"):
        with pytest.raises(linkcheck.LinkCheckError) as e:
            linkcheck.run([models["g2p-en"]], nm="nm")
        assert "nm cannot read it" in e.value.message and "--nm llvm-nm" in e.value.hint


# --- iOS: TVM emits the model objects; libedge_veda needs the iOS SDK ------------------------------

def test_ios_model_archive_carries_platform_ios(macos_lib, tmp_path):
    from edge_veda import linkcheck

    archive = compile_static("g2p-en", tmp_path / "g2p-ios", "ev_ios_g2p_en_", target=IOS_TVM,
                             cc=zig_cc("aarch64-ios.14.0"))
    headers = load_commands(archive)
    members = re.findall(r"^\S+\((\S+\.o)\):$", headers, re.M)
    assert sorted(members) == sorted(["lib0.o", "ev_ios_g2p_en_devc.o", "ev_ios_g2p_en_ev_register.o"]), headers[:800]
    platforms = re.findall(r"platform (\S+)\s+sdk \S+\s+minos (\S+)", headers)
    assert platforms == [("ios", "14.0")] * 3, platforms
    assert tool("llvm-nm", "--print-armap", archive).stdout.startswith("Archive map")  # a symbol table
    r = linkcheck.run([archive], nm="llvm-nm")
    assert r.ok and r.lines == [f"{archive}: prefix ev_ios_g2p_en_ (3 kernels)"], r.problems
