"""Exports g2p-en to ONNX through PyTorch for the onnxruntime peer of the benchmarks.

    pip install ".[bench]" && python tests/bench/peers/export_onnx.py

Writes encoder.onnx (ids [B, L] -> final hidden [B, 256]) and decoder_step.onnx
(token [B], hidden [B, 256] -> logits [B, 74], hidden [B, 256]) beside this file. The exported
files are committed, so running the benchmarks needs onnxruntime but not torch.
"""
import os

import numpy as np
import torch

from edge_veda.compile.recipes.g2p_en import load_weights

HERE = os.path.dirname(os.path.abspath(__file__))


class Encoder(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(w["enc_emb"]))
        self.gru = torch.nn.GRU(256, 256, batch_first=True)
        with torch.no_grad():
            self.gru.weight_ih_l0.copy_(torch.from_numpy(w["enc_w_ih"]))
            self.gru.weight_hh_l0.copy_(torch.from_numpy(w["enc_w_hh"]))
            self.gru.bias_ih_l0.copy_(torch.from_numpy(w["enc_b_ih"]))
            self.gru.bias_hh_l0.copy_(torch.from_numpy(w["enc_b_hh"]))

    def forward(self, ids):
        _, h = self.gru(self.emb(ids))
        return h[0]


class DecoderStep(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(w["dec_emb"]))
        self.cell = torch.nn.GRUCell(256, 256)
        self.fc = torch.nn.Linear(256, w["fc_w"].shape[0])
        with torch.no_grad():
            self.cell.weight_ih.copy_(torch.from_numpy(w["dec_w_ih"]))
            self.cell.weight_hh.copy_(torch.from_numpy(w["dec_w_hh"]))
            self.cell.bias_ih.copy_(torch.from_numpy(w["dec_b_ih"]))
            self.cell.bias_hh.copy_(torch.from_numpy(w["dec_b_hh"]))
            self.fc.weight.copy_(torch.from_numpy(w["fc_w"]))
            self.fc.bias.copy_(torch.from_numpy(w["fc_b"]))

    def forward(self, token, h):
        h = self.cell(self.emb(token), h)
        return self.fc(h), h


def main():
    w = load_weights()
    enc, dec = Encoder(w).eval(), DecoderStep(w).eval()
    ids = torch.zeros((2, 5), dtype=torch.int64)
    torch.onnx.export(enc, (ids,), os.path.join(HERE, "encoder.onnx"), input_names=["ids"],
                      output_names=["h"], dynamic_axes={"ids": {0: "batch", 1: "length"}, "h": {0: "batch"}},
                      dynamo=False)
    tok, h = torch.zeros((2,), dtype=torch.int64), torch.zeros((2, 256))
    torch.onnx.export(dec, (tok, h), os.path.join(HERE, "decoder_step.onnx"), input_names=["token", "h"],
                      output_names=["logits", "h_out"],
                      dynamic_axes={"token": {0: "batch"}, "h": {0: "batch"}, "logits": {0: "batch"},
                                    "h_out": {0: "batch"}}, dynamo=False)
    print("wrote", os.listdir(HERE))


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
