"""g2p-en throughput, Edge Veda against its peers in one run (ratios, not absolute times).

    python -m pytest tests/bench            # run and check the ratios
    python tests/bench/report.py            # run and rewrite BENCHMARKS.md
"""
import subprocess
import sys

import pytest

from conftest import cmudict_sample

N_WORDS = 2000
ROUNDS = 3
_best: dict[str, float] = {}


@pytest.fixture(scope="module")
def words():
    return cmudict_sample(N_WORDS, seed=6)


def _record(name, benchmark, fn):
    benchmark.group = f"g2p-en, {N_WORDS} CMUdict words"
    result = benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    _best[name] = benchmark.stats.stats.min
    benchmark.extra_info["words_per_second"] = round(N_WORDS / benchmark.stats.stats.min)
    return result


def test_numpy_reference(benchmark, words, reference):
    out = _record("numpy reference", benchmark, lambda: [reference.predict(w) for w in words])
    assert len(out) == N_WORDS


def test_edge_veda_cli_stdin(benchmark, words, artifact_dir):
    stdin = "\n".join(words) + "\n"

    def run_cli():
        # Whole process: interpreter start-up, model load, N words through stdin.
        return subprocess.run([sys.executable, "-m", "edge_veda", "g2p", "--model", artifact_dir, "-"],
                              input=stdin, capture_output=True, text=True, check=True).stdout

    out = _record("edge-veda g2p - (CLI process)", benchmark, run_cli)
    assert out.count("\n") == N_WORDS


def test_edge_veda_model_generate(benchmark, words, model):
    out = _record("Model.generate loop", benchmark, lambda: [model.generate(w) for w in words])
    assert len(out) == N_WORDS


def test_ratios():
    ref = _best.get("numpy reference")
    cli = _best.get("edge-veda g2p - (CLI process)")
    if ref is None or cli is None:
        pytest.skip("run the whole module: the ratio needs every peer measured in this run")
    ratio = ref / cli
    print(f"\nCLI stdin path vs numpy reference: {ratio:.2f}x")
    assert ratio >= 1.0, f"CLI is {ratio:.2f}x the numpy reference; the target is >= 1x"
