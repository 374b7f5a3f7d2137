"""Dart for real: the Dart package (dart/) driven on a real Dart VM against the same C ABI.

The VM is the full JIT Dart 3.7.3 VM for linux-ia32 (tools/fetch_dart_vm.sh), so the library
is libedge_veda cross-built for i686 with the TVM runtime embedded (-Dtvm_runtime=static: no
i686 TVM wheels exist), and g2p-en and Kokoro are compiled for i686 by TVM. The VM and the
programs run through the i686 cross toolchain's loader. The Dart test programs (dart/test/*.dart)
check themselves (exit 1 on a failed check) and write their outputs, which are compared here:
G2P exactly with the Python binding (x86_64; the network is exact across ISAs), TTS to 1e-6 with
a C program calling the same i686 build, and with the Python binding's frame counts.
"""
import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, cmudict_sample, in_ci, require_tools, venv_tools_env

CROSS_TOOLS = {"i686-linux-gnu-g++": "g++-i686-linux-gnu"}
LOADER = "/usr/i686-linux-gnu/lib/ld-linux.so.2"
SYSROOT_LIB = "/usr/i686-linux-gnu/lib"
DART_DIR = os.path.join(ROOT, "dart")
TTS_INPUTS = {
    "phonemes": ["həlˈoʊ wˈɜːld", "ðɪs ɪz ɐ tˈɛst.", "kˈoʊkəɹoʊ spˈiːks ˈɪŋɡlɪʃ."],
    "text": "Edge Veda speaks from Dart.",
    # words as written (merged spoken words, source offsets); the second has non-ASCII characters,
    # whose UTF-8 byte offsets Dart turns into UTF-16 indexes (Python: code points; equal in the BMP)
    "word_texts": ["Dr. Smith paid $3.50 in 1984.", "Zoë's café opened in 1984."],
    "sentences": ["Hello, world.", "This is a test!", "Did it work?"],
    "long_text": "The first sentence is short. The second one is a little longer than the first. "
                 "A third follows it here. And a fourth sentence ends the paragraph after all.",
}


@pytest.fixture(scope="module")
def dart_vm():
    require_tools(CROSS_TOOLS)
    vm = os.environ.get("EDGE_VEDA_DART_IA32") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edge-veda", "dart-ia32", "package",
        "dart-sass", "src", "dart")
    if not os.access(vm, os.X_OK):
        message = f"no ia32 Dart VM at {vm} (bash tools/fetch_dart_vm.sh fetches it with npm; .ci/run does)"
        if in_ci():
            pytest.fail(message + "; CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    return vm


@pytest.fixture(scope="module")
def i686_lib(dart_vm, tmp_path_factory):
    """libedge_veda.so for i686 with the TVM runtime embedded (~2 min on 2 cores)."""
    build = str(tmp_path_factory.mktemp("build-i686"))
    env = venv_tools_env()
    setup = subprocess.run(["meson", "setup", build, ROOT, "--cross-file", os.path.join(ROOT, "cross", "linux-i686.ini"),
                            "-Dpython=disabled", "-Dtvm_runtime=static", "-Dbuildtype=release"],
                           capture_output=True, text=True, env=env)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    built = subprocess.run(["ninja", "-C", build, "libedge_veda.so"], capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stdout[-3000:]
    return os.path.join(build, "libedge_veda.so")


def i686_target():
    from edge_veda.compile.build import host_target

    return {**host_target(), "mtriple": "i686-linux-gnu"}  # run on this machine: its CPU's features


@pytest.fixture(scope="module")
def i686_models(dart_vm, tmp_path_factory):
    pytest.importorskip("onnx")
    from edge_veda.compile import compile_model

    root = tmp_path_factory.mktemp("models-i686")
    return {name: compile_model(name, str(root / name), target=i686_target(), cc="i686-linux-gnu-g++")
            for name in ("g2p-en", "kokoro")}


def run_i686(cmd, *, library_dirs=(), timeout=900, cwd=DART_DIR):
    """Runs a 32-bit program through the cross toolchain's loader."""
    path = ":".join([SYSROOT_LIB, *library_dirs])
    proc = subprocess.run([LOADER, "--library-path", path, *cmd], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)
    return proc


def run_dart(vm, program, *args, timeout=900):
    proc = run_i686([vm, os.path.join("test", program), *map(str, args)], timeout=timeout)
    print(proc.stdout[-6000:])
    assert proc.returncode == 0 and "ALL PASSED" in proc.stdout, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc.stdout


def header_functions():
    with open(os.path.join(ROOT, "include", "edge_veda.h")) as f:
        return re.findall(r"^EV_API\b[^;]*?\b(ev_\w+)\s*\(", f.read(), flags=re.M)


def test_every_header_function_is_called_from_dart():
    """Every ev_* of the header is called by the Dart package or its test programs (the
    programs below run them all; a function added to the header without a Dart caller fails
    here)."""
    sources = ""
    for sub in ("lib", "test"):
        for dirpath, _, files in os.walk(os.path.join(DART_DIR, sub)):
            for name in files:
                if name.endswith(".dart") and name != "bindings.dart":
                    with open(os.path.join(dirpath, name)) as f:
                        sources += f.read()
    functions = header_functions()
    assert len(functions) >= 33, functions
    never = [fn for fn in functions if not re.search(rf"\.{fn}\(", sources)]
    assert never == [], f"never called from Dart: {never}"


@pytest.mark.slow
def test_g2p_from_dart_equals_python(dart_vm, i686_lib, i686_models, g2p_artifact_dir, tmp_path):
    import edge_veda

    words = [w for w in cmudict_sample(900, seed=22) if w.isalpha()][:520]
    rng = random.Random(5)
    made_up = ["".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(4)) for _ in range(4000)]
    sentences = ["Hello, world! It's 2026.", "The quick brown fox jumps over the lazy dog.",
                 "Dr. Smith paid $3.50 for 2 coffees on May 5th.", "Naïve café owners re-opened at 9:30 a.m.",
                 "Edge Veda runs g2p-en and Kokoro in one runtime; it's fast!"] * 4
    words = words + made_up[:40]  # words the lexicon lacks: the network on i686
    assert len(words) >= 500 and len(sentences) >= 20
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"words": words, "sentences": sentences, "long_batch": made_up}))
    out = tmp_path / "out.json"
    run_dart(dart_vm, "g2p_test.dart", i686_lib, i686_models["g2p-en"], inputs, out)
    got = json.loads(out.read_text())
    with edge_veda.Model.load(g2p_artifact_dir) as model:
        assert got["words"] == {w: model.generate(w) for w in words}
        want = [[[t, " ".join(p), s] for t, p, s in model.phonemize(s, with_source=True)] for s in sentences]
    assert got["sentences"] == want


C_REFERENCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include "edge_veda.h"
/* c_reference TTS_DIR OUT_DIR PHONEMES...: each input's samples to OUT_DIR/c_<i>.f32 and one
 * line of word timings "<i> word start end ..." on stdout. */
int main(int argc, char** argv) {
    ev_config cfg = ev_config_default();
    cfg.model_path = argv[1];
    cfg.num_threads = 1;
    ev_error_t err;
    ev_context ctx = ev_init(&cfg, &err);
    if (!ctx) { fprintf(stderr, "%s\n", ev_last_error_message(NULL)); return 1; }
    ev_synthesis_params p = ev_synthesis_params_default();
    p.input = EV_TTS_INPUT_PHONEMES;
    for (int i = 3; i < argc; ++i) {
        ev_audio* a = NULL;
        if (ev_synthesize(ctx, argv[i], &p, &a) != EV_OK) { fprintf(stderr, "%s\n", ev_last_error_message(ctx)); return 1; }
        char path[4096];
        snprintf(path, sizeof path, "%s/c_%d.f32", argv[2], i - 3);
        FILE* f = fopen(path, "wb");
        fwrite(a->samples, sizeof(float), (size_t)a->sample_count, f);
        fclose(f);
        printf("%d", i - 3);
        for (int w = 0; w < a->word_count; ++w) printf(" %s %lld %lld", a->words[w], (long long)a->word_start[w], (long long)a->word_end[w]);
        printf("\n");
        ev_audio_free(a);
    }
    ev_free(ctx);
    return 0;
}
"""


@pytest.mark.slow
def test_tts_from_dart_equals_c_on_the_same_build(dart_vm, i686_lib, i686_models, kokoro_dir, artifact_dir, tmp_path):
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps(TTS_INPUTS))
    run_dart(dart_vm, "tts_test.dart", i686_lib, i686_models["g2p-en"], i686_models["kokoro"], inputs, tmp_path)
    got = json.loads((tmp_path / "dart.json").read_text())

    src = tmp_path / "c_reference.c"
    src.write_text(C_REFERENCE)
    exe = tmp_path / "c_reference"
    lib_dir = os.path.dirname(i686_lib)
    subprocess.run(["i686-linux-gnu-gcc", "-O2", "-I", os.path.join(ROOT, "include"), str(src), "-o", str(exe),
                    "-L", lib_dir, "-ledge_veda"], check=True, capture_output=True)
    proc = run_i686([str(exe), i686_models["kokoro"], str(tmp_path), *TTS_INPUTS["phonemes"]], library_dirs=[lib_dir])
    assert proc.returncode == 0, proc.stderr
    import edge_veda

    with edge_veda.SpeechModel.load(kokoro_dir, frontend=None, num_threads=1) as tts:
        for i, line in enumerate(proc.stdout.splitlines()):
            fields = line.split()
            c_words = [[fields[k], int(fields[k + 1]), int(fields[k + 2])] for k in range(1, len(fields), 3)]
            assert got["timings"][i] == c_words, (i, got["timings"][i], c_words)
            dart = np.fromfile(tmp_path / f"dart_{i}.f32", dtype=np.float32)
            c = np.fromfile(tmp_path / f"c_{i}.f32", dtype=np.float32)
            assert len(dart) == len(c) > 0
            diff = float(np.max(np.abs(dart - c)))
            print(f"input {i}: {len(dart)} samples, max |dart - c| = {diff}")
            assert diff <= 1e-6
            # and the same utterance as the x86_64 Python binding: the frame count exactly
            assert len(tts.synthesize(phonemes=TTS_INPUTS["phonemes"][i]).samples) == len(dart)
        assert got["voices"] == tts.voices
    # the words of a text as written: Dart's equal Python's (text, spoken, source offsets; the
    # samples of another build's durations within a frame)
    with edge_veda.SpeechModel.load(kokoro_dir, frontend=artifact_dir, num_threads=1) as tts:
        for text, dart_words in zip(TTS_INPUTS["word_texts"], got["source_words"]):
            words = tts.synthesize(text).words
            assert [w[0:2] + w[4:] for w in dart_words] == [[w.text, w.spoken, w.source_start, w.source_end]
                                                           for w in words], (text, dart_words, words)
            assert all(abs(d[2] - w.start) <= 600 and abs(d[3] - w.end) <= 600 for d, w in zip(dart_words, words))
        assert [w[0] for w in got["source_words"][0]] == ["Dr.", "Smith", "paid", "$3.50", "in", "1984"]


@pytest.mark.slow
def test_the_dart_example_speaks_a_sentence_into_a_wav(dart_vm, i686_lib, i686_models, tmp_path):
    import wave

    out = tmp_path / "hello.wav"
    proc = run_i686([dart_vm, os.path.join("example", "speak.dart"), i686_lib, i686_models["kokoro"],
                     i686_models["g2p-en"], "Hello from Dart.", str(out)], timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.getnframes() > 24000 // 2  # over half a second of speech
    assert "Hello[" in proc.stdout and "Dart[" in proc.stdout, proc.stdout  # the words as written
