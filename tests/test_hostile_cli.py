"""Hostile and careless use of the `edge-veda` command line: closed pipes, bytes that are not
UTF-8, NUL bytes, CRLF, huge inputs, Ctrl-C, bad options. Never a traceback for a user error,
never a lost line; and the newcomer's first `pytest` run skips (not fails) without the
optional system tools. Every child process runs with a timeout."""
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import require_tools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 120


def cli(*args, stdin=None, env=None, **kw) -> subprocess.CompletedProcess:
    """Runs `python -m edge_veda ARGS` with bytes in and out; fails the test if it hangs."""
    try:
        return subprocess.run([sys.executable, "-m", "edge_veda", *args], input=stdin, capture_output=True,
                              env=env, timeout=TIMEOUT, **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"edge-veda {' '.join(map(str, args))[:200]} hung for {TIMEOUT} s")


def lines(data: bytes) -> list[str]:
    return data.decode("utf-8").splitlines()


def answers(reference, words) -> list[str]:
    return [f"{w}\t{reference.predict(w)}" for w in words]


def no_traceback(proc):
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "Exception ignored" not in err, err
    return err


@pytest.fixture(scope="module", autouse=True)
def compiled(artifact_dir):
    """The g2p-en build exists before the CLI runs, so no test pays for (or sees) the compile."""
    return artifact_dir


# --- closed pipes and signals ---------------------------------------------------------------

def test_closed_output_pipe_exits_quietly(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"".join(b"word%d\n" % i for i in range(200_000)))
    with open(big, "rb") as stdin:
        proc = subprocess.Popen([sys.executable, "-m", "edge_veda", "g2p", "-"], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = proc.stdout.readline()
        proc.stdout.close()  # what `| head -1` does
        try:
            err = proc.stderr.read()
            rc = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("edge-veda g2p kept running after its reader went away")
    assert first.startswith(b"word0\t")
    assert rc == 0 and err == b"", err.decode()


def test_closed_pipe_through_a_real_shell_pipeline(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"hello\n" * 100_000)
    proc = subprocess.run(["bash", "-o", "pipefail", "-c",
                           f"{sys.executable} -m edge_veda g2p - < {big} | head -1"],
                          capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.startswith(b"hello\t") and proc.stdout.count(b"\n") == 1
    assert proc.stderr == b""


def test_closed_pipe_on_help(tmp_path):
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", f"{sys.executable} -m edge_veda --help | head -c 10"],
                          capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 0 and proc.stderr == b""


def test_ctrl_c_exits_130_without_a_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "edge_veda", "g2p", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"interrupt\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith(b"interrupt\t")  # the model is loaded and waiting
        proc.send_signal(signal.SIGINT)
        # waiting on stdin, it ends only through the interrupt: a generous bound only a hang breaks
        # (the 2 s goal: tests/bench/test_bench_responsiveness.py)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read().decode()
    assert rc == 130 and "Traceback" not in err, err


# --- bad bytes on stdin and in argv ----------------------------------------------------------

def test_invalid_utf8_line_is_reported_and_the_rest_answered(reference):
    proc = cli("g2p", "-", stdin=b"alpha\nbr\xffavo\ncharlie\n\xc3\x28\ndelta\n")
    err = no_traceback(proc)
    assert lines(proc.stdout) == answers(reference, ["alpha", "charlie", "delta"])
    assert "line 2: invalid UTF-8" in err and "line 4: invalid UTF-8" in err and "skipped" in err
    assert proc.returncode == 3


def test_nul_byte_loses_no_line_of_its_chunk(reference):
    words = [f"w{chr(97 + i % 26)}rd" for i in range(300)]
    data = "\n".join(words[:150]).encode() + b"\nbad\x00line\n" + "\n".join(words[150:]).encode() + b"\n"
    proc = cli("g2p", "-", stdin=data)
    err = no_traceback(proc)
    assert lines(proc.stdout) == answers(reference, words)
    assert "line 151: contains a NUL byte, skipped" in err
    assert proc.returncode == 3


def test_bad_line_split_across_reads(reference):
    """A line whose bytes arrive in two reads is judged whole."""
    proc = subprocess.Popen([sys.executable, "-m", "edge_veda", "g2p", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"first\nsec")
        proc.stdin.flush()
        time.sleep(0.3)
        proc.stdin.write(b"ond\nth\xc3")  # a UTF-8 sequence cut between two reads ...
        proc.stdin.flush()
        time.sleep(0.3)
        # ... completed here; then a bad line, and a last line without its newline
        out, err = proc.communicate(b"\xa9\nfo\xffurth\nlast", timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert lines(out) == answers(reference, ["first", "second", "thé", "last"])
    assert b"line 4: invalid UTF-8" in err and b"Traceback" not in err
    assert proc.returncode == 3


def test_invalid_utf8_and_empty_arguments(reference):
    """An empty argument is an input with an empty answer (README: "empty input ... give an
    empty answer"), one line per argument; invalid UTF-8 is reported and skipped (exit 3)."""
    proc = cli("g2p", "hello", b"w\xffrld", "", "ok")
    err = no_traceback(proc)
    assert lines(proc.stdout) == [answers(reference, ["hello"])[0], "\t", answers(reference, ["ok"])[0]]
    assert "argument 2: invalid UTF-8, skipped" in err and "argument 3" not in err
    assert proc.returncode == 3
    only_empty = cli("g2p", "")
    assert only_empty.returncode == 0 and only_empty.stdout == b"\t\n" and only_empty.stderr == b""


def test_only_bad_arguments_exit_3_without_loading():
    proc = cli("g2p", b"\xff\xfe")
    no_traceback(proc)
    assert proc.returncode == 3 and proc.stdout == b""


def test_crlf_bom_and_unicode_whitespace(reference):
    proc = cli("g2p", "-", stdin=b"\xef\xbb\xbfcrlf\r\n  padded\t\r\n\r\nend\r\n")
    no_traceback(proc)
    assert lines(proc.stdout) == answers(reference, ["crlf", "padded", "end"])
    assert proc.returncode == 0 and proc.stderr == b""


@pytest.mark.parametrize("data", [b"", b"\n", b"\n\n\n", b"   \n\t\n\r\n", b"\r\n" * 1000])
def test_empty_and_blank_stdin(data):
    proc = cli("g2p", "-", stdin=data)
    assert proc.returncode == 0 and proc.stdout == b"" and proc.stderr == b""


def test_endless_line_is_skipped_without_taking_memory(reference):
    data = b"before\n" + b"x" * (3 << 20) + b"\nafter\n"
    proc = cli("g2p", "-", stdin=data)
    err = no_traceback(proc)
    assert lines(proc.stdout) == answers(reference, ["before", "after"])
    assert "line 2: longer than" in err and proc.returncode == 3


def test_huge_argv(reference):
    words = [f"word{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(5000)]
    proc = cli("g2p", *words)
    no_traceback(proc)
    out = lines(proc.stdout)
    assert proc.returncode == 0 and len(out) == 5000
    assert out[:3] == answers(reference, words[:3]) and out[-1] == answers(reference, words[-1:])[0]


def test_dash_with_other_words_is_a_word():
    proc = cli("g2p", "x", "-")
    no_traceback(proc)
    assert proc.returncode == 0 and len(lines(proc.stdout)) == 2


# --- options and errors ----------------------------------------------------------------------

def test_many_threads_are_accepted(reference):
    proc = cli("g2p", "--threads", "500", "many", "threads")
    no_traceback(proc)
    assert proc.returncode == 0 and lines(proc.stdout) == answers(reference, ["many", "threads"])
    proc = cli("g2p", "--threads", str(10**30), "huge")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("value, text", [("-1", "negative"), ("abc", "whole number"), ("1.5", "whole number")])
def test_bad_thread_counts_are_usage_errors(value, text):
    proc = cli("g2p", "--threads", value, "word")
    err = no_traceback(proc)
    assert proc.returncode == 2 and text in err and proc.stdout == b""


def test_user_errors_print_no_traceback_unless_debugging(tmp_path):
    proc = cli("g2p", "--model", str(tmp_path / "missing"), "word")
    err = no_traceback(proc)
    assert proc.returncode == 1 and "edge-veda: error:" in err and "hint:" in err
    debug = cli("g2p", "--model", str(tmp_path / "missing"), "word", env=dict(os.environ, EDGE_VEDA_DEBUG="1"))
    assert debug.returncode == 1 and b"Traceback" in debug.stderr


def test_a_model_path_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("not a model")
    proc = cli("g2p", "--model", str(f), "word")
    no_traceback(proc)
    assert proc.returncode == 1


def test_closed_stdin_and_stdout_are_reported():
    for redirect in ("<&-", ">&-"):
        proc = subprocess.run(["bash", "-c", f"{sys.executable} -m edge_veda g2p - {redirect}"],
                              capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        err = no_traceback(proc)
        assert proc.returncode == 1 and "closed" in err, err


def test_usage_errors_exit_2():
    for args in (("g2p",), ("nonsense",), ("g2p", "--bogus", "x")):  # bare: help, exit 0 (test_cli)
        proc = cli(*args)
        no_traceback(proc)
        assert proc.returncode == 2


def test_exit_codes_are_documented():
    proc = cli("--help")
    out = proc.stdout.decode()
    for code in ("0 ", "1 ", "2 ", "3 ", "130"):
        assert f"\n  {code}" in out, out
    assert "EDGE_VEDA_DEBUG" in out
    assert "130" in cli("g2p", "--help").stdout.decode()
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert "Exit status" in readme and "130" in readme and "some words or input lines were skipped" in readme


def test_status_into_a_closed_pipe():
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", f"{sys.executable} -m edge_veda status | head -c 1"],
                          capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 0 and proc.stderr == b""


# --- a newcomer's first run: optional tools skip, CI=true fails ------------------------------

def test_require_tools_skips_naming_the_package(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    with pytest.raises(pytest.skip.Exception) as e:
        require_tools({"aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu", "qemu-aarch64": "qemu-user"},
                      path=str(empty))
    assert "apt-get install g++-aarch64-linux-gnu qemu-user" in str(e.value)


def test_require_tools_fails_under_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PATH", str(tmp_path))  # the default: $PATH, which lacks it
    with pytest.raises(pytest.fail.Exception) as e:
        require_tools({"valgrind": "valgrind"})
    assert "apt-get install valgrind" in str(e.value) and "CI=true" in str(e.value)


def test_require_tools_returns_the_tools_found(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    tool = tmp_path / "qemu-aarch64"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    assert require_tools({"qemu-aarch64": "qemu-user"}, path=str(tmp_path)) == {"qemu-aarch64": str(tool)}


def test_missing_cross_tools_skip_a_real_test_run(tmp_path):
    """The tests that need the cross compilers, run in a child pytest whose PATH lacks them:
    skipped without CI, failed with CI=true (and never an error)."""
    bindir = os.path.dirname(sys.executable)
    path = os.pathsep.join([bindir, "/usr/bin", "/bin"])
    if any(os.path.exists(os.path.join(d, "qemu-aarch64")) for d in path.split(os.pathsep)):
        # Hide qemu by pointing PATH at a directory of links to everything but the cross tools.
        links = tmp_path / "bin"
        links.mkdir()
        for d in ("/usr/bin", "/bin"):
            for name in os.listdir(d):
                if "aarch64" in name or "qemu" in name or (links / name).exists():
                    continue
                os.symlink(os.path.join(d, name), links / name)
        path = os.pathsep.join([bindir, str(links)])
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
            os.path.join(ROOT, "tests", "test_cross_aarch64.py")]
    base = {k: v for k, v in os.environ.items() if k != "CI"}
    relaxed = subprocess.run(args, capture_output=True, text=True, timeout=600, env=dict(base, PATH=path))
    assert relaxed.returncode == 0, relaxed.stdout[-3000:]
    assert "1 skipped" in relaxed.stdout and "apt-get install g++-aarch64-linux-gnu qemu-user" in relaxed.stdout
    strict = subprocess.run(args, capture_output=True, text=True, timeout=600, env=dict(base, PATH=path, CI="true"))
    assert strict.returncode == 1 and ("1 error" in strict.stdout or "1 failed" in strict.stdout), strict.stdout[-3000:]
    assert "CI=true" in strict.stdout


def test_full_disk_is_an_error_not_a_traceback():
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is Linux-only")
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "edge_veda", "g2p", "-"], input=b"disk\nfull\n",
                              stdout=full, stderr=subprocess.PIPE, timeout=TIMEOUT)
    err = no_traceback(proc)
    assert proc.returncode == 1 and "No space left on device" in err


def test_output_is_utf8_whatever_the_locale(reference):
    env = dict(os.environ, PYTHONIOENCODING="ascii", LC_ALL="C")
    proc = cli("g2p", "café", env=env)
    no_traceback(proc)
    assert proc.returncode == 0 and lines(proc.stdout) == answers(reference, ["café"])


def test_too_many_threads_are_lowered_with_a_note(reference):
    """--threads 64 on 2 CPUs made `say` ~40x slower (threads waiting for each other)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    proc = cli("g2p", "--threads", "500", "hello")
    err = no_traceback(proc)
    assert proc.returncode == 0 and lines(proc.stdout) == answers(reference, ["hello"])
    assert f"edge-veda: --threads 500 is more than the {cpus} CPUs this process may use; using {cpus}" in err
    proc = cli("g2p", "--threads", str(cpus), "hello")
    assert proc.returncode == 0 and proc.stderr == b""  # no note when it fits


# --- say -o: never lose a file that is not ours; never turn a device or FIFO into a file --------

PHONEMES = "həlˈO."


def say(out, *args, model=None):
    """`say --phonemes` (no front end needed) to `out`; with no model, one that does not exist:
    what is checked before loading fails with its own message, anything else with "not found"."""
    return cli("say", "--phonemes", PHONEMES, "-o", str(out), "--model", str(model or "/nonexistent/kokoro"),
               *args)


def assert_wav(data: bytes) -> int:
    import io
    import wave

    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.getnframes() > 0 and len(data) == 44 + 2 * w.getnframes()
        return w.getnframes()


def test_say_refuses_to_replace_a_file_that_is_not_a_wav(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"my notes\n")
    link = tmp_path / "link.wav"
    link.symlink_to(notes)  # the rules apply to what a symlink leads to
    for out in (notes, link):
        proc = say(out)
        err = no_traceback(proc)
        assert proc.returncode == 1, err
        assert f"edge-veda: error: refusing to replace {out}: it exists and is not a WAV file\n" in err
        assert "hint:" in err and "--force" in err
    assert notes.read_bytes() == b"my notes\n" and link.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["link.wav", "notes.txt"]  # no temporary file left


def test_say_force_replaces_a_file_that_is_not_a_wav(tmp_path, kokoro_dir):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"my notes\n")
    proc = say(notes, "--force", model=kokoro_dir)
    no_traceback(proc)
    assert proc.returncode == 0
    assert_wav(notes.read_bytes())
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_say_leaves_the_users_part_files_alone(tmp_path, kokoro_dir):
    """The temporary file has a unique name: x.wav.part (a file, or a directory) is the user's."""
    (tmp_path / "x.wav.part").write_bytes(b"mine")
    (tmp_path / "y.wav.part").mkdir()
    (tmp_path / "y.wav").write_bytes(b"")  # an empty file may be replaced
    for name in ("x.wav", "x.wav", "y.wav"):  # the second x.wav replaces the first (a WAV)
        proc = say(tmp_path / name, model=kokoro_dir)
        no_traceback(proc)
        assert proc.returncode == 0
        assert_wav((tmp_path / name).read_bytes())
    assert (tmp_path / "x.wav.part").read_bytes() == b"mine" and (tmp_path / "y.wav.part").is_dir()
    assert sorted(os.listdir(tmp_path)) == ["x.wav", "x.wav.part", "y.wav", "y.wav.part"]


def test_say_to_stdout(kokoro_dir):
    proc = say("-", model=kokoro_dir)
    no_traceback(proc)
    assert proc.returncode == 0
    assert_wav(proc.stdout)


def test_say_writes_devices_and_fifos_in_place(tmp_path, kokoro_dir):
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    try:
        proc = say(fifo, model=kokoro_dir)
    finally:
        if reader.is_alive():  # the CLI never opened it: let the reader see an end of file
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(TIMEOUT)
    no_traceback(proc)
    assert proc.returncode == 0
    assert_wav(got[0])
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["fifo"]
    proc = say("/dev/null", model=kokoro_dir)
    no_traceback(proc)
    assert proc.returncode == 0 and stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    # /dev/stdout on a pipe: the pipe gets the WAV
    proc = say("/dev/stdout", model=kokoro_dir)
    assert proc.returncode == 0
    assert_wav(proc.stdout)


def test_say_through_a_symlink_writes_its_target(tmp_path, kokoro_dir):
    (tmp_path / "real.wav").write_bytes(b"")
    link = tmp_path / "link.wav"
    link.symlink_to("real.wav")
    proc = say(link, model=kokoro_dir)
    no_traceback(proc)
    assert proc.returncode == 0
    assert link.is_symlink() and os.readlink(link) == "real.wav"
    assert_wav((tmp_path / "real.wav").read_bytes())
    assert sorted(os.listdir(tmp_path)) == ["link.wav", "real.wav"]


def test_say_into_a_missing_or_read_only_directory(tmp_path):
    out = tmp_path / "nonexistent_dir" / "x.wav"
    proc = say(out)
    err = no_traceback(proc)
    assert proc.returncode == 1
    assert f"edge-veda: error: No such file or directory: {out}\nhint: check the path {out}" in err
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        proc = say(ro / "x.wav")
    finally:
        ro.chmod(0o755)
    err = no_traceback(proc)
    assert proc.returncode == 1 and f"edge-veda: error: Permission denied: {ro / 'x.wav'}\nhint:" in err
    assert os.listdir(ro) == []


def test_say_refuses_a_block_device_and_a_directory(tmp_path):
    block = next((os.path.join("/dev", n) for n in sorted(os.listdir("/dev"))
                  if stat.S_ISBLK(os.lstat(os.path.join("/dev", n)).st_mode)), None)
    for out, message in [(tmp_path, f"{tmp_path} is a directory"),
                         *([(block, f"refusing to write to {block}")] if block else [])]:
        proc = say(out)
        err = no_traceback(proc)
        assert proc.returncode == 1 and f"edge-veda: error: {message}" in err and "hint:" in err


@pytest.mark.parametrize("speed", ["0.1", "5", "fast", "nan"])
def test_say_speed_out_of_range_is_a_usage_error(tmp_path, speed):
    """Checked by the parser (exit 2, before any model loads), in the CLI's words, not as
    ev_synthesis_params.speed."""
    out = tmp_path / "x.wav"
    proc = cli("say", "Hi.", "-o", str(out), "--speed", speed)
    err = no_traceback(proc)
    assert proc.returncode == 2, err
    assert "ev_synthesis_params" not in err, err
    if speed == "fast":
        assert "argument --speed: 'fast' is not a number" in err, err
    else:
        assert f"edge-veda say: error: --speed must be between 0.25 and 4 (1 = the model's own pace), not {speed}" \
            in err, err
    assert not out.exists()


def test_say_with_empty_stdin_says_stdin_was_empty(tmp_path):
    out = tmp_path / "x.wav"
    proc = cli("say", "-", "-o", str(out), stdin=b"  \n")
    err = no_traceback(proc)
    assert proc.returncode == 2 and "stdin held no text to say" in err, err
    assert not out.exists()


def test_say_help_has_its_own_exit_codes():
    out = cli("say", "--help").stdout.decode()
    assert "\n  2 " in out and "\n  130" in out and "\n  3 " not in out and "g2p:" not in out, out
