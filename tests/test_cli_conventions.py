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
