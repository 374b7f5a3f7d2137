"""Runs the benchmarks and rewrites BENCHMARKS.md from their JSON.

    python tests/bench/report.py
"""
import json
import os
import platform
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMAND = "python tests/bench/report.py"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        subprocess.run([sys.executable, "-m", "pytest", "-q", os.path.join(ROOT, "tests", "bench"),
                        f"--benchmark-json={out}"], cwd=ROOT, check=True)
        with open(out) as f:
            data = json.load(f)
    rows = [(b["name"].removeprefix("test_"), b["stats"]["min"], b["extra_info"]["words_per_second"])
            for b in data["benchmarks"]]
    ref = next(t for name, t, _ in rows if name == "numpy_reference")
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{COMMAND}` (pytest-benchmark; every peer measured in the same run, best of "
        "3 rounds). Absolute times on a shared CPU drift between runs; the ratios are the figures "
        "to compare.",
        "",
        f"- Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}",
        f"- Python {platform.python_version()}; {data['datetime'][:19]} UTC",
        "",
        "| path | seconds (best) | words/s | vs numpy reference |",
        "|---|---:|---:|---:|",
    ]
    for name, t, wps in rows:
        lines.append(f"| {name} | {t:.3f} | {wps:,} | {ref / t:.2f}x |")
    lines += [
        "",
        "The CLI row is a whole process (interpreter start-up, model load, the words through "
        "stdin); the other rows are loops inside one already-running process.",
        "",
    ]
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
