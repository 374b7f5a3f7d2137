"""The onnxruntime peer: g2p-en greedy decoding over the exported ONNX graphs."""
from __future__ import annotations

import collections
import os

import numpy as np

from edge_veda.compile.recipes.g2p_en import EOS, BOS, GRAPHEMES, MAX_DECODE_STEPS, PHONEMES

HERE = os.path.dirname(os.path.abspath(__file__))
G2I = {g: i for i, g in enumerate(GRAPHEMES)}


def encode_ids(word: str) -> list[int]:
    word = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in word)
    return [G2I.get(c, 1) for c in word] + [G2I["</s>"]]


class OnnxG2p:
    def __init__(self, threads: int = 1):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.enc = ort.InferenceSession(os.path.join(HERE, "encoder.onnx"), opts, providers=["CPUExecutionProvider"])
        self.dec = ort.InferenceSession(os.path.join(HERE, "decoder_step.onnx"), opts, providers=["CPUExecutionProvider"])

    def predict(self, word: str) -> str:
        """Word by word, as a hand-written loop around onnxruntime would run it."""
        h = self.enc.run(None, {"ids": np.array([encode_ids(word)], dtype=np.int64)})[0]
        token = np.array([BOS], dtype=np.int64)
        out = []
        for _ in range(MAX_DECODE_STEPS):
            logits, h = self.dec.run(None, {"token": token, "h": h})
            pred = int(logits[0].argmax())
            if pred == EOS:
                break
            out.append(PHONEMES[pred])
            token[0] = pred
        return " ".join(out)

    def predict_batch(self, words: list[str]) -> list[str]:
        """Batched: words bucketed by length (no padding), decoder rows dropped as they finish."""
        results: list[str | None] = [None] * len(words)
        buckets = collections.defaultdict(list)
        for i, w in enumerate(words):
            buckets[len(encode_ids(w))].append(i)
        for idx in buckets.values():
            ids = np.array([encode_ids(words[i]) for i in idx], dtype=np.int64)
            h = self.enc.run(None, {"ids": ids})[0]
            rows = np.array(idx)
            token = np.full(len(idx), BOS, dtype=np.int64)
            outs = {i: [] for i in idx}
            for _ in range(MAX_DECODE_STEPS):
                logits, h = self.dec.run(None, {"token": token, "h": h})
                pred = logits.argmax(axis=1)
                alive = pred != EOS
                for r, p in zip(rows[alive], pred[alive]):
                    outs[int(r)].append(PHONEMES[int(p)])
                rows, token, h = rows[alive], pred[alive].astype(np.int64), h[alive]
                if len(rows) == 0:
                    break
            for i in idx:
                results[i] = " ".join(outs[i])
        return results
