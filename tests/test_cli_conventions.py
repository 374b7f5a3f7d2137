"""The newcomer's first hour with `edge-veda` (issue 25): conventions every command line keeps
(-o - is stdout, --version, bare command prints help, help for every argument, usage errors
exit 2 in the CLI's words) and hints that name a command that works in this install."""
import os
import subprocess
import sys

import pytest

import edge_veda

TIMEOUT = 120


def cli(*args, stdin=None, env=None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-m", "edge_veda", *args], input=stdin, capture_output=True,
                              text=True, env=env, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"edge-veda {' '.join(args)} hung")


def test_say_without_output_says_o_is_needed(tmp_path):
    proc = cli("say", "Hello.")
    assert proc.returncode == 2, proc.stderr
    assert "edge-veda say: error: the following arguments are required: -o/--output" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_say_help_names_stdout_for_dash():
    out = cli("say", "--help").stdout
    assert "('-': stdout)" in out


@pytest.mark.parametrize("action", ["pull", "rm", "path", "verify"])
def test_models_name_arguments_have_help(action):
    out = cli("models", action, "--help").stdout
    name = out.split("positional arguments:\n", 1)[1].split("\n\n", 1)[0]
    assert len(name.split()) > 3, out  # NAME and what it is, not a bare "name"


def test_serve_help_shows_the_port_default():
    assert "default: 8000" in cli("models", "serve", "--help").stdout


def test_config_help_keeps_the_static_example_on_two_lines():
    proc = subprocess.run([sys.executable, "-m", "edge_veda.config", "--help"], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "--cflags --static --libs) \\\n        -Wl,--whole-archive" in proc.stdout, proc.stdout
    assert "--libs)         -Wl" not in proc.stdout  # the glitch: a line continuation in the docstring


def test_g2p_of_an_empty_argument_is_an_empty_answer(artifact_dir):
    proc = cli("g2p", "--model", artifact_dir, "")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "\t\n", "")


# --- status and models rm see local builds as `models list` does ---------------------------------

def fake_build(home, name: str) -> str:
    """A local build of `name` as `models list` and `status` find it (a directory holding an
    artifact manifest where edge_veda.paths.local_build_dir puts it)."""
    import json

    from edge_veda.paths import local_build_dir

    built = local_build_dir(name, root=str(home))
    os.makedirs(built)
    with open(os.path.join(built, "manifest.json"), "w") as f:
        json.dump({"name": name, "version": "test"}, f)
    return built


def test_status_and_rm_see_a_local_kokoro_build(tmp_path):
    home = tmp_path / "home"
    env = dict(os.environ, EDGE_VEDA_HOME=str(home))
    built = fake_build(home, "kokoro")
    assert f"kokoro\ttest\t{built}\t(local build)" in cli("models", "list", env=env).stdout
    status = cli("status", env=env)
    assert f"kokoro: compiled ({built})" in status.stdout, status.stdout
    proc = cli("models", "rm", "kokoro", env=env)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert not os.path.exists(built) and os.listdir(os.path.dirname(built)) == []  # no trash left
    assert "kokoro: not compiled yet (" in cli("status", env=env).stdout
    proc = cli("models", "rm", "kokoro", env=env)
    assert proc.returncode == 1 and "neither installed nor built on this machine" in proc.stderr


def test_rm_never_deletes_what_a_local_build_path_points_at(tmp_path):
    """A symlink where the local build goes (the user's directory behind it) is not our cache
    entry: `models rm` leaves both alone."""
    from edge_veda.paths import local_build_dir

    home = tmp_path / "home"
    mine = tmp_path / "my-artifact"
    mine.mkdir()
    (mine / "manifest.json").write_text("{}")
    built = local_build_dir("kokoro", root=str(home))
    os.makedirs(os.path.dirname(built))
    os.symlink(mine, built)
    proc = cli("models", "rm", "kokoro", env=dict(os.environ, EDGE_VEDA_HOME=str(home)))
    assert proc.returncode == 1, proc.stderr
    assert os.path.islink(built) and (mine / "manifest.json").read_text() == "{}"
