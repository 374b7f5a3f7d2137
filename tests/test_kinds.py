"""The model-kinds core (issue 10): weights in their own file, mapped once per context and shared
by every VM (batch workers included); use_mmap decides mapping vs reading; num_threads sets the
batch workers; the decode loop and the seeds behave alike on every path (tests/test_seeds.py)."""
import json
import os
import subprocess
import sys


WORDS = [f"{a}{b}{c}ing" for a in "bcdfgklmnprst" for b in "aeiou" for c in "bdgklmnprst"][:600]


def weights_path(artifact_dir):
    with open(os.path.join(artifact_dir, "manifest.json")) as f:
        m = json.load(f)
    return os.path.realpath(os.path.join(artifact_dir, m["weights"]["file"]))


def maps_of_self(path):
    with open("/proc/self/maps") as f:
        return [line for line in f if line.rstrip().endswith(path)]


def test_weights_are_mapped_once_and_shared_by_every_batch_worker(artifact_dir):
    import edge_veda

    path = weights_path(artifact_dir)
    with edge_veda.Model.load(artifact_dir, num_threads=8) as m:
        one = [m.generate(w) for w in WORDS[:4]]  # one VM
        assert len(maps_of_self(path)) == 1
        tracked_one_vm = m.status().memory_used_bytes
        outs = m.generate_batch(WORDS)  # 8 VMs now
        s = m.status()
        assert s.weights_mapped and s.weights_bytes == os.path.getsize(path)
        # Tracked memory counts the weights once, however many VMs run: seven more VMs add their
        # working buffers only.
        assert s.memory_used_bytes - tracked_one_vm < s.weights_bytes, (tracked_one_vm, s)
        assert len(maps_of_self(path)) == 1  # one mapping for all eight VMs
        assert outs[:4] == one


def test_use_mmap_off_reads_the_weights_instead(artifact_dir):
    import edge_veda

    path = weights_path(artifact_dir)
    with edge_veda.Model.load(artifact_dir) as mapped:
        expected = mapped.generate_batch(WORDS[:50])
    with edge_veda.Model.load(artifact_dir, use_mmap=False) as m:
        s = m.status()
        assert not s.weights_mapped and s.weights_bytes == os.path.getsize(path)
        assert maps_of_self(path) == []
        assert m.generate_batch(WORDS[:50]) == expected


RSS_PROBE = r"""
import json, sys, edge_veda
words = [f"{a}{b}{c}ing" for a in "bcdfgklmnprst" for b in "aeiou" for c in "bdgklmnprst"][:600]
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
with edge_veda.Model.load(sys.argv[1], num_threads=int(sys.argv[2])) as m:
    before = rss()
    for _ in range(3):
        m.generate_batch(words)
    print(json.dumps({"before": before, "after": rss(), "weights": m.status().weights_bytes}))
"""


def test_rss_of_a_batch_on_many_threads_holds_one_copy_of_the_weights(artifact_dir):
    """Before issue 10 every worker VM deserialized its own copy of the weights (2 MB each):
    eight threads cost seven more copies. Now the extra threads cost their stacks and VMs only."""
    runs = {}
    for threads in (1, 8):
        proc = subprocess.run([sys.executable, "-c", RSS_PROBE, artifact_dir, str(threads)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        runs[threads] = json.loads(proc.stdout)
    print(runs)
    growth = runs[8]["after"] - runs[1]["after"]
    assert growth < runs[8]["weights"], (growth, runs)


def test_num_threads_sets_the_batch_workers(artifact_dir):
    import edge_veda

    with edge_veda.Model.load(artifact_dir, num_threads=1) as one, \
            edge_veda.Model.load(artifact_dir, num_threads=3) as three:
        assert one.status().num_threads == 1 and three.status().num_threads == 3
        assert one.generate_batch(WORDS) == three.generate_batch(WORDS)
