"""A module can come from a shared library OR from a system-lib archive linked into the program
(the iOS way): `edge-veda compile --static` writes the archive, a C program links it with
--whole-archive beside libedge_veda, and ev_init finds the model by its symbol prefix. A prefix
that is not linked is EV_ERR_MODEL_NOT_FOUND at ev_init, never a late failure."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROGRAM = r"""
#include <stdio.h>
#include "edge_veda.h"
int main(int argc, char** argv) {
    ev_config c = ev_config_default();
    c.model_path = argv[1];
    ev_error_t err;
    ev_context ctx = ev_init(&c, &err);
    if (!ctx) { printf("%s|%s\n", ev_error_string(err), ev_last_error_message(NULL)); return 0; }
    for (int i = 2; i < argc; ++i) {
        char* out = NULL;
        if (ev_generate(ctx, argv[i], NULL, &out) != EV_OK) { printf("ERR %s\n", ev_last_error_message(ctx)); return 1; }
        printf("%s\n", out);
        ev_free_string(out);
    }
    ev_free(ctx);
    return 0;
}
"""


@pytest.fixture(scope="module")
def static_artifact(tmp_path_factory):
    from edge_veda.compile import compile_model

    out = tmp_path_factory.mktemp("static") / "g2p-en-static"
    return compile_model("g2p-en", str(out), static=True, prefix="ev_test_g2p_")


def build(tmp_path, archive=None):
    """Links the program against the installed libedge_veda.so, which embeds the runtime and
    exports the entry points the model's objects call (docs/static-linking.md): model archives
    in the program, the runtime in the shared library, no TVM library anywhere."""
    from edge_veda import config

    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    exe = tmp_path / ("prog_static" if archive else "prog_plain")
    models = ["-Wl,--whole-archive", archive, "-Wl,--no-whole-archive"] if archive else []
    cmd = ["gcc", "-std=c99", str(src), "-o", str(exe), *config.cflags().split(), *models,
           *config.libs().split()]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return str(exe)


def test_static_archive_manifest_names_the_prefix(static_artifact):
    import json

    m = json.load(open(os.path.join(static_artifact, "manifest.json")))
    assert m["module"] == {"source": "system-lib", "prefix": "ev_test_g2p_", "archive": "libg2p_en.a",
                           "kernel_threads": False}
    assert "libg2p_en.a" in m["files"] and m["weights"]["file"] in m["files"]
    assert m["kind"] == "g2p" and m["g2p"]["lexicon"]["file"] in m["files"]


def test_model_linked_into_the_program_runs_through_the_same_abi(static_artifact, artifact_dir, tmp_path):
    import edge_veda

    exe = build(tmp_path, os.path.join(static_artifact, "libg2p_en.a"))
    words = ["hello", "world", "phonetics", "o'neill", "café"]
    proc = subprocess.run([exe, static_artifact, *words], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with edge_veda.Model.load(artifact_dir) as shared:
        assert proc.stdout.splitlines() == [shared.generate(w) for w in words]


def test_unlinked_prefix_is_model_not_found_at_init(static_artifact, tmp_path):
    exe = build(tmp_path)
    proc = subprocess.run([exe, static_artifact, "hello"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    code, message = proc.stdout.strip().split("|", 1)
    assert code == "EV_ERR_MODEL_NOT_FOUND"
    assert "system-lib prefix 'ev_test_g2p_'" in message and "--whole-archive" in message
    assert "no model archive is linked at all" in message


def test_bad_prefix_is_refused_before_compiling(tmp_path):
    from edge_veda.compile import compile_model
    from edge_veda.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="C identifier of 8 to 64"):
        compile_model("g2p-en", str(tmp_path / "x"), static=True, prefix="g2p")
