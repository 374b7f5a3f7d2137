"""g2p-en throughput and overheads, Edge Veda against its peers in one run.

    EDGE_VEDA_BENCH=1 python -m pytest tests/bench   # measure and check the goals
    python tests/bench/report.py       # the same, then rewrite BENCHMARKS.md and its plot

Each peer decodes the same seeded CMUdict sample (slow peers a prefix of it) and must match
the numpy reference; the figures are words/second, best of ROUNDS. Ratios, not absolute
times, are compared: the CPU is shared. Results are collected in RESULTS for test_goals and
the report.

Opt-in, like every benchmark: skipped unless EDGE_VEDA_BENCH=1 or `-m bench` (the goals are
timing figures, never a pass/fail of the default test run on a loaded machine).
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import bench_opted_in, cmudict_sample

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import peers  # noqa: E402
from onnx_g2p import OnnxG2p  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.bench]


@pytest.fixture(scope="module", autouse=True)
def opted_in(request):  # module scope: decided before the module's fixtures build anything
    if not bench_opted_in(request.config):  # tests/conftest.py (it also skips each test)
        pytest.skip("opt-in benchmark: EDGE_VEDA_BENCH=1, or -m bench")

ROUNDS = 3
N = 20_000         # single-stream and batch runs (the CLI goal names 20,000 words)
N_SLOW = 2_000     # numpy reference, plain C
N_ORT = 5_000      # onnxruntime word by word
BATCH = 256
RESULTS: dict = {}


@pytest.fixture(scope="module")
def artifact_dir(network_dir):
    """The network on its own (kind seq2seq-gru), as every peer here is: in the g2p-en artifact
    (kind g2p) these CMUdict words would be lexicon hits (tests/bench/test_bench_g2p_text.py
    measures that artifact on running text)."""
    return network_dir


@pytest.fixture(scope="module")
def reference(network_reference):
    return network_reference


@pytest.fixture(scope="module")
def words():
    return cmudict_sample(N, seed=6)


@pytest.fixture(scope="module")
def expected(words, reference):
    return [reference.predict(w) for w in words[:N_SLOW]]


@pytest.fixture(scope="module")
def c_peers(tmp_path_factory):
    return peers.build(str(tmp_path_factory.mktemp("peers")))


def measure(benchmark, key, group, n, fn):
    benchmark.group = group
    out = benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    best = benchmark.stats.stats.min
    RESULTS[key] = {"group": group, "words": n, "seconds": best, "words_per_s": n / best}
    benchmark.extra_info["words_per_second"] = round(n / best)
    return out


SINGLE = "single stream, 1 thread"
BATCHED = f"batch of {BATCH}, 2 threads"


def test_numpy_reference(benchmark, words, reference, expected):
    out = measure(benchmark, "numpy reference", SINGLE, N_SLOW, lambda: [reference.predict(w) for w in words[:N_SLOW]])
    assert out == expected


def test_onnxruntime_word_by_word(benchmark, words, expected):
    ort = OnnxG2p(threads=1)
    out = measure(benchmark, "onnxruntime, word by word", SINGLE, N_ORT, lambda: [ort.predict(w) for w in words[:N_ORT]])
    assert out[:N_SLOW] == expected


def test_plain_c_loop(benchmark, words, expected, c_peers):
    out = measure(benchmark, "plain C -O3 -march=native", SINGLE, N_SLOW, lambda: peers.run_plain(c_peers, words[:N_SLOW]))
    assert out == expected


def test_edge_veda_c_and_python_loops(benchmark, words, artifact_dir, expected, c_peers):
    """ev_generate from C and Model.generate from Python over the same words, each in a fresh
    process (this one holds CMUdict and onnxruntime, whose heap the GC would scan), rounds
    interleaved (C, Python, C, ...) so both see the same CPU; best round of each."""
    import edge_veda

    c_best, py_best = float("inf"), float("inf")
    benchmark.group = SINGLE
    half = words[: N // 2]
    for _ in range(5):  # more, shorter interleaved rounds: the minimum settles below the noise
        c_best = min(c_best, peers.run_ev_loop(c_peers, artifact_dir, half, rounds=1))
        py_best = min(py_best, peers.run_py_loop(artifact_dir, half, rounds=1))
    c_best, py_best = c_best * 2, py_best * 2  # seconds per N words
    with edge_veda.Model.load(artifact_dir, num_threads=1) as m:
        out = benchmark.pedantic(lambda: [m.generate(w) for w in words], rounds=1, iterations=1)
    assert out[:N_SLOW] == expected
    RESULTS["Edge Veda, C loop of ev_generate"] = {"group": SINGLE, "words": N, "seconds": c_best, "words_per_s": N / c_best}
    RESULTS["Edge Veda, Python loop of Model.generate"] = {"group": SINGLE, "words": N, "seconds": py_best, "words_per_s": N / py_best}
    benchmark.extra_info.update(c_words_per_second=round(N / c_best), python_words_per_second=round(N / py_best))


def run_cli(artifact_dir, words, threads):
    return subprocess.run([sys.executable, "-m", "edge_veda", "g2p", "--model", artifact_dir,
                           "--threads", str(threads), "-"], input="\n".join(words) + "\n",
                          capture_output=True, text=True, check=True).stdout


def test_edge_veda_cli_one_thread(benchmark, words, artifact_dir, expected):
    out = measure(benchmark, "Edge Veda, edge-veda g2p - --threads 1 (whole process)", SINGLE, N,
                  lambda: run_cli(artifact_dir, words, 1))
    assert [line.split("\t")[1] for line in out.splitlines()[:N_SLOW]] == expected


def in_batches(fn, words):
    out = []
    for i in range(0, len(words), BATCH):
        out += fn(words[i:i + BATCH])
    return out


def test_onnxruntime_batched(benchmark, words, expected):
    ort = OnnxG2p(threads=2)
    out = measure(benchmark, "onnxruntime, batched", BATCHED, N, lambda: in_batches(ort.predict_batch, words))
    assert out[:N_SLOW] == expected


def test_edge_veda_generate_batch(benchmark, words, artifact_dir, expected):
    import edge_veda

    with edge_veda.Model.load(artifact_dir, num_threads=2) as m:
        m.warmup()
        out = measure(benchmark, "Edge Veda, Model.generate_batch", BATCHED, N,
                      lambda: in_batches(m.generate_batch, words))
    assert out[:N_SLOW] == expected


def test_edge_veda_cli_default_threads(benchmark, words, artifact_dir, expected):
    out = measure(benchmark, "Edge Veda, edge-veda g2p - (whole process, both cores)", BATCHED, N,
                  lambda: run_cli(artifact_dir, words, 0))
    assert [line.split("\t")[1] for line in out.splitlines()[:N_SLOW]] == expected


def test_trivial_call_overhead(benchmark):
    from edge_veda._ffi import lib

    benchmark.group = "binding overhead"
    benchmark(lib.ev_abi_version)
    RESULTS["trivial ev_* call from Python (ev_abi_version)"] = {"seconds": benchmark.stats.stats.min}


STARTUP_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import edge_veda
t1 = time.perf_counter()
m = edge_veda.Model.load(sys.argv[1])
t2 = time.perf_counter()
m.warmup()
word = "international"
t3 = time.perf_counter(); m.generate(word); t4 = time.perf_counter()
steady = []
for _ in range(300):
    a = time.perf_counter(); m.generate(word); steady.append(time.perf_counter() - a)
steady.sort()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first": t4 - t3, "steady": steady[len(steady) // 2],
                  "tvm_imported": "tvm" in sys.modules}))
"""


def test_startup(benchmark, artifact_dir):
    benchmark.group = "start-up"
    runs = []

    def once():
        out = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT, artifact_dir],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    benchmark.pedantic(once, rounds=9, iterations=1)
    med = lambda k: sorted(r[k] for r in runs)[len(runs) // 2]  # noqa: E731
    RESULTS["startup"] = {"import_s": med("import"), "load_s": med("load"),
                          "first_over_steady": med("first") / med("steady"),
                          "tvm_imported": any(r["tvm_imported"] for r in runs)}


MEMORY_SCRIPT = r"""
import json, sys
import psutil, edge_veda
words = sys.argv[2].split(",")
m = edge_veda.Model.load(sys.argv[1])
p = psutil.Process()
for i in range(10_000):
    m.generate(words[i % len(words)])
start = p.memory_info().rss
for i in range(100_000):
    m.generate(words[i % len(words)])
# VmHWM belongs to this address space; ru_maxrss would carry the forking parent's peak over exec.
hwm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"growth": p.memory_info().rss - start, "peak_rss": hwm}))
"""


def test_memory_over_100k_calls(benchmark, artifact_dir, words):
    benchmark.group = "memory"
    result = {}

    def run():
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, artifact_dir, ",".join(words[:500])],
                             capture_output=True, text=True, check=True)
        result.update(json.loads(out.stdout))
    benchmark.pedantic(run, rounds=1, iterations=1)
    RESULTS["memory"] = result


def ratio(a, b):
    return RESULTS[a]["words_per_s"] / RESULTS[b]["words_per_s"]


GOALS = [
    # (name, measured value, goal, comparison, asserted bound). The bound is what CI enforces:
    # the goal itself where it holds far outside the noise, otherwise a regression guard beyond
    # the spread seen across runs on this shared 2-core CPU (process-to-process noise reached
    # ±13%); BENCHMARKS.md grades every figure against the goal itself.
    ("Model.generate loop vs onnxruntime word by word", lambda: ratio("Edge Veda, Python loop of Model.generate", "onnxruntime, word by word"), 4.0, ">=", 2.3),
    ("edge-veda g2p - (1 thread) vs onnxruntime word by word", lambda: ratio("Edge Veda, edge-veda g2p - --threads 1 (whole process)", "onnxruntime, word by word"), 4.0, ">=", 2.3),
    ("edge-veda g2p - (both cores) vs onnxruntime word by word", lambda: ratio("Edge Veda, edge-veda g2p - (whole process, both cores)", "onnxruntime, word by word"), 4.0, ">=", 3.5),
    ("generate_batch vs onnxruntime batched (2 threads each)", lambda: ratio("Edge Veda, Model.generate_batch", "onnxruntime, batched"), 2.0, ">=", 1.8),
    ("Model.generate time over the C loop's", lambda: RESULTS["Edge Veda, C loop of ev_generate"]["words_per_s"] / RESULTS["Edge Veda, Python loop of Model.generate"]["words_per_s"], 1.05, "<=", 1.3),
    ("trivial ev_* call from Python, µs", lambda: RESULTS["trivial ev_* call from Python (ev_abi_version)"]["seconds"] * 1e6, 0.5, "<=", 0.5),
    ("import edge_veda, ms", lambda: RESULTS["startup"]["import_s"] * 1e3, 150, "<=", 150),
    ("Model.load of a built artifact, ms", lambda: RESULTS["startup"]["load_s"] * 1e3, 50, "<=", 50),
    ("first call after warmup over steady state", lambda: RESULTS["startup"]["first_over_steady"], 1.2, "<=", 1.5),
    ("RSS growth over 100,000 calls, KiB", lambda: RESULTS["memory"]["growth"] / 1024, 1024, "<=", 1024),
]


def test_goals():
    missing = [k for k in ("onnxruntime, word by word", "onnxruntime, batched", "startup", "memory",
                           "Edge Veda, C loop of ev_generate") if k not in RESULTS]
    if missing:
        pytest.skip(f"run the whole module: {missing} were not measured in this run")
    assert not RESULTS["startup"]["tvm_imported"]
    lines, failures = [], []
    for name, value, target, cmp, floor in GOALS:
        v = value()
        met = v >= target if cmp == ">=" else v <= target
        lines.append({"goal": name, "value": v, "target": f"{cmp} {target}", "met": met})
        if floor is not None and not (v >= floor if cmp == ">=" else v <= floor):
            failures.append(f"{name}: {v:.3g}, floor {cmp} {floor}")
    RESULTS["goals"] = lines
    out = os.environ.get("EDGE_VEDA_BENCH_RESULTS")
    if out:
        with open(out, "w") as f:
            json.dump(RESULTS, f, indent=1)
    for line in lines:
        print(f"{'met ' if line['met'] else 'MISS'} {line['goal']}: {line['value']:.3g} (goal {line['target']})")
    assert failures == []
