"""The documentation runs: every fenced shell and Python block of README.md and docs/*.md.

Blocks: ```sh / ```bash (run with bash -euo pipefail), ```console (`$ ` lines are commands, the
lines after one are its stdout, compared exactly), ```python (run), ```pycon (a doctest: `>>> `
lines and their output, compared). Every such block runs unless the comment line just above
it says otherwise:

    <!-- docs-test: skip REASON -->   not run here; REASON says why (a cross compiler, a phone,
                                      a server on another machine) and is required
    <!-- docs-test: slow REASON -->   runs, in a test marked slow (long work, e.g. a Kokoro
                                      compile); REASON says what takes long
    <!-- docs-test: setup -->         one of the README's two set-up commands: they install, so
                                      they are not run; test_the_readme_test_command_is_what_ci_runs
                                      checks the test command against .ci/run

The blocks of one file run in order in one temporary directory (a later block may use what an
earlier one wrote), with this session's EDGE_VEDA_HOME (g2p-en compiled once per session).
"""
from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from conftest import ROOT

LANGS = {"sh": "sh", "bash": "sh", "console": "console", "python": "python", "pycon": "pycon"}
MARK = re.compile(r"^<!--\s*docs-test:\s*(skip|slow|setup)\b\s*(.*?)\s*-->$")
FENCE = re.compile(r"^```(\w*)\s*$")
# Files whose blocks carry no marks yet (another owner): their blocks are skipped with this reason.
UNMARKED: dict[str, str] = {}


@dataclass
class Block:
    file: str
    line: int
    lang: str
    text: str
    mode: str      # run, skip, slow, setup
    reason: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def doc_files() -> list[str]:
    docs = sorted(f"docs/{n}" for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md"))
    return ["README.md", *docs]


def blocks_of(rel: str) -> list[Block]:
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        lines = f.read().splitlines()
    out, i, previous = [], 0, ""
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        lang = m.group(1)
        if lang in LANGS:
            mark = MARK.match(previous)
            mode, reason = (mark.group(1), mark.group(2)) if mark else ("run", "")
            if rel in UNMARKED:
                mode, reason = "skip", UNMARKED[rel]
            out.append(Block(rel, i + 1, LANGS[lang], "\n".join(lines[i + 1:end]) + "\n", mode, reason))
        previous, i = "", end + 1
    return out


BLOCKS = [b for rel in doc_files() for b in blocks_of(rel)]


def params():
    for b in BLOCKS:
        marks = [pytest.mark.slow] if b.mode == "slow" else []
        if b.mode == "skip":
            marks.append(pytest.mark.skip(reason=f"docs-test: skip {b.reason}"))
        if b.mode == "setup":
            marks.append(pytest.mark.skip(reason="a set-up command: it installs (checked against .ci/run)"))
        yield pytest.param(b, id=b.id, marks=marks)


@pytest.fixture(scope="session")
def file_dirs(tmp_path_factory):
    return {rel: tmp_path_factory.mktemp("docs-" + rel.replace("/", "-")) for rel in doc_files()}


def environment() -> dict:
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    env.pop("EDGE_VEDA_DEBUG", None)
    return env


def run(cmd, cwd, **kw):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=environment(), timeout=1800, **kw)


def console_steps(text: str) -> list[tuple[str, str]]:
    """(command, expected stdout) per `$ ` line; a command line ending in \\ continues."""
    steps, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise AssertionError(f"console block: expected a `$ ` line, got {lines[i]!r}")
        cmd = lines[i][2:]
        while cmd.endswith("\\"):
            i += 1
            cmd = cmd[:-1] + "\n" + lines[i]
        i += 1
        start = i
        while i < len(lines) and not lines[i].startswith("$ "):
            i += 1
        steps.append((cmd, "\n".join(lines[start:i])))
    return steps


PYCON = r"""
import doctest, sys
text = sys.stdin.read()
test = doctest.DocTestParser().get_doctest(text, {"__name__": "__main__"}, sys.argv[1], sys.argv[1], 0)
runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
runner.run(test)
sys.exit(1 if runner.failures else 0)
"""


def test_every_mark_is_understood_and_skips_say_why():
    for rel in doc_files():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.lstrip().startswith("<!--") and "docs-test" in line:
                    m = MARK.match(line.strip())
                    assert m, f"{rel}:{n}: not a docs-test mark: {line.strip()}"
                    assert m.group(1) == "setup" or m.group(2), f"{rel}:{n}: {m.group(1)} needs a reason"
    assert [b.id for b in BLOCKS if b.mode == "setup"] and all(b.file == "README.md" for b in BLOCKS if b.mode == "setup")


def test_the_readme_test_command_is_what_ci_runs():
    """The README has exactly two set-up commands; the second (the tests) is .ci/run's last line."""
    setup = [b.text.strip() for b in BLOCKS if b.mode == "setup"]
    assert len(setup) == 2, setup
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    assert setup[1] == ci[-1], (setup[1], ci[-1])
    assert "pytest" in setup[1] and "pytest" not in setup[0]


@pytest.mark.parametrize("block", list(params()))
def test_block(block: Block, file_dirs, g2p_artifact_dir):
    cwd = str(file_dirs[block.file])
    where = f"{block.id} ({block.lang})"
    if block.lang == "sh":
        out = run(["bash", "-euo", "pipefail", "-c", block.text], cwd)
        assert out.returncode == 0, f"{where}: exit {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    elif block.lang == "python":
        out = run([sys.executable, "-c", block.text], cwd)
        assert out.returncode == 0, f"{where}:\n{out.stderr[-3000:]}"
    elif block.lang == "pycon":
        out = run([sys.executable, "-c", PYCON, block.id], cwd, input=block.text)
        assert out.returncode == 0, f"{where}: the shown output differs\n{out.stdout[-4000:]}{out.stderr[-2000:]}"
    else:
        for cmd, expected in console_steps(block.text):
            out = run(["bash", "-euo", "pipefail", "-c", cmd], cwd)
            assert out.returncode == 0, f"{where}: `{cmd}` exit {out.returncode}\n{out.stderr[-3000:]}"
            assert out.stdout.rstrip("\n") == expected.rstrip("\n"), \
                f"{where}: `{cmd}` printed\n{out.stdout}\nthe docs show\n{expected}"


BENCH_CHECK = r"""
import json, os, sys
import pytest

class Record:
    items = []
    def pytest_collection_finish(self, session):
        for item in session.items:
            self.items.append({"id": item.nodeid, "bench": item.get_closest_marker("bench") is not None,
                               "skipped": any(m.name == "skip" for m in item.iter_markers()),
                               "benchmark_fixture": "benchmark" in getattr(item, "fixturenames", ())})

r = Record()
code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[2:]], plugins=[r])
json.dump(r.items, open(sys.argv[1], "w"))
sys.exit(code)
"""


def test_default_run_skips_every_benchmark(tmp_path):
    """What the README says: benchmarks (every timing goal) run only with EDGE_VEDA_BENCH=1 or
    -m bench. Collected with the default options (and with -m slow): every test under
    tests/bench/ and every test that uses pytest-benchmark's fixture carries the bench marker
    and is skipped; with EDGE_VEDA_BENCH=1 none is skipped."""
    env = {k: v for k, v in os.environ.items() if k not in ("EDGE_VEDA_BENCH", "PYTEST_ADDOPTS")}
    for args, bench_env in (([], None), (["-m", "slow"], None), ([], "1")):
        out_file = tmp_path / "items.json"
        e = dict(env, EDGE_VEDA_BENCH=bench_env) if bench_env else env
        proc = subprocess.run([sys.executable, "-c", BENCH_CHECK, str(out_file), "tests/bench", *args], cwd=ROOT,
                              capture_output=True, text=True, env=e, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        import json

        items = json.loads(out_file.read_text())
        assert len(items) >= 20, items
        for it in items:
            assert it["bench"], f"{it['id']}: under tests/bench/ without the bench marker"
            assert it["skipped"] == (bench_env is None), (args, bench_env, it)
    # pytest-benchmark's fixture is used nowhere else (a test elsewhere that timed something
    # for a goal would be a benchmark outside the opt-in)
    uses = re.compile(r"def test_\w+\([^)]*\bbenchmark\b")
    tests = os.path.join(ROOT, "tests")
    for name in sorted(os.listdir(tests)):
        if name.endswith(".py"):
            with open(os.path.join(tests, name), encoding="utf-8") as f:
                assert not uses.search(f.read()), f"tests/{name} uses the benchmark fixture outside tests/bench/"
