"""`edge-veda say` on long text: peak RSS of a 2,000-word text beside a one-sentence run.

    EDGE_VEDA_BENCH=1 python -m pytest tests/bench/test_bench_say_memory.py -s   # prints the figures

Opt-in (several minutes: ~13 minutes of audio are synthesized): skipped unless
EDGE_VEDA_BENCH=1 or `-m bench`. Each run is a fresh `python -m edge_veda say - -o FILE
--threads 2` process; its peak RSS is the child's ru_maxrss (os.wait4). The text is split at
sentence ends into parts the model takes and the WAV is written as the audio comes, so memory
is bounded by a part, not by the text: the goal is the long run within 20% of the short one.
BENCHMARKS.md ("say: long text") records a run.
"""
import os
import subprocess
import sys
import time
import wave

import pytest
from conftest import bench_opted_in

pytestmark = [pytest.mark.slow, pytest.mark.bench]

WORDS = 2000
GOAL = 1.20  # long-text peak RSS / one-sentence peak RSS

SUBJECTS = ["The old miller", "A young teacher", "Our neighbour", "The tired traveller", "My sister",
            "The village doctor", "A quiet student", "The ship's captain"]
VERBS = ["walked slowly to", "wrote a long letter about", "spoke for an hour about", "often dreamed of",
         "carefully painted", "told a story about", "looked for", "remembered"]
OBJECTS = ["the bridge over the river", "the garden behind the house", "a market in the next town",
           "the mountains in winter", "an empty railway station", "the library on the hill",
           "the harbour at dawn", "a field of yellow flowers"]
ENDS = [" before the rain began.", ", and nobody knew why.", " while the children were asleep.",
        " on the first day of spring.", ", as he had promised.", " in the year 1923.",
        ", which surprised everyone.", " for the last time."]


def long_text(words: int = WORDS) -> str:
    """Ordinary narrative sentences (about 13 words each) until `words` words."""
    out, n, i = [], 0, 0
    while n < words:
        s = f"{SUBJECTS[i % 8]} {VERBS[(i // 8) % 8]} {OBJECTS[(i // 3) % 8]}{ENDS[(i * 5) % 8]}"
        out.append(s)
        n += len(s.split())
        i += 1
    return " ".join(out)


@pytest.fixture(scope="module", autouse=True)
def opted_in(request):
    if not bench_opted_in(request.config):  # tests/conftest.py (it also skips each test)
        pytest.skip("opt-in benchmark: EDGE_VEDA_BENCH=1, or -m bench")


def say(text: str, out, kokoro_dir, artifact_dir) -> tuple[int, float]:
    """(peak RSS in bytes, seconds) of one `edge-veda say` process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "edge_veda", "say", "-", "-o", str(out), "--threads", "2",
                             "--model", kokoro_dir, "--frontend", artifact_dir],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(text.encode())
    proc.stdin.close()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err.decode()
    return usage.ru_maxrss * 1024, time.perf_counter() - t0


def test_say_long_text_peak_rss(kokoro_dir, artifact_dir, tmp_path):
    text = long_text()
    assert len(text) > 1024 * 8
    short_rss, short_s = say("The old miller walked slowly to the bridge over the river.", tmp_path / "short.wav",
                             kokoro_dir, artifact_dir)
    long_rss, long_s = say(text, tmp_path / "long.wav", kokoro_dir, artifact_dir)
    with wave.open(str(tmp_path / "long.wav")) as w:
        audio_s = w.getnframes() / w.getframerate()
    print(f"\none sentence: peak RSS {short_rss / 2**20:.0f} MiB ({short_s:.1f} s)"
          f"\n{len(text.split())} words, {len(text)} characters, {audio_s:.0f} s of audio: "
          f"peak RSS {long_rss / 2**20:.0f} MiB ({long_s:.1f} s); ratio {long_rss / short_rss:.3f}")
    assert audio_s > 600
    assert long_rss <= GOAL * short_rss, (long_rss, short_rss)
