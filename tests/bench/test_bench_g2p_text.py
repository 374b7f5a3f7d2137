"""G2P on running English text (the g2p-en artifact, kind "g2p": lexicon + network) beside
espeak-ng, the G2P most on-device TTS stacks use, on the same text in the same run.

    EDGE_VEDA_BENCH=1 python -m pytest tests/bench/test_bench_g2p_text.py -s   # prints the table
    python -m pytest tests/bench -m bench -s                                   # the same

Opt-in (about 45 s): skipped unless EDGE_VEDA_BENCH=1 or the marker expression selects `bench`,
so the default test run stays lean; tests/bench/report.py sets EDGE_VEDA_BENCH=1 and writes the
results into BENCHMARKS.md ("G2P on running text"). The text: the license texts every Debian system ships
(/usr/share/common-licenses: GPL-3, GFDL-1.3, Apache-2.0, MPL-2.0; ~17k words of running English
with numbers and punctuation). Words/s = whitespace-separated words of the input / best-of-ROUNDS
seconds, the same count for every tool. Whole-process figures include start-up (Python and the
library for edge-veda, the voice data for espeak-ng). BENCHMARKS.md records a run.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import bench_opted_in

pytestmark = [pytest.mark.slow, pytest.mark.bench]


@pytest.fixture(autouse=True)
def opted_in(request):
    if not bench_opted_in(request.config):  # tests/conftest.py (it also skips each test)
        pytest.skip("opt-in benchmark: EDGE_VEDA_BENCH=1, or -m bench")

ROUNDS = 3
LICENSES = ["GPL-3", "GFDL-1.3", "Apache-2.0", "MPL-2.0"]
RESULTS: dict = {}


@pytest.fixture(scope="module")
def text():
    parts = []
    for name in LICENSES:
        path = os.path.join("/usr/share/common-licenses", name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                parts.append(f.read())
    if not parts:
        pytest.skip("no /usr/share/common-licenses texts on this system")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def files(text, tmp_path_factory):
    d = tmp_path_factory.mktemp("g2p-text")
    running = d / "running.txt"
    running.write_text(text, encoding="utf-8")
    per_line = d / "words.txt"
    per_line.write_text("\n".join(re.findall(r"[A-Za-z][A-Za-z'-]*", text)) + "\n", encoding="utf-8")
    return str(running), str(per_line)


@pytest.fixture(scope="module")
def espeak():
    path = shutil.which("espeak-ng")
    if path is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    return path


def chunks(text, limit):
    """Lines joined into pieces of at most `limit` characters (the model's input limit)."""
    out, cur = [], ""
    for line in text.splitlines():
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            out.append(line[:cut])
            line = line[cut + 1:]
        if len(cur) + len(line) + 1 > limit:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n{line}" if cur else line
    return out + ([cur] if cur else [])


def measure(benchmark, key, group, n_words, fn):
    benchmark.group = group
    out = benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    best = benchmark.stats.stats.min
    RESULTS[key] = {"group": group, "words": n_words, "seconds": best, "words_per_s": n_words / best}
    benchmark.extra_info["words_per_second"] = round(n_words / best)
    return out


def run(cmd, stdin_path=None):
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as stdin:
        return subprocess.run(cmd, stdin=stdin, capture_output=True, check=True).stdout


TEXT = "running text"
LINES = "one word per line"


def test_edge_veda_phonemize_running_text(benchmark, text, artifact_dir):
    import edge_veda

    with edge_veda.Model.load(artifact_dir, num_threads=1) as m:
        pieces = chunks(text, m.status().max_input_chars)
        out = measure(benchmark, "Edge Veda, Model.phonemize (1 thread)", TEXT, len(text.split()),
                      lambda: [m.phonemize(p, with_source=True) for p in pieces])
    tokens = [t for piece in out for t in piece]
    sources = [s for _, _, s in tokens]
    words = sum(s != "punctuation" for s in sources)
    RESULTS["lexicon share"] = {"tokens": len(tokens), "words": words,
                                "lexicon": sources.count("lexicon"), "model": sources.count("model")}
    assert sources.count("lexicon") > 0.95 * words


def test_edge_veda_cli_running_text(benchmark, text, files, artifact_dir):
    cmd = [sys.executable, "-m", "edge_veda", "g2p", "--model", artifact_dir, "--text"]
    out = measure(benchmark, "Edge Veda, edge-veda g2p --text (whole process)", TEXT, len(text.split()),
                  lambda: run(cmd, files[0]))
    assert out.count(b"\n") > len(text.split())


def test_espeak_running_text(benchmark, text, files, espeak):
    out = measure(benchmark, "espeak-ng -q --ipa -f FILE (whole process)", TEXT, len(text.split()),
                  lambda: run([espeak, "-q", "--ipa", "-f", files[0]]))
    assert len(out) > len(text) // 2


def test_edge_veda_generate_batch_word_lines(benchmark, files, artifact_dir):
    import edge_veda

    with open(files[1], encoding="utf-8") as f:
        words = f.read().split("\n")[:-1]
    with edge_veda.Model.load(artifact_dir, num_threads=2) as m:
        out = measure(benchmark, "Edge Veda, Model.generate_batch (2 threads)", LINES, len(words),
                      lambda: [o for i in range(0, len(words), 256) for o in m.generate_batch(words[i:i + 256])])
    assert len(out) == len(words)


def test_edge_veda_cli_word_lines(benchmark, files, artifact_dir):
    n = sum(1 for _ in open(files[1], encoding="utf-8"))
    cmd = [sys.executable, "-m", "edge_veda", "g2p", "--model", artifact_dir, "-"]
    out = measure(benchmark, "Edge Veda, edge-veda g2p - (whole process)", LINES, n, lambda: run(cmd, files[1]))
    assert out.count(b"\n") == n


def test_espeak_word_lines(benchmark, files, espeak):
    n = sum(1 for _ in open(files[1], encoding="utf-8"))
    measure(benchmark, "espeak-ng -q --ipa -f FILE, one word per line (whole process)", LINES, n,
            lambda: run([espeak, "-q", "--ipa", "-f", files[1]]))


LOAD_SCRIPT = """
import sys, time
import edge_veda
t = time.perf_counter(); m = edge_veda.Model.load(sys.argv[1]); first = time.perf_counter() - t
m.close()
t = time.perf_counter(); m = edge_veda.Model.load(sys.argv[1]); again = time.perf_counter() - t
print(first, again, m.status().capabilities)
"""


def test_model_load_with_the_lexicon_mapped(artifact_dir):
    """Model.load of the g2p artifact in fresh processes: the first load in a process hashes
    every file (the 2.5 MB lexicon included) and validates the lexicon; later loads hit the
    verification cache. Goal: <= 50 ms."""
    firsts, agains = [], []
    for _ in range(7):
        out = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, artifact_dir], capture_output=True,
                             text=True, check=True).stdout.split()
        firsts.append(float(out[0]))
        agains.append(float(out[1]))
    RESULTS["Model.load"] = {"first_ms": [round(x * 1000, 1) for x in sorted(firsts)],
                             "again_ms": [round(x * 1000, 1) for x in sorted(agains)]}
    assert min(firsts) <= 0.050, RESULTS["Model.load"]


def test_report():
    if not any(k.startswith("espeak") for k in RESULTS):
        pytest.skip("run the whole module")
    for group in (TEXT, LINES):
        print(f"\n{group}:")
        for name, r in RESULTS.items():
            if r.get("group") == group:
                print(f"  {name:55s} {r['words_per_s']:>10,.0f} words/s  ({r['words']} words, {r['seconds']:.3f} s)")
    for key in ("lexicon share", "Model.load"):
        if key in RESULTS:
            print(f"{key}: {RESULTS[key]}")
    out = os.environ.get("EDGE_VEDA_BENCH_TEXT_RESULTS")
    if out:
        with open(out, "w") as f:
            json.dump(RESULTS, f, indent=1)
