"""10,000 Model.generate calls leave the process's resident memory flat."""
import psutil


def test_rss_flat_over_10000_generate_calls(model, record_property):
    words = ["memory", "leak", "o'reilly", "café", "international", "x"]
    params = [{}, {"temperature": 0.7, "seed": 1}, {"stop": ["T"]}, {"max_tokens": 3}]
    proc = psutil.Process()
    for i in range(1000):  # warm the allocators and caches first
        model.generate(words[i % len(words)], **params[i % len(params)])
    before = proc.memory_info().rss
    for i in range(10_000):
        model.generate(words[i % len(words)], **params[i % len(params)])
    growth = proc.memory_info().rss - before
    record_property("rss_growth_bytes", growth)
    print(f"\nRSS growth over 10,000 generate calls: {growth / 1024:.0f} KiB")
    assert growth < 1 << 20, f"RSS grew by {growth} bytes"
