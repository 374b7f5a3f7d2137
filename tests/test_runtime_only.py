"""The default install is the runtime only: libedge_veda embeds the TVM runtime, so running an
artifact needs neither the apache-tvm nor the apache-tvm-ffi package; compiling one says which
extra to install. Here the two packages are made unimportable in the child process (a meta-path
finder installed by sitecustomize), which is what an install without them looks like to Python;
the fresh-venv figures are in BENCHMARKS.md ("Install size")."""
import os
import subprocess
import sys

import pytest

BLOCKER = '''
import sys

class _NoTvm:
    """This process has no TVM packages: `import tvm` / `import tvm_ffi` fail as if not installed."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tvm", "tvm_ffi"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoTvm())
'''


@pytest.fixture()
def no_tvm_env(tmp_path, edge_veda_home):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    return dict(os.environ, PYTHONPATH=str(site) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "edge_veda", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_the_blocker_blocks(no_tvm_env):
    proc = subprocess.run([sys.executable, "-c", "import tvm_ffi"], capture_output=True, text=True, env=no_tvm_env)
    assert proc.returncode != 0 and "No module named 'tvm_ffi'" in proc.stderr


def test_g2p_runs_without_tvm_packages(no_tvm_env, artifact_dir):
    proc = cli(no_tvm_env, "g2p", "--model", artifact_dir, "hello", "world")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["hello\tHH AH0 L OW1", "world\tW ER1 L D"]


def test_first_use_build_in_the_cache_runs_without_tvm_packages(no_tvm_env, edge_veda_home, artifact_dir):
    """A model compiled into the cache by an install with the compiler (same package, same
    cache key) is used by a runtime-only install: `edge-veda g2p hello world` as in the README."""
    import shutil

    from edge_veda.paths import local_build_dir

    target = local_build_dir("g2p-en", root=str(edge_veda_home))
    if not os.path.isdir(target):
        shutil.copytree(artifact_dir, target)
    proc = cli(no_tvm_env, "g2p", "hello", "world")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["hello\tHH AH0 L OW1", "world\tW ER1 L D"]


def test_compile_without_the_extra_names_it(no_tvm_env, tmp_path):
    proc = cli(no_tvm_env, "compile", "g2p-en", "-o", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stderr
    assert PIP_COMPILE in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_first_use_compile_without_the_extra_names_it(no_tvm_env, tmp_path):
    env = dict(no_tvm_env, EDGE_VEDA_HOME=str(tmp_path / "empty-home"), EDGE_VEDA_CATALOG=str(tmp_path / "none.json"))
    proc = cli(env, "g2p", "hello")
    assert proc.returncode == 1, proc.stderr
    assert PIP_COMPILE in proc.stderr and "Traceback" not in proc.stderr
    hint = proc.stderr.split("hint: ", 1)[1]
    # `models pull g2p-en` from the built-in catalog fails (no download): named only with --catalog
    assert "`edge-veda models pull g2p-en`" not in hint and "models pull g2p-en --catalog URL" in hint


PIP_COMPILE = 'pip install "edge-veda[compile]" (from a source checkout: pip install ".[compile]")'
PIP_KOKORO = 'pip install "edge-veda[kokoro]" (from a source checkout: pip install ".[kokoro]")'


def test_pull_of_a_compiled_model_does_not_send_back_to_first_use(no_tvm_env, tmp_path):
    """Issue 25: `g2p hello` said "models pull g2p-en", whose hint said "compiled on first use
    (`edge-veda g2p WORD`)", which had just failed. Without the compiler the hint names the extra."""
    env = dict(no_tvm_env, EDGE_VEDA_HOME=str(tmp_path / "empty-home"))
    env.pop("EDGE_VEDA_CATALOG", None)
    proc = cli(env, "models", "pull", "g2p-en")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    hint = proc.stderr.split("hint: ", 1)[1]
    assert PIP_COMPILE in hint, hint
    assert hint.index(PIP_COMPILE) < hint.index("`edge-veda g2p WORD`"), hint  # first use only after it
    # with the compiler, first use is the way (and no extra is named)
    proc = subprocess.run([sys.executable, "-m", "edge_veda", "models", "pull", "g2p-en"], capture_output=True,
                          text=True, env=dict(os.environ, EDGE_VEDA_HOME=str(tmp_path / "empty-home")), timeout=120)
    assert proc.returncode == 1 and "compiled on this machine on first use (`edge-veda g2p WORD`)" in proc.stderr
    assert "pip install" not in proc.stderr


def test_voices_without_kokoro_names_the_kokoro_extra(no_tvm_env, tmp_path):
    env = dict(no_tvm_env, EDGE_VEDA_HOME=str(tmp_path / "empty-home"))
    proc = cli(env, "voices")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert PIP_KOKORO in proc.stderr and "[compile]" not in proc.stderr, proc.stderr
