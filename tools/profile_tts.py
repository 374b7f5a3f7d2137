"""Where a Kokoro artifact's synthesis time goes: samples `perf record` takes while the artifact
synthesizes one of the benchmark's phoneme inputs, grouped by the model's own functions.

    python tools/profile_tts.py ARTIFACT_DIR [--input short|medium|long] [--calls N] [--top K]

Needs `perf` (Debian: apt-get install linux-perf) and a kernel that lets this user sample its own
processes (kernel.perf_event_paranoid <= 2). perf 6.1 attributes samples to the model library but
names none of its functions (the TVM-built library's local symbols), so the sampled addresses are
mapped to the library's symbols here with `nm -n`. Kernel samples are mostly the thread pool's
yields while one thread waits for the other, and page faults on fresh buffers."""
import argparse
import bisect
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The generator's residual-block convs (resblocks.*, noise_res.*): int8 in a --precision int8 build.
RESIDUAL = re.compile(r"conv1d_(int8|direct)_(128x128|256x256)x(3|7|11)_")
GROUPS = (
    ("generator residual-block convs", lambda n: RESIDUAL.match(n)),
    ("other convs (decoder, F0/energy, upsampling, noise)", lambda n: n.startswith("conv1d")),
    ("matmuls (text encoder, durations stage)", lambda n: n.startswith("matmul")),
    ("AdaIN + Snake (instance-norm statistics, fused elementwise chains)",
     lambda n: n.startswith(("fused_mean", "time_mean")) or "_tir_sqrt" in n
     or re.fullmatch(r"(multiply|add|subtract)\d+", n)),
    ("other model functions", lambda n: True),
)


def synthesize(artifact: str, label: str, calls: int, control: str | None) -> None:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import edge_veda
    from test_kokoro_compile import phoneme_text

    def perf_command(command: str) -> None:  # perf record --control: sample the calls only
        if control:
            ctl, ack = control.split(",")
            with open(ctl, "w") as f:
                f.write(command + "\n")
            with open(ack) as f:
                f.readline()

    text = {"short": phoneme_text(16, 16), "medium": phoneme_text(64, 64), "long": phoneme_text(250, 250)}[label]
    tts = edge_veda.SpeechModel.load(artifact, num_threads=2)
    tts.synthesize(phonemes=text)  # warm-up: the first call's allocations and page faults
    perf_command("enable")
    t = time.perf_counter()
    for _ in range(calls):
        tts.synthesize(phonemes=text)
    elapsed = time.perf_counter() - t
    perf_command("disable")
    print(f"{elapsed / calls * 1000:.0f} ms per call", flush=True)


def symbols(library: str) -> tuple[list[int], list[str]]:
    rows = []
    for line in subprocess.run(["nm", "-n", library], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            # parallel regions are outlined as NAME_compute_ (TVM's codegen): count them as NAME
            rows.append((int(parts[0], 16), re.sub(r"_compute_\d*$", "", parts[2])))
    return [a for a, _ in rows], [n for _, n in rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifact")
    ap.add_argument("--input", default="medium", choices=("short", "medium", "long"))
    ap.add_argument("--calls", type=int, default=15, help="timed calls, after one warm-up call (default 15)")
    ap.add_argument("--top", type=int, default=15, help="functions listed (default 15)")
    ap.add_argument("--synthesize-only", metavar="CTL,ACK", help=argparse.SUPPRESS)  # the profiled child
    args = ap.parse_args()
    if args.synthesize_only:
        synthesize(args.artifact, args.input, args.calls, args.synthesize_only)
        return 0
    if not shutil.which("perf"):
        print("profile_tts: perf not found (Debian: apt-get install linux-perf)", file=sys.stderr)
        return 2
    import json

    with open(os.path.join(args.artifact, "manifest.json")) as f:
        library = os.path.join(args.artifact, json.load(f)["module"]["library"])
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        ctl, ack = os.path.join(tmp, "ctl"), os.path.join(tmp, "ack")
        os.mkfifo(ctl)
        os.mkfifo(ack)
        # -D -1: sampling starts disabled; the child enables it around the timed calls only
        child = subprocess.run(["perf", "record", "-F", "999", "-D", "-1", "--control", f"fifo:{ctl},{ack}", "-o", data,
                                "--", sys.executable, os.path.abspath(__file__), args.artifact, "--input", args.input,
                                "--calls", str(args.calls), "--synthesize-only", f"{ctl},{ack}"],
                               capture_output=True, text=True, timeout=3600)
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        per_call = child.stdout.strip()

        def samples(*options: str) -> list[tuple[int, str]]:
            """(samples, key) rows of perf report (counts, not its rounded percentages)."""
            out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--percent-limit", "0", *options],
                                 capture_output=True, text=True, check=True).stdout
            return [(int(m.group(1)), m.group(2)) for m in re.finditer(r"^\s*(\d+)\s+(\S.*?)\s*$", out, re.M)]

        by_dso = samples("--sort", "dso", "-F", "sample,dso")
        by_address = samples("--dsos", library, "--sort", "sym", "-F", "sample,sym")
    addresses, names = symbols(library)
    total = sum(n for n, _ in by_dso)
    functions = collections.Counter()
    for n, key in by_address:
        m = re.fullmatch(r"\[\.\]\s+0x([0-9a-f]+)", key)
        if m:
            i = bisect.bisect_right(addresses, int(m.group(1), 16)) - 1
            functions[names[i] if i >= 0 else "?"] += 100 * n / total
    if not functions:
        print(f"profile_tts: no samples in {library}", file=sys.stderr)
        return 1
    groups = collections.Counter()
    for name, share in functions.items():
        groups[next(label for label, match in GROUPS if match(name))] += share
    groups["kernel (thread-pool yields, page faults)"] = 100 * sum(n for n, d in by_dso if d == "[kernel.kallsyms]") / total
    groups["runtime and host (libedge_veda, libm, libc...)"] = max(0.0, 100 - sum(groups.values()))
    print(f"{args.artifact}, input {args.input}: {per_call}; share of the calls' samples (both threads):")
    for label, share in groups.most_common():
        print(f"  {share:5.1f}%  {label}")
    print("top functions:")
    for name, share in functions.most_common(args.top):
        print(f"  {share:5.1f}%  {name[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
