"""Compiles Kokoro, runs the TTS benchmark, and rewrites the generated part of BENCHMARKS.md's
text-to-speech section and docs/tts-benchmark.png from that one run.

    pip install ".[test,bench]" && python tests/bench/tts_report.py

What it measures: `edge-veda compile kokoro` (wall time and the compiler's peak RSS), then
tests/bench/test_bench_tts.py on that artifact (real-time factors beside onnxruntime int8 and
fp32, time to first audio, peak RSS, load). Only the text between the two markers below is
rewritten; the section's history and analysis around it are kept.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import cpu_name  # noqa: E402

COMMAND = 'pip install ".[test,bench]" && python tests/bench/tts_report.py'
BEGIN, END = "<!-- tts-report:begin -->", "<!-- tts-report:end -->"
PLOT = os.path.join("docs", "tts-benchmark.png")
PEERS = ("edge-veda", "onnxruntime int8", "onnxruntime fp32")
LABELS = {"edge-veda": "Edge Veda (fp32)", "onnxruntime int8": "onnxruntime int8",
          "onnxruntime fp32": "onnxruntime fp32 (same weights)"}


def compile_kokoro(out_dir: str) -> dict:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edge_veda", "compile", "kokoro", "-o", out_dir], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"seconds": time.perf_counter() - t,
            "peak_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}


def plot(res: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inputs = list(res["rtf"])
    width = 0.8 / len(PEERS)
    colors = {"edge-veda": "#d9534f", "onnxruntime int8": "#555555", "onnxruntime fp32": "#aaaaaa"}
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for i, peer in enumerate(PEERS):
        xs = [k + (i - 1) * width for k in range(len(inputs))]
        values = [res["rtf"][name][peer] for name in inputs]
        ax.bar(xs, values, width, label=LABELS[peer], color=colors[peer])
        for x, v in zip(xs, values):
            ax.text(x, v, f"{v:.3f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(inputs)),
                  [f"{name}\n{res['rtf'][name]['audio_s']:.2f} s of audio" for name in inputs])
    ax.set_ylabel("real-time factor (lower is faster)")
    ax.set_title(f"Kokoro-82M, 2 threads, best of {res['rounds']}; first audio "
                 f"{res['first_audio_s'] * 1000:,.0f} ms (Edge Veda, stream)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def generated(res: dict, comp: dict) -> list[str]:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [BEGIN,
             f"Generated {stamp} by `{COMMAND}` on {cpu_name()}, {os.cpu_count()} cores: one run, "
             f"same phoneme inputs, 2 threads each, best of {res['rounds']} (interleaved per input). "
             "Real-time factor = synthesis seconds / audio seconds.",
             "",
             "| input | audio | Edge Veda (fp32) | onnxruntime int8 | onnxruntime fp32 | Edge Veda / int8 | Edge Veda / fp32 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in res["rtf"].items():
        ev, i8, f32 = (r[p] for p in PEERS)
        lines.append(f"| {name} | {r['audio_s']:.2f} s | {ev:.3f} | {i8:.3f} | {f32:.3f} | {ev / i8:.2f} | {ev / f32:.2f} |")
    lines += ["",
              f"![real-time factors]({PLOT})",
              "",
              f"- Time to first audio (`SpeechModel.stream()`, three sentences, text path with G2P): "
              f"**{res['first_audio_s'] * 1000:,.0f} ms** of {res['stream_total_s'] * 1000:,.0f} ms in all.",
              f"- Peak RSS synthesizing the long input in one piece: **{res['peak_rss'] / 2**20:,.0f} MiB** "
              f"(weights {res['weights_bytes'] / 2**20:,.0f} MiB, mapped).",
              f"- Load to the end of a first short synthesis: {res['load_s']:.2f} s.",
              f"- `edge-veda compile kokoro`: **{comp['seconds']:.0f} s**, compiler peak RSS "
              f"{comp['peak_rss'] / 2**30:.1f} GiB.",
              END]
    return lines


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        art = os.path.join(tmp, "kokoro")
        comp = compile_kokoro(art)
        results = os.path.join(tmp, "tts.json")
        env = dict(os.environ, EDGE_VEDA_BENCH="1", EDGE_VEDA_KOKORO_ARTIFACT=art, EDGE_VEDA_BENCH_TTS_RESULTS=results)
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s",
                               os.path.join(ROOT, "tests", "bench", "test_bench_tts.py") + "::test_tts_speed"],
                              cwd=ROOT, env=env)
        if proc.returncode:
            return proc.returncode
        with open(results) as f:
            res = json.load(f)
    path = os.path.join(ROOT, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path} has no {BEGIN} ... {END} block to rewrite")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w") as f:
        f.write(head + "\n".join(generated(res, comp)) + tail)
    plot(res, os.path.join(ROOT, PLOT))
    print("\n".join(generated(res, comp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
