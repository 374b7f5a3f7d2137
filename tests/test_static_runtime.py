"""One runtime, linked once: the iOS link, proven on Linux.

A C program is linked from libedge_veda.a (which embeds the TVM runtime and tvm-ffi, compiled
from the installed wheels' sources) and TWO model archives with different system-lib prefixes,
each whole-archived — the link line `python -m edge_veda.config --static --libs` prints. No TVM
library may appear among its dynamic dependencies, and both models must give exactly the output
of the same model loaded from a shared library. Then the same on aarch64 under qemu, with
libedge_veda.a cross-built from the same wheel sources.

The x86_64 program links three archives: g2p-en twice under two prefixes, and Kokoro-82M (kind
tts): two different models, and two copies of one. The aarch64 program links g2p-en and Kokoro,
both compiled for aarch64 by TVM.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, require_tools, venv_tools_env

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edge_veda.h"

/* prog ARTIFACT INPUT... [-- ARTIFACT INPUT...]...: one line per input. A G2P model prints
 * "<artifact#>\t<word>\t<phonemes>"; a TTS model synthesizes the input as phonemes and prints
 * "<artifact#>\t<input>\t<samples> <sum of squares>". A model that fails to load prints
 * "<artifact#>\tERROR\t<code>|<message>" and the program goes on. */
static void put_line(const char* s) {  /* the message and its hint on one line */
    for (; *s; ++s) putchar(*s == '\n' ? ' ' : *s);
    putchar('\n');
}

int main(int argc, char** argv) {
    int model = 0;
    for (int i = 1; i < argc; ++model) {
        ev_config c = ev_config_default();
        c.model_path = argv[i++];
        ev_error_t err;
        ev_context ctx = ev_init(&c, &err);
        if (!ctx) {
            printf("%d\tERROR\t%s|", model, ev_error_string(err));
            put_line(ev_last_error_message(NULL));
        }
        int tts = 0;
        if (ctx) {
            ev_status_info st;
            memset(&st, 0, sizeof st);
            st.struct_size = sizeof st;
            tts = ev_status(ctx, &st) == EV_OK && strcmp(st.model_kind, "tts") == 0;
        }
        for (; i < argc && strcmp(argv[i], "--") != 0; ++i) {
            char* out = NULL;
            if (!ctx) continue;
            if (tts) {
                ev_synthesis_params sp = ev_synthesis_params_default();
                sp.input = EV_TTS_INPUT_PHONEMES;
                if (getenv("EV_TEST_SPEED")) sp.speed = (float)atof(getenv("EV_TEST_SPEED"));
                ev_audio* audio = NULL;
                if (ev_synthesize(ctx, argv[i], &sp, &audio) != EV_OK) {
                    printf("%d\t%s\tERROR %s\n", model, argv[i], ev_last_error_message(ctx));
                    continue;
                }
                double energy = 0;
                for (int64_t k = 0; k < audio->sample_count; ++k) energy += (double)audio->samples[k] * audio->samples[k];
                const char* dump = getenv("EV_TEST_DUMP_AUDIO");  /* the samples, raw float32 */
                if (dump) {
                    FILE* f = fopen(dump, "wb");
                    if (f) {
                        fwrite(audio->samples, sizeof(float), (size_t)audio->sample_count, f);
                        fclose(f);
                    }
                }
                printf("%d\t%s\t%lld %.6f\n", model, argv[i], (long long)audio->sample_count, energy);
                ev_audio_free(audio);
                continue;
            }
            if (ev_generate(ctx, argv[i], NULL, &out) != EV_OK) {
                printf("%d\t%s\tERROR %s\n", model, argv[i], ev_last_error_message(ctx));
                continue;
            }
            printf("%d\t%s\t%s\n", model, argv[i], out);
            ev_free_string(out);
        }
        ev_free(ctx);
        if (i < argc) ++i;  /* the "--" */
    }
    return 0;
}
"""

WORDS = ["hello", "world", "phonetics", "o'neill", "café", "zyxwv"]
PREFIXES = ("ev_static_a_g2p_", "ev_static_b_g2p_")


def compile_static(out, prefix, **kw):
    from edge_veda.compile import compile_model

    return compile_model("g2p-en", str(out), static=True, prefix=prefix, **kw)


def archive_of(artifact):
    with open(os.path.join(artifact, "manifest.json")) as f:
        return os.path.join(artifact, json.load(f)["module"]["archive"])


def link(exe, archives, *, cc="gcc", cflags=None, static_libs=None):
    from edge_veda import config

    src = exe.parent / "prog.c"
    src.write_text(PROGRAM)
    cmd = [cc, "-std=c99", "-O1", str(src), "-o", str(exe), *(cflags or config.cflags()).split(),
           *(static_libs or config.static_libs()).split(),
           "-Wl,--whole-archive", *archives, "-Wl,--no-whole-archive"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return str(exe)


def run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [line.split("\t") for line in proc.stdout.splitlines()]


def with_prefix(artifact, prefix, dest):
    """A copy of `artifact` whose manifest asks for another system-lib prefix (re-sealed)."""
    from edge_veda.compile import write_manifest_digest

    shutil.copytree(artifact, dest)
    path = os.path.join(dest, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    m["module"]["prefix"] = prefix
    with open(path, "w") as f:
        json.dump(m, f)
    write_manifest_digest(str(dest))
    return str(dest)


@pytest.fixture(scope="module")
def two_archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("static-two")
    return [compile_static(root / p, p) for p in PREFIXES]


KOKORO_PREFIX = "ev_static_kokoro_"
PHONEMES = ["kanakisɯ bozeɴko.", "həlˈO, wˈɜɹld."]
# What the aarch64 program says under qemu (emulated, Kokoro runs ~150x slower than natively):
# a short input at double speed, ~20 frames.
ARM64_PHONEMES, ARM64_SPEED = "ka.", 2.0


@pytest.fixture(scope="module")
def kokoro_archive(tmp_path_factory):
    """Kokoro as a system-lib archive: the second, different model of the static program."""
    pytest.importorskip("onnx")
    from edge_veda.compile import compile_model

    return compile_model("kokoro", str(tmp_path_factory.mktemp("static-kokoro") / "kokoro"), static=True,
                         prefix=KOKORO_PREFIX)


@pytest.fixture(scope="module")
def static_program(two_archives, kokoro_archive, tmp_path_factory):
    return link(tmp_path_factory.mktemp("static-exe") / "three_models",
                [archive_of(a) for a in (*two_archives, kokoro_archive)])


def expected(artifact_dir):
    import edge_veda

    with edge_veda.Model.load(artifact_dir) as m:
        return {w: m.generate(w) for w in WORDS}


@pytest.fixture(scope="module")
def kokoro_shared(edge_veda_home):
    """Phonemes -> samples from the shared-library build of kokoro, through the Python package."""
    import edge_veda
    from edge_veda.resolve import resolve

    path = os.environ.get("EDGE_VEDA_KOKORO_ARTIFACT") or resolve("kokoro", announce=lambda m: None)
    with edge_veda.SpeechModel.load(path, frontend=None) as m:
        out = {ph: m.synthesize(phonemes=ph).samples for ph in PHONEMES}
        out["arm64"] = m.synthesize(phonemes=ARM64_PHONEMES, speed=ARM64_SPEED).samples
        return out


def test_g2p_and_kokoro_in_one_static_program_no_tvm_library(static_program, two_archives, kokoro_archive,
                                                             artifact_dir, kokoro_shared):
    needed = subprocess.run(["ldd", static_program], capture_output=True, text=True).stdout
    assert "tvm" not in needed and "edge_veda" not in needed, needed
    rows = run([static_program, two_archives[0], *WORDS, "--", two_archives[1], *WORDS, "--", kokoro_archive,
                *PHONEMES])
    want = expected(artifact_dir)
    assert rows[:2 * len(WORDS)] == [[str(i), w, want[w]] for i in (0, 1) for w in WORDS]
    # Kokoro linked into the program gives what the shared-library build gives in Python: the
    # same samples (count exact; energy to float rounding)
    got = {r[1]: r[2].split() for r in rows[2 * len(WORDS):]}
    assert set(got) == set(PHONEMES) and all(r[0] == "2" for r in rows[2 * len(WORDS):])
    for ph in PHONEMES:
        count, energy = int(got[ph][0]), float(got[ph][1])
        ref = kokoro_shared[ph]
        assert count == len(ref) and count % 600 == 0
        assert abs(energy - float((ref.astype("float64") ** 2).sum())) <= 1e-3 * max(energy, 1e-6)


def test_unlinked_prefix_names_the_linked_ones(static_program, two_archives, artifact_dir, tmp_path):
    stray = with_prefix(two_archives[0], "ev_not_linked_g2p_", tmp_path / "stray")
    rows = run([static_program, stray, "hello", "--", two_archives[1], "hello"])
    assert rows[0][:2] == ["0", "ERROR"]
    code, message = rows[0][2].split("|", 1)
    assert code == "EV_ERR_MODEL_NOT_FOUND"
    assert "system-lib prefix 'ev_not_linked_g2p_'" in message
    assert all(f"'{p}' (g2p-en)" in message for p in PREFIXES), message
    assert rows[1] == ["1", "hello", expected(artifact_dir)["hello"]]  # the process goes on


def test_archive_built_by_another_tvm_is_refused(two_archives, tmp_path):
    """The archive's registration says which TVM compiled its kernels; a major.minor other than
    the embedded runtime's is EV_ERR_MODEL_INVALID naming both, before any kernel runs."""
    from edge_veda.compile.export import registration_object

    prefix = PREFIXES[0]
    old = tmp_path / "libold.a"
    shutil.copy(archive_of(two_archives[0]), old)
    member = registration_object(str(tmp_path), prefix=prefix, name="g2p-en", tvm_version="0.26.0")
    subprocess.run(["ar", "r", str(old), member], check=True)  # replaces the member of that name
    exe = link(tmp_path / "old_tvm", [str(old)])
    rows = run([exe, two_archives[0], "hello"])
    code, message = rows[0][2].split("|", 1)
    assert code == "EV_ERR_MODEL_INVALID"
    assert "compiled by TVM 0.26.0" in message and "0.27" in message and "recompile" in message


def test_config_prints_the_static_link_line():
    proc = subprocess.run([sys.executable, "-m", "edge_veda.config", "--static", "--libs"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    parts = proc.stdout.split()
    assert parts[0] == "-Wl,--whole-archive" and parts[1].endswith("libedge_veda.a") and os.path.isfile(parts[1])
    assert parts[2] == "-Wl,--no-whole-archive" and "-lstdc++" in parts


def test_libedge_veda_a_holds_the_runtime_and_passes_link_check(two_archives):
    from edge_veda import config

    archive = os.path.join(config.library_dir(), "libedge_veda.a")
    proc = subprocess.run([sys.executable, "-m", "edge_veda", "link-check", "--runtime", archive,
                           *[archive_of(a) for a in two_archives]], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert all(f"prefix {p}" in proc.stdout for p in PREFIXES)
    defined = subprocess.run(["nm", "--defined-only", archive], capture_output=True, text=True).stdout
    for symbol in ("TVMFFIEnvModRegisterSystemLibSymbol", "TVMBackendAllocWorkspace", "ev_init",
                   "ev_register_system_lib_model"):
        assert f" T {symbol}\n" in defined, symbol


# ---- aarch64: libedge_veda.a cross-built from the same wheel sources, run under qemu ----

CROSS_TOOLS = {"aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu", "qemu-aarch64": "qemu-user"}


@pytest.fixture(scope="module")
def arm64_static_lib(tmp_path_factory):
    require_tools(CROSS_TOOLS)
    build = str(tmp_path_factory.mktemp("build-aarch64-static"))
    env = venv_tools_env()
    setup = subprocess.run(
        ["meson", "setup", build, ROOT, "--cross-file", os.path.join(ROOT, "cross", "linux-aarch64.ini"),
         "-Dpython=disabled", "-Dtvm_runtime=static"], capture_output=True, text=True, env=env)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    built = subprocess.run(["ninja", "-C", build, "libedge_veda.a"], capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stdout[-3000:]
    return os.path.join(build, "libedge_veda.a")


@pytest.mark.slow
def test_g2p_and_kokoro_one_static_runtime_on_aarch64_under_qemu(arm64_static_lib, artifact_dir, kokoro_shared,
                                                                 tmp_path):
    """g2p-en and Kokoro compiled for aarch64, linked with the cross-built libedge_veda.a into one
    program, run under qemu: g2p's phonemes exactly as on x86_64; Kokoro's audio with the same
    frame count as on x86_64 and its log-mel cosine >= 0.999 (another ISA's float rounding)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from audio_metrics import log_mel_cosine

    from edge_veda import config

    target = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}
    cc = "aarch64-linux-gnu-g++"
    g2p = compile_static(tmp_path / "g2p", PREFIXES[0], target=target, cc=cc)
    pytest.importorskip("onnx")
    from edge_veda.compile import compile_model

    kokoro = compile_model("kokoro", str(tmp_path / "kokoro"), static=True, prefix=KOKORO_PREFIX, target=target,
                           cc=cc)
    exe = link(tmp_path / "two_models_arm64", [archive_of(g2p), archive_of(kokoro)], cc="aarch64-linux-gnu-gcc",
               static_libs=f"-Wl,--whole-archive {arm64_static_lib} -Wl,--no-whole-archive "
                           f"{config.STATIC_SYSTEM_LIBS}")
    info = subprocess.run(["file", exe], capture_output=True, text=True).stdout
    assert "aarch64" in info, info
    needed = subprocess.run(["aarch64-linux-gnu-readelf", "-d", exe], capture_output=True, text=True).stdout
    assert "tvm" not in needed and "edge_veda" not in needed, needed
    ph = ARM64_PHONEMES
    wav = tmp_path / "arm64.f32"
    rows = run(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", exe, g2p, *WORDS, "--", kokoro, ph],
               env=dict(os.environ, EV_TEST_DUMP_AUDIO=str(wav), EV_TEST_SPEED=str(ARM64_SPEED)))
    want = expected(artifact_dir)
    assert rows[:len(WORDS)] == [["0", w, want[w]] for w in WORDS]
    assert rows[len(WORDS)][:2] == ["1", ph]
    samples = np.fromfile(wav, dtype=np.float32)
    ref = kokoro_shared["arm64"]
    assert int(rows[len(WORDS)][2].split()[0]) == len(samples) == len(ref)
    assert log_mel_cosine(samples, ref, 24000) >= 0.999
