"""The Python side of the binding-overhead benchmark, the twin of ev_loop.c: Model.generate
over words from stdin in a fresh process, `rounds` times; prints the best round's seconds.

usage: python py_loop.py ARTIFACT ROUNDS < words
"""
import sys
import time

import edge_veda


def main() -> None:
    words = sys.stdin.read().split("\n")[:-1]
    with edge_veda.Model.load(sys.argv[1], num_threads=1) as m:
        m.warmup()
        best = float("inf")
        for _ in range(int(sys.argv[2])):
            t = time.perf_counter()
            for w in words:
                m.generate(w)
            best = min(best, time.perf_counter() - t)
    print(f"{best:.6f}")


if __name__ == "__main__":
    main()
