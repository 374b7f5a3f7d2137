"""The edge-veda command line: status, compile, g2p errors."""
import json
import os
import subprocess
import sys

import edge_veda


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "edge_veda", *args], capture_output=True, text=True, **kw)


def test_status_prints_versions_and_cache(edge_veda_home):
    proc = cli("status")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"edge-veda {edge_veda.__version__}" in out
    assert f"abi: {edge_veda.ABI_VERSION}" in out
    assert "tvm runtime: 0.27" in out
    assert f"cache: {edge_veda_home}" in out


def test_compile_writes_a_complete_artifact(tmp_path, reference):
    out = tmp_path / "g2p"
    proc = cli("compile", "g2p-en", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == 2 and manifest["ev_abi_version"] == edge_veda.ABI_VERSION
    assert manifest["name"] == "g2p-en" and manifest["tvm_version"].startswith("0.27")
    for name in (manifest["module"]["library"], manifest["weights"]["file"]):
        assert manifest["files"][name]["size"] == (out / name).stat().st_size
    assert sorted(os.listdir(tmp_path)) == ["g2p"]  # no staging directory left behind
    with edge_veda.Model.load(str(out)) as m:
        assert m.generate("compiler") == reference.predict("compiler")


def test_python_m_edge_veda_compile(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edge_veda.compile", "g2p-en", "-o", str(tmp_path / "a")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a" / "manifest.json").is_file()


def test_compile_unknown_model_fails_cleanly(tmp_path):
    proc = cli("compile", "gpt-5", "-o", str(tmp_path / "x"))
    assert proc.returncode != 0 and "g2p-en" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_g2p_first_use_compiles_into_the_cache_and_says_so(tmp_path):
    env = dict(os.environ, EDGE_VEDA_HOME=str(tmp_path / "home"))
    first = cli("g2p", "cache", env=env)
    assert first.returncode == 0, first.stderr
    assert "compiling g2p-en" in first.stderr
    second = cli("g2p", "cache", env=env)
    assert second.returncode == 0 and second.stderr == "" and second.stdout == first.stdout


def test_g2p_bad_model_reports_error_and_hint(tmp_path):
    proc = cli("g2p", "--model", str(tmp_path / "nothing"), "word")
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "hint:" in proc.stderr


def test_version_prints_the_library_abi_and_runtime():
    proc = cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"edge-veda {edge_veda.__version__} (abi {edge_veda.ABI_VERSION}, "
                                   f"tvm runtime {edge_veda.runtime_version()})")


def test_bare_command_prints_help_not_a_usage_error():
    proc = cli()
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: edge-veda") and "say" in proc.stdout and "--version" in proc.stdout


def test_status_shows_every_model_compile_builds(edge_veda_home):
    proc = cli("status")
    assert proc.returncode == 0, proc.stderr
    states = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    for name in ("g2p-en", "kokoro"):
        assert states[name].startswith(("compiled (", "not compiled yet (")), proc.stdout
