"""The C concurrency tests, built from source with meson under ThreadSanitizer (the library and
its embedded TVM runtime): many threads on one and on several G2P contexts, a cancel storm,
concurrent pressure notifications, ev_free racing a running call; the same for text to speech
(tests/c/test_tts.c)."""
import os
import subprocess

import pytest

from conftest import meson_build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tsan_build(tmp_path_factory):
    # The embedded TVM runtime (-Dtvm_runtime=static) is compiled with ThreadSanitizer too, so
    # the hand-off of work to TVM's kernel thread pool is visible to it. Against the wheel's
    # uninstrumented libtvm_runtime.so, every buffer a parallel kernel writes is reported as a
    # race with its allocation (seen with Kokoro); that build could only test serial kernels.
    return meson_build(str(tmp_path_factory.mktemp("tsan")), "-Db_sanitize=thread", "-Dtvm_runtime=static")


@pytest.mark.slow
def test_concurrency_under_thread_sanitizer(tsan_build, artifact_dir):
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66")
    proc = subprocess.run([os.path.join(tsan_build, "test_concurrency"), artifact_dir],
                          capture_output=True, text=True, env=env, timeout=600)
    print(proc.stdout)
    assert "ThreadSanitizer" not in proc.stderr, proc.stderr[-6000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1] == "ok"
    assert "free race: cancelled after" in proc.stdout


@pytest.mark.slow
def test_tts_threads_under_thread_sanitizer(tsan_build, kokoro_dir, artifact_dir):
    """tests/c/test_tts.c: a G2P context feeding a TTS context, threads synthesizing on one
    context while another polls ev_status, a stream cancelled from another thread, critical
    memory pressure (unload) racing a synthesis, callbacks and threads crossing the TTS context
    and its front end, a cancel inside one long piece, ev_free racing a stream."""
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66")
    proc = subprocess.run([os.path.join(tsan_build, "test_tts"), kokoro_dir, artifact_dir],
                          capture_output=True, text=True, env=env, timeout=900)
    print(proc.stdout)
    assert "ThreadSanitizer" not in proc.stderr, proc.stderr[-6000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1] == "ok"
    assert "stream cancel: cancelled after" in proc.stdout and "free race: cancelled after" in proc.stdout
    assert "crossing contexts: ok" in proc.stdout and "cancel inside a piece: ok" in proc.stdout


def test_native_build_ships_static_library_and_pkg_config(tsan_build):
    """A build without the Python module produces libedge_veda.so, libedge_veda.a and a
    pkg-config file."""
    assert os.path.isfile(os.path.join(tsan_build, "libedge_veda.so"))
    assert os.path.isfile(os.path.join(tsan_build, "libedge_veda.a"))
    with open(os.path.join(tsan_build, "meson-private", "edge_veda.pc")) as f:
        pc = f.read()
    assert "Libs: -L${libdir} -ledge_veda" in pc and "Name: edge_veda" in pc
