"""Builds and runs the non-Python peers of the benchmarks (plain C, Edge Veda's C loop)."""
from __future__ import annotations

import os
import subprocess

import numpy as np

from edge_veda import config
from edge_veda.compile.recipes.g2p_en import PHONEMES, load_weights

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = ["enc_emb", "enc_w_ih", "enc_w_hh", "enc_b_ih", "enc_b_hh",
           "dec_emb", "dec_w_ih", "dec_w_hh", "dec_b_ih", "dec_b_hh", "fc_w", "fc_b"]


def build(workdir: str) -> dict:
    """Compiles the C peers into `workdir`; returns their paths and the weights file."""
    weights = os.path.join(workdir, "g2p_weights.bin")
    w = load_weights()
    with open(weights, "wb") as f:
        for name in WEIGHTS:
            f.write(np.ascontiguousarray(w[name], dtype=np.float32).tobytes())
    plain = os.path.join(workdir, "g2p_plain")
    subprocess.run(["gcc", "-O3", "-march=native", "-std=c99", os.path.join(HERE, "g2p_plain.c"),
                    "-o", plain, "-lm"], check=True)
    ev_loop = os.path.join(workdir, "ev_loop")
    subprocess.run(["gcc", "-O2", "-std=c99", os.path.join(HERE, "ev_loop.c"), "-o", ev_loop,
                    *config.cflags().split(), *config.libs().split()], check=True)
    return {"plain": plain, "weights": weights, "ev_loop": ev_loop}


def run_plain(peers: dict, words: list[str]) -> list[str]:
    out = subprocess.run([peers["plain"], peers["weights"]], input="\n".join(words) + "\n",
                         capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
    return [" ".join(PHONEMES[int(i)] for i in line.split()) for line in out]


def run_py_loop(artifact: str, words: list[str], rounds: int = 3) -> float:
    """Best seconds of `rounds` passes of Model.generate over `words`, in a fresh process."""
    import sys

    out = subprocess.run([sys.executable, os.path.join(HERE, "py_loop.py"), artifact, str(rounds)],
                         input="\n".join(words) + "\n", capture_output=True, text=True, check=True)
    return float(out.stdout)


def run_ev_loop(peers: dict, artifact: str, words: list[str], rounds: int = 3) -> float:
    """Best seconds of `rounds` passes of ev_generate over `words`, measured inside C."""
    out = subprocess.run([peers["ev_loop"], artifact, str(rounds)], input="\n".join(words) + "\n",
                         capture_output=True, text=True, check=True)
    return float(out.stdout)
