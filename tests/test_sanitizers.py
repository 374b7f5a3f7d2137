"""The C concurrency test (many threads on one and on several contexts, a cancel storm,
concurrent pressure notifications, ev_free racing a running call), built from source with
meson under ThreadSanitizer."""
import os
import subprocess

import pytest

from conftest import meson_build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tsan_build(tmp_path_factory):
    return meson_build(str(tmp_path_factory.mktemp("tsan")), "-Db_sanitize=thread")


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


def test_native_build_ships_static_library_and_pkg_config(tsan_build):
    """A build without the Python module produces libedge_veda.so, libedge_veda.a and a
    pkg-config file."""
    assert os.path.isfile(os.path.join(tsan_build, "libedge_veda.so"))
    assert os.path.isfile(os.path.join(tsan_build, "libedge_veda.a"))
    with open(os.path.join(tsan_build, "meson-private", "edge_veda.pc")) as f:
        pc = f.read()
    assert "Libs: -L${libdir} -ledge_veda" in pc and "Name: edge_veda" in pc
